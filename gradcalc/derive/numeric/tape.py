"""A forward-only tape: the problem recorded once; a perturbed leaf re-runs what follows it."""
from __future__ import annotations

import functools
import operator
from typing import Any, Callable

import numpy as np

from gradcalc import ops


class Tape:
    """A plain NumPy backend for network.build that records the operations once, so that a
    perturbed leaf is re-evaluated by running only the operations downstream of it."""

    def __init__(self):
        self.values: list[np.ndarray] = []
        self.names: list[str] = []
        self.leaf_index: dict[str, int] = {}
        self.ops: list[tuple[int, Any, list[int], dict]] = []   # (out index, op, inputs, attrs)
        self._down: dict[int, list[int]] = {}

    def leaf(self, name, value, role):
        i = len(self.values)
        self.values.append(np.array(value, dtype=float))    # a writable copy: perturbed in place
        self.names.append(name)
        if role != "const":
            self.leaf_index[name] = i
        return i

    def apply(self, op_name, inputs, name, attrs, formula, field):
        op = ops.get(op_name)
        with np.errstate(all="ignore"):
            v = np.asarray(op.forward(*[self.values[j] for j in inputs], **attrs), dtype=float)
        i = len(self.values)
        self.values.append(v)
        self.names.append(name)
        self.ops.append((i, op, list(inputs), attrs))
        return i

    def downstream(self, leaf: int) -> list:
        """The recorded operations that depend on `leaf`, in order."""
        if leaf not in self._down:
            dirty = {leaf}
            out = []
            for rec in self.ops:
                if any(j in dirty for j in rec[2]):
                    dirty.add(rec[0])
                    out.append(rec)
            self._down[leaf] = out
        return self._down[leaf]

    def _plan(self, leaf: int) -> list:
        """downstream(leaf) as (index, bound forward, input getter, one input?) for the inner
        loop: the attributes are bound once, the inputs fetched by one itemgetter call."""
        key = ("plan", leaf)
        if key not in self._down:
            plan = []
            for i, op, inputs, attrs in self.downstream(leaf):
                fwd = op.forward if not attrs else functools.partial(op.forward, **attrs)
                plan.append((i, fwd, operator.itemgetter(*inputs), len(inputs) == 1))
            self._down[key] = plan
        return self._down[key]

    def evaluate(self, leaf: int, value: np.ndarray, out: int) -> tuple[float, list]:
        """The output with `leaf` replaced by `value`, and every node's value (a list indexed
        like the tape).  Call it under np.errstate(all="ignore")."""
        vals = self.values.copy()          # references only; the changed nodes get new arrays
        vals[leaf] = value
        for i, fwd, get, one in self._plan(leaf):
            vals[i] = fwd(get(vals)) if one else fwd(*get(vals))
        return as_scalar(vals[out]), vals

    def evaluator(self, leaf: int, out: int) -> Callable[[np.ndarray], float]:
        """`evaluate` without the node values: value -> the output (the inner loop of the
        differences; call it under np.errstate(all="ignore"))."""
        plan = self._plan(leaf)
        base = self.values

        def f(value):
            vals = base.copy()
            vals[leaf] = value
            for i, fwd, get, one in plan:
                vals[i] = fwd(get(vals)) if one else fwd(*get(vals))
            return as_scalar(vals[out])
        return f


def as_scalar(v) -> float:
    """The output as a float (an output with several entries is summed, as f0 is)."""
    if type(v) is np.ndarray and v.ndim == 0:
        return float(v)
    v = np.asarray(v, dtype=float)
    return float(v) if v.size == 1 and v.ndim == 0 else float(v.sum())
