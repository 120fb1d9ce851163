"""Answer files and answer values: numbers, strings, fractions, expressions, names, YAML/JSON/CSV."""
import json
import math

import numpy as np
import pytest

from gradcalc.grading.answerfiles import iter_answer_files, read_file, read_submissions
from gradcalc.grading.csvanswers import read_csv_bytes
from gradcalc.grading.documents import read_document_bytes
from gradcalc.grading.quantities import QuantitySchema
from gradcalc.grading.roster import parse_roster
from gradcalc.grading.submissions import flag_duplicates
from gradcalc.grading.values import parse_scalar, parse_value
from gradcalc.errors import AnswerError

# The hw1 quantities with their shapes, written out by hand (W is out × in).
FORWARD = {"x": (2,), "W1": (2, 2), "b1": (2,), "z1": (2,), "h1": (2,), "W2": (1, 2),
           "b2": (1,), "z2": (1,), "y": (1,), "L": ()}
SCHEMA = QuantitySchema(FORWARD, FORWARD, "L")


# ---------------------------------------------------------------- values
@pytest.mark.parametrize("text, expected", [
    (0.5, 0.5), (-3, -3.0), ("0.5", 0.5), ("  -0.25 ", -0.25),
    ("1e-3", 0.001), ("2E5", 200000.0), ("-1.5e+2", -150.0),
    ("3/5", 0.6), ("-3/4", -0.75),
    ("0,5", 0.5), ("-1,25", -1.25),                      # decimal comma
    ("−0.8", -0.8), ("2×3", 6.0), ("1÷4", 0.25),          # pasted from a word processor
    ("1/(1+exp(-0.6))", 1 / (1 + math.exp(-0.6))),
    ("sigmoid(0.6)*(1-sigmoid(0.6))", (1 / (1 + math.exp(-0.6))) * (1 - 1 / (1 + math.exp(-0.6)))),
    ("2^-1", 0.5), ("2**3", 8.0), ("pi/2", math.pi / 2), ("e", math.e), ("sqrt(2)", math.sqrt(2)),
    ("max(0.2, -1)", 0.2), ("=1/4", 0.25), ("'-0.5", -0.5),   # spreadsheet formula / text cell
])
def test_scalar_values(text, expected):
    assert parse_scalar(text) == pytest.approx(expected, rel=1e-15, abs=0)


@pytest.mark.parametrize("text, fragment", [
    ("__import__('os').system('echo pwned')", "'__' are not allowed"),
    ("().__class__", "not allowed"),
    ("(1).real", "attribute access is not allowed"),
    ("lambda: 1", "'lambda' is not allowed"),
    ("open('/etc/passwd')", "unknown function"),
    ("'a' + 'b'", "strings are not allowed"),
    ("x + 1", "unknown name 'x'"),
    ("log(-1)", "log needs a positive input"),
    ("1/0", "division by zero"),
    ("exp(1000)", "not a finite number"),
    ("nan", "unknown name 'nan'"),
    ("1e999", "not a finite number"),
    ("", "empty answer"),
    ("0.6.1", "malformed number"),
])
def test_unusable_values_are_reported_not_run(text, fragment):
    with pytest.raises(AnswerError) as info:
        parse_scalar(text)
    assert fragment in info.value.message


