"""Real SymPy symbols made in bulk (one per entry of a 200×20 matrix) without SymPy's per-call cost.

`sympy.Symbol(name, real=True)` checks the assumptions, looks the (name, assumptions) pair up in
SymPy's cache and builds the object: about 3 µs, 13 ms for the 4,221 leaves of a least-squares
problem.  Every real symbol SymPy builds shares the same assumption objects (its
`_canonical_assumptions` is cached), so a new one differs from another only in its name: here it
is that symbol with its name replaced, the same attributes `Symbol.__xnew__` sets.  The result is
equal to (and hashes as) `sympy.Symbol(name, real=True)`; only the cache is not filled.  If this
SymPy's Symbol does not have the attributes this relies on (another version), or a made symbol
does not compare equal to SymPy's own, `sympy.Symbol` is used instead.
"""
from __future__ import annotations

import itertools

from gradcalc.ops.arrays import sympy_module

_SLOTS = (("name", "_assumptions_orig", "_assumptions0"), ("_mhash", "_args", "_assumptions"))
_maker: list = []     # [the function], chosen on first use


def real_symbol(name: str):
    """A SymPy Symbol `name` with real=True (equal to sympy.Symbol(name, real=True))."""
    if not _maker:
        _maker.append(_choose())
    return _maker[0](name)


def real_symbols(name: str, shape: tuple) -> list:
    """The real symbols name_1_1, name_1_2 … of an array of `shape`, in C order (np.ndindex's);
    each axis's suffixes are written once."""
    suffixes = [[f"_{i + 1}" for i in range(n)] for n in shape]
    return [real_symbol(name + "".join(t)) for t in itertools.product(*suffixes)]


def _choose():
    sp = sympy_module()
    from sympy.core.basic import Basic
    from sympy.core.symbol import Symbol

    def plain(name):
        return sp.Symbol(name, real=True)

    if (Symbol.__slots__, Basic.__slots__) != _SLOTS or sp.Symbol is not Symbol:
        return plain
    model = sp.Symbol("@model", real=True)
    new = Basic.__new__

    def quick(name):
        s = new(Symbol)
        s.name = name
        s._assumptions = model._assumptions
        s._assumptions_orig = model._assumptions_orig
        s._assumptions0 = model._assumptions0
        return s

    probe, own = quick("@probe"), sp.Symbol("@probe", real=True)
    if probe != own or hash(probe) != hash(own) or probe.assumptions0 != own.assumptions0 or \
            probe._hashable_content() != own._hashable_content() or not isinstance(probe.name, str):
        return plain
    return quick
