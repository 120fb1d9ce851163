"""`gradcalc.grade` (the API) applies the course's policies as `gradcalc grade` does: a messy class
folder with a duplicate, late files, an override and a roster gives the same grades both ways.

The expected numbers are worked out here by hand from hw1's own numbers (a NumPy forward and
backward pass written in the test); the CLI's grades.csv and the API's report must both match."""
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import gradcalc
from gradcalc.cli import cli

ROOT = Path(__file__).resolve().parents[2]
HW1 = ROOT / "problems" / "hw1.yaml"


def hw1(z1=None):
    """hw1 by hand: x = [0.5, −1.5], sigmoid hidden layer, linear output, ½(y − 0.3)²."""
    x = np.array([0.5, -1.5])
    W1, b1 = np.array([[0.4, -0.2], [-0.1, 0.3]]), np.array([0.1, -0.3])
    W2, b2 = np.array([[0.2, -0.5]]), np.array([0.05])
    z1 = W1 @ x + b1 if z1 is None else np.asarray(z1, dtype=float)
    h1 = 1 / (1 + np.exp(-z1))
    y = W2 @ h1 + b2
    dy = y - 0.3
    dz1 = (W2.T @ dy) * h1 * (1 - h1)
    return {"z1": z1, "h1": h1, "y": y, "L": 0.5 * float(dy[0] ** 2), "dW1": np.outer(dz1, x),
            "db1": dz1, "dW2": np.outer(dy, h1), "db2": dy}


