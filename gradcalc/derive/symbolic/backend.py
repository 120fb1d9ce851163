"""The SymPy backend: forward forms from the registry over symbols, derivatives by sympy.diff.

Independent of the hand-written backward rules: every parameter entry is one real SymPy symbol
(W1_1_2, shown W⁽¹⁾₁₂ as in the lecture, 1-based), every entry of every intermediate quantity is one
symbol too (z1_1, h1_2 …) whose *forward form* comes from the op's `sym` (never its `vjp`/`local`).
The derivative of the output with respect to every entry is assembled by the chain rule over the
partial derivatives `sympy.diff(form, symbol)` of those forms:

    ∂L/∂u = Σ_s ∂L/∂s · ∂form_s/∂u        (s runs over the entries whose form contains u)

which equals `sympy.diff` of the fully expanded output but costs time linear in the size of the
graph instead of (size × number of parameters) — see bench/bench_check.py for the measurement.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from gradcalc import ops
from gradcalc.derive.symbolic.groups import (BULK, differentiate, elementwise, elementwise2,
                                             expr_of, group_entries)
from gradcalc.derive.symbolic.partials import _partials_of
from gradcalc.derive.symbolic.symbols import real_symbol, real_symbols
from gradcalc.derive.symbolic.values import LazyValues, sympy_float, xreplace_shared
from gradcalc.errors import DomainError
from gradcalc.ops.arrays import sympy_module   # SymPy, imported on first use

FORM_LIMIT = 20000           # tree size of one entry's forward form (a deep recurrence, say)


class TooLarge(Exception):
    """The SymPy forms would be too large to differentiate in reasonable time."""


def _too_large(name: str, op_name: str) -> TooLarge:
    return TooLarge(f"the SymPy form of {name} has more than {FORM_LIMIT} terms written out "
                    f"({op_name} nests its inputs)")


def _tree_size(e, memo: dict, limit: int) -> int:
    """The size of `e` written out as a tree (shared subexpressions counted every time),
    computed over the DAG; stops counting past `limit`."""
    stack = [(e, False)]
    while stack:
        node, done = stack.pop()
        if node in memo:
            continue
        if done or not node.args:
            memo[node] = min(limit + 1, 1 + sum(memo[a] for a in node.args))
            continue
        stack.append((node, True))
        stack.extend((a, False) for a in node.args if a not in memo)
    return memo[e]


class _StandIn:
    """Real symbols standing for the one input (u) and the output (o) of an elementwise form,
    made on first use (SymPy is imported lazily); no problem name contains "@"."""

    def __getattr__(self, name):
        sp = sympy_module()
        self.u, self.o = sp.Symbol("@u", real=True), sp.Symbol("@o", real=True)
        return getattr(self, name)


STAND_INS = _StandIn()


@dataclass
class SymNode:
    name: str
    op: str
    inputs: list                    # handles (object arrays)
    attrs: dict
    syms: np.ndarray                # one symbol per output entry
    forms: np.ndarray               # forward form of each entry (over the input symbols)
    partials: list = field(default_factory=list)   # per flat entry: [(u, ∂form/∂u)]
    groups: list | None = None      # entries sharing a form up to renaming (not in --exact)
    where: list | None = None       # per flat entry: (its group, its row in the group)

    def form(self, k: int):
        """The forward form of flat entry k as a SymPy expression."""
        return expr_of(self.forms.flat[k])


class SymBackend:
    """A backend for network.build whose values are object arrays of SymPy symbols."""

    def __init__(self, exact: bool = False, network: bool = True, file: str | None = None):
        self.sp = sympy_module()
        self.exact = exact
        self.network = network
        self.file = file
        self.nodes: list[SymNode] = []
        # symbol -> its value (sympy number / exact expression); leaves' made when first read
        self.values = LazyValues(self.number)
        self.fval: dict = {}          # symbol -> its value as a float (bulk evaluation)
        self.info: dict = {}          # symbol -> (node name, index)
        self.order: dict = {}         # symbol -> creation rank (deterministic sums)
        self.leaves: dict[str, np.ndarray] = {}   # differentiated leaves: name -> symbols
        self.consts: dict[str, np.ndarray] = {}   # targets: name -> symbols (not differentiated)
        self.by_name: dict[str, np.ndarray] = {}
        self.name_of: dict[int, str] = {}
        self._unary: dict = {}        # elementwise form over the stand-in -> its derivative
        self.const_symbols: set = set()   # the symbols of self.consts

    # numbers of the problem: floats, or exact rationals (0.4 -> 2/5) in --exact mode
    def number(self, v, name: str | None = None):
        sp = self.sp
        v = float(v)
        if self.exact and name in ("pi", "e") and v == {"pi": math.pi, "e": math.e}[name]:
            return sp.pi if name == "pi" else sp.E
        if v.is_integer() and abs(v) < 2 ** 53:
            return sp.Integer(int(v))
        return sp.Rational(repr(v)) if self.exact else sympy_float(v)

    def _symbols(self, name: str, value) -> np.ndarray:
        value = np.asarray(value, dtype=float)
        vals = value.ravel().tolist()       # floats, in C order (that of np.ndindex)
        syms = real_symbols(name, value.shape)      # X_1_1, X_1_2 … in the same order
        out = np.fromiter(syms, dtype=object, count=len(syms)).reshape(value.shape)
        if self.exact:
            self.values.update((s, self.number(v)) for s, v in zip(syms, vals))
        else:
            self.values.floats.update(zip(syms, vals))
        self.fval.update(zip(syms, vals))
        self.info.update(zip(syms, [(name, idx) for idx in np.ndindex(value.shape)]))
        for s in syms:
            self.order[s] = len(self.order)
        self._remember(out, name)
        return out

    def _remember(self, handle, name):
        self.by_name.setdefault(name, handle)
        self.name_of[id(handle)] = name

    def leaf(self, name, value, role):
        if role == "const":
            arr = np.asarray(value, dtype=float)
            out = np.empty(arr.shape, dtype=object)
            for idx in np.ndindex(arr.shape):
                out[idx] = self.number(arr[idx], name)
            self._remember(out, name)
            return out
        out = self._symbols(name, value)
        self.leaves[name] = out
        return out

    def _attr(self, key, value):
        """Float arrays (targets) become named symbols t₁ …; floats become numbers.  Integers,
        booleans and text (labels, stride, padding, activation names) stay as they are."""
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            name = {"target": "t"}.get(key, key)
            syms = self._symbols(name, value)
            self.consts[name] = syms
            self.const_symbols.update(syms.flat)
            return syms
        if isinstance(value, (float, np.floating)):
            return self.number(value)
        return value

    def apply(self, op_name, inputs, name, attrs, formula, field):
        sp = self.sp
        op = ops.get(op_name)
        sattrs = {k: self._attr(k, v) for k, v in attrs.items()}
        scalar = getattr(op.sym, "scalar", None)     # an elementwise op: one form, renamed
        lifted = None
        if not self.exact and scalar is not None and len(inputs) in (1, 2):
            lifted = (elementwise if len(inputs) == 1 else elementwise2)(
                scalar, inputs[0] if len(inputs) == 1 else inputs, sattrs, self.order,
                self.const_symbols)
        if lifted is not None:
            forms, group = lifted
        else:
            forms, group = np.asarray(op.sym(*inputs, **sattrs), dtype=object), None
        syms = np.empty(forms.shape, dtype=object)
        memo: dict = {}
        for idx in np.ndindex(forms.shape):
            form = forms[idx]
            if group is not None:
                form = group.template
            elif not isinstance(form, sp.Basic):   # a plain number (never text)
                if not isinstance(form, (int, float, np.number)):
                    raise TypeError(f"the SymPy form of {op_name} gave {type(form).__name__}")
                form = self.number(form)
            # (the forms of a step that is grouped are measured while grouping, below)
            if (self.exact or group is not None) and _tree_size(form, memo, FORM_LIMIT) > \
                    FORM_LIMIT:
                raise _too_large(name, op_name)
            if group is None:
                forms[idx] = form
            text = name + "".join(f"_{i + 1}" for i in idx)
            syms[idx] = s = real_symbol(text)
            self.info[s] = (name, idx)
            self.order[s] = len(self.order)
            if self.exact:
                self.values[s] = self._evaluate(form, name, field)
        node = SymNode(name, op_name, list(inputs), attrs, syms, forms)
        if not self.exact:
            self._evaluate_groups(node, name, field, None if group is None else [group])
        self.nodes.append(node)
        self._remember(syms, name)
        return syms

    def _evaluate_groups(self, node: SymNode, name, field, groups=None):
        """Group the entries by the shape of their forms and evaluate each group in bulk; an
        entry NumPy gives no finite value for is evaluated alone (and reported if it has none)."""
        if groups is None:
            # every shared template has at most FORM_LIMIT nodes (the walk stops there); a form
            # of its own is measured here, before anything is evaluated
            groups = group_entries(list(node.forms.flat), self.order, self.const_symbols,
                                   FORM_LIMIT)
            memo: dict = {}
            for g in groups:
                if g.own and _tree_size(g.template, memo, FORM_LIMIT) > FORM_LIMIT:
                    raise _too_large(name, node.op)
        node.groups = groups
        node.where = [None] * node.forms.size
        syms = node.syms.flat
        for g in node.groups:
            for r, k in enumerate(g.ks):
                node.where[k] = (g, r)
            bulk = not g.own and len(g.ks) >= BULK
            if bulk:
                g.columns = np.fromiter(map(self.fval.__getitem__, itertools.chain.from_iterable(
                    g.args)), dtype=float, count=len(g.ks) * len(g.places)).reshape(
                    len(g.ks), len(g.places))
                vals = g.numbers("forward", [g.template], g.columns)[:, 0]
            for r, k in enumerate(g.ks):
                v = float(vals[r]) if bulk else math.nan
                if math.isfinite(v):
                    self.values.Floats[syms[k]] = v       # sp.Float(v) when first read
                else:
                    self.values[syms[k]] = self._evaluate(node.form(k), name, field)
                    v = _real(self.values[syms[k]])
                self.fval[syms[k]] = v

    def _evaluate(self, form, name, field):
        """The value of a forward form at the values of its symbols (independent forward)."""
        sp = self.sp
        v = form.xreplace(self.values)
        if self.exact:
            f = complex(v.evalf(30))
        else:
            if not v.is_Number:
                v = v.evalf()
            f = complex(v)
            v = sp.Float(f.real) if f.imag == 0 else v
        if f.imag != 0 or not math.isfinite(f.real):
            from gradcalc.problem.yamlio import field_name
            raise DomainError(f"step {name}: the SymPy form has no finite real value here",
                              file=self.file, field=field_name(field) or None)
        return v

    # ------------------------------------------------------------ derivatives
    def partials(self, node: SymNode, k: int) -> list:
        """[(u, ∂form_k/∂u)] for every symbol u of the entry's forward form, by sympy.diff.

        For a sum only the terms containing u are differentiated (the others give 0)."""
        if not node.partials:
            node.partials = [None] * node.forms.size
        if node.partials[k] is None and node.where is not None and not node.where[k][0].own:
            g, r = node.where[k]
            found = [(g.args[r][p], g.rename(d, r)) for p, d in differentiate(g, _partials_of)]
            node.partials[k] = sorted(found, key=lambda ud: self.order[ud[0]])
        if node.partials[k] is None:
            form = node.forms.flat[k]
            free = form.free_symbols
            u = next(iter(free)) if len(free) == 1 else None
            U = STAND_INS.u
            if u is not None and u in self.const_symbols:
                node.partials[k] = []
            elif u is not None and u.assumptions0 == U.assumptions0:
                # an elementwise form (σ(z₁), tanh(z₂) …, the same for every entry up to the
                # name of its symbol): SymPy differentiates it once, written over a stand-in
                # symbol, and the derivative is renamed for each entry
                key = form.xreplace({u: U})
                d = self._unary.get(key)
                if d is None:
                    d = self._unary[key] = _partials_of(key, {U: 0})[0][1]
                node.partials[k] = [(u, d.xreplace({U: u}))]
            else:
                # targets (t₁ …) are not differentiated: nothing depends on ∂/∂t
                node.partials[k] = _partials_of(form, self.order, self.const_symbols)
        return node.partials[k]

    def group_partials(self, g) -> list:
        """[(position, ∂template/∂place)] of a group of entries, by SymPy, once per group."""
        return differentiate(g, _partials_of)

    def partial_count(self) -> int:
        """The number of partial derivatives in the graph (every entry, every input symbol)."""
        n = 0
        for node in self.nodes:
            for k in range(node.syms.size):
                g = node.where[k][0] if node.where else None
                n += len(self.partials(node, k) if g is None or g.own else
                         self.group_partials(g))
        return n

    def gradients(self, output: np.ndarray) -> dict:
        """d output / d symbol for every symbol reached: numbers (floats, or exact in --exact)."""
        if not self.exact:
            return self._float_gradients(output)
        adj: dict = {s: (self.sp.Integer(1) if self.exact else 1.0) for s in output.flat}
        for node in reversed(self.nodes):
            for k, s in enumerate(node.syms.flat):
                a = adj.get(s)
                if a is None or a == 0:
                    continue
                for u, d in self.partials(node, k):
                    dv = self._value(d)
                    adj[u] = adj[u] + a * dv if u in adj else a * dv
        return adj

    def _float_gradients(self, output: np.ndarray) -> dict:
        """The same chain rule in float64, a group of entries at a time: every partial derivative
        of a group's template is evaluated for all its entries at once."""
        order = self.order
        # sums start at -0.0, the exact identity of IEEE addition, so that every sum (and the
        # sign of a zero) is the one the entry-by-entry sums give; `reached` as in their dict
        adj = np.full(len(order), -0.0)
        shared: dict = {}       # subexpressions of the partials, replaced by values once
        reached = np.zeros(len(order), dtype=bool)
        for s in output.flat:
            adj[order[s]] = 1.0
            reached[order[s]] = True
        for node in reversed(self.nodes):
            out_rows = [order[s] for s in node.syms.flat]
            for g in node.groups:
                a = adj[[out_rows[k] for k in g.ks]]
                live = a != 0
                if not live.any():
                    continue
                if g.own or len(g.ks) < BULK:
                    for r in np.flatnonzero(live):
                        for u, d in self.partials(node, g.ks[r]):
                            adj[order[u]] += a[r] * self._value(d, shared)
                            reached[order[u]] = True
                    continue
                parts = differentiate(g, _partials_of)
                if not parts:
                    continue
                D = g.numbers("partials", [d for _, d in parts], g.columns)
                for r, j in zip(*np.nonzero(~np.isfinite(D) & live[:, None])):
                    D[r, j] = self._value(g.rename(parts[j][1], r), shared)   # SymPy's arithmetic
                at = [p for p, _ in parts]
                targets = np.fromiter((order[row[p]] for row in g.args for p in at),
                                      dtype=np.intp, count=len(g.args) * len(at)).reshape(
                                          len(g.args), len(at))
                np.add.at(adj, targets, np.where(live[:, None], a[:, None] * D, -0.0))
                reached[targets[live]] = True
        values, reached = adj.tolist(), reached.tolist()     # Python floats, bools
        return {s: values[i] for s, i in order.items() if reached[i]}

    def _value(self, expr, memo: dict | None = None):
        v = expr.xreplace(self.values) if memo is None else \
            xreplace_shared(expr, self.values, memo)
        if self.exact:
            return v
        if not v.is_Number:
            v = v.evalf()
        return _real(v)

    def float_value(self, v) -> float:
        return _real(v.evalf(30)) if self.exact and hasattr(v, "evalf") else _real(v)


def _real(v) -> float:
    """float(v); nan for a value that is not real (a^b·log a with a < 0: ∂/∂b is undefined
    in the reals), as autograd reports it."""
    try:
        return float(v)
    except TypeError:
        return math.nan


def as_sympy(e):
    """A SymPy object for a value that is one already or a plain number (never text)."""
    sp = sympy_module()
    if isinstance(e, sp.Basic):
        return e
    if isinstance(e, (int, np.integer)):
        return sp.Integer(int(e))
    return sp.Float(float(e))
