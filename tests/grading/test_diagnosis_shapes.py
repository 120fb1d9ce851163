"""Issue 16 items 4-6: unambiguous diagnoses, the one shape rule, rubric validation, answers
quoted as written, histogram bins per score, and `variants` of a file with nothing random.
Reference numbers are computed here by hand (NumPy)."""
import csv
import io
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from gradcalc.api import load_problem
from gradcalc.cli import cli
from gradcalc.grading.key import AnswerKey
from gradcalc.grading.submissions import Submission, add_answer

ROOT = Path(__file__).resolve().parents[2]
HW1 = ROOT / "problems" / "hw1.yaml"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def hw1_dy() -> float:
    """y − t of hw1 by hand: x = [0.5, −1.5], sigmoid layer, linear output, t = 0.3."""
    x = np.array([0.5, -1.5])
    z1 = np.array([[0.4, -0.2], [-0.1, 0.3]]) @ x + np.array([0.1, -0.3])
    h1 = 1 / (1 + np.exp(-z1))
    y = float(np.array([0.2, -0.5]) @ h1 + 0.05)
    return y - 0.3


KEY = AnswerKey(load_problem(str(HW1)))


def grade(answers: dict):
    sub = Submission("s", "", "s.yaml")
    for k, v in answers.items():
        add_answer(sub, k, k, v, None)
    return {q.name: q for q in KEY.grade(sub).questions}


def test_a_coincidence_within_the_tolerance_is_not_named():
    """The issue's case: a db2 within 1% of 'dropped the ½ of the MSE' (2·dy) was named."""
    dy = hw1_dy()
    near = grade({"db2": 2 * dy * 1.008})["db2"]      # inside rtol 1%, outside half of it
    assert near.kind == "wrong" and near.mistake is None and near.credit == 0
    close = grade({"db2": 2 * dy * 1.003})["db2"]     # within half the tolerance: named
    assert close.kind == "mistake" and close.mistake[0] == "mse_no_half"
    exact = grade({"db2": -dy})["db2"]
    assert exact.mistake[0] == "sign_flip"


def test_a_mistake_is_named_only_when_no_other_explains_the_answer_as_well():
    q = KEY.rubric.questions[KEY.rubric.names.index("dW1")]
    ref = KEY.reference["dW1"]
    a = ref * 3.0
    tol = [q.tolerance(a), q.tolerance(a)]
    # two catalogued values both within the tolerance of the answer, neither clearly closer
    both = [("mse_no_half", {}, a * 1.001), ("sign_flip", {}, a * 0.999)]
    assert KEY._explained(q, a, both, tol) is None
    # one clearly closer (the other 4 times farther, in tolerances): that one
    clear = [("mse_no_half", {}, a * 1.0005), ("sign_flip", {}, a * 0.998)]
    assert KEY._explained(q, a, clear, tol) == ("mse_no_half", {})
    # nothing within the tolerance: no guess
    assert KEY._explained(q, a, [("sign_flip", {}, -a)], tol[:1]) is None


def test_the_shape_rule():
    """Vectors: flat, row or column. A matrix (even 1×n): its shape, or flat when one axis is 1;
    its transpose earns the `transposed` credit (50% by default); anything else is wrong."""
    x = np.array([0.5, -1.5])
    z1 = np.array([[0.4, -0.2], [-0.1, 0.3]]) @ x + np.array([0.1, -0.3])
    h1 = 1 / (1 + np.exp(-z1))
    dy = hw1_dy()
    dW2 = dy * h1.reshape(1, 2)
    dz1 = np.array([0.2, -0.5]) * dy * h1 * (1 - h1)
    dW1 = np.outer(dz1, x)
    for z in (z1.tolist(), [z1.tolist()], [[v] for v in z1]):            # flat, row, column
        r = grade({"z1": z})["z1"]
        assert r.kind == "correct", z
    assert grade({"dW2": dW2.ravel().tolist()})["dW2"].kind == "correct"   # flat 1×2
    col = grade({"dW2": dW2.T.tolist()})["dW2"]                             # 2×1: the transpose
    assert col.kind == "mistake" and col.mistake[0] == "transposed" and col.credit == 0.5
    sq = grade({"dW1": dW1.T.tolist()})["dW1"]                              # square, transposed
    assert sq.mistake[0] == "transposed" and sq.credit == 0.5
    assert grade({"dW1": dW1.ravel().tolist()})["dW1"].kind == "shape"     # 2×2 flat: wrong
    assert grade({"z1": [z1.tolist(), z1.tolist()]})["z1"].kind == "shape"


def test_a_transposed_forward_matrix_gets_the_transposed_credit():
    """The rule holds for every matrix, not only parameter gradients: a batch's z1 (N×H)."""
    p = load_problem(str(ROOT / "problems" / "batch_mse.yaml"))
    key = AnswerKey(p)
    name = next(n for n in key.rubric.names if not n.startswith("d")
                and key.reference[n].ndim == 2 and len(set(key.reference[n].shape)) == 2)
    sub = Submission("s", "", "s.yaml")
    add_answer(sub, name, name, key.reference[name].T.tolist(), None)
    r = {q.name: q for q in key.grade(sub).questions}[name]
    assert r.kind == "mistake" and r.mistake[0] == "transposed" and r.credit == 0.5


