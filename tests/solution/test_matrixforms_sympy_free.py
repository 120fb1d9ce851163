"""The matrix forms use SymPy only when the chosen methods already do: `solve --method autograd`
(or numeric) of an array expression problem imports no SymPy and says so in each form's
"source"; the default solve (all methods) uses SymPy's entrywise algebra.  Values compared with formulas
derived by hand in NumPy here."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradcalc.api import solve

ROOT = Path(__file__).resolve().parents[2]
PROBLEMS = ROOT / "problems"


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _cli_in_fresh_process(args):
    """(JSON output, the heavy modules imported) of one CLI run in a new interpreter."""
    code = ("import sys; from click.testing import CliRunner; from gradcalc.cli import cli; "
            f"r = CliRunner().invoke(cli, {args!r}); "
            "assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('sympy', 'matplotlib', 'torch') if m in sys.modules)); "
            "print(r.output)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=ROOT)
    assert p.returncode == 0, p.stderr
    first, _, rest = p.stdout.partition("\n")
    return rest, first


@pytest.mark.parametrize("name", ["mc_logistic", "mc_least_squares", "mc_trace"])
@pytest.mark.parametrize("fmt", ["json", "text", "latex"])
def test_autograd_alone_never_imports_sympy_for_an_array_expression(name, fmt):
    out, heavy = _cli_in_fresh_process(["solve", str(PROBLEMS / f"{name}.yaml"),
                                        "--method", "autograd", "--format", fmt])
    assert heavy == "[]"
    if fmt == "json":
        forms = json.loads(out)["matrix_forms"]
        assert forms and all(f["verified"] for f in forms.values())
        assert {f["source"] for f in forms.values()} <= {"simplified-nosympy", "composed"}
    else:
        assert ("\\frac{\\partial" if fmt == "latex" else "/∂") in out   # the forms are shown


def test_the_default_solve_uses_sympys_entrywise_algebra():
    """With SymPy already running (the default solve), the logistic form is cancelled by SymPy's
    entrywise algebra to Xᵀ·(p − y)/N; the hand formula checks its value."""
    out, heavy = _cli_in_fresh_process(["solve", str(PROBLEMS / "mc_logistic.yaml"),
                                        "--format", "json"])
    assert "sympy" in heavy
    w = json.loads(out)["matrix_forms"]["w"]
    assert w["source"] == "simplified" and w["text"] == "∂L/∂w = 0.25·Xᵀ·(p − y); where p = σ(X·w)"
    assert w["verified"] is True


def test_the_sympy_free_logistic_form_is_the_hand_gradient():
    sol = solve(PROBLEMS / "mc_logistic.yaml", "numeric")     # numeric: no SymPy either
    v = {k: np.asarray(x, dtype=float) for k, x in sol.problem.values.items()}
    X, w, y = v["X"], v["w"], v["y"]
    f = sol.matrix.forms["w"]
    assert f.verified and f.source == "simplified-nosympy" and "where p = σ(X·w)" in f.text
    hand = X.T @ (sigmoid(X @ w) - y) / len(y)
    np.testing.assert_allclose(f.parts[1].compute()[:, 0], hand, rtol=1e-12)


def test_the_same_problem_with_the_symbolic_method_uses_sympys_algebra():
    sol = solve(PROBLEMS / "mc_logistic.yaml", "symbolic")
    f = sol.matrix.forms["w"]
    assert f.source == "simplified" and f.text == "∂L/∂w = 0.25·Xᵀ·(p − y); where p = σ(X·w)"


def test_a_scalar_expression_is_labelled_as_before():
    """A scalar problem's forms never used SymPy: nothing is withheld, the label stays."""
    a = solve(PROBLEMS / "lecture_sigmoid.yaml", "autograd").matrix.forms
    s = solve(PROBLEMS / "lecture_sigmoid.yaml", "symbolic").matrix.forms
    assert {k: (f.text, f.source) for k, f in a.items()} == \
        {k: (f.text, f.source) for k, f in s.items()}
