"""Group.numbers: expressions that are a place or an integer are read from the columns directly;
the values must be what the plain lambdify of the same expressions gives (computed here with
sympy.lambdify itself, and by hand)."""
import numpy as np
import sympy as sp

from gradcalc.derive.symbolic.groups import group_entries


def _group():
    a = [sp.Symbol(f"a_{i}", real=True) for i in range(1, 4)]
    b = [sp.Symbol(f"b_{i}", real=True) for i in range(1, 4)]
    forms = [a[0] * b[i] + a[1] * b[(i + 1) % 3] for i in range(3)] * 3   # 9 entries, one shape
    known = {s: k for k, s in enumerate(a + b)}
    groups = group_entries(forms, known, set())
    assert len(groups) == 1 and not groups[0].own
    return groups[0]


def test_places_and_integers_are_the_columns_and_the_numbers():
    g = _group()
    rng = np.random.default_rng(5)
    cols = rng.normal(size=(len(g.ks), len(g.places)))
    cols[0, 1] = np.nan                       # passed through as lambdify would
    exprs = [g.places[3], sp.Integer(-1), g.places[0], sp.Integer(0), sp.Integer(7)]
    got = g.numbers("partials", exprs, cols)
    by_hand = np.column_stack([cols[:, 3], np.full(9, -1.0), cols[:, 0], np.zeros(9),
                               np.full(9, 7.0)])
    assert np.array_equal(got, by_hand, equal_nan=True)
    fn = sp.lambdify(g.places, exprs, modules="numpy")
    ref = np.column_stack([np.broadcast_to(np.asarray(v, dtype=float), (9,))
                           for v in fn(*cols.T)])
    assert np.array_equal(got, ref, equal_nan=True)


def test_anything_else_still_goes_to_lambdify():
    g = _group()
    cols = np.arange(len(g.ks) * len(g.places), dtype=float).reshape(len(g.ks), -1) / 7
    got = g.numbers("forward", [g.template, g.places[1]], cols)
    p = g.places
    want = [sum(cols[r, k] * cols[r, k + 1] for k in range(0, len(p), 2)) for r in range(9)]
    assert np.allclose(got[:, 0], want, rtol=1e-15, atol=0)
    assert np.array_equal(got[:, 1], cols[:, 1])
    assert "forward" in g._fn                 # made by lambdify
