"""Sums of products of a group's places evaluated by NumPy as lambdify's printed code evaluates them.

The forward form of z = X @ w is a template Σₖ @ₖ·@ₖ′ over 40 places; lambdify prints it as
`__00*__01 + __02*__03 + …` (the terms in the order of `as_ordered_terms` of the expression written
over those names, each product of two factors, a negative term subtracted) and compiles that.
For templates made only of places, integers, c·place, place·place and place² (a sum of them, or
one), the same NumPy operations are done here in the same order — the same float64 values, bit
for bit — without printing, compiling or importing SymPy's code printers.  Anything else
(functions, quotients, other powers, floats, products of three) is left to lambdify."""
from __future__ import annotations

def _factor_kind(e, places: set):
    """'place', 'int', 'c·u', 'u·v', 'u²' or None: the kinds written here."""
    if e in places:
        return "place"
    if e.is_Integer:
        return "int" if abs(int(e)) < 2 ** 53 else None
    if e.is_Pow:
        return "u²" if e.base in places and e.exp == 2 and e.exp.is_Integer else None
    if e.is_Mul and len(e.args) == 2:
        a, b = e.args
        if a.is_Integer and abs(int(a)) < 2 ** 53 and b in places:
            return "c·u"
        if a in places and b in places:
            return "u·v"
    return None


def _simple(e, places: set) -> bool:
    if e.is_Add:
        return all(_factor_kind(t, places) is not None for t in e.args)
    return _factor_kind(e, places) is not None


def _term(e, kind, col: dict):
    if kind == "place":
        return col[e]
    if kind == "int":
        return int(e)
    if kind == "u²":
        return col[e.base] ** 2           # printed `__0**2`
    a, b = e.args
    if kind == "c·u":                     # printed `2*__0`, `-__0` or `-2*__0`: exactly c·u
        return float(int(a)) * col[b]
    return col[a] * col[b]                # printed `__0*__1` (one product, either order)


def _value(e, places: set, col: dict):
    if not e.is_Add:
        return _term(e, _factor_kind(e, places), col)
    # the printed sum adds its terms from the left; "a - t" is a + (−t) in IEEE arithmetic, and
    # with two terms the order does not matter (addition is commutative), else the printer's
    terms = e.args if len(e.args) <= 2 else e.as_ordered_terms()
    acc = None
    for t in terms:
        v = _term(t, _factor_kind(t, places), col)
        acc = v if acc is None else acc + v
    return acc


def direct_function(places: list, exprs: list, lambdify_names):
    """A function of the places' columns giving what numpy_lambdify(places, exprs) gives, or
    None when an expression is not a sum of the kinds above."""
    if not exprs:
        return None
    if not all(hasattr(e, "is_Add") and _simple(e, set(places)) for e in exprs):
        return None
    names, written = lambdify_names(places, exprs)
    known = set(names)

    def fn(*columns):
        col = dict(zip(names, columns))
        return [_value(e, known, col) for e in written]
    return fn
