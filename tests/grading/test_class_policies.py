"""Issue 16 items 1-6: one trustworthy grade per student. A class folder with duplicates,
unreadable and empty files, late files, overrides, copy signals, and a wrong-problem run; every
expected number is computed here by hand (NumPy) from hw1's own numbers."""
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
TEMPLATE = ROOT / "problems" / "hw1_template.yaml"
QUESTIONS = ["z1", "h1", "y", "L", "dW1", "db1", "dW2", "db2"]   # hw1 without a rubric: 1 point each


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def by_hand(x, W1, b1, W2, b2, t, z1=None, forget_sigma_prime=False):
    """The two-layer network of hw1 by hand: sigmoid hidden layer, linear output, ½(y − t)²."""
    z1 = W1 @ x + b1 if z1 is None else np.asarray(z1, dtype=float)
    h1 = 1 / (1 + np.exp(-z1))
    y = W2 @ h1 + b2
    dy = y - t
    dz1 = (W2.T @ dy) * (1 if forget_sigma_prime else h1 * (1 - h1))
    return {"z1": z1, "h1": h1, "y": y, "L": 0.5 * float(np.sum(dy ** 2)),
            "dW1": np.outer(dz1, x), "db1": dz1, "dW2": np.outer(dy, h1), "db2": dy}


HW1_NUMBERS = dict(x=np.array([0.5, -1.5]), W1=np.array([[0.4, -0.2], [-0.1, 0.3]]),
                   b1=np.array([0.1, -0.3]), W2=np.array([[0.2, -0.5]]), b2=np.array([0.05]),
                   t=np.array([0.3]))


def hw1(**kw):
    return by_hand(**HW1_NUMBERS, **kw)


def doc(student, answers, submitted=None, extra=""):
    lines = [f"student: {student}"] + ([f"submitted: {submitted}"] if submitted else []) \
        + ["answers:"]
    for k, v in answers.items():
        lines.append(f"  {k}: {v if isinstance(v, str) else json.dumps(np.asarray(v).tolist())}")
    return "\n".join(lines) + "\n" + extra


def rubric_file(tmp_path, grading: str) -> Path:
    p = tmp_path / "hw1_policy.yaml"
    p.write_text(HW1.read_text(encoding="utf-8") + "grading:\n" + grading, encoding="utf-8")
    return p


def read_rows(path):
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


