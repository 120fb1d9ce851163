"""The operation registry itself: the Op record, the registry and problem-file name tables, lookups."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


# Convention at kinks (declared in the README): the derivative takes the value of the branch
# that is *not* strictly active, as PyTorch and JAX do: relu'(0) = 0, abs'(0) = 0,
# leaky_relu'(0) = alpha, a hinge term with margin exactly 0 contributes 0, and a max/min tie
# splits the gradient evenly, ½ to each argument (torch.maximum and jnp.maximum do this); a max
# pool routes the gradient to the first maximum of a window.
KINK_CONVENTION = ("relu'(0) = 0, leaky_relu'(0) = alpha, abs'(0) = 0, a hinge term at margin 0 "
                   "contributes 0, a max/min tie gives ½ to each argument"
                   "; a max pool sends the gradient to the first maximum of its window (row-major)")


@dataclass(frozen=True)
class Op:
    """One primitive.  `forward(*xs, **attrs)`, `vjp(g, out, *xs, **attrs) -> grads per input`,
    `sym(*xs, **attrs)` builds the SymPy form from object arrays of SymPy expressions."""

    name: str
    arity: int                      # -1: any number of inputs
    forward: Callable[..., np.ndarray]
    vjp: Callable[..., tuple]
    sym: Callable[..., Any]
    label: str                      # short name for tables ("σ", "W·x + b")
    formula: str                    # forward template, {0} {1} … are input names
    local_text: tuple            # display of the local derivative per input ({out} = output);
                                 # an entry may be a function of the input values giving the text
    syntax: str | None = None       # function name in expressions (exp, max …)
    check: Callable[..., str | None] | None = None   # domain check -> message or None
    branch: Callable[..., np.ndarray] | None = None  # kink side of every kinked input: -1/0/+1
    local: Callable[..., tuple] | None = None        # local derivative per input (default: vjp of 1)
    sample: Callable[[np.random.Generator], tuple] | None = None  # random valid inputs (tests)
    attrs_sample: dict = field(default_factory=dict)
    # the vectorized backward rule per input: matrix(site) -> terms (gradcalc.ops.matrix)
    matrix: Callable[..., tuple] | None = None
    # optional, together: forward_saving(*xs, **attrs) -> (value, saved), the value exactly as
    # forward's, saved what the VJP would otherwise recompute (an im2col matrix);
    # vjp_saved(g, out, saved, *xs, **attrs) -> exactly vjp's gradients.  Autograd uses the pair
    # when given; every other caller (symbolic, numeric, tables) keeps forward and vjp.
    forward_saving: Callable[..., tuple] | None = None
    vjp_saved: Callable[..., tuple] | None = None

    def local_values(self, out, *xs, **attrs) -> tuple:
        """The local derivative of the output with respect to each input, for the tables."""
        if self.local is not None:
            return self.local(out, *xs, **attrs)
        return self.vjp(np.ones_like(out), out, *xs, **attrs)


REGISTRY: dict[str, Op] = {}
ACTIVATIONS: dict[str, str] = {}   # activation name in problem files -> op name
LOSSES: dict[str, str] = {}        # loss type in problem files -> op name


def register(op: Op) -> Op:
    REGISTRY[op.name] = op
    return op


def get(name: str) -> Op:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no operation named {name!r} in the registry") from None


def fill_attrs(text: str, attrs: dict) -> str:
    """Write an op's scalar attributes into a display template: "scale·Σ(y − t)²" -> "0.5·Σ…"."""
    import re
    for key, value in attrs.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = re.sub(rf"\b{key}\b", f"{float(value):g}", text)
    return text


def expression_functions() -> dict[str, int]:
    """Function names usable in expressions and their arity."""
    return {op.syntax: op.arity for op in REGISTRY.values() if op.syntax}
