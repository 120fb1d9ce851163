"""Entries of one step that share a forward form up to the names of their symbols, worked in bulk.

z⁽¹⁾ᵢⱼ = W⁽¹⁾ⱼ₁·xᵢ₁ + W⁽¹⁾ⱼ₂·xᵢ₂ + b⁽¹⁾ⱼ is one form for all 6,000 entries of a 300-row batch,
written over different symbols.  The entries are grouped by the *shape* of their SymPy form (its
tree with every symbol replaced by its place of first appearance); each group's form is written
once over positional stand-in symbols (the template), SymPy differentiates the template once per
position, and the forward form and its partial derivatives are evaluated for every entry of the
group at once by `lambdify` of those SymPy expressions (our own SymPy objects, never text).  The
form of any one entry is the template renamed, so nothing here reads a hand-written backward rule.

A value that NumPy cannot give as a finite float (a domain error, an overflow that SymPy's exact
arithmetic avoids) is recomputed entry by entry by the caller, as before this module existed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from gradcalc.derive.symbolic.direct import direct_function
from gradcalc.ops.arrays import sympy_module

BULK = 8            # groups with fewer entries are evaluated one entry at a time


class _Unshaped(Exception):
    """The form holds something that cannot be put in a group (too deep, a foreign symbol)."""


def shape_key(form, known: dict, consts: set, limit: int | None = None):
    """(key, symbols in order of first appearance): two forms with equal keys are the same tree
    over different symbols.  `known` holds the symbols a group may rename (those of the graph);
    targets (in `consts`) keep their own mark, as they are never differentiated.  (None, None)
    for a form that cannot be grouped, or whose tree (shared parts counted every time) has more
    than `limit` nodes: the walk stops there."""
    pos: dict = {}              # symbol -> its place, in order of appearance
    marks: list = []            # place -> (the place, is it a target)
    cap = limit if limit is not None else math.inf
    seen = 1                    # nodes walked so far (the form itself)
    targets = bool(consts)

    def mark(e):
        n = len(pos)
        p = pos.setdefault(e, n)        # one lookup for a symbol met before, two for a new one
        if p == n:
            if e not in known:
                raise _Unshaped
            marks.append((n, targets and e in consts))
        return marks[p]

    def walk(e):
        # a node's children are read in one loop (a symbol or an atom without a call of its
        # own): the same keys, in the same order, as walking every node, with a third of the
        # calls for sums of products
        nonlocal seen
        if seen > cap:
            raise _Unshaped
        key = [e.func]
        for a in e.args:
            seen += 1
            if a.is_Symbol:
                n = len(pos)
                p = pos.setdefault(a, n)
                if p == n:
                    if a not in known:
                        raise _Unshaped
                    marks.append((n, targets and a in consts))
                key.append(marks[p])
            elif a.args:
                key.append(walk(a))
            else:
                key.append((type(a), a))
        if seen > cap:
            raise _Unshaped
        return tuple(key)

    try:
        if limit is not None and limit < 1:
            raise _Unshaped
        if form.is_Symbol:
            return mark(form), list(pos)
        if not form.args:
            return (type(form), form), list(pos)
        return walk(form), list(pos)
    except (_Unshaped, RecursionError):
        return None, None


@dataclass
class Group:
    """Entries (flat positions `ks` of the step) whose forms are `template` renamed: row r of
    `args` holds the symbols standing at the template's positions for entry ks[r]."""

    template: object
    places: list                          # the stand-in symbols, one per position
    ks: list
    args: list                            # per entry: its symbols, in position order
    consts: frozenset                     # positions held by targets (not differentiated)
    own: bool = False                     # a form that fits no group: its own symbols, no places
    partials: list | None = None          # [(position, ∂template/∂place)]
    columns: np.ndarray | None = None     # the float values of `args` (entries × positions)
    _fn: dict = field(default_factory=dict)
    _last: tuple = (None, None)           # (r, place -> symbol of entry r), the last renamed

    def rename(self, expr, r: int):
        """`expr`, written over the places, for entry r of the group (its partial derivatives
        one after another: the mapping is made once per entry)."""
        if self._last[0] != r:
            self._last = (r, dict(zip(self.places, self.args[r])))
        return expr.xreplace(self._last[1])

    def numbers(self, key: str, exprs: list, columns: np.ndarray) -> np.ndarray:
        """The float values of `exprs` (over the places) for every entry: (entries, len(exprs));
        non-finite where NumPy had no finite value."""
        n = len(self.ks)
        place = {u: p for p, u in enumerate(self.places)}
        if all(e in place or getattr(e, "is_Integer", False) for e in exprs):
            # every expression is one of the places (∂(Σ aₖbₖ)/∂a₁ = b₁) or an integer: its values
            # are that column, or the integer, which is all lambdify's function would return
            res = np.empty((n, len(exprs)))
            for j, e in enumerate(exprs):
                res[:, j] = columns[:, place[e]] if e in place else float(int(e))
            return res
        fn = self._fn.get(key)
        if fn is None:
            # sums of products of places: NumPy's operations in the printed code's order,
            # without printing and compiling it; anything else: lambdify's function
            fn = self._fn[key] = direct_function(self.places, exprs, lambdify_names) or \
                numpy_lambdify(self.places, exprs)
        with np.errstate(all="ignore"):
            try:
                out = fn(*columns.T)
                res = np.empty((n, len(exprs)))
                for j, v in enumerate(out):
                    v = np.asarray(v)
                    res[:, j] = np.broadcast_to(v.real if np.iscomplexobj(v) and
                                                not np.any(v.imag) else v, (n,))
            except (TypeError, ValueError, ZeroDivisionError, OverflowError, AttributeError):
                res = np.full((n, len(exprs)), np.nan)
        return res


