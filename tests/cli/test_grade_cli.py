"""`gradcalc grade` and `gradcalc template` end to end: a hand-built class of hw1 submissions."""
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gradcalc.cli import cli

ROOT = Path(__file__).resolve().parents[2]
HW1 = ROOT / "problems" / "hw1.yaml"
RUBRIC = ROOT / "problems" / "hw1_rubric.yaml"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def hw1(z1=None, forget_sigma_prime=False):
    """hw1 by hand: x=[0.5,−1.5], sigmoid hidden layer, linear output, ½(y − t)², t = 0.3."""
    x = np.array([0.5, -1.5])
    W1, b1 = np.array([[0.4, -0.2], [-0.1, 0.3]]), np.array([0.1, -0.3])
    W2, b2 = np.array([[0.2, -0.5]]), np.array([0.05])
    z1 = W1 @ x + b1 if z1 is None else np.asarray(z1)
    h1 = 1 / (1 + np.exp(-z1))
    y = W2 @ h1 + b2
    dy = y - 0.3
    dz1 = (W2.T @ dy) * (1 if forget_sigma_prime else h1 * (1 - h1))
    return {"z1": z1, "h1": h1, "y": y, "L": 0.5 * float(dy[0] ** 2), "dW1": np.outer(dz1, x),
            "db1": dz1, "dW2": np.outer(dy, h1), "db2": dy}


