"""Matrix-form VJP templates: a small term language that prints as text or LaTeX and evaluates.

Each op's `matrix(site)` returns one term per input: the vectorized backward rule (Wᵀ·δ, δ·xᵀ,
δ ⊙ h ⊙ (1 − h) …) with placeholders V("g") (the upstream gradient δ), V("out") (the op's
output) and V(i) (input i).  `bind` replaces the placeholders by named operands (Leaf) or by
other terms, which is how the closed forms are composed along the graph.

Evaluation follows the notation, not the VJP code: a vector is a column (n×1), a batch is rows,
`·` is a true matrix product (an n×k times a k×m, nothing else: NumPy's 2-D `@`, no
broadcasting), `⊙` and `±` need equal shapes (or a scalar / 1×1 on one side).  A product whose
shapes do not multiply raises ShapeMismatch; a rule with the wrong value evaluates to a number
that differs from autograd.  Either way the write-up is not printed as verified.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from gradcalc.ops.arrays import unbroadcast


class ShapeMismatch(ValueError):
    """A displayed product or sum whose operand shapes do not conform."""


def display(value) -> np.ndarray:
    """The array as the write-ups show it: a 1-D vector is a column."""
    a = np.asarray(value, dtype=float)
    return a.reshape(-1, 1) if a.ndim == 1 else a


def _shape(a) -> str:
    return "scalar" if a.ndim == 0 else "×".join(map(str, a.shape))


@dataclass(frozen=True, eq=False)   # no generated __eq__/__hash__: start-up time
class Style:
    """How a term prints: TEXT (Unicode) or LATEX; a renderer may override `leaf`."""

    dot: str
    had: str
    div: str
    add: str
    sub: str
    neg: str
    T: str
    lpar: str
    rpar: str
    latex: bool
    leaf_fn: Callable | None = None     # a renderer's own operand display (a name, the values)

    def leaf(self, leaf: "Leaf") -> str:
        if self.leaf_fn is not None:
            shown = self.leaf_fn(leaf)
            if shown is not None:
                return shown
        return (leaf.latex_name or leaf.name) if self.latex else leaf.name


TEXT = Style("·", " ⊙ ", " ⊘ ", " + ", " − ", "−", "ᵀ", "(", ")", False)
LATEX = Style(r" \cdot ", r" \odot ", r" \oslash ", " + ", " - ", "-", r"^{\top}", r"\left(",
              r"\right)", True)


class Term:
    prec = 3           # 1: ± ; 2: products ; 3: atoms
    kind = ""

    def bind(self, env: dict) -> "Term":
        return self

    def show(self, style: Style = TEXT) -> str:
        raise NotImplementedError

    def text(self) -> str:
        return self.shown(TEXT)

    def shown(self, style: Style) -> str:
        """show(style), kept for the plain TEXT style: a composed term is printed (and measured)
        many times, and its parts are never changed after it is made."""
        if style is not TEXT:
            return self.show(style)
        cached = self.__dict__.get("_text")
        if cached is None:
            cached = self._text = self.show(style)
        return cached

    def latex(self) -> str:
        return self.show(LATEX)

    def compute(self) -> np.ndarray:
        """The value in display form (columns), computed once."""
        cached = self.__dict__.get("_value")
        if cached is None:
            cached = self._compute()
            self._value = cached
        return cached

    def _compute(self) -> np.ndarray:
        raise NotImplementedError

    def _wrap(self, child: "Term", style: Style, right: bool = False) -> str:
        s = child.shown(style)
        same = child.kind == self.kind and self.kind not in ("div", "sub")
        if child.prec < self.prec or (child.prec == self.prec and not same and self.prec < 3) \
                or (right and child.prec == self.prec and not same):
            return style.lpar + s + style.rpar
        return s


class V(Term):
    """A placeholder: "g" (upstream), "out", or an input index."""

    def __init__(self, key: Any):
        self.key = key

    def bind(self, env):
        return env.get(self.key, self)

    def show(self, style=TEXT):
        return {"g": "δ", "out": "out"}.get(self.key, f"x{self.key}")

    def _compute(self):
        raise ValueError(f"unbound operand {self.key!r}")


class Leaf(Term):
    """A named operand with its value (a forward value, an upstream gradient, a target)."""

    def __init__(self, name: str, value: Any, latex_name: str = ""):
        self.name, self.value, self.latex_name = name, value, latex_name

    def show(self, style=TEXT):
        return style.leaf(self)

    def _compute(self):
        return display(self.value)


class Num(Term):
    def __init__(self, c: float):
        self.c = c

    def show(self, style=TEXT):
        text = f"{self.c:.4g}"
        return text.replace("-", "−" if not style.latex else "-")

    def _compute(self):
        return np.asarray(float(self.c))


class Ref(Term):
    """A composed term shown by its name (∂L/∂z1), evaluated from its definition."""

    def __init__(self, name: str, latex_name: str, term: Term):
        self.name, self.latex_name, self.term = name, latex_name, term

    def show(self, style=TEXT):
        shown = style.leaf_fn(self) if style.leaf_fn is not None else None
        if shown is not None:
            return shown
        return (self.latex_name or self.name) if style.latex else self.name

    def _compute(self):
        return self.term.compute()


def _scalar(a) -> bool:
    return a.ndim == 0 or a.shape == (1, 1)


class Bin(Term):
    def __init__(self, op: str, a: Term, b: Term):
        self.op, self.a, self.b = op, a, b      # op: "dot", "had", "div", "add", "sub"

    @property
    def prec(self):      # type: ignore[override]
        return 1 if self.op in ("add", "sub") else 2

    @property
    def kind(self):      # type: ignore[override]
        return self.op

    def bind(self, env):
        a, b = self.a.bind(env), self.b.bind(env)
        return {"dot": dot, "had": had}.get(self.op, lambda a, b: Bin(self.op, a, b))(a, b)

    def show(self, style=TEXT):
        op = "/" if self.op == "div" and isinstance(self.b, Num) else getattr(style, self.op)
        return self._wrap(self.a, style) + op + self._wrap(self.b, style, True)

    def _compute(self):
        A, B = self.a.compute(), self.b.compute()
        if self.op == "dot":
            if A.ndim == 0 or B.ndim == 0:              # a number times an array
                return A * B
            if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
                raise ShapeMismatch(f"{self.text()}: {_shape(A)} · {_shape(B)} is not a product")
            return A @ B
        if A.shape != B.shape and not (A.ndim == 0 or B.ndim == 0 or
                                       (self.op in ("add", "sub") and (_scalar(A) or _scalar(B)))):
            raise ShapeMismatch(f"{self.text()}: {_shape(A)} and {_shape(B)} differ")
        with np.errstate(all="ignore"):
            return {"had": np.multiply, "div": np.divide, "add": np.add,
                    "sub": np.subtract}[self.op](A, B)


class Un(Term):
    def __init__(self, op: str, a: Term):
        self.op, self.a = op, a                 # op: "T" (transpose), "neg"

    @property
    def prec(self):      # type: ignore[override]
        return 3 if self.op == "T" else 2

    @property
    def kind(self):      # type: ignore[override]
        return "T" if self.op == "T" else "neg"

    def bind(self, env):
        return (T if self.op == "T" else neg)(self.a.bind(env))

    def show(self, style=TEXT):
        if self.op == "T":
            inner = self.a.shown(style)
            if self.a.prec < 3:
                inner = style.lpar + inner + style.rpar
            elif style.latex and ("^" in inner or "_" in inner):
                inner = "{" + inner + "}"
            return inner + style.T
        return style.neg + self._wrap(self.a, style)

    def _compute(self):
        A = self.a.compute()
        if self.op == "neg":
            return -A
        if A.ndim > 2:
            raise ShapeMismatch(f"{self.text()}: a {_shape(A)} array has no transpose")
        return A.T


_SLOT = re.compile(r"(?<!\\mathrm)\{(\d)\}")      # not the 1 of \mathrm{1} (an indicator)


class Apply(Term):
    """A named function of terms: `fn(*raw args) -> raw result`.  `shapes` gives each argument's
    raw shape (None: elementwise on the display form, shape kept)."""

    def __init__(self, text_fmt: str, latex_fmt: str, fn: Callable, args: tuple,
                 shapes: tuple | None = None):
        self.text_fmt, self.latex_fmt, self.fn = text_fmt, latex_fmt, fn
        self.args, self.shapes = args, shapes

    def bind(self, env):
        return Apply(self.text_fmt, self.latex_fmt, self.fn, tuple(a.bind(env) for a in self.args),
                     self.shapes)

    def show(self, style=TEXT):
        fmt = self.latex_fmt if style.latex else self.text_fmt
        parts = []
        for i, a in enumerate(self.args):
            s = a.shown(style)
            inside = f"({{{i}}})" in fmt or rf"\left({{{i}}}\right)" in fmt
            s = s if a.prec == 3 or inside else style.lpar + s + style.rpar
            if style.latex and ("^" in s or "_" in s):
                s = "{" + s + "}"        # h^{(1)} squared is {h^{(1)}}^{2}, not h^{(1)}^{2}
            parts.append(s)
        # {0}, {1} … are the arguments; any other brace is the format's own (LaTeX groups)
        return _SLOT.sub(lambda m: parts[int(m.group(1))] if int(m.group(1)) < len(parts)
                         else m.group(0), fmt)

    def _compute(self):
        vals = [a.compute() for a in self.args]
        with np.errstate(all="ignore"):
            if self.shapes is None:
                out = np.asarray(self.fn(*vals), dtype=float)
                if vals and out.shape != vals[0].shape and vals[0].ndim:
                    raise ShapeMismatch(f"{self.text()}: elementwise result changed shape")
                return out
            raw = []
            for v, shape in zip(vals, self.shapes):
                if shape is not None and v.size != int(np.prod(shape)):
                    raise ShapeMismatch(f"{self.text()}: {_shape(v)} is not {shape}")
                raw.append(v if shape is None else v.reshape(shape))
            return display(self.fn(*raw))


# ---------------------------------------------------------------- constructors (simplifying)
def _one(t: Term) -> bool:
    return isinstance(t, Num) and t.c == 1.0


def dot(a: Term, b: Term) -> Term:
    if _one(a):
        return b
    if _one(b):
        return a
    return Bin("dot", a, b)


def had(a: Term, b: Term) -> Term:
    if _one(b):
        return a
    if _one(a):
        return b
    return Bin("had", a, b)


def div(a, b):
    return Bin("div", a, b)


def add(a, b):
    return Bin("add", a, b)


def sub(a, b):
    return Bin("sub", a, b)


def T(a):
    return Un("T", a)


def neg(a):
    """−a, with −(−a) = a and −((−a) ⊙ b) = a ⊙ b."""
    if isinstance(a, Un) and a.op == "neg":
        return a.a
    if isinstance(a, Bin) and a.op in ("had", "dot", "div") and isinstance(a.a, Un) \
            and a.a.op == "neg":
        return Bin(a.op, a.a.a, a.b)
    return Un("neg", a)


def scale(c: float, a: Term) -> Term:
    return dot(Num(c), a)


def fn(text: str, latex: str, f: Callable, *args, shapes=None) -> Apply:
    return Apply(text, latex, f, tuple(args), shapes)


def sum_rows(a: Term) -> Term:
    """Σᵢ δᵢ: the rows of a batch summed (the adjoint of broadcasting a bias), as a column."""
    return fn("Σᵢ {0}ᵢ", r"\sum_i {0}_i", lambda A: A.sum(axis=0), a, shapes=(None,))


def ones(n: int) -> Leaf:
    return Leaf("𝟙", np.ones(n), r"\mathbf{1}")


def sum_to(a: Term, out_shape: tuple, shape: tuple) -> Term:
    """The adjoint of broadcasting an input of `shape` to `out_shape`: sum over the copies."""
    if tuple(shape) == tuple(out_shape):
        return a
    return fn("Σ {0}", r"\sum {0}", lambda A: unbroadcast(A, tuple(shape)), a,
              shapes=(tuple(out_shape),))


@dataclass(eq=False)   # arrays inside: compared by identity (start-up time)
class Site:
    """What a template may depend on: the node's attrs, its inputs' values and its output."""

    attrs: dict
    inputs: tuple
    out: Any

    @property
    def shapes(self) -> tuple:
        return tuple(np.shape(x) for x in self.inputs)

    @property
    def out_shape(self) -> tuple:
        return np.shape(self.out)


def vjp_terms(op, site: Site) -> tuple:
    """The op's matrix-form rule per input (placeholders unbound); KeyError-like if missing."""
    if op.matrix is None:
        raise LookupError(f"operation '{op.name}' has no matrix-form VJP template")
    return tuple(op.matrix(site))


def evaluate(op, g, out, xs, attrs, names=None) -> list:
    """Every input's rule bound to plain operands, evaluated: [(term, raw-shaped value)]."""
    site = Site(dict(attrs), tuple(xs), out)
    names = names or [f"x{i}" for i in range(len(xs))]
    env = {"g": Leaf("δ", np.asarray(g, dtype=float)), "out": Leaf("out", out)}
    env.update({i: Leaf(n, np.asarray(x, dtype=float)) for i, (n, x) in enumerate(zip(names, xs))})
    result = []
    for i, t in enumerate(vjp_terms(op, site)):
        b = t.bind(env)
        result.append((b, as_input(b.compute(), np.shape(xs[i]), b)))
    return result


def as_input(value: np.ndarray, shape: tuple, term: Term | None = None) -> np.ndarray:
    """A rule's display-form value back in the input's shape; its display shape must be the
    input's display shape exactly (a row where a column belongs is a mismatch)."""
    want = display(np.zeros(shape)).shape
    if value.shape != want:
        what = term.text() if term is not None else "the rule"
        raise ShapeMismatch(f"{what} gives {_shape(value)}, the input is {_shape(np.zeros(want))}")
    return value.reshape(shape)
