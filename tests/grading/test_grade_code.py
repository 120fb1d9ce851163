"""`gradcalc grade-code`: a class folder with right, buggy and hostile submissions.  Every other
submission is graded, each bad one loses its points with a clear status, and nothing outside
the scratch folder is touched (sentinel files)."""
import csv
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcalc.cli import cli
from gradcalc.errors import ProblemError
from gradcalc.grading.coderubric import load_code_rubric

LAYERS = Path(__file__).resolve().parents[1] / "compare" / "layers"

RUBRIC = """\
title: "HW3: layers"
time_limit: 1.5
layers:
  relu: 1
  conv_naive: {points: 4, param: {conv_param: {stride: 1, pad: 1}}}
  lstm_step: {points: 3, convention: pair}
"""
HOSTILE = {
    "s03_syntax": "def relu_forward(x)\n    return x\n",
    "s04_loop": "while True:\n    pass\n",
    "s05_osexit": "import os\nos._exit(0)\n",
    "s06_alloc": "import numpy as np\nbig = np.ones(10 * 1024 ** 3 // 8)\n",
    "s07_delete": ("import os, shutil\n"
                   "for f in os.listdir('.'):\n"
                   "    os.remove(f) if os.path.isfile(f) else shutil.rmtree(f)\n"
                   "import numpy as np\n"
                   "def relu_forward(x):\n    return np.maximum(0, x), x\n"
                   "def relu_backward(dout, cache):\n    return dout * (cache > 0)\n"),
    "s08_forkbomb": "import os\nwhile True:\n    os.fork()\n",
    "s09_sysexit": "import sys\nsys.exit(3)\n",
    "s10_env": ("import os\nprint('SECRET=' + str(os.environ.get('GRADCALC_TEST_SECRET')))\n"
                "import numpy as np\n"
                "def relu_forward(x):\n    return np.maximum(0, x), x\n"
                "def relu_backward(dout, cache):\n    while True:\n        pass\n"),
    # kills the worker that forked it (as root), or is refused (as nobody): either way only
    # this submission is lost, and the batch goes on with a new worker
    "s12_killworker": "import posix, time\nposix.kill(posix.getppid(), 9)\ntime.sleep(30)\n",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("klass")
    subs = root / "submissions"
    subs.mkdir()
    shutil.copy(LAYERS / "cs231n_right.py", subs / "s01_right.py")
    shutil.copy(LAYERS / "cs231n_buggy.py", subs / "s02_buggy.py")
    for name, text in HOSTILE.items():
        (subs / f"{name}.py").write_text(text)
    (subs / "s11").mkdir()                     # a folder per student works too
    shutil.copy(LAYERS / "cs231n_right.py", subs / "s11" / "layers.py")
    (subs / "SENTINEL.txt").write_text("keep me")
    (root / "SENTINEL.txt").write_text("keep me too")
    before = {p: p.read_bytes() for p in subs.rglob("*") if p.is_file()}
    (root / "rubric.yaml").write_text(RUBRIC)
    roster = root / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,HW3\r\n    Points Possible,,,\r\n"
                      "Ada,1,s01_right,\r\nBob,2,s02_buggy,\r\nCy,3,s99_absent,\r\n",
                      encoding="utf-8")
    out = root / "out"
    mp = pytest.MonkeyPatch()
    mp.setenv("GRADCALC_TEST_SECRET", "hunter2")
    try:
        r = CliRunner().invoke(cli, ["grade-code", str(root / "rubric.yaml"), str(subs), "-o",
                                     str(out), "--roster", str(roster), "-j", "2"])
    finally:
        mp.undo()
    return root, subs, out, r, before


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_the_batch_finishes_and_grades_every_submission(graded):
    _, _, out, r, _ = graded
    assert r.exit_code == 0, r.output
    table = {row[0]: row for row in rows(out / "grades.csv")}
    assert table["student"] == ["student", "name", "relu", "conv_naive", "lstm_step", "total",
                                "max", "percent", "status"]
    assert table["(points)"][2:7] == ["1", "4", "3", "8", "8"]
    assert table["s01_right"][2:6] == ["1", "4", "3", "8"]
    assert table["s11"][2:6] == ["1", "4", "3", "8"]
    # the buggy file: relu multiplies by the output, conv dw from one example, lstm forget gate
    assert table["s02_buggy"][2:6] == ["0", "0", "0", "0"]
    assert table["s07_delete"][2:6] == ["1", "0", "0", "1"]     # its relu is right
    assert len(table) == 2 + 12
    assert table["s12_killworker"][5] == "0" and table["s12_killworker"][-1] != "graded"


@pytest.mark.parametrize("student, status", [
    ("s03_syntax", "syntax error"),
    ("s04_loop", "time limit at import"),
    ("s05_osexit", "exited at import"),
    ("s06_alloc", "memory limit at import"),
    ("s08_forkbomb", "import failed"),
    ("s09_sysexit", "exited at import: sys.exit(3)"),
    ("s01_right", "graded"),
])
def test_each_bad_submission_gets_a_clear_status(graded, student, status):
    _, _, out, _, _ = graded
    table = {row[0]: row for row in rows(out / "grades.csv")}
    assert table[student][-1].startswith(status)
    if status != "graded":
        assert table[student][5] == "0"


