"""The forward computation of an expression problem's steps as matrix-form terms, so that the
closed forms never show an internal temporary (t4): a node the user did not name is written as
its definition (‖w‖, X·w − y), a step the user named (r, p, h) stays a name defined after
"where".  The terms evaluate the registry's own forward on the operands they show.
"""
from __future__ import annotations

import numpy as np

from gradcalc import ops
from gradcalc.ops import matrix as mx
from gradcalc.ops.matrixshapes import subterms

# a function's look in formulas: op -> (text, LaTeX), {0} the argument
FUNCTIONS = {
    "sigmoid": ("σ({0})", r"\sigma\left({0}\right)"), "exp": ("exp({0})", r"\exp\left({0}\right)"),
    "log": ("log({0})", r"\log\left({0}\right)"), "tanh": ("tanh({0})", r"\tanh\left({0}\right)"),
    "sin": ("sin({0})", r"\sin\left({0}\right)"), "cos": ("cos({0})", r"\cos\left({0}\right)"),
    "sqrt": ("√({0})", r"\sqrt{{0}}"), "abs": ("|{0}|", r"\left|{0}\right|"),
    "norm": ("‖{0}‖", r"\left\|{0}\right\|"), "sum": ("Σ({0})", r"\sum\left({0}\right)"),
    "mean": ("mean({0})", r"\operatorname{mean}\left({0}\right)"),
    "trace": ("tr({0})", r"\operatorname{tr}\left({0}\right)"),
    "softmax": ("softmax({0})", r"\operatorname{softmax}\left({0}\right)"),
    "logsumexp": ("logsumexp({0})", r"\operatorname{logsumexp}\left({0}\right)"),
    "relu": ("relu({0})", r"\operatorname{relu}\left({0}\right)"),
}
BINARY = {"add": "add", "sub": "sub", "mul": "had", "div": "div"}


class Inliner:
    """Terms for the nodes of one expression problem's graph: `term(node)`."""

    def __init__(self, graph, steps: set, output: str):
        self.graph, self.steps, self.output = graph, steps, output
        self.done: dict[int, mx.Term] = {}
        self.order = {id(n): i for i, n in enumerate(graph.nodes)}

    def term(self, node) -> mx.Term:
        t = self.done.get(id(node))
        if t is None:
            t = self.done[id(node)] = self._make(node)
        return t

    def shorten(self, term: mx.Term) -> mx.Term:
        """A scalar expression's form with its long repeats named (name_repeats); an
        expression over arrays is left as it is (its forms have their own rewrites)."""
        if any(np.ndim(n.value) for n in self.graph.nodes):
            return term
        return name_repeats(term, {n.name for n in self.graph.nodes})

    def _make(self, node) -> mx.Term:
        if node.op is None:
            value = np.asarray(node.value, dtype=float)
            if node.role == "const" and value.ndim == 0:
                return mx.Num(float(value))
            return mx.Leaf(node.name, node.value)
        body = self.forward(node)
        if node.name in self.steps and node.name != self.output:
            ref = mx.Ref(node.name, "", body)        # a named step: its name, defined after where
            ref.step_order = self.order[id(node)]
            return ref
        return body

    def forward(self, node) -> mx.Term:
        """The node's forward as a term over its inputs' terms."""
        args = [self.term(n) for n in node.inputs]
        shapes = [np.shape(n.value) for n in node.inputs]
        op, attrs = node.op, dict(node.attrs)
        nd = [len(s) for s in shapes]
        if op == "linear":
            return args[0]
        if op == "neg":
            return mx.Un("neg", args[0])
        if op == "transpose":
            return mx.Un("T", args[0]) if nd[0] == 2 else args[0]
        if op in BINARY and (shapes[0] == shapes[1] or 0 in nd):
            return mx.Bin(BINARY[op], args[0], args[1])
        if op in ("add", "sub") and nd == [2, 1] and shapes[0][1] == shapes[1][0]:
            # a vector added to every row: A + 𝟙·bᵀ (the broadcast written as a product)
            return mx.Bin(op, args[0], mx.Bin("dot", mx.ones(shapes[0][0]), mx.Un("T", args[1])))
        if op == "matmul" and nd[0] == 2:              # A·B, A·v: the column convention holds
            return mx.Bin("dot", args[0], args[1])
        if op == "matmul" and nd == [1, 2]:            # vᵀ·B as NumPy's 1-D result: Bᵀ·v
            return mx.Bin("dot", mx.Un("T", args[1]), args[0])
        if op == "outer":                              # a·bᵀ
            return mx.Bin("dot", args[0], mx.Un("T", args[1]))
        if op == "pow" and nd[1] == 0 and shapes[0] == tuple(np.shape(node.value)):
            return mx.fn("{0}^{1}", "{0}^{{1}}", np.power, args[0], args[1])
        if op in FUNCTIONS and len(args) == 1 and not attrs:
            text, latex = FUNCTIONS[op]
        else:
            text, latex = call_form(op, len(args), attrs)
        fn = ops.get(op).forward
        return mx.fn(text, latex, lambda *raw: fn(*raw, **attrs), *args, shapes=tuple(shapes))


