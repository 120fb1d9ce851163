"""The backward pass in matrix notation, checked: every step's products and every gradient's
closed form, composed from the registry's matrix-form rules and evaluated with NumPy.

Per backward step and input, the op's rule (Wᵀ·δ, δ·xᵀ, δ ⊙ h ⊙ (1 − h) …) is bound to the
operands the write-ups display and evaluated under the notation's own rules (vectors are columns,
`·` a true matrix product); it must equal the autograd gradient, shape included.  Per
differentiated parameter, the rules are composed from the output back, so
∂L/∂W1 = ((W2ᵀ·(y − t)) ⊙ h1 ⊙ (1 − h1))·xᵀ is one term: printed, evaluated from the forward
values alone, and compared with autograd.  A δ longer than INLINE characters and the δ of every
rnn state (the BPTT recursion) is shown by name with its definition after "where"; it is still
evaluated from the leaves.
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from gradcalc import ops
from gradcalc.ops import matrix as mx
from gradcalc.ops.matrixalgebra import Budget
from gradcalc.ops.matrixshapes import entrywise, subterms
from gradcalc.ops.matrixsimplify import cost, simplify

INLINE = 72          # a composed δ longer than this is shown by name (∂L/∂z1) and defined after
TOLERANCE = 1e-9     # relative error (max-norm) under which a formula counts as verified
# ... or an absolute error under which it does: a gradient that is 0 in exact arithmetic (the bias
# right before a batchnorm) comes out of two summation orders as different ±1e-17 roundings
ATOL = 1e-14


def agrees(a, b) -> tuple[bool, float]:
    """(verified, max rel. error): within TOLERANCE relative, or ATOL absolute."""
    rel = rel_error(a, b)
    if rel <= TOLERANCE:
        return True, rel
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both = np.isnan(a) & np.isnan(b)
    worst = float(np.max(np.where(both, 0.0, np.abs(a - b)), initial=0.0))
    return bool(worst <= ATOL), rel


def rel_error(a, b) -> float:
    """max |a − b| / max |b| (0 when both are 0; nan entries equal only to nan)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both = np.isnan(a) & np.isnan(b)
    diff = np.where(both, 0.0, np.abs(a - b))
    scale = float(np.max(np.abs(np.where(np.isnan(b), 0.0, b)), initial=0.0))
    worst = float(np.max(diff, initial=0.0))
    if np.isnan(worst):
        return float("inf")
    return worst / scale if scale > 0 else worst


@dataclass
class Product:
    """One displayed backward product: ∂L/∂input = rule(upstream, operands) of one step."""

    node: str
    input: str
    term: mx.Term
    value: np.ndarray | None          # the rule evaluated (the input's shape); None: no product
    error: str = ""                   # why it is not a product (a shape mismatch), else ""
    ok: bool = False                  # equal to the autograd downstream gradient
    network: bool = True              # names as in a network (W1 -> W^{(1)}) for LaTeX

    def text(self) -> str:
        return self.term.text()

    def latex(self, valued=None) -> str:
        """The product in LaTeX; with `valued(array) -> LaTeX`, every operand by its values."""
        if valued is None:
            return to_latex(self.term, self.network)
        return self.term.show(replace(mx.LATEX, leaf_fn=lambda lf: valued(lf.value)))


@dataclass
class MatrixForm:
    """A parameter's gradient composed in matrix notation and evaluated."""

    name: str
    text: str                         # ∂L/∂W1 = … [; where ∂L/∂z1 = …]
    verified: bool
    max_rel_error: float
    error: str = ""
    parts: tuple = ()                 # (lhs, term, named δs, network), for the LaTeX
    source: str = "composed"          # "simplified" (matrixsimplify) or "composed" (as built)

    @functools.cached_property
    def latex(self) -> str:
        """The equation in LaTeX, made when asked, with 4× the recursion room: a deep form's text
        was made within the limit; the recursive LaTeX printer takes more frames a level."""
        lhs, body, where, network = self.parts
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(4 * old)
        try:
            tex = f"{to_latex(lhs, network)} = {to_latex(body, network)}"
            return tex + (r",\quad\text{where } " + r",\ ".join(
                f"{to_latex(r, network)} = {to_latex(r.term, network)}" for r in where) if where else "")
        finally:
            sys.setrecursionlimit(old)

    def to_json(self) -> dict:
        return {"text": self.text, "latex": self.latex, "verified": self.verified,
                "max_rel_error": self.max_rel_error, "source": self.source}


