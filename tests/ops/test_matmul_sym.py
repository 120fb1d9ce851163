"""The SymPy form of `@` (ops.exprarray): every entry is the very expression SymPy's own
`Add(*[Mul(a, b, evaluate=False) …])` builds (the reference), argument for argument, whichever path
made it — so the forms, their grouping and every printed or evaluated sum stay as they were."""
import numpy as np
import pytest
import sympy

from gradcalc import ops
from gradcalc.ops.exprarray import _sum_of_products


def _syms(name, shape, **assumptions):
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        out[idx] = sympy.Symbol(name + "".join(f"_{i + 1}" for i in idx), **assumptions)
    return out


def _reference(a, b):
    """SymPy's Add of the products, entry by entry (a vector as a row / a column)."""
    A = a[None, :] if a.ndim == 1 else a
    B = b[:, None] if b.ndim == 1 else b
    out = np.empty((A.shape[0], B.shape[1]), dtype=object)
    for i, j in np.ndindex(out.shape):
        terms = [sympy.Mul(A[i, k], B[k, j], evaluate=False)
                 if isinstance(A[i, k], sympy.Symbol) and isinstance(B[k, j], sympy.Symbol)
                 else A[i, k] * B[k, j] for k in range(A.shape[1])]
        out[i, j] = sympy.Add(*terms)
    if a.ndim == 1 and b.ndim == 1:
        return out[0, 0]
    return out[0] if a.ndim == 1 else out[:, 0] if b.ndim == 1 else out


def _same(x, y):
    """Equal, with the same arguments in the same order, all the way down."""
    assert type(x) is type(y) and x == y
    assert x.args == y.args
    for u, v in zip(x.args, y.args):
        _same(u, v)


X = _syms("X", (13, 12), real=True)          # names like X_1_10 sort before X_1_2
w = _syms("w", (12,), real=True)
CASES = {
    "matrix @ vector": (X, w),
    "vector @ matrix": (_syms("v", (13,), real=True), X),
    "matrix @ its transpose (squares)": (X, X.T),
    "vector · itself": (w, w),
    "with numbers": (X[:, :3], np.array([sympy.Float(0.5), sympy.Integer(2), sympy.Integer(0)],
                                         dtype=object)),
    "mixed assumptions": (_syms("a", (2, 3), real=True), _syms("b", (3, 2))),
    "one term": (X[:, :1], w[:1]),
}


@pytest.mark.parametrize("case", CASES)
def test_matmul_form_is_sympys_own_sum(case):
    a, b = CASES[case]
    got = np.asarray(ops.get("matmul").sym(a, b), dtype=object)
    want = np.asarray(_reference(a, b), dtype=object)
    assert got.shape == want.shape
    for g, r in zip(got.flat, want.flat):
        _same(g, r)


def test_sum_of_products_leaves_alike_terms_to_sympy():
    x, y = sympy.symbols("x y", real=True)
    twice = [sympy.Mul(x, y, evaluate=False)] * 2       # SymPy collects them: 2·x·y
    _same(_sum_of_products(sympy, twice), sympy.Add(*twice))
    assert _sum_of_products(sympy, twice) == 2 * x * y
