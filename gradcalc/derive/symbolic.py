"""The computation over SymPy symbols: forward forms from the registry, derivatives by sympy.diff.

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
from typing import Any

import numpy as np

from gradcalc import ops
from gradcalc.errors import DomainError
from gradcalc.problem.load import ExpressionProblem, NetworkProblem

DEFAULT_LIMIT = 500          # differentiated entries; beyond this `solve`/`check` skip SymPy
FORM_LIMIT = 20000           # tree size of one entry's forward form (a deep recurrence, say)
CLOSED_LIMIT = 3000          # partial derivatives in the graph; above it no closed forms
LAYOUT = ("Layout: every gradient has the shape of its parameter (∂L/∂W is out × in, like W); "
          "entry (i, j) of ∂L/∂W is ∂L/∂Wᵢⱼ. Indices are 1-based as in the lecture.")
LAYOUT_LATEX = (r"Layout: every gradient has the shape of its parameter "
                r"($\partial L/\partial W$ is out $\times$ in, like $W$); indices are 1-based.")
_BIG = 60                    # a closed form larger than this (tree nodes) gets a δ name
_SHOW = 4                    # entries listed when no index pattern is found
_LETTERS = "ijklmnpqrs"


def _sp():
    import sympy
    return sympy


class TooLarge(Exception):
    """The SymPy forms would be too large to differentiate in reasonable time."""


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


def size(problem) -> int:
    """The number of differentiated entries (x, W, b … or the expression's variables)."""
    from gradcalc.graph.network import leaf_values
    return int(sum(np.asarray(v).size for v in leaf_values(problem).values()))


def _partials_of(form, order: dict, skip=frozenset()) -> list:
    """[(u, ∂form/∂u)] for every symbol u of `form` (in `order`) but those in `skip`, by SymPy;
    for a sum only the terms containing u are differentiated (the others give 0)."""
    sp = _sp()
    terms: dict = {}
    for term in (form.args if form.is_Add else (form,)):
        for u in term.free_symbols:
            if u not in skip:
                terms.setdefault(u, []).append(term)
    return [(u, sp.Add(*[_diff(t, u) for t in terms[u]]))
            for u in sorted(terms, key=order.__getitem__)]


class _StandIn:
    """Real symbols standing for the one input (u) and the output (o) of an elementwise form,
    made on first use (SymPy is imported lazily); no problem name contains "@"."""

    def __getattr__(self, name):
        sp = _sp()
        self.u, self.o = sp.Symbol("@u", real=True), sp.Symbol("@o", real=True)
        return getattr(self, name)


_STAND = _StandIn()


def _diff(term, u):
    """∂term/∂u by SymPy.  `sympy.diff` dispatches to the expression's own `_eval_derivative`
    (the product, chain and quotient rules of SymPy); calling it directly skips the wrapper's
    bookkeeping and is about ten times faster.  Anything it cannot do goes to `sympy.diff`."""
    sp = _sp()
    try:
        d = term._eval_derivative(u)
    except Exception:   # not every object implements it the same way: use the public API
        d = None
    if d is None or d.has(sp.Derivative):
        d = sp.diff(term, u)
    return d


# ---------------------------------------------------------------- names shown like the lecture
_SUB = str.maketrans("0123456789aehijklmnoprstuvx,", "₀₁₂₃₄₅₆₇₈₉ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ,")
_SUP = str.maketrans("0123456789()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾")
_NET_NAME = ("W", "b", "z", "h", "Wxh", "Whh")


def _split_layer(name: str, network: bool) -> tuple[str, str]:
    """'W1' -> ('W', '1') in network problems (the layer becomes a superscript)."""
    if network:
        stem = name.rstrip("0123456789")
        if stem in _NET_NAME and stem != name:
            return stem, name[len(stem):]
    return name, ""


def pretty_name(name: str, idx: tuple = (), network: bool = True) -> str:
    """W1, (0, 1) -> W⁽¹⁾₁₂ ; letters stay letters: W1, ('i', 'j') -> W⁽¹⁾ᵢⱼ."""
    base, layer = _split_layer(name, network)
    text = base + (f"({layer})".translate(_SUP) if layer else "")
    if idx:
        parts = [str(i + 1) if isinstance(i, (int, np.integer)) else str(i) for i in idx]
        sep = "," if any(len(p) > 1 for p in parts) else ""
        sub = sep.join(parts)
        text += sub.translate(_SUB) if all(c in "0123456789aehijklmnoprstuvx," for c in sub) \
            else "[" + ",".join(parts) + "]"
    return text


def latex_name(name: str, idx: tuple = (), network: bool = True) -> str:
    """W1, (0, 1) -> W^{(1)}_{12}; w0 -> w_{0}; multi-letter names -> \\mathrm{…}."""
    base, layer = _split_layer(name, network)
    sub = ""
    if not layer and not idx:
        stem = base.rstrip("0123456789")
        if stem and stem != base and len(stem) == 1:
            base, sub = stem, base[len(stem):]
    core = base if len(base) == 1 else r"\mathrm{" + base.replace("_", r"\_") + "}"
    if layer:
        core += "^{(" + layer + ")}"
    parts = [str(i + 1) if isinstance(i, (int, np.integer)) else str(i) for i in idx]
    if parts:
        sub = ("," if any(len(p) > 1 for p in parts) else "").join(parts)
    return core + ("_{" + sub + "}" if sub else "")


# ---------------------------------------------------------------- the SymPy backend
@dataclass
class _Node:
    name: str
    op: str
    inputs: list                    # handles (object arrays)
    attrs: dict
    syms: np.ndarray                # one symbol per output entry
    forms: np.ndarray               # forward form of each entry (over the input symbols)
    partials: list = field(default_factory=list)   # per flat entry: [(u, ∂form/∂u)]


class SymBackend:
    """A backend for network.build whose values are object arrays of SymPy symbols."""

    def __init__(self, exact: bool = False, network: bool = True, file: str | None = None):
        self.sp = _sp()
        self.exact = exact
        self.network = network
        self.file = file
        self.nodes: list[_Node] = []
        self.values: dict = {}        # symbol -> its value (sympy number / exact expression)
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
        return sp.Rational(repr(v)) if self.exact else sp.Float(v)

    def _symbols(self, name: str, value) -> np.ndarray:
        sp = self.sp
        value = np.asarray(value, dtype=float)
        out = np.empty(value.shape, dtype=object)
        for idx in np.ndindex(value.shape):
            text = name + "".join(f"_{i + 1}" for i in idx)
            s = sp.Symbol(text, real=True)
            out[idx] = s
            self.values[s] = self.number(value[idx])
            self.info[s] = (name, idx)
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
        forms = np.asarray(op.sym(*inputs, **sattrs), dtype=object)
        syms = np.empty(forms.shape, dtype=object)
        memo: dict = {}
        for idx in np.ndindex(forms.shape):
            form = forms[idx]
            if not isinstance(form, sp.Basic):   # a plain number (never text)
                if not isinstance(form, (int, float, np.number)):
                    raise TypeError(f"the SymPy form of {op_name} gave {type(form).__name__}")
                form = self.number(form)
            if _tree_size(form, memo, FORM_LIMIT) > FORM_LIMIT:
                raise TooLarge(f"the SymPy form of {name} has more than {FORM_LIMIT} terms "
                               f"written out ({op_name} nests its inputs)")
            forms[idx] = form
            text = name + "".join(f"_{i + 1}" for i in idx)
            s = sp.Symbol(text, real=True)
            syms[idx] = s
            self.info[s] = (name, idx)
            self.order[s] = len(self.order)
            self.values[s] = self._evaluate(form, name, field)
        node = _Node(name, op_name, list(inputs), attrs, syms, forms)
        self.nodes.append(node)
        self._remember(syms, name)
        return syms

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
    def partials(self, node: _Node, k: int) -> list:
        """[(u, ∂form_k/∂u)] for every symbol u of the entry's forward form, by sympy.diff.

        For a sum only the terms containing u are differentiated (the others give 0)."""
        if not node.partials:
            node.partials = [None] * node.forms.size
        if node.partials[k] is None:
            form = node.forms.flat[k]
            free = form.free_symbols
            u = next(iter(free)) if len(free) == 1 else None
            U = _STAND.u
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

    def gradients(self, output: np.ndarray) -> dict:
        """d output / d symbol for every symbol reached: numbers (floats, or exact in --exact)."""
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

    def _value(self, expr):
        v = expr.xreplace(self.values)
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


@dataclass
class SymbolicResult:
    """Forward values and gradients from SymPy (float64 arrays), exact forms in --exact mode."""

    forward: dict[str, np.ndarray]
    gradients: dict[str, np.ndarray]
    output: str
    backend: SymBackend
    out_handle: Any
    named: set
    exact: bool = False
    exact_forward: dict[str, np.ndarray] = field(default_factory=dict)
    exact_gradients: dict[str, np.ndarray] = field(default_factory=dict)
    _formulas: Any = None

    def formulas(self, closed: bool = True) -> "Formulas":
        """Local derivatives per backward step and (with `closed`) closed forms per parameter;
        cached."""
        if self._formulas is None or (closed and self._formulas.gradients is None):
            self._formulas = _Formulas(self).build(closed)
        return self._formulas


def run(problem, exact: bool = False) -> SymbolicResult:
    """Build `problem` over SymPy symbols, evaluate it, differentiate the output."""
    from gradcalc.graph.network import build, forward_names, leaf_values

    network = isinstance(problem, NetworkProblem)
    be = SymBackend(exact=exact, network=network, file=problem.file)
    out = build(problem, be)
    adj = be.gradients(out)
    out_name = be.name_of[id(out)]
    names = forward_names(problem)
    names += [n.name for n in be.nodes if n.name not in names]
    forward, exact_fwd = {}, {}
    for name in names:
        h = be.by_name[name]
        vals = np.empty(h.shape, dtype=object)
        for idx in np.ndindex(h.shape):
            e = h[idx]
            vals[idx] = be.values.get(e, e) if isinstance(e, be.sp.Symbol) else e
        forward[name] = _floats(be, vals)
        if exact:
            exact_fwd[name] = vals
    gradients, exact_grads = {}, {}
    for name in leaf_values(problem):
        h = be.leaves[name]
        vals = np.empty(h.shape, dtype=object)
        for idx in np.ndindex(h.shape):
            vals[idx] = adj.get(h[idx], 0)
        gradients[name] = _floats(be, vals)
        if exact:
            exact_grads[name] = vals
    named = set(forward_names(problem)) if isinstance(problem, ExpressionProblem) else set(names)
    return SymbolicResult(forward, gradients, out_name, be, out, named, exact, exact_fwd,
                          exact_grads)


def _floats(be: SymBackend, vals: np.ndarray) -> np.ndarray:
    """An object array of SymPy values as float64."""
    return np.vectorize(be.float_value, otypes=[float])(vals) if vals.size else \
        np.zeros(vals.shape)


# ---------------------------------------------------------------- formulas for people
@dataclass
class FormulaLine:
    """One formula, as text (unicode) and LaTeX; `node`/`wrt` say what it differentiates."""

    node: str
    wrt: str
    text: str
    latex: str


@dataclass
class Formulas:
    layout: str
    local: list[FormulaLine]        # one per (backward step, input): SymPy's local derivative
    gradients: list[FormulaLine] | None   # per parameter: closed form (None: not computed)
    definitions: list[FormulaLine]  # δ names and common subexpressions used above
    note: str = ""                  # why closed forms were left out, if they were

    def to_json(self) -> dict:
        return {"layout": self.layout,
                "local": [{"node": f.node, "wrt": f.wrt, "latex": f.latex} for f in self.local],
                "gradients": {f.wrt: f.latex for f in self.gradients or []},
                "definitions": [{"name": f.wrt, "latex": f.latex} for f in self.definitions],
                "note": self.note}


def _positive_first(terms):
    """y − t rather than −t + y: terms without a minus sign first (a stable reordering)."""
    return sorted(terms, key=lambda t: t.could_extract_minus_sign())


class _Printer:
    """Unicode and LaTeX printing with the lecture's names for our symbols."""

    def __init__(self, network: bool):
        from sympy.printing.latex import LatexPrinter
        from sympy.printing.str import StrPrinter
        self.network = network
        self.text_names: dict = {}
        self.latex_names: dict = {}
        names = self.text_names

        class L(LatexPrinter):
            def _as_ordered_terms(self, expr, order=None):
                return _positive_first(super()._as_ordered_terms(expr, order))

        self._latex = L({"symbol_names": self.latex_names, "mul_symbol": None,
                         "full_prec": False})

        class P(StrPrinter):
            def _as_ordered_terms(self, expr, order=None):
                return _positive_first(super()._as_ordered_terms(expr, order))

            def _print_Symbol(self, s):
                return names.get(s, s.name)

            def _print_Piecewise(self, e):
                pieces = [(self._print(v), c) for v, c in e.args]
                last_true = bool(pieces[-1][1] == True)  # noqa: E712  (SymPy's true)
                if len(pieces) == 2 and last_true and pieces[1][0] == "0":
                    return (f"1[{self._print(pieces[0][1])}]" if pieces[0][0] == "1"
                            else f"({pieces[0][0]} if {self._print(pieces[0][1])} else 0)")
                parts = [f"{v} if {self._print(c)}" for v, c in pieces[:-1]]
                return "(" + " else ".join(parts) + f" else {pieces[-1][0]})"

        self._str = P({"full_prec": False})

    def add(self, sym, name, idx):
        self.text_names[sym] = pretty_name(name, idx, self.network)
        self.latex_names[sym] = latex_name(name, idx, self.network)

    def text(self, e) -> str:
        s = self._str.doprint(_tidy(e))
        return s.replace("**", "^").replace("*", "·").replace(" - ", " − ").replace("-", "−")

    def latex(self, e) -> str:
        return self._latex.doprint(_tidy(e))


def _transcendental(d) -> bool:
    """Does the derivative contain a function (exp, tanh …) or a root?  Then its form in terms
    of the op's output (σ(1 − σ), 1 − tanh²) is the one people know; 1/x stays −1/x²."""
    sp = _sp()
    return bool(d.atoms(sp.Function)) or any(not p.exp.is_Integer for p in d.atoms(sp.Pow))


def _tidy(e):
    """Integer-valued floats (1.0 from 2 · 0.5) print as integers."""
    sp = _sp()
    if not isinstance(e, sp.Basic):
        return e
    rep = {f: sp.Integer(int(f)) for f in e.atoms(sp.Float) if float(f).is_integer()}
    return e.xreplace(rep) if rep else e


def _nice_sign(e):
    """-o·(o − 1) -> o·(1 − o): move a leading minus sign into the one sum factor."""
    sp = _sp()
    if e.is_Mul:
        coeff, rest = e.as_coeff_mul()
        adds = [a for a in rest if a.is_Add]
        if coeff < 0 and len(adds) == 1:
            rest = [(-a if a is adds[0] else a) for a in rest]
            return sp.Mul(-coeff, *rest) if coeff != -1 else sp.Mul(*rest)
    return e


def _output_form(d, u, form, o):
    """Rewrite the derivative `d` of `form` (a function of u alone) in terms of its output o:
    σ′ -> o(1 − o), tanh′ -> 1 − o², exp′ -> o.  None when no such form is found."""
    sp = _sp()
    c = d.subs(form, o)
    if u not in c.free_symbols and c != d:
        return _shortest(c)
    # a polynomial in o of degree ≤ 3 with rational coefficients, fitted and then verified
    pts = [k / 7 for k in (-5, -2, 3, 6, 9, -8, 4)]

    def at(e, p):
        v = e.xreplace({u: sp.Float(p)})
        return complex(v if v.is_Number else v.evalf())

    rows, rhs = [], []
    try:
        for p in pts[:4]:
            ov, dv = at(form, p), at(d, p)
            if ov.imag or dv.imag:
                return None
            rows.append([ov.real ** k for k in range(4)])
            rhs.append(dv.real)
        coef = np.linalg.solve(np.array(rows), np.array(rhs))
    except (ValueError, TypeError, np.linalg.LinAlgError, ZeroDivisionError):
        return None
    cs = [sp.Rational(round(float(c) * 720), 720) for c in coef]
    if any(abs(float(c) - float(r)) > 1e-7 or abs(float(r)) > 100 for c, r in zip(coef, cs)):
        return None
    cand = sum(c * o ** k for k, c in enumerate(cs))
    if cand == 0:
        return None
    cand = _shortest(cand)
    try:
        for p in pts[4:]:
            ov, dv = at(form, p).real, at(d, p).real
            if abs(float(cand.xreplace({o: sp.Float(ov)})) - dv) > 1e-9 * max(1.0, abs(dv)):
                return None
    except (ValueError, TypeError, ZeroDivisionError):
        return None
    return cand


def _shortest(e):
    """e or its factored form, whichever has fewer operations: o·(1 − o), but 1 − o²."""
    sp = _sp()
    f = _nice_sign(sp.factor(e))
    return f if sp.count_ops(f) <= sp.count_ops(e) else e


class _Formulas:
    def __init__(self, res: SymbolicResult):
        self.res = res
        self.be = res.backend
        self.sp = _sp()
        self.pr = _Printer(self.be.network)
        for s, (name, idx) in self.be.info.items():
            self.pr.add(s, name, idx)
        self.by_key = {key: s for s, key in self.be.info.items()}   # (name, index) -> symbol
        self.definitions: list[FormulaLine] = []
        self.cse_names: dict = {}         # common subexpression -> its name c1, c2 …
        self._outputs: dict = {}          # (form, derivative) over the stand-ins -> output form

    # -- local derivatives, in the output's terms when SymPy finds such a form
    def _local(self, node: _Node, k: int) -> list:
        out = []
        form = node.forms.flat[k]
        s = node.syms.flat[k]
        for u, d in self.be.partials(node, k):
            shown = d
            if len(form.free_symbols) == 1 and _transcendental(d):
                o = self._output_form(d, u, form, s)
                if o is not None:
                    shown = o
            out.append((u, shown, d))
        return out

    def _output_form(self, d, u, form, o):
        """_output_form, found once per elementwise form: the derivative is written over the
        stand-in symbols (u, o) and the result renamed for each entry."""
        U, O = _STAND.u, _STAND.o
        if u.assumptions0 != U.assumptions0 or o.assumptions0 != O.assumptions0:
            return _output_form(d, u, form, o)
        key = (form.xreplace({u: U}), d.xreplace({u: U}))
        if key not in self._outputs:
            self._outputs[key] = _output_form(key[1], U, key[0], O)
        found = self._outputs[key]
        return None if found is None else found.xreplace({U: u, O: o})

    def build(self, closed: bool = True) -> Formulas:
        be = self.be
        local_lines = []
        cache: dict = {}
        for node in reversed(self.be.nodes):
            per_input: dict[str, list] = {}
            for k in range(node.syms.size):
                for u, shown, raw in self._local_cached(node, k, cache):
                    src = be.info[u][0]
                    out_idx = np.unravel_index(k, node.syms.shape) if node.syms.shape else ()
                    per_input.setdefault(src, []).append((tuple(out_idx) + tuple(be.info[u][1]),
                                                          shown, raw))
            for src, entries in per_input.items():
                if src in be.consts:    # targets are not differentiated
                    continue
                local_lines.append(self._local_line(node, src, entries))
        note = ""
        work = sum(len(n.partials[k]) for n in be.nodes for k in range(n.syms.size)
                   if n.partials and n.partials[k] is not None)
        if closed and work > CLOSED_LIMIT:
            # a batch or a wide layer: the closed forms would be long sums nobody reads
            note = (f"Closed forms left out: the graph has {work} partial derivatives "
                    f"(> {CLOSED_LIMIT}); the local derivatives above give every step.")
            grads = []
        else:
            grads = self._gradient_lines() if closed else None
        return Formulas(LAYOUT, local_lines, grads, self.definitions, note)

    def _local_cached(self, node, k, cache):
        key = (id(node), k)
        if key not in cache:
            cache[key] = self._local(node, k)
        return cache[key]

    def _local_line(self, node, src, entries) -> FormulaLine:
        pr = self.pr
        out_shape = node.syms.shape
        src_shape = self.be.by_name[src].shape
        npos = len(out_shape)
        pat = _generalize([(key, shown) for key, shown, _ in entries], self.be.info, self.by_key)
        if pat is not None:
            expr, letters, gen = pat
            lhs_t = f"∂{pretty_name(node.name, letters[:npos], pr.network)}/" \
                    f"∂{pretty_name(src, letters[npos:], pr.network)}"
            lhs_l = (r"\frac{\partial " + latex_name(node.name, letters[:npos], pr.network) +
                     r"}{\partial " + latex_name(src, letters[npos:], pr.network) + "}")
            for g, (gname, gidx) in gen.items():
                pr.add(g, gname, gidx)
            raw_pat = None
            if any(r != s for _, s, r in entries):
                rp = _generalize([(key, r) for key, _, r in entries], self.be.info, self.by_key)
                if rp is not None and rp[1] == letters:
                    raw_pat = rp[0]
                    for g, (gname, gidx) in rp[2].items():
                        pr.add(g, gname, gidx)
            text = f"{lhs_t} = " + (f"{pr.text(raw_pat)} = " if raw_pat is not None else "") + \
                pr.text(expr)
            latex = f"{lhs_l} = " + (f"{pr.latex(raw_pat)} = " if raw_pat is not None else "") + \
                pr.latex(expr)
            full = int(np.prod(out_shape)) * int(np.prod(src_shape))
            if letters[:npos] == letters[npos:] and len(out_shape) == len(src_shape) and full > 1:
                text += " (elementwise)"
                latex += r"\quad\text{(elementwise)}"
            elif len(entries) < full:
                text += " (other entries 0)"
                latex += r"\quad\text{(other entries 0)}"
            return FormulaLine(node.name, src, text, latex)
        texts, latexes = [], []
        for key, shown, _ in entries[:_SHOW]:
            lhs_t = f"∂{pretty_name(node.name, key[:npos], pr.network)}/" \
                    f"∂{pretty_name(src, key[npos:], pr.network)}"
            lhs_l = (r"\frac{\partial " + latex_name(node.name, key[:npos], pr.network) +
                     r"}{\partial " + latex_name(src, key[npos:], pr.network) + "}")
            texts.append(f"{lhs_t} = {pr.text(shown)}")
            latexes.append(f"{lhs_l} = {pr.latex(shown)}")
        more = len(entries) - _SHOW
        if more > 0:
            texts.append(f"… ({more} more)")
            latexes.append(rf"\dots\ \text{{({more} more)}}")
        return FormulaLine(node.name, src, "; ".join(texts), r",\quad ".join(latexes))

    # -- closed forms per parameter, in the named quantities (unnamed gates are inlined)
    def _gradient_lines(self) -> list[FormulaLine]:
        sp, be, pr, res = self.sp, self.be, self.pr, self.res
        inline: dict = {}
        for node in be.nodes:
            if node.name not in res.named:
                for k, s in enumerate(node.syms.flat):
                    inline[s] = node.forms.flat[k].xreplace(inline)
        adj: dict = {s: sp.Integer(1) for s in res.out_handle.flat}
        cache: dict = {}
        for node in reversed(be.nodes):
            for k, s in enumerate(node.syms.flat):
                a = adj.get(s)
                if a is None or a == 0:
                    continue
                if node.name in res.named and _too_big(a):
                    d = sp.Symbol("δ" + s.name, real=True)
                    pr.text_names[d] = "δ" + pr.text_names[s]
                    pr.latex_names[d] = r"\delta " + pr.latex_names[s]
                    name = f"∂{pretty_name(res.output, (), pr.network)}/∂{pr.text_names[s]}"
                    self.definitions.append(FormulaLine(node.name, pr.text_names[d],
                                                        f"{pr.text_names[d]} = {name} = "
                                                        f"{pr.text(a)}",
                                                        f"{pr.latex_names[d]} = {pr.latex(a)}"))
                    a = d
                for u, shown, _ in self._local_cached(node, k, cache):
                    term = a * shown.xreplace(inline) if inline else a * shown
                    adj[u] = adj[u] + term if u in adj else term
        lines = []
        for name, h in be.leaves.items():
            entries = [(idx, adj.get(h[idx], sp.Integer(0))) for idx in np.ndindex(h.shape)]
            lines.append(self._gradient_line(name, h, entries))
        return lines

    def _gradient_line(self, name, h, entries) -> FormulaLine:
        sp, pr = self.sp, self.pr
        out_t = pretty_name(self.res.output, (), pr.network)
        out_l = latex_name(self.res.output, (), pr.network)
        pat = _generalize(entries, self.be.info, self.by_key) if len(entries) > 1 else None
        if pat is not None:
            expr, letters, gen = pat
            for g, (gname, gidx) in gen.items():
                pr.add(g, gname, gidx)
            return FormulaLine(self.res.output, name,
                               f"∂{out_t}/∂{pretty_name(name, letters, pr.network)} = "
                               f"{pr.text(expr)}",
                               rf"\frac{{\partial {out_l}}}{{\partial "
                               rf"{latex_name(name, letters, pr.network)}}} = {pr.latex(expr)}")
        exprs = [e for _, e in entries]
        shown = entries[:_SHOW]
        if len(entries) > 1:
            try:   # local names c1, c2 … that cse picks; renamed to shared names below
                subs, reduced = sp.cse(exprs[:_SHOW], symbols=(
                    sp.Dummy(f"c{i}") for i in itertools.count(1)))
            except Exception:   # cse is a convenience only
                subs, reduced = [], exprs[:_SHOW]
            if subs and sum(_count(e) for e in reduced) + sum(_count(e) for _, e in subs) < \
                    sum(_count(e) for e in exprs[:_SHOW]):
                rename = {}
                for c, e in subs:
                    e = e.xreplace(rename)
                    if e not in self.cse_names:      # one name per subexpression, problem-wide
                        k = len(self.cse_names) + 1
                        sym = sp.Symbol(f"c{k}", real=True)
                        self.cse_names[e] = sym
                        pr.text_names[sym] = sym.name
                        pr.latex_names[sym] = "c_{" + str(k) + "}"
                        self.definitions.append(FormulaLine(name, sym.name,
                                                            f"{sym.name} = {pr.text(e)}",
                                                            f"c_{{{k}}} = {pr.latex(e)}"))
                    rename[c] = self.cse_names[e]
                shown = list(zip([i for i, _ in entries[:_SHOW]],
                                 [r.xreplace(rename) for r in reduced]))
        texts = [f"∂{out_t}/∂{pretty_name(name, idx, pr.network)} = {pr.text(e)}"
                 for idx, e in shown]
        latexes = [rf"\frac{{\partial {out_l}}}{{\partial {latex_name(name, idx, pr.network)}}}"
                   rf" = {pr.latex(e)}" for idx, e in shown]
        if len(entries) > _SHOW:
            texts.append(f"… ({len(entries) - _SHOW} more)")
            latexes.append(rf"\dots\ \text{{({len(entries) - _SHOW} more)}}")
        return FormulaLine(self.res.output, name, "; ".join(texts), r",\quad ".join(latexes))


def exact_text(e, network: bool = True) -> tuple[str, str]:
    """An exact value as (text, LaTeX), lightly simplified."""
    pr = _Printer(network)
    e = _simplest(_basic(e))
    return pr.text(e), pr.latex(e)


def _basic(e):
    """A SymPy object for a value that is one already or a plain number (never text)."""
    sp = _sp()
    if isinstance(e, sp.Basic):
        return e
    if isinstance(e, (int, np.integer)):
        return sp.Integer(int(e))
    return sp.Float(float(e))


def _simplest(e):
    """A cheap tidy-up of an exact value: together/cancel when that makes it shorter."""
    sp = _sp()
    if e.is_Rational or _count(e) > 400:
        return e
    best = e
    for f in (sp.together, sp.cancel):
        try:
            c = f(e)
        except Exception:   # a tidy-up only
            continue
        if _count(c) < _count(best):
            best = c
    return best


def _count(e) -> int:
    from sympy import preorder_traversal
    return sum(1 for _ in preorder_traversal(e)) if hasattr(e, "args") else 1


def _too_big(e) -> bool:
    from sympy import preorder_traversal
    for n, _ in enumerate(preorder_traversal(e)):
        if n > _BIG:
            return True
    return False


# ---------------------------------------------------------------- index patterns
def _generalize(entries: list, info: dict, by_name: dict | None = None):
    """Find one formula with index letters that reproduces every entry.

    `entries` are (key, expr) where key is a tuple of 0-based positions (output index followed
    by input index).  Positions that are equal in every entry share a letter (∂zᵢ/∂Wᵢⱼ).  Each
    indexed symbol of a reference entry is read as letters or literal indices — chosen by a
    small search so that every entry contains the instantiated symbols, distinct ones staying
    distinct — and the candidate is verified by rebuilding every entry exactly.  Returns
    (pattern expression, letters per key position, {pattern symbol: (name, letters)}) or None.
    `by_name` is the inverse of `info`, (name, index) -> symbol (built here when not given)."""
    sp = _sp()
    if not entries:
        return None
    nkey = len(entries[0][0])
    if any(len(k) != nkey for k, _ in entries):
        return None
    # tie classes of key positions
    cls = list(range(nkey))
    for p in range(nkey):
        for q in range(p):
            if cls[q] == q and all(k[p] == k[q] for k, _ in entries):
                cls[p] = q
                break
    classes = sorted(set(cls))
    if len(classes) > len(_LETTERS):
        return None
    letter = {c: _LETTERS[i] for i, c in enumerate(classes)}
    key_letters = tuple(letter[cls[p]] for p in range(nkey))
    # reference entry: distinct class values, largest indices first (fewest collisions)
    refs = [(k, e) for k, e in entries if len({k[c] for c in classes}) == len(classes)]
    if not refs:
        return None
    ref_key, ref = max(refs, key=lambda ke: sorted((ke[0][c] for c in classes), reverse=True))
    val_letters: dict = {}
    for c in classes:
        val_letters.setdefault(ref_key[c], []).append(letter[c])
    others = [(dict(zip(classes, [k[c] for c in classes])), set(e.free_symbols) if
               hasattr(e, "free_symbols") else set(), e) for k, e in entries]
    if by_name is None:
        by_name = {key: s for s, key in info.items()}
    syms = sorted((s for s in getattr(ref, "free_symbols", ()) if s in info),
                  key=lambda s: s.name)
    choices = []
    for s in syms:
        name, idx = info[s]
        comp = [val_letters.get(i, []) + [i] for i in idx]
        choices.append(list(itertools.product(*comp)) if comp else [()])
    letter_cls = {letter[c]: c for c in classes}

    def inst(name, pattern, vals):
        return by_name.get((name, tuple(vals[letter_cls[p]] if isinstance(p, str) else p
                                        for p in pattern)))

    chosen: list = [None] * len(syms)
    budget = [4000]

    def search(n):
        if n == len(syms):
            return True
        name = info[syms[n]][0]
        for pattern in choices[n]:
            budget[0] -= 1
            if budget[0] < 0:
                return False
            ok = True
            for vals, free, _ in others:
                t = inst(name, pattern, vals)
                if t is None or t not in free:
                    ok = False
                    break
                for m in range(n):   # distinct pattern symbols stay distinct
                    if inst(info[syms[m]][0], chosen[m], vals) is t:
                        ok = False
                        break
                if not ok:
                    break
            if ok:
                chosen[n] = pattern
                if search(n + 1):
                    return True
        return False

    if not search(0):
        return None
    gen: dict = {}
    to_pattern = {}
    for s, pattern in zip(syms, chosen):
        name = info[s][0]
        if any(isinstance(p, str) for p in pattern):
            g = sp.Symbol(name + "_" + "_".join(str(p) for p in pattern) + "_pattern", real=True)
            gen[g] = (name, pattern)
            to_pattern[s] = g
    expr = ref.xreplace(to_pattern) if to_pattern else ref
    # verify: rebuilding every entry from the pattern must give that entry exactly
    for vals, _, e in others:
        back = {g: inst(name, pattern, vals) for g, (name, pattern) in gen.items()}
        if any(v is None for v in back.values()):
            return None
        if _basic(expr).xreplace(back) != e:
            return None
    return expr, key_letters, gen
