"""The values of the graph's symbols as SymPy numbers, made from their floats when first read.

A least-squares problem with X of 200×20 has 4,000 leaf entries, and a SymPy Float costs about as
much to make as the Symbol itself; most values are never read as SymPy numbers (the bulk
evaluation works on the floats), so each is made on first use: the number a leaf always had
(`SymBackend.number`), sp.Float for a step's value computed in bulk."""
from __future__ import annotations

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
            made = self[key] = sympy_module().Float(self.Floats.pop(key))
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
