"""`grade --export gradescope|prairielearn|moodle|blackboard|canvas` against each platform's documented format.

The schemas below are written from the platforms' documentation, not from gradcalc's code:
- Gradescope autograder results.json: https://gradescope-autograders.readthedocs.io/en/latest/specs/
  ("Output format": score, execution_time, output, visibility, stdout_visibility, extra_data,
  tests[{score, max_score, status, name, number, output, tags, visibility, extra_data}];
  visibility one of hidden, after_due_date, after_published, visible; status passed|failed);
- PrairieLearn external grading results: https://prairielearn.readthedocs.io/en/latest/externalGrading/
  ("Grading results": gradable, score a number from 0 to 1, message, output, images,
  tests[{name, description, points, max_points, message, output, images}]);
- Moodle grade import: https://docs.moodle.org/en/Grade_import (a CSV whose identifier column is
  mapped to a user field such as the ID number, grade columns mapped to grade items, feedback
  columns to "feedback for" an item);
- Blackboard Grade Center upload: http://library.blackboard.com/ref/3ea64795-6ecc-4abd-b595-0a9a8dfdec94/Content/_instructor_grade_center/grade_center_upload_download.htm
  (a header row, one record per line, the Username as each student's identifier, and in a
  comma-delimited file every value inside a quote character).
The expected numbers come from a NumPy forward/backward pass of hw1 written here.
"""
import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gradcalc.cli import cli

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[2]
RUBRIC = ROOT / "problems" / "hw1_rubric.yaml"
POINTS = {"z1": 1, "h1": 1, "y": 1, "L": 1, "dW2": 2, "db2": 1, "dW1": 2, "db1": 1}  # the rubric's

VIS = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
GRADESCOPE = {
    "type": "object",
    "properties": {
        "score": {"type": "number"}, "execution_time": {"type": "number"},
        "output": {"type": "string"}, "visibility": VIS, "stdout_visibility": VIS,
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": {
            "type": "object",
            "properties": {"score": {"type": "number"}, "max_score": {"type": "number"},
                           "status": {"enum": ["passed", "failed"]},
                           "name": {"type": "string"}, "number": {"type": "string"},
                           "output": {"type": "string"},
                           "tags": {"type": "array", "items": {"type": "string"}},
                           "visibility": VIS, "extra_data": {"type": "object"}},
            "additionalProperties": False}},
    },
    "anyOf": [{"required": ["score"]}, {"required": ["tests"]}],
    "additionalProperties": False,
}
PRAIRIELEARN = {
    "type": "object",
    "required": ["gradable"],
    "properties": {
        "gradable": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "message": {"type": "string"}, "output": {"type": "string"},
        "images": {"type": "array"},
        "tests": {"type": "array", "items": {
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                           "points": {"type": "number"}, "max_points": {"type": "number"},
                           "message": {"type": "string"}, "output": {"type": "string"},
                           "images": {"type": "array"}},
            "additionalProperties": False}},
    },
    "if": {"properties": {"gradable": {"const": True}}},
    "then": {"required": ["score"]},
    "additionalProperties": False,
}


def hw1():
    """hw1 by hand: x=[0.5,−1.5], sigmoid hidden layer, linear output, ½(y − t)², t = 0.3."""
    x = np.array([0.5, -1.5])
    W1, b1 = np.array([[0.4, -0.2], [-0.1, 0.3]]), np.array([0.1, -0.3])
    W2, b2 = np.array([[0.2, -0.5]]), np.array([0.05])
    z1 = W1 @ x + b1
    h1 = 1 / (1 + np.exp(-z1))
    y = W2 @ h1 + b2
    dy = y - 0.3
    dz1 = (W2.T @ dy) * h1 * (1 - h1)
    return {"z1": z1, "h1": h1, "y": y, "L": 0.5 * float(dy[0] ** 2), "dW2": np.outer(dy, h1),
            "db2": dy, "dW1": np.outer(dz1, x), "db1": dz1}