def doc(student, answers, submitted=None, name=None):
    lines = [f"student: {student}"] + ([f"name: {name}"] if name else []) \
        + ([f"submitted: {submitted}"] if submitted else []) + ["answers:"]
    lines += [f"  {k}: {json.dumps(np.asarray(v).tolist())}" for k, v in answers.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def messy(tmp_path):
    """s01 right on time (its own name in the file); s02 twice (an early wrong copy, a later
    right one two days late); s03 right, 5 days late; s04 with z1 wrong (follow-through)
    and an override of z1; s05 right on time but not on the roster; a binary file.
    The roster (Canvas) and the overrides file are beside the folder."""
    d = tmp_path / "answers"
    d.mkdir()
    ref = hw1()
    (d / "s01.yaml").write_text(doc("s01", ref, "2026-10-01T20:00", name="Ada L."),
                                encoding="utf-8")
    (d / "s02_first.yaml").write_text(doc("s02", hw1(z1=[9.0, 9.0]), "2026-10-01T21:00"),
                                      encoding="utf-8")
    (d / "s02_again.yaml").write_text(doc("s02", ref, "2026-10-03T09:00"), encoding="utf-8")
    (d / "s03.yaml").write_text(doc("s03", ref, "2026-10-06T12:00"), encoding="utf-8")
    (d / "s04.yaml").write_text(doc("s04", dict(ref, z1=[0.9, -0.9]), "2026-10-01T10:00"),
                                encoding="utf-8")
    (d / "s05.yaml").write_text(doc("s05", ref, "2026-10-01T10:00"), encoding="utf-8")
    (d / "broken.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "overrides.yaml").write_text("- student: s04\n  question: z1\n  credit: 0.5\n"
                                      "  comment: sign slip only\n  who: TA Kim\n",
                                      encoding="utf-8")
    (tmp_path / "roster.csv").write_text("Student,ID,SIS User ID,HW1\r\n    Points Possible,,,\r\n"
                                  "Ada Lovelace,1,s01,\r\nBob,2,s02,\r\nCy,3,s03,\r\n"
                                  "Di,4,s04,\r\nEve,5,broken,\r\n", encoding="utf-8")
    problem = tmp_path / "hw1_policy.yaml"
    problem.write_text(HW1.read_text(encoding="utf-8") + "grading:\n  duplicates: latest\n"
                       "  due: 2026-10-01T23:59\n  late: {per_day: 10%, max_days: 3}\n",
                       encoding="utf-8")
    return problem, d


def test_api_and_cli_give_the_same_grades_under_every_policy(messy, tmp_path):
    problem, d = messy
    for name in ("overrides.yaml", "roster.csv"):    # inside the folder: inputs, not answers
        (d / name).write_bytes((tmp_path / name).read_bytes())
    r = CliRunner().invoke(cli, ["grade", str(problem), str(d), "-o", str(tmp_path / "g"),
                                 "--overrides", str(d / "overrides.yaml"),
                                 "--roster", str(d / "roster.csv"), "-q"])
    assert r.exit_code == 0, r.output
    text = (tmp_path / "g" / "grades.csv").read_text(encoding="utf-8")
    cli_rows = {row["student"]: row for row in list(csv.DictReader(io.StringIO(text)))[1:]}

    report = gradcalc.grade(problem, [d], overrides=d / "overrides.yaml",
                            roster=d / "roster.csv")
    api = {res.student: res for res in report.results}

    # by hand: 8 questions of 1 point; hw1's z1 is [0.6, −0.8]
    assert sorted(api) == sorted(cli_rows) == ["broken", "s01", "s02", "s03", "s04", "s05"]
    expected_total = {
        "s01": 8.0,
        "s02": 8.0 * (1 - 0.2),      # the later copy (latest), 1 day 9 h late: 2 days, −20%
        "s03": 0.0,                  # 4 days 12 h late, more than max_days = 3: not accepted
        "s05": 8.0,
        "broken": 0.0,
    }
    for sid, total in expected_total.items():
        assert api[sid].total == pytest.approx(total, abs=1e-12), sid
        assert float(cli_rows[sid]["total"]) == pytest.approx(total, abs=1e-12), sid
    # s04: z1 wrong; z1's override gives half its point, the rest is what the key decided
    s04_z1 = {q.name: q for q in api["s04"].questions}["z1"]
    assert s04_z1.score == 0.5 and float(cli_rows["s04"]["z1"]) == 0.5
    assert "z1: 0 → 0.5 by TA Kim: sign slip only" in api["s04"].adjustments
    # names: the file's own name wins; otherwise the roster's ("Student" is Canvas' name column)
    assert [api[s].name for s in ("s01", "s02", "s03", "s05")] == ["Ada L.", "Bob", "Cy", ""]
    # the duplicates policy set the early copy aside, in the report too
    assert report.set_aside == [("s02", "s02_first.yaml",
                                 "set aside (duplicates: latest): s02_again.yaml is graded")]
    # not on the roster, unreadable: out of the statistics
    assert api["s05"].excluded == "not on the roster" and api["broken"].excluded == "unreadable"

    # and the API gives, student by student, exactly what the CLI wrote
    for sid, res in api.items():
        row = cli_rows[sid]
        assert row["name"] == res.name
        assert [float(row[q.name]) for q in res.questions] == \
            pytest.approx([q.score for q in res.questions], abs=5e-4)
        assert float(row["total"]) == pytest.approx(res.total, abs=5e-4)
        assert row["status"] == res.status
        assert row["adjustments"] == "; ".join(res.adjustments)


def test_the_api_without_policies_files_still_applies_the_rubric_policies(messy):
    problem, d = messy
    report = gradcalc.grade(problem, [d])
    api = {res.student: res for res in report.results}
    assert sorted(api) == ["broken", "s01", "s02", "s03", "s04", "s05"]
    assert api["s02"].total == pytest.approx(6.4) and api["s03"].total == 0.0
    assert api["s04"].adjustments == [] and api["s02"].name == "" and api["s05"].excluded == ""


def test_cli_grade_fills_names_from_the_roster(messy, tmp_path):
    problem, d = messy
    r = CliRunner().invoke(cli, ["grade", str(problem), str(d), "-o", str(tmp_path / "g"),
                                 "--roster", str(tmp_path / "roster.csv"), "-q"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(
        (tmp_path / "g" / "grades.csv").read_text(encoding="utf-8"))))[1:]
    assert {row["student"]: row["name"] for row in rows} == {
        "broken": "Eve", "s01": "Ada L.", "s02": "Bob", "s03": "Cy", "s04": "Di", "s05": ""}
    fb = (tmp_path / "g" / "feedback" / "s02.md").read_text(encoding="utf-8")
    assert "- Student: s02 (Bob)" in fb
