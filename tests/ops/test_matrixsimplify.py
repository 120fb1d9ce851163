"""The matrix-form simplifier (gradcalc.ops.matrixsimplify) and its entrywise algebra
(gradcalc.ops.matrixalgebra): each rule on a small term, with the value before and after compared
by NumPy; random terms keep their value and shape; a region SymPy factors."""
import numpy as np
import pytest

from gradcalc.ops import matrix as mx
from gradcalc.ops.matrixsimplify import POW_DERIV, simplify

RNG = np.random.default_rng(7)
A = mx.Leaf("A", RNG.normal(size=(3, 3)))
B = mx.Leaf("B", RNG.normal(size=(3, 3)))
W = mx.Leaf("W", RNG.normal(size=(3, 2)))
a = mx.Leaf("a", RNG.normal(size=3))
b = mx.Leaf("b", RNG.uniform(0.5, 2.0, size=3))
s = mx.Leaf("s", 1.7)


def ones3():
    return mx.fn("𝟙", r"\mathbf{1}", lambda v: np.ones_like(v), a)


def eye3():
    return mx.fn("I", "I", lambda v: np.eye(v.shape[0]), A)


def same_value(before, after):
    x, y = before.compute(), after.compute()
    assert x.shape == y.shape
    np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("term, text", [
    # numbers folded: 2 − 1, x^1, 0.5·2, 0.25·(−1)
    (mx.Bin("sub", mx.Num(2), mx.Num(1)), "1"),
    (mx.fn(POW_DERIV, "{0}^{{1} - 1}", lambda x, n: np.power(x, n - 1), a, mx.Num(2.0)), "a"),
    (mx.fn(POW_DERIV, "{0}^{{1} - 1}", lambda x, n: np.power(x, n - 1), a, mx.Num(3.0)), "a²"),
    (mx.Bin("had", mx.Num(0.5), mx.Bin("had", mx.Num(2.0), a)), "a"),
    (mx.Bin("had", mx.Bin("dot", mx.Num(0.25), mx.Num(-1.0)), a), "−0.25·a"),
    # 𝟙 ⊙ a, I·A, A·I dropped; a scalar ⊙ is a scalar product
    (mx.Bin("had", ones3(), mx.Bin("had", mx.Num(2.0), a)), "2·a"),
    (mx.Bin("dot", eye3(), W), "W"),
    (mx.Bin("dot", A, eye3()), "A"),
    (mx.Bin("had", s, a), "s·a"),
    # transposes: (Aᵀ)ᵀ, (AB)ᵀ where shorter, Iᵀ, sᵀ
    (mx.Un("T", mx.Un("T", A)), "A"),
    (mx.Un("T", mx.Bin("dot", mx.Un("T", W), A)), "Aᵀ·W"),
    (mx.Un("T", eye3()), "I"),
    # −(−a), a + a, a − a + b, x ⊙ (y ⊘ x), −(a − b)
    (mx.Un("neg", mx.Un("neg", a)), "a"),
    (mx.Bin("add", a, a), "2·a"),
    (mx.Bin("add", mx.Bin("sub", a, a), b), "b"),
    (mx.Bin("had", b, mx.Bin("div", a, b)), "a"),
    (mx.Un("neg", mx.Bin("sub", a, b)), "b − a"),
    # a factor common to every term: A·W + Aᵀ·W = (A + Aᵀ)·W; a coefficient leaves a product
    (mx.Bin("add", mx.Bin("dot", A, W), mx.Bin("dot", mx.Un("T", A), W)), "(A + Aᵀ)·W"),
    (mx.Bin("dot", mx.Un("T", A), mx.Bin("had", mx.Num(2.0), a)), "2·Aᵀ·a"),
    # 1/3 has no short decimal: written as a fraction
    (mx.Bin("had", mx.Bin("div", mx.Num(1), mx.Num(3)), mx.Bin("sub", a, b)), "(a − b)/3"),
    (mx.Bin("dot", mx.Bin("div", mx.Num(2), mx.Num(3)), mx.Bin("dot", A, a)), "(2/3)·A·a"),
])
def test_each_rule_gives_the_short_form_with_the_same_value(term, text):
    out = simplify(term)
    assert out.text() == text
    same_value(term, out)


