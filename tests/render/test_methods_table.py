"""The methods table of `gradcalc solve`: a value equal to autograd's at the shown digits is
written as autograd's; one that differs there keeps its own text."""
import numpy as np

from gradcalc.api import load_problem, solve
from gradcalc.render import check


def _rows(changes: dict):
    sol = solve(load_problem("problems/lecture_scalar.yaml"), "all")   # ∂f/∂x = −4, ∂f/∂z = 3
    grads = sol.comparison.report.methods
    for (method, name), v in changes.items():
        grads[method][name] = np.asarray(v, dtype=float)
    return {r[0]: r[1:] for r in check.methods_tables(sol)[0].rows}


def test_central_differences_within_the_shown_digits_read_as_autograd(monkeypatch):
    calls = []
    real = check._shown
    monkeypatch.setattr(check, "_shown", lambda v, p: calls.append(v) or real(v, p))
    rows = _rows({("numeric", "x"): -3.9999999, ("numeric", "z"): 3.0000001})
    assert rows["∂f/∂x"] == ["-4", "-4", "-4"]          # not -4.00
    assert rows["∂f/∂z"] == ["3", "3", "3"]
    assert rows["∂f/∂y"] == ["-4", "-4", "-4"]
    assert len(calls) == 4       # rounded only where a text differed: x and z, two values each


def test_a_value_off_at_the_shown_digits_keeps_its_text():
    rows = _rows({("numeric", "x"): -3.99, ("symbolic", "z"): 3.5})
    assert rows["∂f/∂x"] == ["-4", "-4", "-3.99"]
    assert rows["∂f/∂z"] == ["3", "3.50", "3"]
