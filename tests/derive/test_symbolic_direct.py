"""Group templates that are sums of products of places are evaluated by NumPy directly
(derive/symbolic/direct.py) instead of by lambdify's printed code: every value must be the
very float64 the lambdified function gives (the reference, SymPy's printer and NumPy), bit for
bit, on random templates and on data with signed zeros, infinities and huge values."""
import numpy as np
import pytest
import sympy

from gradcalc.derive.symbolic.direct import direct_function
from gradcalc.derive.symbolic.groups import lambdify_names, numpy_lambdify

P = [sympy.Symbol(f"@{p}", real=True) for p in range(41)]


def _random_template(rng, n_places):
    places = P[:n_places]
    terms = []      # at most one term per product of places (SymPy would collect c·u·v)
    for _ in range(int(rng.integers(1, 25))):
        kind = rng.integers(0, 5)
        u, v = rng.choice(n_places, 2, replace=False) if n_places > 1 else (0, 0)
        if kind == 0:
            terms.append(places[u])
        elif kind == 1:
            terms.append(int(rng.integers(-5, 6)) * places[u])
        elif kind == 2 and u != v:
            terms.append(places[u] * places[v])
        elif kind == 3:
            terms.append(places[u] ** 2)
        else:
            terms.append(sympy.Integer(int(rng.integers(-3, 4))))
    seen, kept = set(), []
    for t in terms:
        base = t.as_coeff_Mul()[1]
        if base not in seen:
            seen.add(base)
            kept.append(t)
    return sympy.Add(*kept)


def _columns(rng, rows, n_places):
    cols = rng.normal(size=(rows, n_places)) * 10.0 ** rng.integers(-5, 6, size=(rows, n_places))
    special = [0.0, -0.0, np.inf, -np.inf, 1e200, -1e-200, 1e308]
    for _ in range(rows // 3):
        cols[rng.integers(rows), rng.integers(n_places)] = special[rng.integers(len(special))]
    return cols


def _same_bits(a, b):
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    both_nan = np.isnan(a) & np.isnan(b)
    assert (both_nan | (a.view(np.int64) == b.view(np.int64))).all()


@pytest.mark.parametrize("seed", range(40))
def test_sums_of_products_give_lambdifys_floats(seed):
    rng = np.random.default_rng(seed)
    n_places = int(rng.integers(1, 41))
    exprs = [_random_template(rng, n_places) for _ in range(int(rng.integers(1, 4)))]
    fn = direct_function(P[:n_places], exprs, lambdify_names)
    assert fn is not None
    cols = _columns(rng, 50, n_places)
    with np.errstate(all="ignore"):
        want = numpy_lambdify(P[:n_places], exprs)(*cols.T)
    with np.errstate(all="ignore"):
        got = fn(*cols.T)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        _same_bits(g, w)


def test_the_least_squares_template():
    # Σₖ X·w over 20 pairs of places: the printer's order of the sum, not the template's
    pairs = [P[2 * k] * P[2 * k + 1] for k in range(20)]
    expr = sympy.Add(*pairs)
    rng = np.random.default_rng(1)
    cols = rng.normal(size=(200, 40)) * 10.0 ** rng.integers(-8, 9, size=(200, 40))
    got = direct_function(P[:40], [expr], lambdify_names)(*cols.T)
    _same_bits(got[0], numpy_lambdify(P[:40], [expr])(*cols.T)[0])


@pytest.mark.parametrize("expr", [sympy.sin(P[0]), P[0] / P[1], P[0] ** 3, P[0] * P[1] * P[2],
                                  sympy.Float(0.5) * P[0], sympy.Rational(1, 2) * P[0],
                                  P[0] + sympy.exp(P[1]), sympy.sqrt(P[0])])
def test_anything_else_is_left_to_lambdify(expr):
    assert direct_function(P[:3], [expr], lambdify_names) is None