@dataclass
class MatrixReport:
    """The products of every backward step (node -> products in input order) and the closed
    forms of the differentiated parameters, made when first asked for (`check` never shows
    them; SymPy's matrix calculus costs tens of milliseconds per variable)."""

    products: dict[str, list[Product]] = field(default_factory=dict)
    make_forms: Callable[[], dict] | None = None
    _forms: dict | None = field(default=None, repr=False)

    @property
    def forms(self) -> dict[str, MatrixForm]:
        if self._forms is None:
            try:
                self._forms = self.make_forms() if self.make_forms is not None else {}
            except RecursionError:     # a chain nested too deep to compose: no closed forms
                self._forms = {}
            self.make_forms = None
        return self._forms

    def mismatches(self) -> list[Product]:
        return [p for ps in self.products.values() for p in ps if not p.ok]

    def to_json(self) -> dict:
        return {name: f.to_json() for name, f in self.forms.items()}


class _Names:
    def __init__(self, output: str, network: bool):
        self.output, self.network, self.leaves = output, network, {}
        self.made: dict[int, int] = {}       # id(Ref) -> order made (the backward sweep's order)
        self.shared: dict = {}               # the simplifier's work, shared by the forms

    def leaf(self, node) -> mx.Leaf:
        if id(node) not in self.leaves:
            self.leaves[id(node)] = mx.Leaf(node.name, node.value)
        return self.leaves[id(node)]

    def grad(self, name: str) -> tuple[str, str]:
        return f"∂{self.output}/∂{name}", ""

    def named(self, node) -> bool:
        """A node the write-up may name (∂L/∂z1): not an expression's internal temporary."""
        return True

    def shorten(self, term: mx.Term) -> mx.Term:      # see _FormNames.shorten
        return term


class _FormNames(_Names):
    """The closed forms' operands: an expression problem's nodes by their definitions (no
    internal temporary), its named steps by name with a "where"; a network's nodes by name."""

    def __init__(self, output: str, network: bool, inliner=None):
        super().__init__(output, network)
        self.inliner = inliner
        self.calculus = None          # a MatrixCalculus (SymPy) when the expression allows one
        # SymPy's entrywise algebra, bounded: for expression problems over arrays (see no_sympy)
        self.budget = Budget() if inliner is not None and any(
            n.op is None and np.ndim(n.value) > 0 for n in inliner.graph.nodes) else False
        self.simplified = "simplified"      # the source of a simplified form (see no_sympy)

    def no_sympy(self) -> None:
        """No SymPy (matrix calculus, entrywise algebra): the chosen methods do not need it.
        An array expression problem, whose forms would have used it, says so in its source."""
        if self.budget:
            self.simplified = "simplified-nosympy"
        self.budget, self.calculus = False, None

    def sympy_term(self, name: str) -> mx.Term | None:
        calculus = self.calculus() if self.calculus is not None else None
        return calculus.term(name) if calculus is not None else None

    def leaf(self, node) -> mx.Term:
        if self.inliner is None:
            return super().leaf(node)
        return self.inliner.term(node)

    def named(self, node) -> bool:
        return self.inliner is None or node.name in self.inliner.steps

    def shorten(self, term: mx.Term) -> mx.Term:      # a scalar expression's where-names
        return term if self.inliner is None else self.inliner.shorten(term)


def tex_name(name: str, network: bool = True) -> str:
    r"""W1 -> W^{(1)}, h1[2] -> h^{(1)}_{[2]}, ∂L/∂z1 -> \frac{\partial L}{\partial z^{(1)}}."""
    from gradcalc.derive.symbolic.names import latex_name    # only when LaTeX is asked for
    if name.startswith("∂") and "/∂" in name:
        top, bottom = name[1:].split("/∂", 1)
        return r"\frac{\partial %s}{\partial %s}" % (tex_name(top, network), tex_name(bottom, network))
    if "[" in name and name.endswith("]"):
        stem, index = name[:-1].split("[", 1)
        return latex_name(stem, (), network) + "_{[" + index + "]}"
    return latex_name(name, (), network)


def to_latex(term, network: bool = True) -> str:
    """A term (or a name) in LaTeX, operands named like the lecture."""
    if isinstance(term, str):
        return tex_name(term, network)
    return term.show(replace(mx.LATEX, leaf_fn=lambda lf: None if lf.latex_name else
                             tex_name(lf.name, network)))


def _terms(node) -> tuple:
    op = ops.get(node.op)
    return mx.vjp_terms(op, mx.Site(dict(node.attrs), tuple(n.value for n in node.inputs),
                                    node.value))


