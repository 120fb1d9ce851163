"""Rosters as learning-management systems and Excel export them: BOM, Chinese names, extra columns."""
import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcalc.cli import cli
from gradcalc.errors import GradcalcError
from gradcalc.grading.outfolder import stable_stems
from gradcalc.variants.roster import parse_roster, read_roster

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "problems" / "hw1_template.yaml"

# A Canvas gradebook export as Excel saves it ("CSV UTF-8": a BOM, CRLF line ends): "Student" is
# the *name*, the second line holds the points possible and no id.
CANVAS = ("Student,ID,SIS User ID,SIS Login ID,Section,HW0 (123)\r\n"
          "    Points Possible,,,,,10\r\n"
          "\"张, 三\",9001,2026001,zhangsan,机器学习 01,9\r\n"
          "李四,9002,2026002,lisi,机器学习 01,\r\n"
          "=HYPERLINK(\"x\"),9003,2026003,eve,机器学习 02,7\r\n")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_excel_bom_roster_with_chinese_names(tmp_path):
    path = tmp_path / "canvas.csv"
    path.write_bytes(b"\xef\xbb\xbf" + CANVAS.encode("utf-8"))
    ros = read_roster(path)
    assert ros.columns[0] == "Student"                     # the BOM is not part of the header
    assert ros.id_column == "SIS User ID"                  # the university id, not Canvas' own ID
    assert ros.name_column == "Student"
    assert ros.ids() == ["2026001", "2026002", "2026003"]
    assert [ros.name(r) for r in ros.rows] == ["张, 三", "李四", "=HYPERLINK(\"x\")"]
    assert ros.rows[0]["Section"] == "机器学习 01" and ros.rows[0]["HW0 (123)"] == "9"
    assert ros.skipped == ["line 2: no SIS User ID (Points Possible)"]


def test_roster_without_bom_reads_the_same(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_bytes(b"\xef\xbb\xbf" + CANVAS.encode("utf-8"))
    b.write_bytes(CANVAS.encode("utf-8"))
    ra, rb = read_roster(a), read_roster(b)
    assert ra.columns == rb.columns and ra.rows == rb.rows


def test_variants_from_an_excel_roster_keep_every_column(tmp_path):
    path = tmp_path / "canvas.csv"
    path.write_bytes(b"\xef\xbb\xbf" + CANVAS.encode("utf-8"))
    out = tmp_path / "out"
    r = run("variants", TEMPLATE, "--roster", path, "-o", out)
    assert r.exit_code == 0, r.output
    assert "skipped roster line 2: no SIS User ID (Points Possible)" in r.stderr
    text = (out / "variants.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "HW0 (123)",
                       "variant_file", "draws"]
    assert rows[1][:6] == ["张, 三", "9001", "2026001", "zhangsan", "机器学习 01", "9"]
    assert rows[3][0] == "'=HYPERLINK(\"x\")"             # a formula is escaped, not run
    key = list(csv.DictReader(io.StringIO((out / "answer_key.csv").read_text(encoding="utf-8"))))
    assert [(k["student"], k["name"]) for k in key] == [
        ("2026001", "张, 三"), ("2026002", "李四"), ("2026003", "'=HYPERLINK(\"x\")")]
    md = (out / "handouts" / "2026001.md").read_text(encoding="utf-8")
    assert "Name: 张, 三" in md


@pytest.mark.parametrize("header,expected", [
    ("学号,姓名,班级", "学号"),
    ("Name,Student ID,Email", "Student ID"),
    ("student_id,name", "student_id"),
    ("Student Number;Name", "Student Number"),
    ("student,name,extra", "student"),
    ("Username,Full Name", "Username"),
])
def test_id_column_detection(header, expected):
    delim = ";" if ";" in header else ","
    cols = header.split(delim)
    row = delim.join("S1" if c == expected else "x" for c in cols)
    ros = parse_roster(f"{header}\n{row}\n")
    assert ros.id_column == expected
    assert ros.ids() == ["S1"]


def test_chinese_headers_find_the_name():
    ros = parse_roster("学号,姓名\n2026001,王五\n")
    assert ros.name_column == "姓名" and ros.name(ros.rows[0]) == "王五"


def test_id_column_option_overrides_detection(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(CANVAS, encoding="utf-8")
    ros = read_roster(path, id_column="sis login id")
    assert ros.id_column == "SIS Login ID" and ros.ids() == ["zhangsan", "lisi", "eve"]
    with pytest.raises(GradcalcError, match="no column 'Matrikel' in the roster; columns: Student, ID"):
        read_roster(path, id_column="Matrikel")


def test_unknown_id_column_is_a_clear_error(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("Vorname,Nachname\nA,B\n", encoding="utf-8")
    r = run("variants", TEMPLATE, "--roster", path, "-o", tmp_path / "o")
    assert r.exit_code == 2
    assert r.stderr.startswith(f"gradcalc: error: {path}:1: cannot tell which column holds the student id")
    assert "--id-column" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_duplicate_ids_name_both_lines():
    with pytest.raises(GradcalcError) as info:
        parse_roster("student,name\n1,A\n2,B\n 1 ,C\n", "r.csv")
    assert str(info.value) == "r.csv:4: student: student id '1' appears twice (lines 2 and 4)"


def test_utf16_tab_separated_excel_unicode_text(tmp_path):
    path = tmp_path / "r.txt"
    path.write_bytes("学号\t姓名\n2026001\t张三\n".encode("utf-16"))
    ros = read_roster(path)
    assert ros.ids() == ["2026001"] and ros.name(ros.rows[0]) == "张三"


def test_gb18030_roster_from_chinese_excel(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("学号,姓名\n2026001,张三\n".encode("gb18030"))
    ros = read_roster(path)
    assert ros.id_column == "学号" and ros.name(ros.rows[0]) == "张三"


def test_empty_and_binary_rosters(tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    with pytest.raises(GradcalcError, match="the roster is empty"):
        read_roster(empty)
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\x00\x01\x02student")
    with pytest.raises(GradcalcError, match="not a text file"):
        read_roster(binary)
    only_header = tmp_path / "h.csv"
    only_header.write_text("student,name\n", encoding="utf-8")
    with pytest.raises(GradcalcError, match="no students"):
        read_roster(only_header)


def test_file_names_are_safe_and_distinct():
    import hashlib

    def h(s):
        return hashlib.sha256(s.encode()).hexdigest()[:8]

    ids = ["2026001", "../etc/passwd", "张三", "a b", "a/b", "a_b", "A_B", "con", "学" * 81]
    stems = stable_stems(ids)
    assert stems[:3] == ["2026001", f"etc_passwd~{h('../etc/passwd')}", "张三"]
    # "a b" and "a/b" clean to "a_b": each gets its own hash; "a_b" and "A_B" are one file
    # on a case-insensitive file system: both hashed
    assert stems[3:7] == [f"a_b~{h('a b')}", f"a_b~{h('a/b')}", f"a_b~{h('a_b')}", f"A_B~{h('A_B')}"]
    assert stems[7] == f"con~{h('con')}"                 # a Windows device name
    assert len((stems[8] + ".html").encode()) <= 255 and stems[8].endswith(h("学" * 81))
    assert stable_stems(["x", "x"]) == ["x", "x~2"]        # a second copy of one id
    # a stem depends on its id, not on who else is in the class
    assert stable_stems(["a b"]) == [stems[3]] and stable_stems(["2026001", "zz"])[0] == "2026001"