def test_malicious_expression_does_not_run(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.chdir(tmp_path)
    for text in (f"__import__('os').system('touch {marker}')",
                 "().__class__.__bases__[0].__subclasses__()",
                 f"eval(\"open('{marker}', 'w')\")", f"exec(\"open('{marker}', 'w')\")"):
        with pytest.raises(AnswerError):
            parse_value(text)
    assert not marker.exists()


def test_booleans_and_mappings_are_not_numbers():
    for bad in (True, {"a": 1}):
        with pytest.raises(AnswerError):
            parse_value(bad)


@pytest.mark.parametrize("text, expected", [
    ("[0.6, -0.8]", [0.6, -0.8]),
    ("[ 0.6 -0.8]", [0.6, -0.8]),                         # NumPy's print
    ("[[1, 2], [3, 4]]", [[1, 2], [3, 4]]),
    ("[[0.4 -0.2]\n [-0.1  0.3]]", [[0.4, -0.2], [-0.1, 0.3]]),
    ("[1, 2; 3, 4]", [[1, 2], [3, 4]]),                   # MATLAB rows
    ("[max(1, 2), 3/5]", [2.0, 0.6]),                     # commas inside a call are not separators
    ("[1 - 2]", [-1.0]),                                  # an expression, not two numbers
    ("［0.5, 1e-3］", [0.5, 0.001]),                       # full-width brackets
])
def test_bracket_cells(text, expected):
    np.testing.assert_array_equal(parse_value(text), np.array(expected, dtype=float))


@pytest.mark.parametrize("text, fragment", [
    ("[1, 2", "unclosed"), ("[1,, 2]", "missing entry"), ("[1, 2,]", "missing entry"),
    ("[]", "empty list"), ("[[1, 2], [3]]", "ragged"), ("[1, 2] 3", "after ']'"),
    ("[[[[[1]]]]]", "nested more than"), ("[1, __import__]", "not allowed"),
])
def test_bad_bracket_cells(text, fragment):
    with pytest.raises(AnswerError) as info:
        parse_value(text)
    assert fragment in info.value.message


def test_lists_with_blank_entries_and_strings():
    a = parse_value([["1/2", None], [0.25, "1e-3"]])
    assert a.shape == (2, 2)
    assert a[0, 0] == 0.5 and math.isnan(a[0, 1]) and a[1, 1] == 0.001
    with pytest.raises(AnswerError, match="ragged"):
        parse_value([[1, 2], [3]])


# ---------------------------------------------------------------- names
@pytest.mark.parametrize("written, expected", [
    ("z1", ("z1", None)), ("dW1", ("dW1", None)), ("dL/dW1", ("dW1", None)),
    ("∂L/∂W1", ("dW1", None)), ("dL_dW1", ("dW1", None)), ("grad_W1", ("dW1", None)),
    ("dL / dW1", ("dW1", None)), ("dz1", ("dz1", None)), ("dh1", ("dh1", None)),
    ("dW1[1,2]", ("dW1", (0, 1))), ("dW1[2][1]", ("dW1", (1, 0))), ("z1[2]", ("z1", (1,))),
    ("DW1", ("dW1", None)),                                # case fallback when unique
    ("dW3", None), ("dW1[0,1]", None), ("foo", None),
])
def test_quantity_names(written, expected):
    assert SCHEMA.resolve(written) == expected


# ---------------------------------------------------------------- files
def test_yaml_document_with_every_value_form():
    text = """\
student: s001
name: 张三
answers:
  z1: [0.6, "−0.8"]
  h1: ["1/(1+exp(-0.6))", "0,31"]
  y: [0,5]
  L: 3.806e-2
  dL/dW2: "[-0.178, -0.0855]"
  ∂L/∂b2: "-0,2759"
  db1: '1e-3'
"""
    sub = read_document_bytes(text.encode("utf-8"), SCHEMA, "s001.yaml")
    assert sub.student == "s001" and sub.name == "张三" and sub.problems == []
    assert set(sub.answers) == {"z1", "h1", "y", "L", "dW2", "db2", "db1"}
    np.testing.assert_allclose(sub.answers["z1"].value, [0.6, -0.8])
    np.testing.assert_allclose(sub.answers["h1"].value, [1 / (1 + math.exp(-0.6)), 0.31])
    assert sub.answers["h1"].text.startswith("[")
    # unquoted inside a YAML list, a decimal comma separates two items (graded as a wrong shape)
    np.testing.assert_array_equal(sub.answers["y"].value, [0.0, 5.0])
    assert sub.answers["L"].value == pytest.approx(0.03806)
    np.testing.assert_allclose(sub.answers["dW2"].value, [-0.178, -0.0855])
    assert sub.answers["db2"].value == pytest.approx(-0.2759)
    assert sub.answers["db1"].value == pytest.approx(0.001)
    assert sub.answers["dW2"].line == 8


def test_json_document_and_flat_layout():
    raw = json.dumps({"student": 17, "z1": [0.6, -0.8], "dL/dW1": [[1, 2], [3, 4]]}).encode()
    sub = read_document_bytes(raw, SCHEMA, "a.json")
    assert sub.student == "17"
    assert set(sub.answers) == {"z1", "dW1"}


@pytest.mark.parametrize("raw, why", [
    (b"", "empty"), (b"   \n", "empty"), (b"\x00\x01\x02\xff", "binary"),
    (b"\xff\xfe\xfa", "not UTF-8"), (b"student: [unclosed\n", "YAML"),
    (b"- just\n- a list\n", "expected a mapping"), (b"a: !!python/object:os.system x\n", "tags"),
])
def test_broken_files_become_a_status(raw, why):
    sub = read_document_bytes(raw, SCHEMA, "broken.yaml")
    assert sub.unreadable and why in sub.unreadable
    assert sub.student == "broken" and sub.answers == {}


def test_missing_id_unknown_quantities_and_twice_given():
    text = "answers:\n  z1: [0.6, -0.8]\n  dz9: 1\n  zz: 2\n  dW1[1,1]: 0.5\n  dW1[1,1]: 0.6\n"
    # duplicate keys are a YAML error in gradcalc.yamlio: the whole file is reported
    sub = read_document_bytes(text.encode(), SCHEMA, "x/anon.yaml")
    assert sub.unreadable and "duplicate key" in sub.unreadable
    text = "answers:\n  z1: [0.6, -0.8]\n  dz9: 1\n  zz: 2\n"
    sub = read_document_bytes(text.encode(), SCHEMA, "x/anon.yaml")
    assert sub.student == "anon" and sub.id_missing
    assert any("missing student id" in p for p in sub.problems)
    assert any("'dz9', 'zz'" in p for p in sub.problems)
    assert set(sub.answers) == {"z1"}


def test_template_left_blank_counts_as_not_answered():
    text = 'student: s1\nanswers:\n  z1: [~, ~]\n  dW1: [[~, ~], [~, ~]]\n  L: ~\n  y: [0.02, ~]\n'
    sub = read_document_bytes(text.encode(), SCHEMA, "s1.yaml")
    assert set(sub.answers) == {"y"}          # y is half answered: the blank entry is NaN
    assert math.isnan(sub.answers["y"].value[1])


CSV = ("student,name,z1,h1[1],h1[2],\"dW2[1,1]\",\"dW2[1,2]\",dL/db2,bogus\n"
       "s1,Ada,\"[0.6, -0.8]\",0.6457,0.31,-0.178,,-0.2759,7\n"
       "\"=cmd|' /C calc'!A0\",\"=HYPERLINK(\"\"x\"\")\",\"[0.6 -0.8]\",,,,,,\n"
       ",nobody,0.6,,,,,,\n")


def test_csv_export_with_entry_columns():
    subs = read_csv_bytes(CSV.encode("utf-8-sig"), SCHEMA, "quiz.csv")
    assert [s.student for s in subs] == ["s1", "=cmd|' /C calc'!A0", "quiz-row4"]
    s1 = subs[0]
    np.testing.assert_allclose(s1.answers["z1"].value, [0.6, -0.8])
    np.testing.assert_allclose(s1.answers["h1"].value, [0.6457, 0.31])
    dW2 = s1.answers["dW2"].value
    assert dW2.shape == (1, 2) and dW2[0, 0] == -0.178 and math.isnan(dW2[0, 1])
    assert s1.answers["db2"].value == pytest.approx(-0.2759)
    assert any("bogus" in p for p in s1.problems)
    assert "h1" not in subs[1].answers                  # entry columns all blank: not answered
    assert subs[2].id_missing and subs[2].source == "quiz.csv:4"


def test_csv_semicolons_and_tabs():
    text = "student;z1;L\ns1;[0.6, -0.8];0,038\n"
    sub = read_csv_bytes(text.encode(), SCHEMA, "q.csv")[0]
    assert sub.answers["L"].value == pytest.approx(0.038)
    text = "student\tL\ns2\t3/80\n"
    assert read_csv_bytes(text.encode(), SCHEMA, "q.tsv")[0].answers["L"].value == pytest.approx(0.0375)


def test_folders_duplicates_and_a_binary_file(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "s1.yaml").write_text("student: s1\nanswers: {L: 0.038}\n")
    (tmp_path / "a" / "copy.json").write_text('{"student": "s1", "answers": {"L": 0.04}}')
    (tmp_path / "a" / "bin.yaml").write_bytes(bytes(range(256)))
    (tmp_path / "a" / ".hidden.yaml").write_text("student: h\n")
    (tmp_path / "a" / "notes.txt").write_text("not an answer file")
    subs = read_submissions([tmp_path / "a"], SCHEMA)
    assert sorted(s.source for s in subs) == ["bin.yaml", "copy.json", "s1.yaml"]
    dup = [s for s in subs if s.student == "s1"]
    assert all(s.problems[0].startswith("duplicate student id") for s in dup)
    assert next(s for s in subs if s.source == "bin.yaml").unreadable == "not a text file (binary)"
    # a named file is read whatever its suffix
    assert len(read_file(tmp_path / "a" / "s1.yaml", SCHEMA)) == 1


def test_duplicates_are_flagged_on_every_copy():
    subs = [read_document_bytes(f"student: {i}\n".encode(), SCHEMA, f"{n}.yaml")
            for n, i in (("a", "s1"), ("b", "s2"), ("c", "s1"))]
    for s in subs:
        s.problems.clear()
    flag_duplicates(subs)
    assert subs[0].problems == ["duplicate student id (also in c.yaml)"]
    assert subs[2].problems == ["duplicate student id (also in a.yaml)"]
    assert subs[1].problems == []


def test_roster_parsing():
    raw = ("\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,HW0 (1)\r\n"
           "    Points Possible,,,,,10\r\n张三,9001,2026001,zs,A,9\r\n").encode("utf-8")
    r = parse_roster(raw, "canvas.csv")
    assert r.bom and [r.header[i] for i in r.identity] == ["Student", "ID", "SIS User ID",
                                                           "SIS Login ID", "Section"]
    with pytest.raises(AnswerError, match="no identity column"):
        parse_roster(b"foo,bar\n1,2\n", "x.csv")


# ---------------------------------------------------------------- the fast paths
@pytest.mark.parametrize("yaml_value, expected", [
    ("[0.6, -0.8]", [0.6, -0.8]), ("[[1, 2], [3, 4]]", [[1.0, 2.0], [3.0, 4.0]]),
    ("-3", -3.0), ("2.5e-3", 0.0025), ("1e-3", 0.001),      # YAML 1.1 reads 1e-3 as text
    ("!!str 1e-3", 0.001), ("'0.5'", 0.5), ("[1, '3/5']", [1.0, 0.6]),
])
def test_plain_numbers_and_text_give_the_same_values(yaml_value, expected):
    sub = read_document_bytes(f"student: s1\nanswers:\n  z1: {yaml_value}\n".encode(), SCHEMA, "s.yaml")
    np.testing.assert_array_equal(sub.answers["z1"].value, np.asarray(expected, dtype=float))
    assert sub.answers["z1"].value.dtype == np.float64 and sub.answers["z1"].line == 3


@pytest.mark.parametrize("yaml_value, message", [
    ("[true, 1]", "expected a number, got true"), ("[1, .inf]", "not a finite number"),
    ("[[1, 2], [3]]", "ragged"), ("[[1, 2], 3]", "ragged"), ("[]", "empty list"),
    ("[[[[[1]]]]]", "nested more than 4 levels deep"), (str(10 ** 400), "number too large"),
])
def test_numbers_the_fast_path_leaves_to_the_full_reader(yaml_value, message):
    sub = read_document_bytes(f"student: s1\nanswers:\n  z1: {yaml_value}\n".encode(), SCHEMA, "s.yaml")
    assert message in sub.answers["z1"].error


@pytest.mark.parametrize("raw, why", [(b"---\n", "file is empty"), (b"--- ~\n", "got nothing"),
                                      (b"a: *b\n", "undefined alias")])
def test_libyaml_documents_without_answers(raw, why):
    assert why in read_document_bytes(raw, SCHEMA, "x.yaml").unreadable


def test_folder_walk_order_hidden_parts_and_symlinks(tmp_path):
    a = tmp_path / "a"
    for rel in ("b/c.yaml", "B.yaml", "b.json", "b/z/d.csv", ".hid/x.yaml", "sub/.h.yaml",
                "notes.txt", "e.YML"):
        (a / rel).parent.mkdir(parents=True, exist_ok=True)
        (a / rel).write_text("student: s\n")
    (a / "link.yaml").symlink_to(a / "b" / "c.yaml")       # the same file again: read once
    (a / "dirlink").symlink_to(a / "b", target_is_directory=True)   # not followed (as rglob)
    (a / "dangling.yaml").symlink_to(a / "nowhere.yaml")   # not a file
    files = iter_answer_files([a, a / "B.yaml"])
    # sorted by path parts, as sorted(Path) sorts them: ("b", "c.yaml") < ("b.json",)
    assert [(p.relative_to(a).as_posix(), base) for p, base in files] == [
        ("B.yaml", a), ("b/c.yaml", a), ("b/z/d.csv", a), ("b.json", a), ("e.YML", a)]


@pytest.mark.parametrize("cell, expected", [
    ("[ 0.6 , -8e-1 ]", [0.6, -0.8]), ("[[1, 2] , [3, 4] ]", [[1.0, 2.0], [3.0, 4.0]]),
    ("[[.5], [+2.]]", [[0.5], [2.0]]), ("[ 0.6 -0.8]", [0.6, -0.8]), ("[1, 2; 3, 4]", [[1, 2], [3, 4]]),
])
def test_cells_of_plain_numbers(cell, expected):
    np.testing.assert_array_equal(parse_value(cell), np.asarray(expected, dtype=float))


@pytest.mark.parametrize("cell, message", [
    ("[1e999, 1]", "not a finite number"), ("[[1, 2], [3]]", "ragged"), ("[1,]", "missing entry"),
    ("[[1, 2], 3]", "ragged"), ("[1, 2]]", "unexpected text after ']'"),
])
def test_cells_the_fast_path_leaves_to_the_full_reader(cell, message):
    with pytest.raises(AnswerError, match=message):
        parse_value(cell)


def test_grade_rosters_are_read_like_variant_rosters_utf16_and_gb18030():
    from gradcalc.grading.roster import parse_roster
    text = "学号,姓名,班级\n2026001,张三,一班\n2026002,李四,二班\n"
    for raw in (text.encode("utf-16"), text.encode("gb18030"), b"\xef\xbb\xbf" + text.encode()):
        r = parse_roster(raw, "roster.csv")
        assert r.header == ["学号", "姓名", "班级"]
        assert [row[1] for row in r.rows] == ["张三", "李四"]
    assert not parse_roster(text.encode("gb18030"), "roster.csv").bom
    assert parse_roster(text.encode("utf-16"), "roster.csv").bom