def _bad(tmp_path, grading: str):
    p = tmp_path / "bad.yaml"
    p.write_text(HW1.read_text(encoding="utf-8") + "grading:\n" + grading, encoding="utf-8")
    (tmp_path / "a").mkdir(exist_ok=True)
    (tmp_path / "a" / "s.yaml").write_text("student: s\nanswers: {L: 0.038}\n", encoding="utf-8")
    res = run("grade", p, tmp_path / "a", "-o", tmp_path / "g")
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.output
    return lines[0], str(p)


def test_rubric_values_are_validated(tmp_path):
    line, p = _bad(tmp_path, "  rtol: 5\n")
    assert line.startswith(f"gradcalc: error: {p}:18: grading.rtol: expected a relative "
                           "tolerance between 0 and 1 (exclusive)")
    line, p = _bad(tmp_path, "  questions: {L: {points: 1, rtol: 0}}\n")
    assert "grading.questions.L.rtol: expected a relative tolerance between 0 and 1" in line
    line, _ = _bad(tmp_path, "  mistake_credit: {transposed: 1.5}\n")
    assert "grading.mistake_credit.transposed: expected a credit fraction between 0 and 1" in line
    line, _ = _bad(tmp_path, "  duplicates: newest\n")
    assert "grading.duplicates: expected one of flag, latest, best" in line
    line, _ = _bad(tmp_path, "  due: next friday\n")
    assert "grading.due: expected a date and time such as 2026-10-01T23:59" in line
    line, _ = _bad(tmp_path, "  due: 2026-10-01T23:59\n  late: {per_day: 150%}\n")
    assert "grading.late.per_day: expected a fraction of the total per day between 0 and 1" in line
    line, _ = _bad(tmp_path, "  late: {per_day: 10%}\n")
    assert "grading.late: a late penalty needs a `due:` date" in line


def test_overrides_are_validated(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "s.yaml").write_text("student: s\nanswers: {L: 0.038}\n", encoding="utf-8")
    first = "- {student: t, question: L, credit: 1, comment: c, who: w}\n"
    cases = [
        (first + "- student: s\n  question: dW9\n  points: 1\n  comment: x\n  who: TA\n",
         ":3: [1].question: 'dW9' is not a question of the rubric (questions: z1, h1, y, L, "),
        ("- student: s\n  question: L\n  points: 3\n  comment: x\n  who: TA\n",
         ":3: [0].points: expected points between 0 and 1, got 3"),
        ("- student: s\n  question: L\n  credit: 1\n  who: TA\n",
         ":1: [0].comment: expected the comment (text): every change says why and who made it"),
        ("- student: s\n  question: L\n  comment: x\n  who: TA\n",
         ":1: [0]: expected either points or credit (one of the two)"),
        (first + first, ":2: [1]: a second override of L for t (the first is on line 1)"),
    ]
    for i, (text, want) in enumerate(cases):
        f = tmp_path / f"o{i}.yaml"
        f.write_text(text, encoding="utf-8")
        res = run("grade", HW1, a, "-o", tmp_path / "g", "--overrides", f)
        assert res.exit_code == 2, res.output
        line = res.output.strip()
        assert "\n" not in line and line.startswith(f"gradcalc: error: {f}{want}"), line
    assert not (tmp_path / "g").exists()          # nothing half-written


def test_feedback_quotes_the_answer_as_written(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "s.yaml").write_text("student: s\nanswers:\n  h1: [0.53705, 0.3100]\n  L: 3.806e-2\n"
                              "  db2: -0.27590\n", encoding="utf-8")
    (a / "q.json").write_text('{"student": "t", "answers": {"h1": [0.53705, 0.31]}}',
                              encoding="utf-8")
    (a / "quiz.csv").write_text("student,L\nu,0.038060\n", encoding="utf-8")
    assert run("grade", HW1, a, "-o", tmp_path / "g", "-q").exit_code == 0
    fb = (tmp_path / "g" / "feedback" / "s.md").read_text(encoding="utf-8")
    assert "- given: [0.53705, 0.3100]" in fb and "- given: 3.806e-2" in fb
    assert "- given: -0.27590" in fb
    assert "- given: [0.53705, 0.31]" in (tmp_path / "g" / "feedback" / "t.md").read_text("utf-8")
    assert "- given: 0.038060" in (tmp_path / "g" / "feedback" / "u.md").read_text("utf-8")


def test_histogram_has_one_bin_per_possible_score():
    from gradcalc.render.histogram import score_bins
    edges, step = score_bins([9, 10, 10, 3], 10)
    assert step == 1 and np.histogram([9, 10, 10, 3], edges)[0].tolist() == \
        [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2]                 # 9 and 10: two bars
    edges, step = score_bins([7.5, 8, 0.5], 8)
    assert step == 0.5 and len(edges) == 18
    edges, step = score_bins([1.2, 3.7], 10)               # not on a grid: equal bins
    assert step is None and edges[0] == 0 and edges[-1] == 10


def test_variants_of_a_file_with_nothing_random_warns(tmp_path):
    roster = tmp_path / "r.csv"
    roster.write_text("Student ID,Name\ns1,A\ns2,B\n", encoding="utf-8")
    res = run("variants", HW1, "--roster", roster, "-o", tmp_path / "v")
    assert res.exit_code == 0, res.output
    assert "has no random numbers" in res.output and "every student gets the same variant" \
        in res.output
    res = run("variants", ROOT / "problems" / "hw1_template.yaml", "--roster", roster, "-o",
              tmp_path / "v2")
    assert res.exit_code == 0 and "no random numbers" not in res.output
    rows = list(csv.reader(io.StringIO((tmp_path / "v" / "variants.csv").read_text("utf-8"))))
    assert len(rows) == 3
