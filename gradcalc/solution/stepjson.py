"""A backward step as JSON, with a large gradient that is zero outside a few slices written as those slices.

An rnn step reads one row x_t of the input x (T × D), so its downstream gradient for x is a
T × D array that is zero except row t.  Written in full, the T steps' gradients for x are T²·D
numbers: an rnn over 1,000 steps gave 42 MB of JSON, one over 5,000 steps 8 GB of memory.  Such
a value is written as its non-zero slices, and the step gains `downstream_slices` saying so:

    "downstream": {"x": [[0.12, -0.3]]},
    "downstream_slices": {"x": {"shape": [1000, 2], "axis": 0, "index": [41]}}

means ∂L/∂x from this step is a 1000 × 2 array whose row 41 (0-based) is [0.12, -0.3] and whose
other rows are zero.  Values of at most SLICE_MIN (100) entries, and values that are not mostly
zero, are written in full as before (so small problems read exactly as they always did)."""
from __future__ import annotations

import numpy as np

SLICE_MIN = 100         # arrays of more entries than this are written as slices when that saves ¾


def _slices(value) -> tuple[int, list[int]] | None:
    """(axis, indices) of the non-zero slices of `value`, when they hold at most a quarter of it."""
    if not isinstance(value, np.ndarray) or value.size <= SLICE_MIN or value.ndim == 0:
        return None
    nonzero = value != 0
    best = None
    for axis in range(value.ndim):
        others = tuple(k for k in range(value.ndim) if k != axis)
        used = np.flatnonzero(nonzero.any(axis=others) if others else nonzero)
        kept = len(used) * (value.size // value.shape[axis])
        if kept * 4 <= value.size and (best is None or kept < best[0]):
            best = (kept, axis, used.tolist())
    return None if best is None else (best[1], best[2])


def _kept_slices(kept) -> tuple[int, list[int], np.ndarray] | None:
    """As `_slices`, read from a gradient autograd keeps as slices (derive.autograd.Downstream)
    without rebuilding it: (axis, indices, their slices), or None when rebuilding is needed."""
    shape, axis, index, block = kept
    size = int(np.prod(shape))
    nonzero = block != 0
    best = None
    for a in range(block.ndim):
        others = tuple(k for k in range(block.ndim) if k != a)
        at = np.flatnonzero(nonzero.any(axis=others) if others else nonzero)
        kept_n = len(at) * (size // shape[a])
        if kept_n * 4 <= size and (best is None or kept_n < best[0]):
            best = (kept_n, a, at)
    if best is None or best[1] != axis or size <= SLICE_MIN:
        return None
    return axis, index[best[2]].tolist(), np.take(block, best[2], axis=axis)


def step_downstream(downstream: dict, to_json_value) -> tuple[dict, dict]:
    """The JSON of a step's downstream gradients and its `downstream_slices` (empty if none)."""
    out, parts = {}, {}
    for name in downstream:
        kept = downstream.kept(name) if hasattr(downstream, "kept") else None
        found = _kept_slices(kept) if kept is not None else None
        if found is not None:
            axis, index, value = found
            out[name] = to_json_value(value)
            parts[name] = {"shape": list(kept[0]), "axis": axis, "index": index}
            continue
        value = downstream[name]
        found = _slices(value)
        if found is None:
            out[name] = to_json_value(value)
            continue
        axis, index = found
        out[name] = to_json_value(np.take(value, index, axis=axis))
        parts[name] = {"shape": list(value.shape), "axis": axis, "index": index}
    return out, parts
