"""Which of a student's earlier answers are possible at all: follow-through is given only from those.

A wrong answer earns follow-through credit when it is what the student's own earlier answers
imply. That must not reward an earlier answer no input could give: `h1: [1, 1]` is not a
sigmoid's value (σ < 1), and it makes σ′ = 0, so `dW1: 0` would "follow". An earlier answer
is possible when it lies in the range of the operation that makes it (found by evaluating the
operation's own forward on a wide grid, so no op needs a second description), and, when the
student also answered that operation's inputs, when it is what those inputs give.
"""
from __future__ import annotations

import numpy as np

_GRID = np.concatenate([-np.logspace(3, -6, 100), [0.0], np.logspace(-6, 3, 100)])
_GRID = _GRID[np.abs(_GRID) <= 30.0]          # where a bounded activation has not yet saturated
_range_cache: dict = {}


def op_range(op, attrs: dict) -> tuple[float, float, bool, bool] | None:
    """(low, high, low attained, high attained) of a one-input elementwise op's values, ±inf
    where it grows without bound; None when the op is not elementwise on one input (softmax,
    affine …) or fails on the grid. A bound reached only at the far ends of the grid (σ → 1,
    tanh → ±1, where floats saturate) is not attained: a value must stay strictly inside it."""
    if op is None or op.arity != 1:
        return None
    try:
        key = (op.name, repr(sorted(attrs.items())))
    except TypeError:
        return None
    if key in _range_cache:
        return _range_cache[key]
    out = None
    try:
        with np.errstate(all="ignore"):
            y = np.asarray(op.forward(_GRID.copy(), **attrs), dtype=float)
            # elementwise: each value depends on its own input only
            one = np.asarray(op.forward(_GRID[:1].copy(), **attrs), dtype=float)
        if y.shape == _GRID.shape and one.shape == (1,) and one[0] == y[0] \
                and np.isfinite(y).all():
            lo, hi = float(y.min()), float(y.max())
            near = y[np.abs(_GRID) <= 1.0]           # what inputs of everyday size give
            closed_lo, closed_hi = bool(near.min() == lo), bool(near.max() == hi)
            # still rising (or falling) at an end of the grid: unbounded that way
            rising = {+1: abs(y[-1] - y[-2]) / (_GRID[-1] - _GRID[-2]) > 1e-3,
                      -1: abs(y[1] - y[0]) / (_GRID[1] - _GRID[0]) > 1e-3}
            if (rising[+1] and y[-1] == hi) or (rising[-1] and y[0] == hi):
                hi, closed_hi = np.inf, False
            if (rising[+1] and y[-1] == lo) or (rising[-1] and y[0] == lo):
                lo, closed_lo = -np.inf, False
            out = (lo, hi, closed_lo, closed_hi)
    except Exception:       # an op that cannot take the grid: no range check for it
        out = None
    _range_cache[key] = out
    return out


def in_range(a: np.ndarray, rng: tuple) -> bool:
    lo, hi, closed_lo, closed_hi = rng
    above = np.all(a >= lo) if closed_lo else np.all(a > lo)
    below = np.all(a <= hi) if closed_hi else np.all(a < hi)
    return bool(above and below)


def impossible_answers(tape, slots: dict, conformed: dict, wrong, vals: list, deps: dict,
                       close, catalogued) -> set[str]:
    """Names of the student's wrong activation answers (outputs of one-input elementwise ops,
    h = f(z)) that no input gives (outside f's range) or that are not f of the student's own
    answered input. `conformed`: every usable answer, right or wrong; `wrong`: the names of
    the wrong ones; `vals`: the tape run with the answers substituted (each node's value
    before its own substitution); `close(name, a, b)`: entry by entry within name's
    tolerance; `catalogued(name, a)`: a is a catalogued mistake (h1 = z1, σ forgotten), which
    keeps its follow-through. Other steps (y = W·h + b) may hold a slip a student carries on."""
    bad = set()
    answered = {(s.kind, s.node) for n, s in slots.items() if n in conformed}
    for name, a in conformed.items():
        if name not in wrong:
            continue
        s = slots[name]
        if s.kind != "f" or tape.ops[s.node] is None:
            continue
        rng = op_range(tape.ops[s.node], tape.attrs[s.node])
        if rng is None:
            continue
        own = (s.kind, s.node)
        if not in_range(a, rng):
            impossible = True
        elif any(k != own and k in deps[name] for k in answered):
            expected = vals[s.node]
            impossible = expected is not None and np.shape(expected) == np.shape(a) \
                and not close(name, a, np.asarray(expected, dtype=float)).all()
        else:
            impossible = False
        if impossible and not catalogued(name, a):
            bad.add(name)
    return bad
