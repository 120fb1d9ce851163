"""An expression problem's gradients from SymPy's matrix calculus, as matrix-form terms.

The problem's graph (built by our own parser, never from text handed to SymPy) is rebuilt from
SymPy objects: a vector or matrix value is a `MatrixSymbol` (a vector is a column), a number
value a `Symbol`, and the ops SymPy's matrix calculus knows map one to one — `@` (matmul), `.T`,
`+`, `−`, a scalar ×, trace, dot (aᵀb), outer (abᵀ), sum(r^2) and norm(r)**2 (rᵀr, or tr(RᵀR)
for a matrix).  `expr.diff(X)` then gives e.g. `2*lam*w + 2*X.T*(X*w - y)` and `A*W + A.T*W`; the
result is turned back into a term (gradcalc.ops.matrix) over the problem's own values, so it
prints in our notation and is evaluated and compared with autograd like every other form.  Any
other op (an elementwise function, a Hadamard product, softmax …), or a derivative SymPy can
only give as an array expression (∂/∂X of ‖Xw − y‖²), is "not available" (None), and the
composed form is used instead.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from gradcalc.ops import matrix as mx
from gradcalc.ops.matrixalgebra import power
from gradcalc.ops.matrixshapes import is_scalar
from gradcalc.ops.matrixsimplify import simplify

SUPPORTED = {"matmul", "transpose", "add", "sub", "mul", "div", "neg", "trace", "dot", "outer",
             "sum", "mean", "pow", "norm", "linear"}


class OneByOne(mx.Apply):
    """A 1×1 product (vᵀ·t) where the gradient is a number: shown as it is, valued as a number."""

    def __init__(self, term: mx.Term):
        super().__init__("{0}", "{0}", lambda a: a[0, 0], (term,), ((1, 1),))

    @property
    def prec(self):      # type: ignore[override]
        return self.args[0].prec

    @property
    def kind(self):      # type: ignore[override]
        return self.args[0].kind

    def show(self, style=mx.TEXT):
        return self.args[0].show(style)


class Unsupported(Exception):
    """The expression (or a derivative of it) is outside what the matrix calculus covers."""


def available(graph, output) -> bool:
    """Whether every op reaching the output is one the matrix calculus may take (no SymPy
    import for the others)."""
    ops = {n.op for n in graph.nodes if n.op is not None}
    return ops <= SUPPORTED and any(np.ndim(n.value) > 0 for n in graph.nodes if n.op is None)


class MatrixCalculus:
    """∂output/∂leaf by SymPy for one expression problem: `term(name)` or None."""

    def __init__(self, graph, output, leaves: dict):
        import sympy
        self.sp, self.graph, self.leaves = sympy, graph, leaves     # leaves: name -> mx.Leaf
        self.symbols: dict[str, object] = {}
        self.made: dict[int, object] = {}
        self.expr = self.build(output)
        if not self.is_scalar(self.expr):
            raise Unsupported("the output is not a scalar")

    # ------------------------------------------------------------ our graph -> SymPy
    def is_scalar(self, e) -> bool:
        return not getattr(e, "is_Matrix", False) or e.shape == (1, 1)

    def symbol(self, node):
        sp, v = self.sp, np.asarray(node.value)
        if node.name not in self.symbols:
            if v.ndim == 0:
                self.symbols[node.name] = sp.Symbol(node.name, real=True)
            else:
                rows, cols = (v.shape[0], 1) if v.ndim == 1 else v.shape
                self.symbols[node.name] = sp.MatrixSymbol(node.name, rows, cols)
        return self.symbols[node.name]

    def number(self, value: float):
        f = Fraction(value).limit_denominator(10 ** 6)
        if float(f) == value:
            return self.sp.Rational(f.numerator, f.denominator)
        return self.sp.Float(value)

    def build(self, node):
        done = self.made.get(id(node))
        if done is None:
            done = self.made[id(node)] = self._build(node)
        return done

    def _build(self, node):
        sp = self.sp
        if node.op is None:
            if node.role == "const":
                if np.ndim(node.value) != 0:
                    raise Unsupported("an array constant")
                return self.number(float(node.value))
            return self.symbol(node)
        ins = node.inputs
        nd = [np.ndim(n.value) for n in ins]
        if node.op in ("sum", "mean") and not node.attrs and self._square(ins[0]) is not None:
            gram = self._gram(self.build(self._square(ins[0])), nd[0])     # Σ r² = rᵀr
            size = int(np.size(ins[0].value))
            return gram if node.op == "sum" else self.sp.Rational(1, size) * gram
        if node.op == "pow" and self._square(node) is not None and ins[0].op == "norm":
            inner = ins[0].inputs[0]
            return self._gram(self.build(inner), np.ndim(inner.value))     # ‖w‖² = wᵀw
        if node.attrs or node.op in ("sum", "mean", "norm"):
            raise Unsupported(node.op)
        a = [self.build(n) for n in ins]
        op = node.op
        if op == "linear":
            return a[0]
        if op == "neg":
            return -a[0]
        if op == "transpose":
            return a[0].T if nd[0] == 2 else a[0]
        if op in ("add", "sub"):
            matrix = [getattr(x, "is_Matrix", False) for x in a]
            if matrix[0] != matrix[1] or (matrix[0] and a[0].shape != a[1].shape):
                raise Unsupported("a broadcast sum")        # (no number + 1×1 matrix either)
            return a[0] + a[1] if op == "add" else a[0] - a[1]
        if op == "mul":
            if nd[0] and nd[1]:
                raise Unsupported("an elementwise product")
            return self._scale(a[0], a[1])
        if op == "div":
            if nd[1] or getattr(a[1], "is_Matrix", False):
                raise Unsupported("a division by an array")
            return self._scale(a[0], 1 / a[1])
        if op == "pow":
            if nd[0] or nd[1] or getattr(a[0], "is_Matrix", False):
                raise Unsupported("a power of an array")
            return a[0] ** a[1]
        if op == "matmul":
            if nd == [1, 2]:
                return a[1].T * a[0]               # NumPy's v @ B is the column Bᵀv
            if nd == [1, 1]:
                return a[0].T * a[1]
            return a[0] * a[1]
        if op == "dot":
            return a[0].T * a[1]
        if op == "outer":
            return a[0] * a[1].T
        if op == "trace":
            return sp.Trace(a[0])
        raise Unsupported(op)

    def _scale(self, a, b):
        if getattr(a, "is_Matrix", False) and getattr(b, "is_Matrix", False):
            raise Unsupported("a product of two arrays")
        return a * b

    def _square(self, node):
        """The r of r^2 (an elementwise square), else None."""
        if node.op != "pow" or node.inputs[1].role != "const":
            return None
        return node.inputs[0] if float(node.inputs[1].value) == 2.0 else None

    def _gram(self, r, nd):
        if not getattr(r, "is_Matrix", False):
            return r ** 2
        return r.T * r if nd < 2 else self.sp.Trace(r.T * r)

    # ------------------------------------------------------------ SymPy -> our terms
    def term(self, name: str) -> mx.Term | None:
        """∂output/∂name as a term (simplified for display), or None when SymPy cannot say."""
        sym = self.symbols.get(name)
        if sym is None:
            return None
        try:
            d = self.expr.diff(sym)
            t = self.to_term(d)
        except (Unsupported, TypeError, ValueError, AttributeError, NotImplementedError):
            return None
        t = simplify(t)
        if np.ndim(self.leaves[name].value) == 0 and not is_scalar(t):
            t = OneByOne(t)
        return t

    def to_term(self, e) -> mx.Term:
        sp = self.sp
        if isinstance(e, (sp.MatrixSymbol, sp.Symbol)):
            return self.leaves[e.name]
        if e.is_Number:
            return mx.Num(float(e))
        if isinstance(e, sp.Transpose):
            return mx.Un("T", self.to_term(e.arg))
        if isinstance(e, (sp.MatAdd, sp.Add)):
            out = None
            for arg in e.args:
                if getattr(arg, "is_ZeroMatrix", False) or arg == 0:
                    continue
                t = self.to_term(arg)
                out = t if out is None else mx.Bin("add", out, t)
            if out is None:
                raise Unsupported("a zero sum")
            return out
        if isinstance(e, (sp.MatMul, sp.Mul)):
            out = None
            for arg in e.args:
                t = self.to_term(arg)
                out = t if out is None else mx.Bin("dot", out, t)
            return out
        if isinstance(e, sp.Trace):
            return mx.fn("tr({0})", r"\operatorname{tr}\left({0}\right)",
                         lambda a: np.asarray(np.trace(a)), self.to_term(e.arg), shapes=(None,))
        if isinstance(e, sp.Pow) and e.exp.is_Number:
            return power(self.to_term(e.base), float(e.exp))
        if isinstance(e, sp.Identity):
            n = int(e.shape[0])
            return mx.fn("I", "I", lambda a: np.eye(n), mx.Num(0.0))
        raise Unsupported(type(e).__name__)
