"""The symbolic method at size: entries grouped by the shape of their forms, worked in bulk.

Reference values come from a NumPy forward and backward pass written here from scratch, and
from SymPy applied to each entry's own form, one entry at a time."""
import numpy as np
import pytest
import sympy

from gradcalc.derive import symbolic
from gradcalc.derive.symbolic import groups
from gradcalc.problem.load import parse_problem


def _mat(a) -> str:
    a = np.asarray(a)
    return "[" + ", ".join(_mat(r) if a.ndim > 1 else repr(float(r)) for r in a) + "]"


def _batch_problem(X, W1, b1, W2, b2, labels, act):
    return parse_problem(f"""
data:
  X: {_mat(X)}
  labels: {list(map(int, labels))}
layers:
  - W: {_mat(W1)}
    b: {_mat(b1)}
    activation: {act}
  - W: {_mat(W2)}
    b: {_mat(b2)}
loss: cross_entropy
""")


def _by_hand(X, W1, b1, W2, b2, labels, act):
    """Mean softmax cross-entropy of a 2-layer net and its gradients, by hand in NumPy."""
    Z = X @ W1.T + b1
    f, df = {"tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
             "sigmoid": (lambda z: 1 / (1 + np.exp(-z)),
                         lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
             "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0) * 1.0)}[act]
    H = f(Z)
    Y = H @ W2.T + b2
    n = len(X)
    P = np.exp(Y - Y.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    dY = P.copy()
    dY[np.arange(n), labels] -= 1
    dY /= n
    dZ = (dY @ W2) * df(Z)
    return {"x": dZ @ W1, "W1": dZ.T @ X, "b1": dZ.sum(0), "W2": dY.T @ H, "b2": dY.sum(0)}


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "relu"])
def test_batch_gradients_in_bulk_match_a_numpy_backprop_written_here(act):
    rng = np.random.default_rng(3)
    X, W1, b1 = rng.normal(size=(12, 3)), rng.normal(size=(5, 3)), rng.normal(size=5)
    W2, b2, labels = rng.normal(size=(4, 5)), rng.normal(size=4), rng.integers(0, 4, 12)
    res = symbolic.run(_batch_problem(X, W1, b1, W2, b2, labels, act))
    # the batch really went through the bulk path: 60 entries of z1 in one group
    z1 = next(n for n in res.backend.nodes if n.name == "z1")
    assert len(z1.groups) == 1 and len(z1.groups[0].ks) == 60 >= groups.BULK
    for name, g in _by_hand(X, W1, b1, W2, b2, labels, act).items():
        np.testing.assert_allclose(res.gradients[name], g, rtol=1e-11, atol=1e-14)


def test_every_grouped_partial_and_value_equals_sympy_on_the_entrys_own_form():
    rng = np.random.default_rng(5)
    X, W1, b1 = rng.normal(size=(9, 2)), rng.normal(size=(3, 2)), rng.normal(size=3)
    W2, b2, labels = rng.normal(size=(3, 3)), rng.normal(size=3), rng.integers(0, 3, 9)
    be = symbolic.run(_batch_problem(X, W1, b1, W2, b2, labels, "sigmoid")).backend
    exact = be.values
    for node in be.nodes:
        for k in range(node.syms.size):
            form = node.form(k)
            want = float(form.xreplace(exact).evalf())
            assert float(exact[node.syms.flat[k]]) == pytest.approx(want, rel=1e-12, abs=1e-15)
            got = be.partials(node, k)
            syms = sorted(form.free_symbols - be.const_symbols, key=be.order.__getitem__)
            assert [u for u, _ in got] == syms
            for u, d in got:
                ref = sympy.diff(form, u).xreplace(exact).evalf()
                assert float(d.xreplace(exact).evalf()) == pytest.approx(float(ref), rel=1e-12,
                                                                          abs=1e-15)


def test_a_partial_numpy_cannot_evaluate_is_evaluated_by_sympy():
    # σ′(z) = e^(−z)/(1 + e^(−z))² at z ≈ −900: NumPy gives inf/inf = nan, SymPy ≈ 0;
    # the entry falls back to SymPy's arithmetic and agrees with the NumPy derivative σ(1 − σ)
    X = np.full((8, 1), 1.0)
    X[0, 0] = -900.0
    W1, b1 = np.array([[1.0], [0.5]]), np.zeros(2)
    W2, b2, labels = np.array([[1.0, -1.0], [0.5, 0.25]]), np.zeros(2), np.zeros(8, dtype=int)
    res = symbolic.run(_batch_problem(X, W1, b1, W2, b2, labels, "sigmoid"))
    Z = X @ W1.T + b1
    with np.errstate(over="ignore"):
        S = 1 / (1 + np.exp(-Z))
    H = S
    Y = H @ W2.T + b2
    P = np.exp(Y - Y.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    dY = P.copy()
    dY[np.arange(8), labels] -= 1
    dY /= 8
    dZ = (dY @ W2) * S * (1 - S)
    for name, g in {"W1": dZ.T @ X, "b1": dZ.sum(0), "W2": dY.T @ H}.items():
        assert np.all(np.isfinite(res.gradients[name]))
        np.testing.assert_allclose(res.gradients[name], g, rtol=1e-11, atol=1e-300)


def test_shape_key_tells_shapes_apart_and_renames_alike():
    a, b, c, d = sympy.symbols("a b c d", real=True)
    known = {s: i for i, s in enumerate((a, b, c, d))}
    k1, s1 = groups.shape_key(a * b + sympy.exp(a), known, set())
    k2, s2 = groups.shape_key(c * d + sympy.exp(c), known, set())
    k3, _ = groups.shape_key(c * d + sympy.exp(d), known, set())
    assert k1 == k2 and s1 == [a, b] and s2 == [c, d] and k1 != k3
    assert groups.shape_key(a + 1, known, set())[0] != groups.shape_key(a + 2, known, set())[0]
    # a symbol the graph does not know is never renamed
    assert groups.shape_key(a + sympy.Symbol("z"), known, set()) == (None, None)