def test_ones_are_kept_where_dropping_them_would_change_the_shape():
    t = mx.Bin("had", ones3(), s)          # 𝟙 ⊙ s is a vector, s alone a number
    out = simplify(t)
    assert out.compute().shape == (3, 1)
    same_value(t, out)


@pytest.mark.parametrize("term", [
    mx.Bin("dot", W, mx.Bin("had", mx.Num(2.0), W)),            # 3×2 · 3×2 is no product
    mx.Bin("dot", mx.fn("I", "I", lambda v: np.eye(2), s), A),  # I (2×2) · A (3×3): neither
    mx.Bin("had", ones3(), W),                                  # 3×1 ⊙ 3×2
])
def test_a_term_that_is_not_a_product_stays_one(term):
    """Dropping I or 𝟙 from a product that does not conform would show a conforming one."""
    with pytest.raises(mx.ShapeMismatch):
        simplify(term).compute()


def _random_term(rng, depth):
    """A random well-or-ill-formed term over 3×3 matrices, 3-vectors, a scalar and numbers."""
    if depth == 0 or rng.random() < 0.2:
        return [A, B, a, b, s, mx.Num(float(rng.integers(-3, 4))), ones3(), eye3()][rng.integers(8)]
    kind = rng.integers(7)
    if kind == 0:
        return mx.Un("T", _random_term(rng, depth - 1))
    if kind == 1:
        return mx.Un("neg", _random_term(rng, depth - 1))
    op = ["dot", "had", "div", "add", "sub"][rng.integers(5)]
    return mx.Bin(op, _random_term(rng, depth - 1), _random_term(rng, depth - 1))


def test_random_terms_keep_their_value_and_shape():
    rng = np.random.default_rng(2026)
    checked = 0
    for _ in range(3000):
        t = _random_term(rng, 4)
        try:
            with np.errstate(all="ignore"):
                before = t.compute()
        except (mx.ShapeMismatch, ValueError):
            continue
        if not np.all(np.isfinite(before)):
            continue
        with np.errstate(all="ignore"):
            out = simplify(t)
            after = out.compute()
        assert after.shape == before.shape, (t.text(), out.text())
        np.testing.assert_allclose(after, before, rtol=1e-9, atol=1e-9,
                                   err_msg=f"{t.text()} -> {out.text()}")
        checked += 1
    assert checked > 300          # enough of them were well-formed to mean something


def test_the_algebra_cancels_the_logistic_delta():
    """((1 − y) ⊘ (1 − p) − y ⊘ p) ⊙ p ⊙ (1 − p)/4 = (p − y)/4 entry by entry."""
    p = mx.Leaf("p", np.array([0.2, 0.7, 0.4, 0.9]))
    y = mx.Leaf("y", np.array([1.0, 0.0, 1.0, 0.0]))
    one = mx.Num(1.0)
    q = mx.Bin("sub", one, p)
    t = mx.Bin("had", mx.Bin("had", mx.Bin("dot", mx.Num(0.25), mx.Bin(
        "sub", mx.Bin("div", mx.Bin("sub", one, y), q), mx.Bin("div", y, p))), p), q)
    out = simplify(t, algebra=True)
    assert out.text() == "0.25·(p − y)"
    np.testing.assert_allclose(out.compute()[:, 0], (p.value - y.value) / 4, rtol=1e-12)
    assert simplify(t).text() != out.text()          # only with the algebra


def test_the_algebra_leaves_a_region_of_differently_shaped_operands_alone():
    t = mx.Bin("had", mx.Bin("dot", A, a), mx.Bin("add", a, b))
    out = simplify(t, algebra=True)
    same_value(t, out)