@pytest.fixture
def klass(tmp_path):
    """s01 right, on time; s02 twice (an early wrong copy, a later right one a day late); s03
    right but 5 days late; s04 forgot σ′ (dW1, db1 wrong); s05 answered nothing; a binary
    file; s06 and s07 right on time."""
    d = tmp_path / "answers"
    d.mkdir()
    ref = hw1()
    (d / "s01.yaml").write_text(doc("s01", ref, "2026-10-01T20:00"), encoding="utf-8")
    (d / "s02_first.yaml").write_text(doc("s02", hw1(z1=[9.0, 9.0]), "2026-10-01T21:00"),
                                      encoding="utf-8")
    (d / "s02_again.yaml").write_text(doc("s02", ref, "2026-10-02T09:00"), encoding="utf-8")
    (d / "s03.yaml").write_text(doc("s03", ref, "2026-10-06T12:00"), encoding="utf-8")
    (d / "s04.yaml").write_text(doc("s04", hw1(forget_sigma_prime=True), "2026-10-01T10:00"),
                                encoding="utf-8")
    (d / "s05.yaml").write_text("student: s05\nanswers:\n  z1: [~, ~]\n", encoding="utf-8")
    (d / "s06.yaml").write_text(doc("s06", ref, "2026-10-01T11:00"), encoding="utf-8")
    (d / "s07.yaml").write_text(doc("s07", ref), encoding="utf-8")
    (d / "broken.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    return d


POLICY = ("  duplicates: latest\n  due: 2026-10-01T23:59\n"
          "  late: {per_day: 10%, max_days: 3}\n")


def test_one_grade_per_student_with_late_files_and_overrides(klass, tmp_path):
    prob = rubric_file(tmp_path, POLICY)
    over = tmp_path / "overrides.yaml"
    over.write_text("- student: s04\n  question: dW1\n  points: 1\n"
                    "  comment: the σ′ was written on the back of the page\n  who: TA Kim\n",
                    encoding="utf-8")
    out = tmp_path / "g"
    res = run("grade", prob, klass, "-o", out, "--overrides", over)
    assert res.exit_code == 0, res.output
    rows = {r["student"]: r for r in read_rows(out / "grades.csv")[1:]}
    # one row per student: the earlier s02 copy is set aside (duplicates: latest)
    assert sorted(rows) == ["broken", "s01", "s02", "s03", "s04", "s05", "s06", "s07"]
    assert rows["s01"]["total"] == "8" and rows["s01"]["adjustments"] == ""
    # s02's later copy (all right) is graded, one day (or part of one) late: 8 · 0.9
    assert rows["s02"]["total"] == "7.2" and rows["s02"]["adjustments"] == "late 1 day(s): −10%"
    assert "graded this one (duplicates: latest); set aside: s02_first.yaml" in rows["s02"]["status"]
    # s03: 4 days and 12 hours late, more than max_days = 3: not accepted
    assert rows["s03"]["total"] == "0" and "more than 3: not accepted" in rows["s03"]["adjustments"]
    # s04 forgot σ′: dW1 and db1 wrong (6 of 8); dW1 raised to 1 point by the override
    assert rows["s04"]["dW1"] == "1" and rows["s04"]["db1"] == "0" and rows["s04"]["total"] == "7"
    assert rows["s04"]["adjustments"] == ("dW1: 0 → 1 by TA Kim: the σ′ was written on the back "
                                          "of the page")
    fb = (out / "feedback" / "s04.md").read_text(encoding="utf-8")
    assert "changed by the course staff to 100% credit: the σ′ was written on the back of the " \
           "page (TA Kim)" in fb
    assert "- Adjustments: dW1: 0 → 1 by TA Kim" in fb
    # s07 has no time: never late (the file's time is not a hand-in time)
    assert rows["s07"]["total"] == "8"

    summary = (out / "summary.md").read_text(encoding="utf-8")
    # statistics over s01, s02, s03, s04, s06, s07 only: the empty and the unreadable are apart
    counted = [8, 7.2, 0, 7, 8, 8]
    assert f"mean {np.mean(counted):.3f}".rstrip("0") in summary
    assert "- submissions: 8 (graded 7, unreadable 1; not in the statistics 2)" in summary
    assert "## Not in the statistics (2)" in summary
    assert "| broken | broken.yaml | unreadable: not a text file (binary) | 0 |" in summary
    assert "| s05 | s05.yaml | empty (nothing answered) | 0 |" in summary
    assert "- s02 — s02\\_first.yaml: set aside (duplicates: latest): s02\\_again.yaml is " \
        "graded" in summary
    # the console says the same, with the files
    assert "broken  broken.yaml  unreadable" in res.output
    assert "s05  s05.yaml  empty (nothing answered)" in res.output
    # re-running gives the same files, the override applied again
    before = {p.name: p.read_bytes() for p in out.rglob("*.csv")}
    assert run("grade", prob, klass, "-o", out, "--overrides", over, "-q").exit_code == 0
    assert {p.name: p.read_bytes() for p in out.rglob("*.csv")} == before


def test_duplicates_flag_grades_none_and_best_takes_the_higher(klass, tmp_path):
    out = tmp_path / "flag"
    assert run("grade", HW1, klass, "-o", out, "-q").exit_code == 0       # default: flag
    rows = [r for r in read_rows(out / "grades.csv")[1:] if r["student"] == "s02"]
    assert [r["total"] for r in rows] == ["0", "0"]
    assert all("not graded (duplicates: flag" in r["status"] for r in rows)
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "| s02 | s02\\_again.yaml | duplicate | 0 |" in summary     # (markdown-escaped _)
    assert "| s02 | s02\\_first.yaml | duplicate | 0 |" in summary
    # roster upload: the flagged id gets the policy's value 0, never a blank
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,SIS User ID\nAda,s01\nBo,s02\nCy,s99\n", encoding="utf-8")
    out = tmp_path / "up"
    assert run("grade", HW1, klass, "-o", out, "-q", "--roster", roster).exit_code == 0
    up = list(csv.reader(io.StringIO((out / "upload.csv").read_text(encoding="utf-8"))))
    assert up[1] == ["Ada", "s01", "8"] and up[2] == ["Bo", "s02", "0"] and up[3] == ["Cy", "s99", ""]
    summary = (out / "summary.md").read_text(encoding="utf-8")
    # students not on the roster are left out of the statistics too
    assert "| s03 | s03.yaml | not on the roster | 8 |" in summary

    # best: the later copy is right (8), the earlier has z1 (and what follows) wrong
    prob = rubric_file(tmp_path, "  duplicates: best\n")
    out = tmp_path / "best"
    assert run("grade", prob, klass, "-o", out, "-q").exit_code == 0
    rows = [r for r in read_rows(out / "grades.csv")[1:] if r["student"] == "s02"]
    assert len(rows) == 1 and rows[0]["total"] == "8"


def test_latest_by_the_export_timestamp_column_then_the_file_time(tmp_path):
    ref = hw1()
    d = tmp_path / "a"
    d.mkdir()
    head = ["student", "Timestamp", "L"]
    lines = [head, ["s1", "2026-10-01 10:00:00", "0.5"], ["s1", "2026-10-01 11:00:00",
                                                          repr(ref["L"])]]
    (d / "quiz.csv").write_text("\n".join(",".join(r) for r in lines) + "\n", encoding="utf-8")
    prob = rubric_file(tmp_path, "  duplicates: latest\n  questions: [L]\n")
    out = tmp_path / "g"
    assert run("grade", prob, d, "-o", out, "-q").exit_code == 0
    rows = read_rows(out / "grades.csv")[1:]
    assert [(r["student"], r["total"]) for r in rows] == [("s1", "1")]
    # two files without a `submitted` field: the file time decides
    import os
    d2 = tmp_path / "b"
    d2.mkdir()
    (d2 / "old.yaml").write_text(doc("s1", {"L": ref["L"]}), encoding="utf-8")
    (d2 / "new.yaml").write_text(doc("s1", {"L": 0.5}), encoding="utf-8")
    os.utime(d2 / "old.yaml", (1_700_000_000, 1_700_000_000))
    os.utime(d2 / "new.yaml", (1_700_000_600, 1_700_000_600))
    assert run("grade", prob, d2, "-o", tmp_path / "g2", "-q").exit_code == 0
    rows = read_rows(tmp_path / "g2" / "grades.csv")[1:]
    assert [(r["student"], r["total"]) for r in rows] == [("s1", "0")]
    assert "set aside: old.yaml" in rows[0]["status"]


def test_nothing_matched_exits_1_and_a_low_mean_warns(klass, tmp_path):
    # the same quantity names, another homework: input, activation, output layer and target
    # differ, so not even follow-through from a student's own earlier answers fits
    text = HW1.read_text(encoding="utf-8")
    for a, b in (("input: [0.5, -1.5]", "input: [2.5, 3.5]"), ("sigmoid", "tanh"),
                 ("[[0.2, -0.5]]", "[[0.7, 0.9]]"), ("b: [0.05]", "b: [0.6]"),
                 ("target: [0.3]", "target: [-0.8]")):
        assert a in text
        text = text.replace(a, b)
    other = tmp_path / "other.yaml"
    other.write_text(text, encoding="utf-8")
    res = run("grade", other, klass, "-o", tmp_path / "g")
    assert res.exit_code == 1
    assert "gradcalc: nothing matched: no answer of any submission is right" in res.output
    assert (tmp_path / "g" / "grades.csv").exists()          # every file is still written
    assert "**nothing matched" in (tmp_path / "g" / "summary.md").read_text(encoding="utf-8")
    # another problem altogether: none of its names answered
    res = run("grade", ROOT / "problems" / "batch_mse.yaml", klass, "-o", tmp_path / "g2", "-q")
    assert res.exit_code == 1 and "nothing matched" in res.output
    # a low class mean on one question: a warning, exit 0
    d = tmp_path / "low"
    d.mkdir()
    for i in range(4):
        (d / f"s{i}.yaml").write_text(doc(f"s{i}", dict(hw1(), db2=[9.0])), encoding="utf-8")
    res = run("grade", HW1, d, "-o", tmp_path / "g3")
    assert res.exit_code == 0
    assert "warning: db2: class mean 0 of 1 points is under 20%" in res.output


def test_item_analysis(tmp_path):
    """Mean, share correct, discrimination (Pearson correlation of the question's score with
    the rest of the total, computed here with np.corrcoef) and the most common wrong value."""
    d = tmp_path / "a"
    d.mkdir()
    ref = hw1()
    sigma = hw1(forget_sigma_prime=True)
    plans = {"s1": ref, "s2": ref, "s3": dict(ref, db1=sigma["db1"]),
             "s4": dict(ref, db1=sigma["db1"], L=0.9, y=[0.9]),
             "s5": dict(ref, db1=sigma["db1"], L=0.9, y=[0.9], dW2=[[5.0, 5.0]])}
    for s, a in plans.items():
        (d / f"{s}.yaml").write_text(doc(s, a), encoding="utf-8")
    out = tmp_path / "g"
    assert run("grade", HW1, d, "-o", out, "-q").exit_code == 0
    rows = read_rows(out / "grades.csv")[1:]
    S = np.array([[float(r[q]) for q in QUESTIONS] for r in rows])
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "## Item analysis" in summary
    j = QUESTIONS.index("db1")
    disc = np.corrcoef(S[:, j], S.sum(axis=1) - S[:, j])[0, 1]
    line = next(ln for ln in summary.splitlines() if ln.startswith("| db1 | 0.4 | 40.0 |"))
    assert f"| {disc:.2f} |" in line
    # σ′ forgotten in db1 by three students: the most common wrong value, diagnosed
    assert "| 3 | `no_activation_derivative`" in line
    assert ",".join(f"{v:.6g}" for v in sigma["db1"]) in line
    # z1 is right for everyone: no discrimination (it does not vary), no wrong value
    assert next(ln for ln in summary.splitlines() if ln.startswith("| z1 | 1 | 100.0 |")) \
        .endswith("| — | — |  |  |")


def test_copy_signal_names_both_sides(tmp_path):
    from gradcalc.variants.maker import VariantMaker
    from gradcalc.variants.template import load_template
    maker = VariantMaker(load_template(TEMPLATE))

    def own(s):
        p = maker.make(s).problem
        return by_hand(p.x, p.layers[0].W, p.layers[0].b, p.layers[1].W, p.layers[1].b,
                       p.loss.target)
    d = tmp_path / "a"
    d.mkdir()
    (d / "a.yaml").write_text(doc("2026001", own("2026001")), encoding="utf-8")
    (d / "b.yaml").write_text(doc("2026002", own("2026001")), encoding="utf-8")   # a's numbers
    out = tmp_path / "g"
    res = run("grade", TEMPLATE, d, "--variants", "-o", out, "-q")
    assert res.exit_code == 0, res.output
    rows = {r["student"]: r for r in read_rows(out / "grades.csv")[1:]}
    assert rows["2026002"]["status"].startswith(
        "copy-signal: 2026002 (b.yaml): the answers match the variant of student 2026001")
    assert rows["2026001"]["status"] == "ok"
    sig = read_rows(out / "signals.csv")
    assert [(r["signal"], r["student"], r["source"], r["other_student"]) for r in sig] == [
        ("variant-match", "2026002", "b.yaml", "2026001")]
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "copy-signal: 2026002 (b.yaml): the answers match the variant of student 2026001" \
        in summary
    fb = (out / "feedback" / "2026002.md").read_text(encoding="utf-8")
    assert "copy-signal: your answers match another student's variant" in fb
    assert "2026001" not in fb            # the other student is named to the staff only
    assert float(rows["2026002"]["total"]) == pytest.approx(
        float(next(r for r in read_rows(tmp_path / "g" / "grades.csv")[1:]
                   if r["student"] == "2026002")["total"]))   # never scored: same total


def test_identical_wrong_answers_are_signals_naming_both(tmp_path):
    d = tmp_path / "a"
    d.mkdir()
    wrong = dict(hw1(), db2=[4.25], L=3.5)
    for s in ("s1", "s2"):
        (d / f"{s}.yaml").write_text(doc(s, wrong), encoding="utf-8")
    (d / "s3.yaml").write_text(doc("s3", hw1()), encoding="utf-8")
    out = tmp_path / "g"
    assert run("grade", HW1, d, "-o", out, "-q").exit_code == 0
    sig = read_rows(out / "signals.csv")
    assert [(r["signal"], r["student"], r["other_student"], r["detail"]) for r in sig] == [
        ("shared-wrong-answers", "s1", "s2", "2 identical wrong answers")]
