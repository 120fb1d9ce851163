"""The forward computation of an expression problem's steps as matrix-form terms, so that the
closed forms never show an internal temporary (t4): a node the user did not name is written as
its definition (‖w‖, X·w − y), a step the user named (r, p, h) stays a name defined after
"where".  The terms evaluate the registry's own forward on the operands they show.
"""
from __future__ import annotations

import numpy as np

from gradcalc import ops
from gradcalc.ops import matrix as mx

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