_NAMESPACE: dict = {}


def lambdify_names(args: list, exprs: list) -> tuple[list, list]:
    """(the arguments' names __0, __1 … as numpy_lambdify gives them, `exprs` written over
    them): the names rank the arguments as SymPy's `ordered` does, from the last."""
    sp = sympy_module()
    from sympy.core.sorting import ordered
    width = len(str(max(len(args) - 1, 0)))
    rank = {a: r for r, a in enumerate(reversed(list(ordered(args))))}
    names = [sp.Symbol(f"__{rank[a]:0{width}d}", **a.assumptions0) for a in args]
    rename = dict(zip(args, names))
    return names, [e.xreplace(rename) if isinstance(e, sp.Basic) else e for e in exprs]


def numpy_lambdify(args: list, exprs: list):
    """`lambdify(args, exprs, modules="numpy")`, the same printer and names, with two changes.

    The arguments are renamed __0, __1 … (zero-padded, so their names sort as their positions)
    before printing: lambdify would replace every argument whose name is not an identifier (our
    places @0, @1 …) by a Dummy, one `xreplace` of the whole expression per argument (quadratic in
    the number of places), and print a sum in the order of the Dummies' names, which come from
    SymPy's process-wide counter: the summation order, hence the last digit of a value, depended
    on what ran before.  Here it is fixed by the positions.  Names beginning with "__" are not
    problem names (the loader refuses them), so no symbol of a form is mistaken for an argument.

    And NumPy's names are copied from what NumPy has already loaded instead of SymPy's
    `from numpy import *`, which loads every lazy NumPy sub-package (testing, f2py, random, ma …;
    about 0.1 s of start-up) that printed code never calls."""
    from sympy.printing.numpy import NumPyPrinter
    from sympy.utilities.lambdify import lambdify
    if not _NAMESPACE:
        ns = {"I": 1j, "numpy": np}               # SymPy's NUMPY_DEFAULT, and `import numpy`
        ns.update((k, np.__dict__[k]) for k in np.__all__ if k in np.__dict__)
        ns.update((k, getattr(np.linalg, k)) for k in np.linalg.__all__)
        ns["Heaviside"] = ns["heaviside"]         # SymPy's NUMPY_TRANSLATIONS
        ns.setdefault("Abs", abs)
        _NAMESPACE.update(ns)
    names, exprs = lambdify_names(args, exprs)
    printer = NumPyPrinter({"fully_qualified_modules": False, "inline": True,
                            "allow_unknown_functions": True, "user_functions": {}})
    return lambdify(names, exprs, modules=[_NAMESPACE], printer=printer, docstring_limit=0)


