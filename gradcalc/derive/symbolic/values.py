"""The values of the graph's symbols as SymPy numbers, made from their floats when first read.

A least-squares problem with X of 200×20 has 4,000 leaf entries, and a SymPy Float costs about as
much to make as the Symbol itself; most values are never read as SymPy numbers (the bulk
evaluation works on the floats), so each is made on first use: the number a leaf always had
(`SymBackend.number`), sp.Float for a step's value computed in bulk."""
from __future__ import annotations

import math

from gradcalc.ops.arrays import sympy_module


class LazyValues(dict):
    """symbol -> SymPy number.  `floats` and `Floats` hold the symbols whose number is not made
    yet (made by `number`, or as sp.Float); reading one (`values[s]`, `s in values`, `get`, and
    so SymPy's `xreplace(values)`) makes it; the mapping is true while it has a value.
    Iteration and len() see only the numbers made."""

    def __init__(self, number):
        super().__init__()
        self.number = number                # float -> SymPy number (a leaf's value)
        self.floats: dict = {}              # symbol -> float, to be made by `number`
        self.Floats: dict = {}              # symbol -> float, to be made as sp.Float (a step's)

    def __missing__(self, key):
        if key in self.Floats:
            made = self[key] = sympy_float(self.Floats.pop(key))
            return made
        v = self.floats.pop(key)            # KeyError for a symbol without a value
        made = self[key] = self.number(v)
        return made

    def __contains__(self, key) -> bool:
        return dict.__contains__(self, key) or key in self.floats or key in self.Floats

    def __bool__(self) -> bool:             # `elif rule:` in SymPy's xreplace
        return dict.__len__(self) > 0 or bool(self.floats) or bool(self.Floats)

    def get(self, key, default=None):
        return self[key] if key in self else default


def xreplace_shared(e, rule, memo: dict):
    """e.xreplace(rule), the very steps of SymPy's Basic._xreplace, with the result for every
    subexpression object remembered in `memo` (keyed by identity; the object is kept alive
    there) for later calls with the same rule: the partial derivatives of one entry share
    subexpressions (‖w‖ under each ∂‖w‖/∂wₖ), which are then replaced and evaluated once."""
    from sympy.core.basic import Basic
    return _replace(e, rule, memo, Basic._xreplace)[0]


def _replace(e, rule, memo, plain):
    hit = memo.get(id(e))
    if hit is not None:
        return hit[1]
    if type(e)._xreplace is not plain:       # a class with its own rule: SymPy's
        found = e._xreplace(rule)
    elif e in rule:
        found = rule[e], True
    elif rule:
        args = []
        changed = False
        for a in e.args:
            if getattr(a, "_xreplace", None) is not None:
                v, c = _replace(a, rule, memo, plain)
                args.append(v)
                changed |= c
            else:
                args.append(a)
        found = (e.func(*args), True) if changed else (e, False)
    else:
        found = e, False
    memo[id(e)] = (e, found)
    return found


_float_maker: list = []     # [the function], chosen on first use


def sympy_float(v: float):
    """sympy.Float(v) for a Python float: a finite non-zero v is made as Float.__new__ makes it
    (its mpf at 53 bits, rounded to nearest, by Float._new) without the type tests before that;
    0, inf and nan (SymPy's own cases) and any SymPy whose Float differs go to sympy.Float."""
    if not _float_maker:
        _float_maker.append(_choose_float())
    return _float_maker[0](v)


def _choose_float():
    sp = sympy_module()
    Float = sp.Float
    try:
        from mpmath.libmp import from_float, round_nearest
        new = Float._new
    except (ImportError, AttributeError):
        return Float

    def quick(v):
        if v != 0.0 and math.isfinite(v):
            return new(from_float(v, 53, round_nearest), 53, zero=False)
        return Float(v)

    for probe in (0.1, -2.5, 1e-300, 3.0, -7e22, 2.0 ** -1074, 1.7976931348623157e308):
        a, b = quick(probe), Float(probe)
        if type(a) is not type(b) or a._mpf_ != b._mpf_ or a._prec != b._prec or a != b or \
                hash(a) != hash(b):
            return Float
    return quick