def call_form(op: str, n: int, attrs: dict) -> tuple[str, str]:
    """An op as the file writes it: max({0}, {1}), mean({0}, axis=0) (text, LaTeX)."""
    name = ops.get(op).syntax or op.removesuffix("_axis")
    if op.endswith("_axis"):
        name = op.removesuffix("_axis")
    slots = ", ".join("{%d}" % i for i in range(n))
    extra = "".join(f", {k}={v}" for k, v in attrs.items())
    return (f"{name}({slots}{extra})",
            rf"\operatorname{{{name}}}\left({slots}{extra}\right)")


# ---------------------------------------------------------------- where-names for repeats
NAMES = ("u", "v", "s", "a", "b", "c", "d", "g", "k", "m")
MIN_LEN = 10          # a shorter repeated subterm reads better inlined
MAX_NAMES = 4         # where-names per form (each is one pass over the form's distinct nodes)
WHERE = len("; where  = ")


def _children(t: mx.Term) -> tuple:
    if isinstance(t, mx.Bin):
        return t.a, t.b
    if isinstance(t, mx.Un):
        return (t.a,)
    return tuple(t.args) if isinstance(t, mx.Apply) else ()


def occurrences(term: mx.Term) -> dict[str, int]:
    """How many times each subterm's text is printed in the form `term`: its body and, once
    each, the definitions of the named steps it uses.  Counted over the distinct nodes (a
    shared subterm is visited once: a chain's form is a DAG with a quadratic tree)."""
    counts: dict[str, int] = {}
    roots, refs_seen = [term], set()
    while roots:
        root = roots.pop()
        order, state, stack = [], {}, [root]
        while stack:                       # post-order of the distinct nodes, no recursion
            t = stack[-1]
            if id(t) in state:
                stack.pop()
                if state[id(t)] == 0:
                    state[id(t)] = 1
                    order.append(t)
                continue
            state[id(t)] = 0
            if isinstance(t, mx.Ref) and id(t) not in refs_seen:
                refs_seen.add(id(t))
                roots.append(t.term)       # a definition is printed once, after "where"
            stack.extend(c for c in _children(t) if id(c) not in state)
        mult = {id(root): 1}
        for t in reversed(order):          # parents before children
            m = mult.get(id(t), 0)
            if isinstance(t, (mx.Bin, mx.Un, mx.Apply)):
                counts[t.text()] = counts.get(t.text(), 0) + m
            for c in _children(t):
                mult[id(c)] = mult.get(id(c), 0) + m
    return counts


def _replace(t: mx.Term, key: str, ref: mx.Ref, memo: dict) -> mx.Term:
    done = memo.get(id(t))
    if done is not None:
        return done
    if isinstance(t, (mx.Bin, mx.Un, mx.Apply)) and t.text() == key:
        out = ref
    elif isinstance(t, mx.Ref):
        inner = _replace(t.term, key, ref, memo)
        out = t
        if inner is not t.term:
            out = mx.Ref(t.name, t.latex_name, inner)
            out.__dict__.update({k: v for k, v in t.__dict__.items()
                                 if k not in ("name", "latex_name", "term", "_value", "_text")})
    else:
        kids = _children(t)
        new = tuple(_replace(c, key, ref, memo) for c in kids)
        out = t
        if any(a is not b for a, b in zip(new, kids)):
            if isinstance(t, mx.Bin):
                out = mx.Bin(t.op, *new)
            elif isinstance(t, mx.Un):
                out = mx.Un(t.op, *new)
            else:
                out = mx.Apply(t.text_fmt, t.latex_fmt, t.fn, new, t.shapes)
    memo[id(t)] = out
    return out


def name_repeats(term: mx.Term, taken: set) -> mx.Term:
    """`term` with up to MAX_NAMES long subterms printed more than once replaced by a short
    name defined after "where" (u = w0·x0 + w1·x1 + w2): the one saving the most characters
    first.  The names avoid `taken` (the problem's names) and never read like an internal
    temporary; a name evaluates its definition, so the form is verified as before."""
    free = [n for n in NAMES if n not in taken]
    for name in free[:MAX_NAMES]:
        best, saving = None, 0
        for key, n in occurrences(term).items():
            gain = (n - 1) * len(key) - n * len(name) - WHERE - len(name)
            if n > 1 and len(key) >= MIN_LEN and gain > 0 and \
                    (gain, len(key)) > (saving, len(best or "")):
                best, saving = key, gain
        if best is None:
            break
        ref = mx.Ref(name, "", _find(term, best))
        ref.where_name = True
        term = _replace(term, best, ref, {})
    _order(term)
    return term


def _order(term: mx.Term) -> None:
    """Where-names after the named steps, each after the names its definition uses."""
    refs = [r for r in subterms(term, True) if getattr(r, "where_name", False)]
    level: dict[int, int] = {}

    def depth(r: mx.Ref) -> int:
        if id(r) not in level:
            level[id(r)] = 1 + max((depth(x) for x in subterms(r.term, False) if x in refs),
                                   default=0)
        return level[id(r)]
    for r in refs:
        r.step_order = 10 ** 6 + depth(r)


def _find(term: mx.Term, key: str) -> mx.Term:
    return next(t for t in subterms(term, True)
                if isinstance(t, (mx.Bin, mx.Un, mx.Apply)) and t.text() == key)