def group_entries(forms, known: dict, consts: set, limit: int | None = None) -> list[Group]:
    """The entries of one step grouped by the shape of their forms (every entry in one group);
    a form whose tree has more than `limit` nodes gets a group of its own (not walked further),
    so every shared template has at most `limit`."""
    sp = sympy_module()
    by_key: dict = {}
    groups: list[Group] = []
    for k, form in enumerate(forms):
        key, syms = shape_key(form, known, consts, limit)
        g = by_key.get(key) if key is not None else None
        if g is None:
            places = [sp.Symbol(f"@{p}", real=True) for p in range(len(syms or []))]
            if key is None:          # a group of its own, over its own symbols
                places, syms = [], []
                template = form
            else:
                template = form.xreplace(dict(zip(syms, places)))
            g = Group(template, places, [], [],
                      frozenset(p for p, s in enumerate(syms) if s in consts), own=key is None)
            groups.append(g)
            if key is not None:
                by_key[key] = g
        g.ks.append(k)
        g.args.append(syms)
    return groups


def differentiate(g: Group, partials_of) -> list:
    """[(position, ∂template/∂place)] for every position but the targets', by SymPy (once per
    group; `partials_of` is the backend's sum-aware differentiation)."""
    if g.partials is None:
        order = {u: p for p, u in enumerate(g.places)}
        skip = {g.places[p] for p in g.consts}
        g.partials = [(order[u], d) for u, d in partials_of(g.template, order, skip)]
    return g.partials


class Renamed:
    """An expression written over a group's places, for one entry (`mapping`: place -> the
    entry's symbol); the SymPy expression itself is built only when it is printed."""

    __slots__ = ("template", "mapping", "free", "_expr", "_free")

    def __init__(self, template, mapping: dict, free: tuple):
        self.template, self.mapping, self.free, self._expr = template, mapping, free, None
        self._free = None

    @property
    def expr(self):
        if self._expr is None:
            self._expr = self.template.xreplace(self.mapping)
        return self._expr

    @property
    def free_symbols(self) -> set:
        if self._free is None:
            self._free = {self.mapping.get(u, u) for u in self.free}
        return self._free


class _Every:
    """Every symbol may be renamed (templates hold only places)."""

    def __contains__(self, item) -> bool:
        return True


_SHAPES: dict = {}


def template_shape(template):
    """shape_key of a template, remembered: (key, its symbols in order of first appearance)."""
    found = _SHAPES.get(template)
    if found is None:
        found = _SHAPES[template] = shape_key(template, _Every(), set())
    return found


def expr_of(e):
    """The SymPy expression of `e` (a Renamed is built, anything else is returned as is)."""
    return e.expr if isinstance(e, Renamed) else e


def same(a, b) -> bool:
    """a == b as expressions, without building two renamings of one template."""
    if a is b:
        return True
    if isinstance(a, Renamed) and isinstance(b, Renamed) and a.mapping is b.mapping:
        return a.template == b.template
    return expr_of(a) == expr_of(b)


_TERMS: dict = {}   # shape of a term -> (its template, its places, {place: ∂template/∂place})


def term_derivative(term, u, known: dict, consts: set, diff):
    """∂term/∂u for one term of a long sum (a mean over a batch: one term per row, all of one
    shape): SymPy's `diff` differentiates each shape once per place; the terms are renamings."""
    key, syms = shape_key(term, known, consts)
    if key is None:
        return diff(term, u)
    found = _TERMS.get(key)
    if found is None:
        sp = sympy_module()
        places = [sp.Symbol(f"@t{p}", real=True) for p in range(len(syms))]
        found = _TERMS[key] = (term.xreplace(dict(zip(syms, places))), places, {})
    template, places, derivs = found
    p = syms.index(u)
    d = derivs.get(p)
    if d is None:
        d = derivs[p] = diff(template, places[p])
    return d.xreplace(dict(zip(places, syms)))


