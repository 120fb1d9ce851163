"""The operation registry itself: the Op record, the registry and problem-file name tables, lookups."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from gradcalc.completing import CompletingDict


# Convention at kinks (declared in the README): the derivative takes the value of the branch
# that is *not* strictly active, as PyTorch and JAX do: relu'(0) = 0, abs'(0) = 0,
# leaky_relu'(0) = alpha, a hinge term with margin exactly 0 contributes 0, and a max/min tie
# splits the gradient evenly, ½ to each argument (torch.maximum and jnp.maximum do this); a max
# pool routes the gradient to the first maximum of a window.
KINK_CONVENTION = ("relu'(0) = 0, leaky_relu'(0) = alpha, abs'(0) = 0, a hinge term at margin 0 "
                   "contributes 0, a max/min tie gives ½ to each argument"
                   "; a max pool sends the gradient to the first maximum of its window (row-major)")


@dataclass(frozen=True, eq=False)   # compared by identity (start-up: no generated __eq__)
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
    # every output entry is an input entry or 0, and the VJP only moves upstream entries onto
    # input entries or writes 0 (relu, max pool, flatten): finite in, finite out, both ways, so
    # autograd need not check what such an op makes from values or gradients it checks anyway;
    # a function of the attrs when it depends on them (overlapping max-pool windows add up)
    routes: bool | Callable[..., bool] = False

    def local_values(self, out, *xs, **attrs) -> tuple:
        """The local derivative of the output with respect to each input, for the tables."""
        if self.local is not None:
            return self.local(out, *xs, **attrs)
        return self.vjp(np.ones_like(out), out, *xs, **attrs)


class Table(CompletingDict):
    """A table of the registry that is complete whenever it is walked or asked for a name it
    lacks: the op families not imported yet are imported then (gradcalc/ops/__init__.py), so
    that a problem imports only the families it uses (start-up time)."""

    def complete(self) -> None:
        _complete()


REGISTRY: dict[str, Op] = Table()
ACTIVATIONS: dict[str, str] = Table()   # activation name in problem files -> op name
LOSSES: dict[str, str] = Table()        # loss type in problem files -> op name
FAMILY: dict[str, str] = {}             # op name -> the module that registered it
COMPLETE: list = []     # gradcalc.ops puts here the function that imports the other families


def _complete() -> None:
    while COMPLETE:
        COMPLETE.pop()()


def register(op: Op) -> Op:
    REGISTRY[op.name] = op
    FAMILY[op.name] = sys._getframe(1).f_globals.get("__name__", "")
    return op


def order_by_family(modules: list[str]) -> None:
    """Put the registry in the order of the families that registered its ops (and, within a
    family, in the order of registration), whatever order the families were imported in."""
    rank = {m: i for i, m in enumerate(modules)}
    ordered = sorted(dict.items(REGISTRY), key=lambda kv: rank.get(FAMILY.get(kv[0]), len(rank)))
    dict.clear(REGISTRY)
    dict.update(REGISTRY, ordered)


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
