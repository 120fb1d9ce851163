"""Many perturbations of one leaf through one stacked forward of the row-wise operations.

Evaluation (forward only): the problem is recorded once on a tape; a perturbed entry re-runs
only the operations downstream of its leaf.  When those form a chain, many perturbations share
one call of each row-wise operation (elementwise functions, softmax, W·x + b with x stacked):
the first operation runs once per perturbation (or once for a stack of perturbed copies of the
leaf, when it gives each copy's value bit for bit: elementwise, or a matrix product with a matrix
leaf), the stacked rows go through the row-wise ones together, and the rest (a loss, which averages a batch) runs once per row again.  The stacked
values of the first perturbations are compared with one evaluation each; if they differ by more
than rounding, that leaf is evaluated one perturbation at a time.
"""
from __future__ import annotations

import functools

import numpy as np

from gradcalc.derive.numeric.tape import Tape, as_scalar

# Operations whose forward, given a stack of values of one input (a new leading axis, one row
# per perturbation), returns the stack of what it returns for each row alone: elementwise
# functions, softmax of a vector (its batch form normalizes each row), and affine W·x + b with
# x stacked (its batch form x·Wᵀ + b is W·x + b row by row).
_ROWWISE = frozenset({"linear", "neg", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid"})
_ELEMENTWISE2 = frozenset({"add", "sub", "mul", "div", "pow"})
# Reductions of every entry (no axis): the stack's form sums or averages each row over all
# of its axes (the registry forward with axis = every axis but the stack's).
_REDUCE_ALL = frozenset({"sum", "mean"})
# Losses whose forward with reduction="none" returns one loss per row of a batch, and their
# per-example attributes (repeated for every row of the stack).  Of one example, the mean and
# the sum over the batch are that row's loss.
_PER_ROW = {"cross_entropy": ("label", "target"), "mse": ("target",)}


# A leaf of at most this many entries may be stacked itself (one perturbed copy per row) for
# its first operation; larger leaves are perturbed in place, one call per perturbation.
_LEAD_ENTRIES = 1 << 14


def _leads(op, inputs: list, pos: int, shapes: list) -> bool:
    """Can the leaf's first operation take the stack of perturbed copies of the leaf (input
    `pos`) and give, row for row, bit for bit what it gives for each copy alone?  Elementwise
    functions (the other input broadcasting against each row), and a matrix product with a
    matrix leaf (NumPy multiplies a stack of matrices one matrix at a time, with the same BLAS
    call as one matrix alone; tests/derive/test_numeric_lead.py compares the bits)."""
    if inputs.count(inputs[pos]) != 1 or np.prod(shapes[inputs[pos]]) > _LEAD_ENTRIES:
        return False
    if op.name in _ROWWISE:
        return len(inputs) == 1
    if op.name in _ELEMENTWISE2:
        return _rowwise(op, inputs, pos, shapes)
    if op.name == "matmul" and len(inputs) == 2:
        return len(shapes[inputs[pos]]) == 2 and len(shapes[inputs[1 - pos]]) <= 2
    return False


def _rowwise(op, inputs: list, pos: int, shapes: list, attrs: dict | None = None) -> bool:
    d = shapes[inputs[pos]]
    if op.name in _ROWWISE:
        return True
    if op.name in _REDUCE_ALL:
        return len(inputs) == 1 and not any(v is not None for v in (attrs or {}).values())
    if op.name == "softmax":
        return len(d) == 1
    if op.name == "affine":
        return pos == 1 and len(d) == 1
    if op.name in _ELEMENTWISE2 and len(inputs) == 2:
        # the other input must broadcast against each row (not against the stack's axis)
        return len(shapes[inputs[1 - pos]]) <= len(d)
    return False


class StackedChain:
    """Forward values for many perturbations of one leaf when its downstream operations form
    a chain (each takes the previous one's output as its only changed input): the first
    operation runs once per perturbation (the leaf perturbed in place), or once for a stack of
    perturbed copies of the leaf when it allows that (_leads), the following row-wise
    operations once for a stack of all of them, and the rest (a loss, which averages over a
    batch) once per perturbation again.  Every call is a registry forward."""

    @classmethod
    def make(cls, tape: Tape, li: int, out: int) -> "StackedChain | None":
        plan = tape.downstream(li)
        if not plan or plan[-1][0] != out or any(li in rec[2] for rec in plan[1:]):
            return None
        changed = {rec[0] for rec in plan}
        for prev, rec in zip(plan, plan[1:]):
            if [j for j in rec[2] if j in changed] != [prev[0]]:
                return None
        shapes = [np.shape(v) for v in tape.values]
        m = 1         # plan[1:m] run on the stack
        while m < len(plan) and _rowwise(plan[m][1], plan[m][2],
                                         plan[m][2].index(plan[m - 1][0]), shapes, plan[m][3]):
            m += 1
        lead = _leads(plan[0][1], plan[0][2], plan[0][2].index(li), shapes)
        return cls(tape, li, plan, m, shapes, lead)

    def _row_loss(self, rec, shapes: list):
        """stack -> the loss of every row, when the last operation is a loss of one example
        that has a per-row form (_PER_ROW); else None."""
        i, op, inputs, attrs = rec
        keys = _PER_ROW.get(op.name)
        if keys is None or len(inputs) != 1 or len(shapes[inputs[0]]) != 1 \
                or attrs.get("reduction", "mean") not in ("mean", "sum"):
            return None
        fwd, rows = op.forward, {k: v for k, v in attrs.items() if k != "reduction"}

        def losses(stack):
            n = stack.shape[0]
            each = {k: (np.broadcast_to(v, (n,) + np.shape(v)) if k in keys and v is not None
                        else v) for k, v in rows.items()}
            return fwd(stack, reduction="none", **each)
        return losses

    def __init__(self, tape: Tape, li: int, plan: list, m: int, shapes: list,
                 lead: bool = False):
        def call(rec, pos=None):
            i, op, inputs, attrs = rec
            fwd = op.forward if not attrs else functools.partial(op.forward, **attrs)
            args = [tape.values[j] for j in inputs]
            if pos is None:
                return fwd, args
            if op.name in _REDUCE_ALL and pos is not None:   # each row over all its axes
                return lambda v: op.forward(v, axis=tuple(range(1, np.ndim(v))))
            if len(inputs) == 1:
                return fwd
            return lambda v: fwd(*args[:pos], v, *args[pos + 1:])

        self.theta = tape.values[li]
        self.tf = self.theta.reshape(-1)
        self.head, self.head_args = call(plan[0])
        # the first operation on a stack of perturbed copies of the leaf (see _leads)
        self.lead = call(plan[0], plan[0][2].index(li)) if lead else None
        self.stacked = [call(rec, rec[2].index(prev[0]))
                        for prev, rec in zip(plan[:m - 1], plan[1:m])]
        self.tail = [call(rec, rec[2].index(prev[0]))
                     for prev, rec in zip(plan[m - 1:], plan[m:])]
        # a last loss of one example runs once for the whole stack (its per-row form)
        self.row_loss = self._row_loss(plan[-1], shapes) if len(self.tail) == 1 else None
        # entries per stack: about 256 kB for the largest stacked value (4 rows per entry
        # with Richardson, 2 without)
        width = max([int(np.prod(shapes[rec[0]])) for rec in plan[:m]] or [1])
        self.chunk = max(1, min(128, (1 << 14) // max(1, width)))
        # copies of the leaf per call of the first operation: at most about 1 MB of them
        self.copies = max(1, (1 << 17) // max(1, self.theta.size))
        # the copies go through the rest in blocks when every later stacked operation gives a
        # row's value whatever rows are stacked with it (an affine map's matrix product is
        # blocked by BLAS according to the number of rows): blocks of at most 64 kB of
        # values, which NumPy's allocator reuses instead of mapping fresh pages for each
        self.blocks = self.lead is not None and self.row_loss is None and not any(
            rec[1].name == "affine" for rec in plan[1:m])
        if self.blocks:
            self.copies = max(1, min(self.copies, (1 << 13) // max(1, width)))
            self.chunk = 512       # entries per call: the blocks bound the memory
        self._buffer = None

    def values(self, ks: np.ndarray, vs: np.ndarray) -> list:
        """The output with entry ks[r] (a flat position) of the leaf set to vs[r], for each r."""
        if self.lead is None:
            tf, head, args = self.tf, self.head, self.head_args
            rows = []
            for k, v in zip(ks.tolist(), vs.tolist()):
                old = float(tf[k])
                tf[k] = v
                try:
                    rows.append(head(*args))
                finally:
                    tf[k] = old
            if not (self.stacked or self.row_loss is not None):
                return self._rest(rows)
            return self._rest(np.stack([np.asarray(r, dtype=float) for r in rows]), True)
        if not self.blocks:
            return self._rest(self._lead_values(ks, vs), True)
        out, n = [], self.copies
        for a in range(0, len(ks), n):
            out += self._rest(self._lead_values(ks[a:a + n], vs[a:a + n]), True)
        return out

    def _rest(self, rows, stacked: bool = False) -> list:
        """The output of each row: the stacked operations (on `rows`, a stack, when
        `stacked`), then a last loss per row, or the tail once per row."""
        if stacked:
            stack = rows
            for fwd in self.stacked:
                stack = fwd(stack)
            if self.row_loss is not None:
                return np.asarray(self.row_loss(stack), dtype=float).reshape(-1).tolist()
            if not self.tail and np.ndim(stack) == 1:    # one value per row, as float64
                return np.asarray(stack, dtype=float).tolist()
            rows = stack
        out = []
        for v in rows:
            for fwd in self.tail:
                v = fwd(v)
            out.append(as_scalar(v))
        return out

    def _lead_values(self, ks: np.ndarray, vs: np.ndarray) -> np.ndarray:
        """The first operation of each perturbed copy of the leaf, stacked: the copies are
        rows of one buffer that holds the leaf's values, each row with its one entry changed
        for the call and restored after it."""
        if self._buffer is None:
            self._buffer = np.empty((self.copies,) + self.theta.shape)
            self._buffer[...] = self.theta
        buf, tf = self._buffer, self.tf
        flat = buf.reshape(len(buf), -1)
        parts = []
        for a in range(0, len(ks), len(buf)):
            k, v = ks[a:a + len(buf)], vs[a:a + len(buf)]
            r = np.arange(len(k))
            flat[r, k] = v
            try:
                got = np.asarray(self.lead(buf[:len(k)]), dtype=float)
                if np.may_share_memory(got, buf):
                    got = got.copy()
            finally:
                flat[r, k] = tf[k]
            parts.append(got)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