def _env(node, names: _Names, g: mx.Term) -> dict:
    env = {"g": g, "out": names.leaf(node)}
    env.update({i: _number(n) or names.leaf(n) for i, n in enumerate(node.inputs)})
    return env


def _number(node) -> mx.Num | None:
    """A number written in an expression (the 1 of 1 + exp(−x)) is a number in the formulas
    too, so that δ ⊙ 1 reads δ."""
    if node.role != "const" or node.value.ndim != 0:
        return None
    try:
        return mx.Num(float(node.name)) if float(node.name) == float(node.value) else None
    except ValueError:
        return None


def step_products(graph, steps, names: _Names) -> dict[str, list[Product]]:
    """Every recorded backward step's products, evaluated and compared with its downstream."""
    out: dict[str, list[Product]] = {}
    for s in steps:
        node = graph.by_name.get(s.node)
        if node is None or node.op != s.op:
            continue
        text, tex = names.grad(s.node)
        env = _env(node, names, mx.Leaf(text, s.upstream, tex))
        group: dict[str, list[Product]] = {}
        products = []
        for i, (inp, t) in enumerate(zip(node.inputs, _terms(node))):
            if inp.role == "const":
                continue
            term = t.bind(env)
            p = Product(s.node, inp.name, term, None, network=names.network)
            try:
                p.value = mx.as_input(term.compute(), inp.value.shape, term)
            except mx.ShapeMismatch as e:
                p.error = str(e)
            products.append(p)
            group.setdefault(inp.name, []).append(p)
        for name, ps in group.items():        # an input used twice: its products add up
            if all(p.value is not None for p in ps):
                total = sum(p.value for p in ps)
                ok = agrees(total, s.downstream[name])[0]
                for p in ps:
                    p.ok = ok
                    if not ok:
                        p.error = p.error or "does not equal the autograd gradient"
        out[s.node] = products
    return out


def closed_forms(graph, output, leaves, gradients, names: _Names) -> dict[str, MatrixForm]:
    """Compose the rules along the graph from `output` back to every leaf and check them."""
    index = {id(n): i for i, n in enumerate(graph.nodes)}
    contrib: dict[int, list[mx.Term]] = {}
    seed = mx.Num(1.0) if output.value.size == 1 else mx.Leaf("𝟙", np.ones(output.value.shape),
                                                              r"\mathbf{1}")
    contrib[id(output)] = [seed]
    delta: dict[int, mx.Term] = {}
    # the states an rnn step hands to the next one: their δ is the BPTT recursion, shown by name
    recurrent = {id(n.inputs[4]) for n in graph.nodes if n.op == "rnn_step"}
    for node in reversed(graph.nodes[: index[id(output)] + 1]):
        parts = contrib.get(id(node))
        if not parts:
            continue
        d = parts[0]
        for p in parts[1:]:
            d = mx.add(d, p)
        if node.op is not None and (len(d.text()) > INLINE or id(node) in recurrent) and \
                names.named(node):
            text, tex = names.grad(node.name)
            d = mx.Ref(text, tex, d)
            names.made[id(d)] = len(names.made)
        delta[id(node)] = d
        if node.op is None:
            continue
        env = _env(node, names, d)
        for inp, t in zip(node.inputs, _terms(node)):
            if inp.role != "const":
                contrib.setdefault(id(inp), []).append(t.bind(env))
    forms = {}
    for name in leaves:
        node = graph.by_name.get(name)
        want = np.asarray(gradients[name], dtype=float)
        d = delta.get(id(node)) if node is not None else None
        forms[name] = _form(name, d, want, names)
    return forms


def _refs(term: mx.Term) -> dict:
    """The named δs a term uses (id -> Ref), in the order they are met, a shared subterm walked
    once."""
    return {id(t): t for t in subterms(term) if isinstance(t, mx.Ref)}


def _shown(term: mx.Term) -> tuple:
    """A form's text with the definitions of the named δs it uses."""
    return (term.text(), *(r.term.text() for r in _refs(term).values()))