def elementwise(scalar, x, attrs: dict, known: dict, consts: set):
    """The forms of an elementwise step (σ, relu … of every entry of x), written once over a
    place and renamed per entry on demand: (object array of Renamed, their Group), or None when
    an entry of x is not a symbol of the graph (then the op builds every form itself)."""
    sp = sympy_module()
    x = np.asarray(x, dtype=object)
    if any(isinstance(v, np.ndarray) for v in attrs.values()) or \
            not all(u in known and u not in consts for u in x.flat):
        return None
    place = sp.Symbol("@0", real=True)
    template = scalar(place, **attrs)
    if not isinstance(template, sp.Basic):
        return None
    free = (place,) if place in template.free_symbols else ()
    forms = np.empty(x.shape, dtype=object)
    for k, u in enumerate(x.flat):
        forms.flat[k] = Renamed(template, {place: u}, free)
    return forms, Group(template, [place], list(range(x.size)), [[u] for u in x.flat],
                        frozenset())


def elementwise2(scalar, inputs: list, attrs: dict, known: dict, consts: set):
    """The forms of a binary elementwise step (a − b, a·b, x², 2ˣ …, broadcast as NumPy), written
    once over places and renamed per entry on demand, as `elementwise`: (object array of Renamed,
    their Group), or None when it would not be the one group `group_entries` makes of the forms
    built entry by entry (then the op builds every form itself).

    An input is either symbols of the graph (a place) or one number (kept in the template).  The
    template is built twice, its two places named in both orders: SymPy orders the arguments of
    a sum or a product of distinct real symbols by their names only, so when both give one shape
    with the places met in the inputs' order, every entry's own form has that shape with its
    symbols met in that order — the template and rows `group_entries` finds.  When the two
    orders meet the places in opposite orders (a + b, a·b, max(a, b)), an entry's row follows the
    order of its two symbols' names, as SymPy's order of its form's arguments does."""
    sp = sympy_module()
    if any(isinstance(v, np.ndarray) for v in attrs.values()):
        return None
    xs = [np.asarray(x, dtype=object) for x in inputs]
    symbolic = []
    for x in xs:
        if x.size and all(u in known and u not in consts for u in x.flat):
            symbolic.append(True)
        elif x.ndim == 0 and isinstance(x.item(), sp.Basic) and x.item().is_Number:
            symbolic.append(False)
        else:
            return None
    n = sum(symbolic)
    if n == 0:
        return None
    names = [[f"@{p}" for p in range(n)], [f"@{n - 1 - p}" for p in range(n)]]
    found = []
    for order in names:
        places = iter([sp.Symbol(t, real=True) for t in order])
        stand = [next(places) if s else x.item() for s, x in zip(symbolic, xs)]
        template = scalar(*stand, **attrs)
        if not isinstance(template, sp.Basic):
            return None
        key, met = shape_key(template, _Every(), set())
        ins = [stand.index(u) for u in met] if key is not None else None
        found.append((key, ins, template, stand))
    (key, ins, template, stand), (key2, ins2, _, _) = found
    if key is None or key != key2 or (ins != ins2 and sorted(ins) != sorted(ins2)):
        return None
    try:
        shape = np.broadcast_shapes(*[x.shape for x in xs])
    except ValueError:
        return None
    wide = [list(np.broadcast_to(x, shape).flat) for x in xs]       # per input: its symbols
    by_name = [ins, ins2]   # the first entry's symbol has the smaller name, or the larger
    rows = [[entry[i] for i in by_name[ins != ins2 and entry[0].name > entry[1].name]]
            for entry in zip(*wide)]
    if any(len(set(r)) != len(r) for r in rows):    # x − x: SymPy's own form is 0
        return None
    places = [sp.Symbol(f"@{p}", real=True) for p in range(len(ins))]
    met = [stand[i] for i in ins]
    if met != places:
        template = template.xreplace(dict(zip(met, places)))
    free = tuple(places)
    forms = np.empty(shape, dtype=object)
    for k, r in enumerate(rows):
        forms.flat[k] = Renamed(template, dict(zip(places, r)), free)
    return forms, Group(template, places, list(range(len(rows))), rows, frozenset())
