"""The matrix forms of the expression problems read like the hand derivation (issue 15 item 3):
least squares 2·lam·w + 2·Xᵀ·r (r = X·w − y), logistic Xᵀ·(p − y)/N, trace (A + Aᵀ)·W, softmax
regression (softmax(Z) − Y)ᵀ·X/N — each compared with the formula derived by hand in NumPy here,
never an internal temporary (t4) in any shipped problem's forms, and a wrong rewrite is caught."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from gradcalc.api import solve
from gradcalc.ops import matrixsimplify
from gradcalc.render.jsonout import dumps
from gradcalc.solution import matrixforms

PROBLEMS = Path(__file__).resolve().parents[2] / "problems"
SHIPPED = sorted(p for p in PROBLEMS.glob("*.yaml") if not p.stem.endswith("_template"))
TEMP = re.compile(r"\bt\d+\b|t_\{\d+\}")       # t4 in text, t_{4} in LaTeX


def values(name):
    # the SymPy method runs, so the forms may use SymPy too (under autograd alone they do not)
    sol = solve(PROBLEMS / f"{name}.yaml", "symbolic")
    return sol, {k: np.asarray(v, dtype=float) for k, v in sol.problem.values.items()}


def shown_value(form):
    """The displayed body, evaluated from its operands (a column for a vector)."""
    return form.parts[1].compute()


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_least_squares_is_the_hand_formula():
    sol, v = values("mc_least_squares")
    X, w, y, lam = v["X"], v["w"], v["y"], v["lam"]
    f = sol.matrix.forms
    # our own simplified form is matrix algebra already: SymPy's matrix calculus is not asked
    assert f["w"].text == "∂L/∂w = 2·lam·w + 2·Xᵀ·r; where r = X·w − y"
    assert f["w"].source == "simplified"
    hand = 2 * X.T @ (X @ w - y) + 2 * lam * w
    np.testing.assert_allclose(shown_value(f["w"])[:, 0], hand, rtol=1e-12)
    assert f["lam"].text == "∂L/∂lam = ‖w‖²"
    np.testing.assert_allclose(shown_value(f["lam"]), w @ w, rtol=1e-12)
    assert f["X"].text == "∂L/∂X = 2·r·wᵀ; where r = X·w − y"
    np.testing.assert_allclose(shown_value(f["X"]), 2 * np.outer(X @ w - y, w), rtol=1e-12)
    assert f["y"].text == "∂L/∂y = −2·r; where r = X·w − y"
    np.testing.assert_allclose(shown_value(f["y"])[:, 0], -2 * (X @ w - y), rtol=1e-12)
    assert all(x.verified for x in f.values())


def test_logistic_is_xt_times_p_minus_y_over_n():
    sol, v = values("mc_logistic")
    X, w, y = v["X"], v["w"], v["y"]
    f = sol.matrix.forms["w"]
    assert f.text == "∂L/∂w = 0.25·Xᵀ·(p − y); where p = σ(X·w)" and f.verified
    hand = X.T @ (sigmoid(X @ w) - y) / len(y)
    np.testing.assert_allclose(shown_value(f)[:, 0], hand, rtol=1e-12)
    assert sol.matrix.forms["X"].text == "∂L/∂X = 0.25·(p − y)·wᵀ; where p = σ(X·w)"


def test_trace_is_a_plus_a_transpose_times_w():
    sol, v = values("mc_trace")
    A, W = v["A"], v["W"]
    f = sol.matrix.forms
    assert f["W"].text == "∂f/∂W = (A + Aᵀ)·W" and f["W"].source == "simplified"
    np.testing.assert_allclose(shown_value(f["W"]), (A + A.T) @ W, rtol=1e-12)
    assert f["A"].text == "∂f/∂A = W·Wᵀ"
    np.testing.assert_allclose(shown_value(f["A"]), W @ W.T, rtol=1e-12)


def test_softmax_regression_is_softmax_minus_y_transposed_times_x_over_n():
    sol, v = values("mc_softmax_regression")
    X, W, b, Y = v["X"], v["W"], v["b"], v["Y"]
    Z = X @ W.T + b
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    f = sol.matrix.forms["W"]
    assert "(softmax(Z) − Y)ᵀ·X" in f.text and "where Z = X·Wᵀ + 𝟙·bᵀ" in f.text
    np.testing.assert_allclose(shown_value(f), (P - Y).T @ X / 3, rtol=1e-12)


EXPRESSIONS = [p for p in SHIPPED if p.stem.startswith(("mc_", "lecture_"))]


@pytest.mark.parametrize("path, method", [(p, "autograd") for p in SHIPPED] +
                         [(p, "symbolic") for p in EXPRESSIONS],
                         ids=lambda x: getattr(x, "stem", x))
def test_no_internal_temporary_in_any_shipped_form(path, method):
    sol = solve(path, method)
    if getattr(sol, "matrix", None) is None:
        pytest.skip("no matrix forms")
    for name, f in sol.matrix.forms.items():
        assert not TEMP.search(f.text), f.text
        assert not TEMP.search(f.latex), f.latex
        assert f.verified, (path.stem, f.text)


def test_json_keeps_the_keys_and_says_where_a_form_comes_from():
    sol, _ = values("mc_trace")
    out = json.loads(dumps(sol.to_dict()))["matrix_forms"]
    assert out["W"]["source"] == "simplified" and out["W"]["verified"] is True
    assert set(out["W"]) == {"text", "latex", "verified", "max_rel_error", "source"}


def test_sympy_is_asked_when_our_form_keeps_entrywise_operations(monkeypatch):
    """Our forms counted as entrywise (as a form with ⊙ left is): SymPy's matrix calculus
    (MatrixSymbol differentiation) is asked, and its forms, shorter here, are shown: least
    squares 2·lam·w + 2·Xᵀ·(X·w − y) and trace (A + Aᵀ)·W, equal to the hand formulas."""
    monkeypatch.setattr(matrixforms, "entrywise", lambda term: True)
    sol, v = values("mc_least_squares")
    X, w, y, lam = v["X"], v["w"], v["y"], v["lam"]
    f = sol.matrix.forms["w"]
    assert f.source == "sympy-matrix" and f.text == "∂L/∂w = 2·lam·w + 2·Xᵀ·(X·w − y)"
    np.testing.assert_allclose(shown_value(f)[:, 0], 2 * X.T @ (X @ w - y) + 2 * lam * w,
                               rtol=1e-12)
    sol, v = values("mc_trace")
    f = sol.matrix.forms["W"]
    assert f.source == "sympy-matrix" and f.text == "∂f/∂W = (A + Aᵀ)·W"
    np.testing.assert_allclose(shown_value(f), (v["A"] + v["A"].T) @ v["W"], rtol=1e-12)


def test_sympy_is_asked_when_our_form_does_not_verify(monkeypatch):
    """Our simplified form wrong by a factor 2 (same shape, matrix algebra): SymPy's form is
    asked and shown, verified; the wrong one is not."""
    right = matrixforms.simplify
    monkeypatch.setattr(matrixforms, "simplify",
                        lambda d, *a: matrixsimplify.mx.Bin("dot", matrixsimplify.mx.Num(2.0),
                                                            right(d, *a)))
    sol, v = values("mc_least_squares")
    f = sol.matrix.forms["w"]
    assert f.source == "sympy-matrix" and f.verified
    X, w, y, lam = v["X"], v["w"], v["y"], v["lam"]
    np.testing.assert_allclose(shown_value(f)[:, 0], 2 * X.T @ (X @ w - y) + 2 * lam * w,
                               rtol=1e-12)


@pytest.mark.parametrize("term, expected", [
    ("had", True), ("div", True), ("sigma", True), ("scaled", False), ("matrix", False)])
def test_entrywise_tells_matrix_algebra_from_entrywise_operations(term, expected):
    from gradcalc.ops import matrix as mx
    from gradcalc.ops.matrixshapes import entrywise
    A, B = mx.Leaf("A", np.ones((2, 2))), mx.Leaf("B", np.eye(2))
    c = mx.Leaf("c", np.asarray(2.0))
    terms = {"had": mx.Bin("had", A, B), "div": mx.Bin("add", A, mx.Bin("div", A, B)),
             "sigma": mx.Bin("dot", A, mx.fn("σ({0})", r"\sigma({0})", np.tanh, B)),
             "scaled": mx.Bin("div", mx.Bin("dot", c, A), c),
             "matrix": mx.Bin("add", mx.Bin("dot", A, mx.Un("T", B)), A)}
    assert entrywise(terms[term]) is expected


def test_a_wrong_rewrite_is_caught_and_the_composed_form_shown(monkeypatch):
    """A simplifier whose sums drop their last term (same shape, wrong value): no form it
    changed is shown as verified; the composed form, which does verify, is shown instead."""
    right = matrixsimplify._Simplifier.sum

    def wrong(self, t):
        out = right(self, t)
        while isinstance(out, matrixsimplify.mx.Bin) and out.op in ("add", "sub"):
            out = out.a
        return out

    monkeypatch.setattr(matrixsimplify._Simplifier, "sum", wrong)
    sol = solve(PROBLEMS / "hw1.yaml")
    forms = sol.matrix.forms
    assert all(f.verified for f in forms.values())
    assert forms["b2"].source == "composed" and forms["b2"].text == "∂L/∂b2 = y − t"
    # the wrong candidate itself was evaluated and refused
    d = forms["b2"].parts[1]
    names = matrixforms._Names(sol.output, True)
    bad = matrixforms._checked("b2", matrixsimplify.simplify(d), sol.gradients["b2"], names,
                               "∂L/∂b2", "simplified")
    assert bad.text == "∂L/∂b2 = y" and not bad.verified


def test_sympy_is_not_asked_about_elementwise_functions():
    from gradcalc.solution import matrixsympy
    sol, _ = values("mc_logistic")
    assert all(f.source != "sympy-matrix" for f in sol.matrix.forms.values())
    assert not matrixsympy.SUPPORTED >= {"sigmoid"}


def test_the_closed_forms_are_made_only_when_asked_for():
    """`check` never shows them, so a solve does not pay for them (SymPy's matrix calculus takes
    tens of milliseconds per variable) until a renderer or the JSON asks."""
    sol = solve(PROBLEMS / "mc_least_squares.yaml", "symbolic")
    assert sol.matrix._forms is None
    assert sol.matrix.forms["w"].verified and sol.matrix._forms is not None
    assert sol.matrix.forms is sol.matrix.forms           # made once


VALUES = """
values:
  A: [[2, 1, 0], [-1, 3, 0.5], [0, 2, 1]]
  M: [[1, 2], [0.5, -1], [2, 0.3]]
  v: [0.5, -1.0, 2.0]
  t: [0.2, 0.3, 0.5]