def doc(student, answers):
    lines = [f"student: {student}", "answers:"]
    lines += [f"  {k}: {json.dumps(np.asarray(v).tolist())}" for k, v in answers.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def klass(tmp_path):
    """s001 all right, s002 z1 right and y off by 1, s003 twice, a binary file."""
    ref = hw1()
    folder = tmp_path / "answers"
    folder.mkdir()
    (folder / "s001.yaml").write_text(doc("s001", ref))
    (folder / "s002.yaml").write_text(doc("s002", {"z1": ref["z1"], "y": ref["y"] + 1.0}))
    (folder / "s003a.yaml").write_text(doc("s003", {"z1": ref["z1"]}))
    (folder / "s003b.yaml").write_text(doc("s003", {"h1": ref["h1"]}))
    (folder / "junk.yaml").write_bytes(b"\x00\x01\x02binary")
    return tmp_path, folder


def grade(tmp, folder, *extra, quiet=True):
    out = tmp / "out"
    r = CliRunner().invoke(cli, ["grade", str(RUBRIC), str(folder), "-o", str(out),
                                 *(["-q"] if quiet else []), *extra])
    return r, out


def test_gradescope_and_prairielearn_results_follow_their_documented_schemas(klass):
    tmp, folder = klass
    r, out = grade(tmp, folder, "--export", "gradescope", "--export", "prairielearn")
    assert r.exit_code == 0, r.output
    gs = sorted((out / "gradescope").glob("*.json"))
    pl = sorted((out / "prairielearn").glob("*.json"))
    assert [p.stem for p in gs] == [p.stem for p in pl] == ["junk", "s001", "s002", "s003",
                                                            "s003~2"]
    total = sum(POINTS.values())
    for path in gs:
        data = json.loads(path.read_text(encoding="utf-8"))
        jsonschema.validate(data, GRADESCOPE)
        assert [t["name"] for t in data["tests"]] == list(POINTS)       # one test per question
        assert [t["max_score"] for t in data["tests"]] == list(POINTS.values())
        assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
    for path in pl:
        data = json.loads(path.read_text(encoding="utf-8"))
        jsonschema.validate(data, PRAIRIELEARN)
        assert [t["max_points"] for t in data["tests"]] == list(POINTS.values())
        assert data["score"] == pytest.approx(sum(t["points"] for t in data["tests"]) / total)
    s001 = json.loads((out / "gradescope" / "s001.json").read_text(encoding="utf-8"))
    assert s001["score"] == total and all(t["status"] == "passed" for t in s001["tests"])
    s002 = json.loads((out / "gradescope" / "s002.json").read_text(encoding="utf-8"))
    assert s002["score"] == 1                                  # only z1 is right
    y = next(t for t in s002["tests"] if t["name"] == "y")
    assert y["status"] == "failed" and y["score"] == 0
    assert re.search(r"accepted: \[0\.02\d+, 0\.02\d+\]", y["output"])   # y ≈ 0.0241 ± 1%
    junk = json.loads((out / "prairielearn" / "junk.json").read_text(encoding="utf-8"))
    assert junk["gradable"] is False and "binary" in junk["message"]
    assert json.loads((out / "prairielearn" / "s001.json").read_text())["score"] == 1


def test_moodle_and_blackboard_have_one_row_per_student_and_leave_out_what_needs_a_person(klass):
    tmp, folder = klass
    r, out = grade(tmp, folder, "--export", "moodle", "--export", "blackboard",
                   "--assignment", "HW1")
    assert r.exit_code == 0, r.output
    rows = list(csv.reader(io.StringIO((out / "moodle.csv").read_text(encoding="utf-8"))))
    assert rows[0] == ["ID number", "HW1", "Feedback for HW1"]
    grades = {row[0]: row for row in rows[1:]}
    assert list(grades) == ["s001", "s002", "s003"]        # the binary file has no id to use
    assert float(grades["s001"][1]) == 10 and float(grades["s002"][1]) == 1
    # s003 twice, default policy `duplicates: flag`: every copy graded 0 -> one row, 0, not blank
    assert grades["s003"][1] == "0" and "not graded" in grades["s003"][2]
    assert grades["s002"][2].startswith("Score: 1/10. z1 1/1; h1 0/1; y 0/1")
    raw = (out / "blackboard.csv").read_bytes().decode("utf-8")
    lines = raw.split("\r\n")
    assert lines[0] == '"Username","HW1"'
    assert all(re.fullmatch(r'("[^"]*",)*"[^"]*"', line) for line in lines if line)  # all quoted
    assert dict(list(csv.reader(io.StringIO(raw)))[1:]) == {"s001": "10", "s002": "1",
                                                             "s003": "0"}
    r, out = grade(tmp, folder, "--export", "moodle", quiet=False)   # the console names them
    assert "1 submission left out of moodle.csv" in r.output and "junk.yaml (unreadable)" in r.output


def test_a_rerun_without_the_export_removes_the_exported_files(klass):
    tmp, folder = klass
    r, out = grade(tmp, folder, "--export", "gradescope", "--export", "moodle")
    assert r.exit_code == 0 and (out / "gradescope" / "s001.json").exists()
    r, out = grade(tmp, folder)
    assert r.exit_code == 0, r.output
    assert not (out / "moodle.csv").exists()
    assert list((out / "gradescope").glob("*.json")) == []


def test_canvas_needs_the_roster_it_copies(klass):
    tmp, folder = klass
    r, out = grade(tmp, folder, "--export", "canvas")
    assert r.exit_code == 2
    assert r.output.strip().splitlines()[-1].startswith("gradcalc: error:")
    assert "--roster" in r.output


def test_moodle_feedback_and_ids_are_inert_in_a_spreadsheet(tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    (folder / "x.yaml").write_text(doc("=HYPERLINK(1)", {"z1": [1, 2]}))
    r, out = grade(tmp_path, folder, "--export", "moodle", "--export", "blackboard")
    assert r.exit_code == 0, r.output
    for name in ("moodle.csv", "blackboard.csv"):
        rows = list(csv.reader(io.StringIO((out / name).read_text(encoding="utf-8"))))
        assert rows[1][0] == "'=HYPERLINK(1)"


def test_copies_of_one_id_with_different_totals_are_left_for_a_person():
    from types import SimpleNamespace as R
    from gradcalc.render.exports_lms import uploadable

    def result(student, total, source, unreadable=None):
        return R(student=student, total=total, source=source, unreadable=unreadable)
    rs = [result("a", 3.0, "a1"), result("a", 5.0, "a2"), result("b", 0.0, "b1"),
          result("b", 0.0, "b2"), result("c", 1.0, "c1"), result("x", 0.0, "x", "binary")]
    keep, left = uploadable(rs)
    assert [(r.student, r.source) for r in keep] == [("b", "b1"), ("c", "c1")]
    assert [src for src, _ in left] == ["a1", "a2", "x"]