def yaml_doc(student, answers, name=None):
    lines = [f"student: {student}"] + ([f"name: {name}"] if name else []) + ["answers:"]
    for k, v in answers.items():
        lines.append(f"  {k}: {json.dumps(np.asarray(v).tolist()) if not isinstance(v, str) else v}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def klass(tmp_path):
    d = tmp_path / "answers"
    d.mkdir()
    ref = hw1()
    (d / "s01.yaml").write_text(yaml_doc("s01", ref, "Ada"), encoding="utf-8")
    rounded = {k: np.vectorize(lambda v: float(f"{v:.3g}"))(v) for k, v in ref.items()}
    (d / "s02.yaml").write_text(yaml_doc("s02", rounded, "张三"), encoding="utf-8")
    (d / "s03.yaml").write_text(yaml_doc("s03", hw1(z1=[0.7, -0.8])), encoding="utf-8")
    (d / "s04.yaml").write_text(yaml_doc("s04", hw1(forget_sigma_prime=True)), encoding="utf-8")
    transposed = dict(ref, dW2=ref["dW2"].T)
    (d / "s05.yaml").write_text(yaml_doc("s05", transposed), encoding="utf-8")
    marker = tmp_path / "pwned"
    evil = dict(ref, dW1=f"\"__import__('os').system('touch {marker}')\"")
    (d / "s06.yaml").write_text(yaml_doc("s06", evil), encoding="utf-8")
    (d / "s07.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (d / "s08.json").write_text(json.dumps({"student": "s01", "answers": {"L": 0.038}}))
    (d / "empty.yaml").write_text("")
    rows = [["student", "name", "z1", "L", "dW2[1,1]", "dW2[1,2]"],
            ["=cmd|' /C calc'!A0", "=HYPERLINK(\"http://x\")", "[0.6, -0.8]", "3/80", "", ""],
            ["s10", "@SUM(1)", "[0.6 -0.8]", "0,038", "-0.178", "-0.0855"]]
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    (d / "quiz.csv").write_text(buf.getvalue(), encoding="utf-8-sig")
    return d, marker


def read_csv(path):
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_grade_a_class(klass, tmp_path):
    answers, marker = klass
    out = tmp_path / "grades"
    res = run("grade", HW1, answers, "-o", out)
    assert res.exit_code == 0, res.output
    assert not marker.exists()                         # the malicious expression never ran
    rows = read_csv(out / "grades.csv")
    assert rows[0] == ["student", "name", "z1", "h1", "y", "L", "dW1", "db1", "dW2", "db2",
                       "total", "max", "percent", "status"]
    assert rows[1][:2] == ["(points)", ""] and rows[1][-4:-1] == ["8", "8", "100.0"]
    by = {}
    for r in rows[2:]:
        by.setdefault(r[0], []).append(r)
    total = {k: [r[10] for r in v] for k, v in by.items()}
    assert total["s02"] == ["8"]                       # rounded to 3 significant figures
    assert total["s03"] == ["7.5"]                     # z1 half right, the rest follow-through
    assert total["s04"] == ["6"]                       # forgot σ′: dW1 and db1 lost
    assert total["s05"] == ["7.5"]                     # dW2 transposed: 50% by default
    assert total["s06"] == ["7"]                       # dW1 unreadable
    assert total["s01"] == ["0", "0"]                  # s01 twice (duplicates: flag): none graded
    assert total["s07"] == ["0"] and by["s07"][0][-1] == "unreadable: not a text file (binary)"
    assert by["empty"][0][-1] == "unreadable: the file is empty"
    assert all(r[-1].startswith("duplicate student id") and "not graded (duplicates: flag" in r[-1]
               for r in by["s01"])
    assert by["s06"][0][-1] == "unreadable: dW1"
    # formula injection escaped, plain negative numbers and Chinese names untouched
    assert "'=cmd|' /C calc'!A0" in by and by["'=cmd|' /C calc'!A0"][0][1] == "'=HYPERLINK(\"http://x\")"
    assert by["s10"][0][1] == "'@SUM(1)"
    assert by["s02"][0][1] == "张三"
    # a safe id is its own file name; any other gets 8 hex digits of sha256(id); a second
    # copy of one id gets ~2 (issue 17: a file always belongs to one id)
    import hashlib
    h = hashlib.sha256("=cmd|' /C calc'!A0".encode()).hexdigest()[:8]
    assert sorted(p.name for p in (out / "feedback").iterdir()) == [
        f"cmd____C_calc__A0~{h}.md", "empty.md", "s01.md", "s01~2.md", "s02.md", "s03.md",
        "s04.md", "s05.md", "s06.md", "s07.md", "s10.md"]
    assert (out / "histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.rglob("*.tmp"))


def test_feedback_and_summary_text(klass, tmp_path):
    answers, _ = klass
    out = tmp_path / "g"
    assert run("grade", HW1, answers, "-o", out, "-q").exit_code == 0
    s03 = (out / "feedback" / "s03.md").read_text(encoding="utf-8")
    assert "- Score: **7.5 / 8** (93.8%)" in s03
    assert "## z1 — 0.5 / 1" in s03
    assert "- accepted: z1[1] ∈ [0.5939, 0.6061]; z1[2] ∈ [-0.8081, -0.7919]" in s03
    assert "1 of 2 entries correct; wrong: z1[1]" in s03
    assert "consistent with your z1 (follow-through, 100% credit)" in s03
    s04 = (out / "feedback" / "s04.md").read_text(encoding="utf-8")
    assert ("forgot the derivative of the activation: dz1 = dh1, without the factor σ′(z1) "
            "(a classic mistake; 0% credit)") in s04
    s05 = (out / "feedback" / "s05.md").read_text(encoding="utf-8")
    assert "transposed: dW2 must have the shape of W2" in s05
    s06 = (out / "feedback" / "s06.md").read_text(encoding="utf-8")
    assert "names starting with '\\_\\_' are not allowed" in s06 or "are not allowed" in s06
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "- `no_activation_derivative` — " in summary and ": 1 student" in summary
    assert "duplicate student ids (1): s01" in summary
    assert "![Totals](histogram.png)" in summary


def test_rerun_is_byte_identical(klass, tmp_path):
    answers, _ = klass
    first, second = tmp_path / "a", tmp_path / "b"
    assert run("grade", HW1, answers, "-o", first, "-q").exit_code == 0
    snap = snapshot(first)
    assert run("grade", HW1, answers, "-o", first, "-q").exit_code == 0
    assert snapshot(first) == snap                     # over the old files
    assert run("grade", HW1, answers, "-o", second, "-q").exit_code == 0
    assert snapshot(second) == snap                    # in a fresh folder
    assert "histogram.png" in snap and "summary.md" in snap


def test_hide_answers_and_chinese(klass, tmp_path):
    answers, _ = klass
    out = tmp_path / "g"
    assert run("grade", HW1, answers, "-o", out, "-q", "--hide-answers", "--lang", "zh").exit_code == 0
    s03 = (out / "feedback" / "s03.md").read_text(encoding="utf-8")
    assert "- 可接受范围: （隐藏）" in s03 and "0.5939" not in s03
    assert "与你的 z1 一致（误差传递，给 100% 的分）" in s03
    assert "# 作业反馈" in s03
    assert "各题的常见错误" in (out / "summary.md").read_text(encoding="utf-8")


def test_roster_upload(klass, tmp_path):
    answers, _ = klass
    roster = tmp_path / "canvas.csv"
    roster.write_bytes(("\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,HW0 (12)\r\n"
                        "    Points Possible,,,,,10\r\n"
                        "\"Lovelace, Ada\",101,s01,ada,A,9\r\n"
                        "张三,102,s02,zs,A,7\r\n"
                        "=HYPERLINK(\"x\"),103,s03,eve,B,\r\n"
                        "Nobody,104,s99,nb,B,\r\n").encode("utf-8"))
    out = tmp_path / "g"
    res = run("grade", RUBRIC, answers, "-o", out, "--roster", roster, "--assignment", "HW1 (345)")
    assert res.exit_code == 0, res.output
    raw = (out / "upload.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")             # the roster's BOM is kept (Excel)
    rows = read_csv(out / "upload.csv")
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "HW1 (345)"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "10"]
    assert rows[2] == ["Lovelace, Ada", "101", "s01", "ada", "A", "0"]  # two submissions, flag: 0, listed
    assert rows[3] == ["张三", "102", "s02", "zs", "A", "10"]
    assert rows[4][0] == "'=HYPERLINK(\"x\")" and rows[4][-1] == "9.5"   # s03: z1 half right, 10 points
    assert rows[5][-1] == ""
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "roster rows without a submission (1): s99" in summary
    assert "submissions not on the roster" in summary


def test_unusable_rubric_exits_2_and_writes_nothing(tmp_path, klass):
    answers, _ = klass
    bad = tmp_path / "bad.yaml"
    bad.write_text(HW1.read_text() + "grading:\n  questions: {dW3: 1}\n")
    out = tmp_path / "g"
    res = run("grade", bad, answers, "-o", out)
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1].startswith(
        f"gradcalc: error: {bad}:18: grading.questions.dW3: unknown quantity 'dW3'")
    assert not out.exists()


def test_usage_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run("grade", HW1, empty, "-o", tmp_path / "g")
    assert res.exit_code == 2 and "no answer files" in res.output
    res = run("grade", HW1, tmp_path / "missing", "-o", tmp_path / "g")
    assert res.exit_code == 2 and "no such file or folder" in res.output
    res = run("grade", tmp_path / "nope.yaml", empty)
    assert res.exit_code == 2


def test_quiet_prints_nothing_and_table_otherwise(klass, tmp_path):
    answers, _ = klass
    res = CliRunner().invoke(cli, ["grade", str(HW1), str(answers), "-o", str(tmp_path / "q"), "-q"])
    assert res.exit_code == 0 and res.stdout == ""
    res = CliRunner().invoke(cli, ["grade", str(HW1), str(answers), "-o", str(tmp_path / "t")],
                             env={"COLUMNS": "100"})
    assert "question" in res.stdout and "db1" in res.stdout and "no_activation_derivative" in res.stdout


def test_template_round_trip(tmp_path):
    res = run("template", HW1)
    assert res.exit_code == 0
    text = res.output
    assert "  dW1: [[~, ~], [~, ~]]   # 2×2, 1 point" in text
    d = tmp_path / "a"
    d.mkdir()
    (d / "blank.yaml").write_text(text.replace('student: ""', "student: s1"), encoding="utf-8")
    out = tmp_path / "g"
    assert run("grade", HW1, d, "-o", out, "-q").exit_code == 0
    row = read_csv(out / "grades.csv")[2]
    assert row[0] == "s1" and row[10] == "0" and row[-1] == "nothing answered"
    res = run("template", HW1, "--format", "csv")
    header = next(csv.reader(io.StringIO(res.output)))
    assert header[:4] == ["student", "name", "z1[1]", "z1[2]"] and "dW1[2,1]" in header


def test_every_command_has_an_example():
    for cmd in ("grade", "template"):
        res = run(cmd, "--help")
        assert res.exit_code == 0 and "Example" in res.output


def test_histogram_helper_process_gives_the_same_files(klass, tmp_path, monkeypatch):
    from gradcalc.cli import grade as grade_cli
    answers, _ = klass
    monkeypatch.setattr(grade_cli, "HISTOGRAM_HELPER_MIN", 10 ** 9)   # drawn in this process
    assert run("grade", HW1, answers, "-o", tmp_path / "here", "-q").exit_code == 0
    monkeypatch.setattr(grade_cli, "HISTOGRAM_HELPER_MIN", 0)         # by a forked helper
    assert run("grade", HW1, answers, "-o", tmp_path / "helper", "-q").exit_code == 0
    assert snapshot(tmp_path / "helper") == snapshot(tmp_path / "here")


def test_a_failing_histogram_helper_is_replaced(klass, tmp_path, monkeypatch):
    import os

    from gradcalc.cli import grade as grade_cli
    from gradcalc.render import histogram as render
    answers, _ = klass
    assert run("grade", HW1, answers, "-o", tmp_path / "ref", "-q").exit_code == 0
    parent, real = os.getpid(), render.histogram_png

    def only_here(*args, **kw):   # the forked helper fails; this process draws instead
        if os.getpid() != parent:
            raise RuntimeError("helper broken")
        return real(*args, **kw)

    monkeypatch.setattr(render, "histogram_png", only_here)
    monkeypatch.setattr(grade_cli, "HISTOGRAM_HELPER_MIN", 0)
    assert run("grade", HW1, answers, "-o", tmp_path / "g", "-q").exit_code == 0
    assert snapshot(tmp_path / "g") == snapshot(tmp_path / "ref")


def test_a_file_that_cannot_be_written_is_one_line_and_exit_2(klass, tmp_path, monkeypatch):
    import os
    import sys

    from gradcalc.cli import grade as grade_cli
    answers, _ = klass
    monkeypatch.setattr(grade_cli, "HISTOGRAM_HELPER_MIN", 0)
    helpers = []
    real_init = grade_cli._Histogram.__init__

    def recording_init(self, enabled):
        real_init(self, enabled)
        helpers.append(self.pid)

    monkeypatch.setattr(grade_cli._Histogram, "__init__", recording_init)
    out = tmp_path / "g"
    (out / "feedback" / "s03.md").mkdir(parents=True)         # a folder where a file goes
    res = run("grade", HW1, answers, "-o", out, "-q")
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1].startswith(
        f"gradcalc: error: {out / 'feedback' / 's03.md'}: cannot write the file:")
    assert not list(out.rglob("*.tmp"))
    if sys.platform.startswith("linux") and len(os.sched_getaffinity(0)) > 1:
        assert len(helpers) == 1 and helpers[0]                # a helper was started …
    for pid in filter(None, helpers):
        with pytest.raises(ChildProcessError):                # … and stopped and reaped
            os.waitpid(pid, os.WNOHANG)


def test_template_of_a_variant_template_lists_the_same_questions_and_shapes():
    from click.testing import CliRunner
    from gradcalc.cli import cli
    root = Path(__file__).resolve().parents[2]
    r = CliRunner().invoke(cli, ["template", str(root / "problems" / "hw1_template.yaml")])
    assert r.exit_code == 0, r.output
    # hw1's shapes: z1 and h1 have 2 entries, dW1 is 2×2, dW2 is 1×2 (2 points in its rubric)
    assert "  z1:  [~, ~]   # 2 entries" in r.output
    assert "  dW1: [[~, ~], [~, ~]]   # 2×2" in r.output
    assert "  dW2: [[~, ~]]   # 1×2, 2 points" in r.output
