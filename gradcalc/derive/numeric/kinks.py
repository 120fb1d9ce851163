"""Kinks: entries whose central difference crosses (or sits on) a kink or leaves the domain.

On every node whose op has a `branch` (relu, leaky_relu, abs, max, min, hinge) the kink side
of each kinked input is compared at θ − hθ, θ and θ + hθ.  An entry is "unreliable here" when the
side changes between θ − hθ and θ + hθ, or when a kinked input lies within hθ of its kink at θ and
moves with the entry.  Such entries are reported, not counted as failures.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from gradcalc.derive.numeric.tape import Tape


@dataclass
class Kink:
    """An entry whose central difference crosses (or sits on) a kink."""

    param: str
    index: tuple
    node: str
    op: str
    reason: str


def record_off_domain(name: str, idx: tuple, kinks: list, bad: list) -> None:
    """θ ± h left the op's domain (sqrt just above 0, log near 0): reported, not a verdict."""
    bad.append((name, idx))
    kinks.append(Kink(name, idx, "", "domain", "θ ± h leaves the domain: the "
                      "forward pass is not finite there"))


def kink_reason(tape: Tape, rec, info, hk: float) -> str | None:
    i, op, inputs, attrs = rec
    cp, cm = info
    xs0 = [tape.values[j] for j in inputs]
    xsp = [cp[j] for j in inputs]
    xsm = [cm[j] for j in inputs]
    with np.errstate(all="ignore"):
        sp_ = np.asarray(op.branch(*xsp, **attrs, tol=0.0))
        sm_ = np.asarray(op.branch(*xsm, **attrs, tol=0.0))
        if np.any(sp_ != sm_):
            return f"the {op.name} input crosses its kink between θ − h and θ + h"
        near = np.asarray(op.branch(*xs0, **attrs, tol=hk)) == 0
    if not np.any(near):
        return None
    moved = _moved(xs0, xsp, xsm, near.shape)
    if np.any(near & moved):
        return f"the {op.name} input is within h = {hk:.3g} of its kink and moves with this entry"
    return None


def _moved(xs0, xsp, xsm, shape) -> np.ndarray:
    """Which kinked positions move with the entry: elementwise when the inputs broadcast to
    the branch's shape (relu, abs, max, min), else all of them (hinge margins mix entries)."""
    masks = [(np.asarray(p) != np.asarray(x0)) | (np.asarray(m) != np.asarray(x0))
             for x0, p, m in zip(xs0, xsp, xsm)]
    try:
        if np.broadcast_shapes(*[np.shape(x) for x in xs0]) == tuple(shape):
            out = np.zeros(shape, dtype=bool)
            for m in masks:
                out |= np.broadcast_to(m, shape)
            return out
    except ValueError:
        pass
    return np.full(shape, any(bool(np.any(m)) for m in masks))