"""


@pytest.mark.parametrize("steps, wrt, text, hand", [
    # tr(AᵀA) − 2·tr(A): 2A − 2I
    ({"L": "trace(A.T @ A) - 2 * trace(A)"}, "A", "∂L/∂A = 2·A − 2·I",
     lambda A, M, v, t: 2 * A - 2 * np.eye(3)),
    # ½‖Av − t‖² written with dot: ∂/∂t = t − Av
    ({"r": "A @ v - t", "L": "dot(r, r) / 2"}, "t", "∂L/∂t = −r; where r = A·v − t",
     lambda A, M, v, t: t - A @ v),
    # ‖vᵀM‖² with v @ M (NumPy's 1-D result): ∂/∂v = 2·M·Mᵀ·v
    ({"u": "v @ M", "L": "sum(u^2)"}, "v", "∂L/∂v = 2·M·u; where u = Mᵀ·v",
     lambda A, M, v, t: 2 * M @ M.T @ v),
    # Σ (v tᵀ) ⊙ A: ∂/∂A = v·tᵀ (an internal outer product written as one)
    ({"L": "sum(outer(v, t) * A)"}, "A", "∂L/∂A = v·tᵀ", lambda A, M, v, t: np.outer(v, t)),
])
def test_more_expressions_against_hand_formulas(steps, wrt, text, hand):
    import yaml
    from gradcalc.api import parse_problem
    values = yaml.safe_load(VALUES)["values"]
    used = {k: v for k, v in values.items() if any(re.search(rf"\b{k}\b", e) for e in steps.values())}
    sol = solve(parse_problem(yaml.safe_dump({"expression": steps, "values": used},
                                             sort_keys=False)), "symbolic")
    f = sol.matrix.forms[wrt]
    assert f.text == text and f.verified
    want = hand(**{k: np.asarray(v, dtype=float) for k, v in values.items()})
    np.testing.assert_allclose(shown_value(f).reshape(want.shape), want, rtol=1e-12)


def test_a_simplified_where_definition_is_kept_when_the_body_reads_the_same():
    """Regularized logistic regression: the body of ∂L/∂X (∂L/∂z·wᵀ) is the same text before and
    after simplifying, but the named δ it uses is simplified (to 0.25·(p − y)): that form is
    shown, not the composed one whose definition runs over a line."""
    import yaml
    from gradcalc.api import parse_problem
    X = [[1, 2], [3, 4], [0.5, -1], [2, 2]]
    w, y, lam = [0.3, -0.7], [1, 0, 1, 0], 0.1
    text = yaml.safe_dump({"expression": {
        "z": "X @ w", "p": "sigmoid(z)",
        "L": "-mean(y * log(p) + (1 - y) * log(1 - p)) + 0.5 * lam * norm(w)**2"},
        "values": {"X": X, "w": w, "y": y, "lam": lam}}, sort_keys=False)
    sol = solve(parse_problem(text, "logreg.yaml"), "symbolic")
    f = sol.matrix.forms["X"]
    assert f.source == "simplified" and f.verified
    assert f.text == "∂L/∂X = ∂L/∂z·wᵀ; where z = X·w; p = σ(z); ∂L/∂z = 0.25·(p − y)"
    Xa, wa, ya = np.array(X, dtype=float), np.array(w), np.array(y, dtype=float)
    np.testing.assert_allclose(shown_value(f), np.outer(sigmoid(Xa @ wa) - ya, wa) / 4,
                               rtol=1e-12)