def test_a_hang_inside_a_layer_costs_that_layer_only(graded):
    _, _, out, _, _ = graded
    fb = (out / "feedback" / "s10_env.md").read_text(encoding="utf-8")
    assert "| relu | 0 / 1 | time limit |" in fb
    assert "| conv\\_naive | 0 / 4 | not found |" in fb


def test_the_environment_holds_no_secrets_and_output_is_captured(graded):
    _, _, out, _, _ = graded
    fb = (out / "feedback" / "s10_env.md").read_text(encoding="utf-8")
    assert "SECRET=None" in fb and "hunter2" not in fb


def test_nothing_outside_the_scratch_folder_is_touched(graded):
    root, subs, _, _, before = graded
    assert (root / "SENTINEL.txt").read_text() == "keep me too"
    after = {p: p.read_bytes() for p in subs.rglob("*") if p.is_file()}
    assert after == before


def test_feedback_names_the_layer_and_the_wrong_gradient(graded):
    _, _, out, _, _ = graded
    fb = (out / "feedback" / "s02_buggy.md").read_text(encoding="utf-8")
    assert "| conv\\_naive | 0 / 4 | fail | dw wrong" in fb
    assert "| relu | 0 / 1 | fail | dx wrong" in fb
    assert "| dw[" in fb                                  # worst entries, side by side


def test_summary_has_per_layer_pass_rates_and_says_what_isolation_means(graded):
    _, _, out, _, _ = graded
    s = (out / "summary.md").read_text(encoding="utf-8")
    # relu passes for s01, s07, s11 of 12 submissions; conv and lstm for s01 and s11
    assert "| relu | 1 | 25.0% | 3 |" in s
    assert "| conv\\_naive | 4 | 16.7% | 2 |" in s
    assert "not a security sandbox" in s


def test_the_roster_upload(graded):
    _, _, out, _, _ = graded
    up = rows(out / "upload.csv")
    assert up[0] == ["Student", "ID", "SIS User ID", "rubric"]
    assert up[2][-1] == "8" and up[3][-1] == "0"
    assert up[4] == ["Cy", "3", "s99_absent", ""]      # no submission: blank, and said
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "On the roster without a submission" in summary and "s99\\_absent" in summary


def test_grades_csv_names_come_from_the_roster(graded):
    # the roster's name column is "Student" (Canvas); ids are in "SIS User ID"
    _, _, out, _, _ = graded
    names = {r[0]: r[1] for r in rows(out / "grades.csv")[2:]}
    assert names["s01_right"] == "Ada" and names["s02_buggy"] == "Bob"
    assert names["s03_syntax"] == ""                   # not on the roster: no name
    fb = (out / "feedback" / "s01_right.md").read_text(encoding="utf-8")
    assert fb.splitlines()[0] == "# HW3: layers: feedback for s01_right (Ada)"


@pytest.mark.parametrize("text, where", [
    ("layers: {relu: {points: 1, convention: magic}}\n", "layers.relu.convention"),
    ("layers: {relu: {points: 1, shape: {x: 4xq}}}\n", "layers.relu.shape.x"),
    ("layers: []\n", "layers"),
    ("time_limit: 0\nlayers: {relu: 1}\n", "time_limit"),
    ("file: ../x.py\nlayers: {relu: 1}\n", "file"),
])
def test_a_bad_rubric_is_one_line_exit_2(tmp_path, text, where):
    f = tmp_path / "r.yaml"
    f.write_text(text)
    with pytest.raises(ProblemError) as exc:
        load_code_rubric(str(f))
    assert f"{where}:" in str(exc.value)
    (tmp_path / "subs").mkdir()
    r = CliRunner().invoke(cli, ["grade-code", str(f), str(tmp_path / "subs")])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1


def test_the_output_folder_inside_the_submissions_is_not_a_submission_and_links_are_not_followed(
        tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(LAYERS / "cs231n_right.py", subs / "s1.py")
    secret = tmp_path / "secret.py"
    secret.write_text("TOKEN = 'x'\n")
    (subs / "s2.py").symlink_to(secret)
    (tmp_path / "r.yaml").write_text("layers: {relu: 1}\n")
    for _ in range(2):                         # a second run into the same folder is fine
        r = CliRunner().invoke(cli, ["grade-code", str(tmp_path / "r.yaml"), str(subs), "-o",
                                     str(subs / "out")])
        assert r.exit_code == 0, r.output
    table = {row[0]: row for row in rows(subs / "out" / "grades.csv")}
    assert set(table) == {"student", "(points)", "s1", "s2"}
    assert table["s1"][2] == "1" and table["s2"][-1].startswith("no file")
    assert sorted(p.name for p in (subs / "out" / "feedback").iterdir()) == ["s1.md", "s2.md"]