def _form(name: str, d: mx.Term | None, want: np.ndarray, names: _Names) -> MatrixForm:
    lhs, _ = names.grad(name)
    if d is None:      # not reached: the gradient is 0
        ok = not np.any(want)
        return MatrixForm(name, f"{lhs} = 0", ok, 0.0 if ok else float("inf"),
                          parts=(lhs, mx.Num(0.0), [], names.network))
    simple = simplify(d, getattr(names, "budget", False), names.shared)   # algebra: expressions
    if _shown(simple) == _shown(d):        # nothing simplified (body and where): the composed
        simple = None
    # SymPy's matrix calculus (tens of ms a variable) is asked only when our own form is not
    # already matrix algebra that verifies: one with ⊙, ⊘ or an entrywise function left
    own = simple if simple is not None else d
    sympy_term = names.sympy_term(name) if isinstance(names, _FormNames) and names.calculus and (
        entrywise(own) or not _checked(name, own, want, names, lhs, "").verified) else None
    return pick([("sympy-matrix", sympy_term),
                 (getattr(names, "simplified", "simplified"), simple), ("composed", d)],
                lhs, name, want, names)


def pick(candidates, lhs: str, name: str, want: np.ndarray, names: _Names) -> MatrixForm:
    """Of the candidate forms that evaluate to the autograd gradient, the one that reads
    shortest (the first on a tie); when none does, the last one, shown with why it fails.
    Every candidate is evaluated and compared; a term equal to one before it is skipped.
    The one shown, shortened by where-names (names.shorten), is evaluated and compared again."""
    best, form, seen = None, None, []
    for source, term in candidates:
        if term is None or any(term is t for t in seen):
            continue
        seen.append(term)
        form = _checked(name, term, want, names, lhs, source)
        if form.verified and (best is None or cost(form.text) < cost(best.text)):
            best = form
    best = best or form
    short = names.shorten(best.parts[1])
    named = short is not best.parts[1] and _checked(name, short, want, names, lhs, best.source)
    return named if named and (named.verified or not best.verified) else best


def _order(names: _Names):
    """Where-definitions: named steps first (forward order), then named δs (as made)."""
    def key(r):
        if hasattr(r, "step_order"):
            return (0, r.step_order)
        return (1, names.made.get(id(getattr(r, "origin", r)), 0))
    return key


def _checked(name: str, body: mx.Term, want: np.ndarray, names: _Names, lhs: str,
             source: str) -> MatrixForm:
    where = sorted(_refs(body).values(), key=_order(names))
    text = f"{lhs} = {body.text()}"
    if where:
        text += "; where " + "; ".join(f"{r.name} = {r.term.text()}" for r in where)
    parts = (lhs, body, where, names.network)
    try:
        value = mx.as_input(body.compute(), want.shape, body)
    except mx.ShapeMismatch as e:
        return MatrixForm(name, text, False, float("inf"), str(e), parts, source)
    ok, err = agrees(value, want)
    return MatrixForm(name, text, ok, err, parts=parts, source=source)


def sympy_in_use(sol) -> bool:
    """Whether the methods chosen for `sol` ran SymPy (its derivation is attached): only then
    may the forms use SymPy too (`solve --method autograd` or numeric never imports it)."""
    comparison = getattr(sol, "comparison", None)
    return comparison is not None and comparison.report is not None and \
        comparison.report.symbolic is not None


def build(sol, graph, output, sympy: bool | None = None) -> MatrixReport:
    """The MatrixReport of a solved problem (its autograd graph and output node); its forms,
    made when first asked for, use SymPy if `sympy`, by default if sympy_in_use(sol) then."""
    network = getattr(sol.problem, "kind", "") == "network"
    inliner = None
    if getattr(sol.problem, "kind", "") == "expression":
        from gradcalc.solution.matrixinline import Inliner
        inliner = Inliner(graph, {s for s, _ in sol.problem.steps}, sol.output)
    names = _FormNames(sol.output, network, inliner)
    if inliner is not None:
        names.calculus = functools.cache(lambda: _calculus(graph, output, sol.leaves, inliner))

    def make_forms():
        if not (sympy if sympy is not None else sympy_in_use(sol)):
            names.no_sympy()
        return closed_forms(graph, output, sol.leaves, sol.gradients, names)
    return MatrixReport(step_products(graph, sol.steps, _Names(sol.output, network)), make_forms)


def _calculus(graph, output, leaves, inliner):
    """SymPy's matrix calculus over the expression, or None when its ops are outside it."""
    from gradcalc.solution import matrixsympy
    if not matrixsympy.available(graph, output):
        return None
    terms = {name: inliner.term(graph.by_name[name]) for name in leaves if name in graph.by_name}
    try:
        return matrixsympy.MatrixCalculus(graph, output, terms)
    except Exception:       # noqa: BLE001 — any SymPy refusal means: use the composed forms
        return None
