"""Issue 15, item 4: grading and variants work unchanged on matrix-calculus expression problems:
random array specs under `values:`, answers for array variables (expected numbers from NumPy
written here: 2Xᵀ(Xw − y) + 2λw)."""
from pathlib import Path

import numpy as np
import yaml
from click.testing import CliRunner

from gradcalc.cli import cli
from gradcalc.variants.maker import VariantMaker
from gradcalc.variants.template import parse_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = """title: least squares per student
expression:
  r: X @ w - y
  L: sum(r^2) + lam * norm(w)**2
values:
  X: {uniform: [-1, 1], decimals: 1, shape: [3, 2]}
  w: {uniform: [-1, 1], decimals: 1, shape: [2]}
  y: {uniform: [-1, 1], decimals: 1, shape: [3]}
  lam: {choice: [0.1, 0.5]}
grading:
  questions: {r: 1, L: 1, dw: 2, dX: 1}
variants:
  seed: ls-test
"""


def reference(v):
    X, w, y, lam = (np.asarray(v[k], dtype=float) for k in ("X", "w", "y", "lam"))
    r = X @ w - y
    return {"r": r, "L": r @ r + lam * w @ w, "dw": 2 * X.T @ r + 2 * lam * w,
            "dX": 2 * np.outer(r, w)}


def test_random_array_specs_draw_arrays_of_their_shape_and_solve_by_hand():
    maker = VariantMaker(parse_template(TEMPLATE, "t.yaml"))
    seen = set()
    for student in ("s1", "s2", "s3"):
        v = maker.make(student)
        values = v.problem.values
        assert np.shape(values["X"]) == (3, 2) and np.shape(values["w"]) == (2,)
        assert float(values["lam"]) in (0.1, 0.5)
        seen.add(tuple(np.ravel(values["X"])))
        want = reference(values)
        sol = v.solution()
        np.testing.assert_allclose(sol.gradients["w"], want["dw"], rtol=1e-12)
        np.testing.assert_allclose(sol.gradients["X"], want["dX"], rtol=1e-12)
    assert len(seen) == 3                  # every student draws their own X
    assert maker.make("s1").problem.values["X"].tolist() == \
        VariantMaker(parse_template(TEMPLATE, "t.yaml")).make("s1").problem.values["X"].tolist()


def test_grading_array_answers(tmp_path):
    problem = ROOT / "problems" / "mc_least_squares.yaml"
    want = reference(yaml.safe_load(problem.read_text())["values"])
    answers = tmp_path / "answers"
    answers.mkdir()
    right = {k: np.asarray(v).tolist() for k, v in want.items()}
    wrong = dict(right, dw=(np.asarray(want["dw"]) * 2).tolist(), dX=np.asarray(want["dX"]).T.tolist())
    for sid, ans in (("s1", right), ("s2", wrong)):
        (answers / f"{sid}.yaml").write_text(yaml.safe_dump({"student": sid, "answers": ans}))
    out = tmp_path / "grades"
    result = CliRunner().invoke(cli, ["grade", str(problem), str(answers), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r.split(",")[0]: r.split(",") for r in (out / "grades.csv").read_text().splitlines()}
    head = rows["student"]
    s1, s2 = dict(zip(head, rows["s1"])), dict(zip(head, rows["s2"]))
    assert s1["dw"] == "1" and s1["dX"] == "1" and s1["r"] == "1" and s1["L"] == "1"
    assert s2["dw"] == "0" and s2["dX"] == "0.5"           # a transposed matrix: half credit
    assert "transposed" in (out / "feedback" / "s2.md").read_text()
