"""Central finite differences from forward evaluations only; the step-size policy lives here.

Step-size policy (the only place it is decided):
  * entry θ gets the step hθ = h · max(1, |θ|), default h = 1e-6 (`--h`): relative for large
    entries, absolute near 0, so that θ ± hθ always changes θ;
  * the difference is divided by the step actually taken, (θ + hθ) − (θ − hθ) in float64, which
    removes the rounding of θ ± hθ from the quotient;
  * with Richardson extrapolation the estimate is (4·D(hθ/2) − D(hθ)) / 3, whose error is
    O(h⁴) instead of O(h²).
For f of size |f| the rounding error of D is about ε|f|/hθ (ε = 2.2e-16) and the truncation error
about hθ²|f‴|/6: with h = 1e-6 both are near 1e-10 for the homework problems.

Kinks: on every node whose op has a `branch` (relu, leaky_relu, abs, max, min, hinge) the kink side
of each kinked input is compared at θ − hθ, θ and θ + hθ.  An entry is "unreliable here" when the
side changes between θ − hθ and θ + hθ, or when a kinked input lies within hθ of its kink at θ and
moves with the entry.  Such entries are reported, not counted as failures.

Evaluation (forward only): the problem is recorded once on a tape; a perturbed entry re-runs
only the operations downstream of its leaf.  When those form a chain, many perturbations share
one call of each row-wise operation (elementwise functions, softmax, W·x + b with x stacked):
the first operation runs once per perturbation, the stacked rows go through the row-wise ones
together, and the rest (a loss, which averages a batch) runs once per row again.  The stacked
values of the first perturbations are compared with one evaluation each; if they differ by more
than rounding, that leaf is evaluated one perturbation at a time.

This module never imports autograd or symbolic and never calls a VJP.
"""
from __future__ import annotations

import functools
import math
import operator
import random
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from gradcalc import ops

DEFAULT_H = 1e-6


def step(theta: np.ndarray | float, h: float = DEFAULT_H) -> np.ndarray:
    """The step used for each entry: h · max(1, |θ|)."""
    return h * np.maximum(1.0, np.abs(np.asarray(theta, dtype=float)))


# ---------------------------------------------------------------- a forward-only tape
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
        return _scalar(vals[out]), vals

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
            return _scalar(vals[out])
        return f


def _scalar(v) -> float:
    """The output as a float (an output with several entries is summed, as f0 is)."""
    if type(v) is np.ndarray and v.ndim == 0:
        return float(v)
    v = np.asarray(v, dtype=float)
    return float(v) if v.size == 1 and v.ndim == 0 else float(v.sum())


@dataclass
class Kink:
    """An entry whose central difference crosses (or sits on) a kink."""

    param: str
    index: tuple
    node: str
    op: str
    reason: str


@dataclass
class DirectionCheck:
    """(f(θ + εv) − f(θ − εv)) / 2ε for one random unit direction v over all entries."""

    direction: dict[str, np.ndarray]
    eps: float
    value: float


@dataclass
class NumericResult:
    gradients: dict[str, np.ndarray]          # NaN where an entry was not sampled
    checked: dict[str, np.ndarray]            # bool masks of the entries computed
    steps: dict[str, np.ndarray]              # hθ per entry
    kinks: list[Kink]
    output_value: float
    h: float
    richardson: bool
    direction: DirectionCheck | None = None
    nonfinite: list[tuple[str, tuple]] = field(default_factory=list)

    def kink_mask(self, name: str) -> np.ndarray:
        m = np.zeros(self.gradients[name].shape, dtype=bool)
        for k in self.kinks:
            if k.param == name:
                m[k.index] = True
        return m


def run(problem, h: float | None = None, richardson: bool = False, sample: int | None = None,
        seed: int = 0, direction: bool = True, values: dict | None = None) -> NumericResult:
    """Central differences of the problem's output with respect to every differentiated entry
    (or `sample` random entries per parameter, chosen with `seed`)."""
    from gradcalc.graph.network import build

    h = DEFAULT_H if h is None else float(h)
    if not h > 0:
        raise ValueError("the step h must be positive")
    tape = Tape()
    out = build(problem, tape, values)
    f0 = float(np.sum(tape.values[out]))
    kinked = [(i, op, inputs, attrs) for i, op, inputs, attrs in tape.ops if op.branch is not None]
    # Python's generator (not numpy.random, whose import alone costs a short check ~5 ms)
    rng = random.Random(seed)
    with np.errstate(all="ignore"):
        res = _differences(problem, tape, out, f0, kinked, h, richardson, sample, rng)
        if direction:
            res.direction = _direction(tape, out, h, rng)
    return res


def _differences(problem, tape, out, f0, kinked, h, richardson, sample, rng) -> NumericResult:
    from gradcalc.graph.network import leaf_values
    grads, checked, steps, kinks, bad = {}, {}, {}, [], []
    for name in leaf_values(problem):
        li = tape.leaf_index[name]
        theta = tape.values[li]
        g = np.full(theta.shape, np.nan)
        mask = np.zeros(theta.shape, dtype=bool)
        hs = step(theta, h)
        ks = range(theta.size)           # flat (row-major) positions of the entries checked
        if sample is not None and sample < theta.size:
            ks = sorted(rng.sample(range(theta.size), sample))
        down = {rec[0] for rec in tape.downstream(li)}
        my_kinked = [rec for rec in kinked if rec[0] in down]
        if not my_kinked:
            # no kink downstream of this leaf: the lean loop (the same quotients, nothing kept)
            _lean(tape, li, out, hs, g, mask, ks, richardson, name, kinks, bad)
            grads[name], checked[name], steps[name] = g, mask, hs
            continue
        for k in ks:
            idx = _index(k, theta.shape)
            hk = float(hs[idx])
            d, info = _central(tape, li, theta, idx, hk, out, keep=True)
            if richardson:
                d2, _ = _central(tape, li, theta, idx, hk / 2, out, keep=False)
                d = (4.0 * d2 - d) / 3.0
            g[idx] = d
            mask[idx] = True
            if not np.isfinite(d):
                _off_domain(name, idx, kinks, bad)
                continue
            for rec in my_kinked:
                why = _kink_reason(tape, rec, info, hk)
                if why:
                    kinks.append(Kink(name, idx, tape.names[rec[0]], rec[1].name, why))
                    break
        grads[name], checked[name], steps[name] = g, mask, hs
    return NumericResult(grads, checked, steps, kinks, f0, h, richardson, nonfinite=bad)


def _off_domain(name: str, idx: tuple, kinks: list, bad: list) -> None:
    """θ ± h left the op's domain (sqrt just above 0, log near 0): reported, not a verdict."""
    bad.append((name, idx))
    kinks.append(Kink(name, idx, "", "domain", "θ ± h leaves the domain: the "
                      "forward pass is not finite there"))


def _index(k: int, shape: tuple) -> tuple:
    """The index tuple of flat (row-major) position k."""
    return tuple(int(i) for i in np.unravel_index(k, shape)) if shape else ()


def _lean(tape: Tape, li: int, out: int, hs: np.ndarray, g: np.ndarray, mask: np.ndarray, ks,
          richardson: bool, name: str, kinks: list, bad: list) -> None:
    """Central differences (f(θ + h) − f(θ − h)) / ((θ + h) − (θ − h)) of the entries at flat
    positions `ks` of leaf `li` (Richardson on request), θ perturbed in place and restored.

    The forward values come from _Chain (several perturbations through the same forward at
    once) when the operations after the leaf allow it, else from one evaluation each."""
    theta = tape.values[li]
    tf, hf, gf, mf = theta.reshape(-1), hs.reshape(-1), g.reshape(-1), mask.reshape(-1)
    f = tape.evaluator(li, out)

    def one_by_one(pert):
        vals = []
        for k, v, old in pert:
            tf[k] = v
            try:
                vals.append(f(theta))
            finally:
                tf[k] = old
        return vals

    chain = _Chain.make(tape, li, out)
    many = chain.values if chain is not None else one_by_one
    size = chain.chunk if chain is not None else 64
    ks = list(ks)
    per = 4 if richardson else 2
    for c in range(0, len(ks), size):
        part = ks[c:c + size]
        pert = []
        for k in part:
            old, hk = float(tf[k]), float(hf[k])
            # float64 arithmetic, as the array stores it: the quotient divides by the step
            # actually taken
            pert += [(k, old + hk, old), (k, old - hk, old)]
            if richardson:
                pert += [(k, old + hk / 2, old), (k, old - hk / 2, old)]
        fs = many(pert)
        if c == 0 and chain is not None and not _same(fs, one_by_one, pert):
            many, chain = one_by_one, None      # the stacked forward disagrees: not used
            fs = many(pert)
        for n, k in enumerate(part):
            r = per * n
            d = (fs[r] - fs[r + 1]) / (pert[r][1] - pert[r + 1][1])
            if richardson:
                d2 = (fs[r + 2] - fs[r + 3]) / (pert[r + 2][1] - pert[r + 3][1])
                d = (4.0 * d2 - d) / 3.0
            gf[k] = d
            mf[k] = True
            if not math.isfinite(d):
                _off_domain(name, _index(k, theta.shape), kinks, bad)


def _same(fs: list, one_by_one, pert: list) -> bool:
    """The stacked values of the first and last perturbation against one evaluation each
    (they differ only by the rounding of a matrix product taken as one block)."""
    for r in (0, len(pert) - 1):
        want = one_by_one([pert[r]])[0]
        got = fs[r]
        if not (abs(got - want) <= 1e-12 * max(1.0, abs(want))) and not (
                math.isnan(got) and math.isnan(want)):
            return False
    return True


# Operations whose forward, given a stack of values of one input (a new leading axis, one row
# per perturbation), returns the stack of what it returns for each row alone: elementwise
# functions, softmax of a vector (its batch form normalizes each row), and affine W·x + b with
# x stacked (its batch form x·Wᵀ + b is W·x + b row by row).
_ROWWISE = frozenset({"linear", "neg", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid"})
_ELEMENTWISE2 = frozenset({"add", "sub", "mul", "div", "pow"})


def _rowwise(op, inputs: list, pos: int, shapes: list) -> bool:
    d = shapes[inputs[pos]]
    if op.name in _ROWWISE:
        return True
    if op.name == "softmax":
        return len(d) == 1
    if op.name == "affine":
        return pos == 1 and len(d) == 1
    if op.name in _ELEMENTWISE2 and len(inputs) == 2:
        # the other input must broadcast against each row (not against the stack's axis)
        return len(shapes[inputs[1 - pos]]) <= len(d)
    return False


class _Chain:
    """Forward values for many perturbations of one leaf when its downstream operations form
    a chain (each takes the previous one's output as its only changed input): the first
    operation runs once per perturbation (the leaf perturbed in place), the following
    row-wise operations once for a stack of all of them, and the rest (a loss, which averages
    over a batch) once per perturbation again.  Every call is a registry forward."""

    @classmethod
    def make(cls, tape: Tape, li: int, out: int) -> "_Chain | None":
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
                                         plan[m][2].index(plan[m - 1][0]), shapes):
            m += 1
        return cls(tape, li, plan, m, shapes)

    def __init__(self, tape: Tape, li: int, plan: list, m: int, shapes: list):
        def call(rec, pos=None):
            i, op, inputs, attrs = rec
            fwd = op.forward if not attrs else functools.partial(op.forward, **attrs)
            args = [tape.values[j] for j in inputs]
            if pos is None:
                return fwd, args
            if len(inputs) == 1:
                return fwd
            return lambda v: fwd(*args[:pos], v, *args[pos + 1:])

        self.theta = tape.values[li]
        self.tf = self.theta.reshape(-1)
        self.head, self.head_args = call(plan[0])
        self.stacked = [call(rec, rec[2].index(prev[0]))
                        for prev, rec in zip(plan[:m - 1], plan[1:m])]
        self.tail = [call(rec, rec[2].index(prev[0]))
                     for prev, rec in zip(plan[m - 1:], plan[m:])]
        # entries per stack: about 256 kB for the largest stacked value (4 rows per entry
        # with Richardson, 2 without)
        width = max([int(np.prod(shapes[rec[0]])) for rec in plan[:m]] or [1])
        self.chunk = max(1, min(128, (1 << 14) // max(1, width)))

    def values(self, pert: list) -> list:
        tf, head, args = self.tf, self.head, self.head_args
        rows = []
        for k, v, old in pert:
            tf[k] = v
            try:
                rows.append(head(*args))
            finally:
                tf[k] = old
        if self.stacked:
            stack = np.stack([np.asarray(r, dtype=float) for r in rows])
            for fwd in self.stacked:
                stack = fwd(stack)
            rows = stack
        out = []
        for v in rows:
            for fwd in self.tail:
                v = fwd(v)
            out.append(_scalar(v))
        return out


def _central(tape: Tape, li: int, theta: np.ndarray, idx: tuple, hk: float, out: int,
             keep: bool):
    """(f(θ + h) − f(θ − h)) / ((θ + h) − (θ − h)), perturbing θ in place and restoring it.
    `keep`: return the perturbed node values for the kink check (with copies of the leaf)."""
    old = theta[idx]
    try:
        theta[idx] = old + hk
        plus = theta[idx]
        fp, cp = tape.evaluate(li, theta, out)
        if keep:
            cp[li] = theta.copy()
        theta[idx] = old - hk
        minus = theta[idx]
        fm, cm = tape.evaluate(li, theta, out)
        if keep:
            cm[li] = theta.copy()
    finally:
        theta[idx] = old
    # divide by the step actually taken in float64
    return (fp - fm) / (plus - minus), (cp, cm)


def _kink_reason(tape: Tape, rec, info, hk: float) -> str | None:
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


def _direction(tape: Tape, out: int, h: float, rng) -> DirectionCheck | None:
    """A random unit direction v over all entries; its directional derivative by central
    differences with ε = h · max(1, max |θ|)."""
    names = list(tape.leaf_index)
    if not names:
        return None
    thetas = {n: tape.values[tape.leaf_index[n]] for n in names}
    v = {n: np.array([rng.gauss(0.0, 1.0) for _ in range(t.size)]).reshape(t.shape)
         for n, t in thetas.items()}
    norm = np.sqrt(sum(float(np.sum(a * a)) for a in v.values())) or 1.0
    v = {n: a / norm for n, a in v.items()}
    eps = h * max(1.0, max(float(np.max(np.abs(t))) if t.size else 0.0 for t in thetas.values()))

    def f(sign):
        vals = list(tape.values)
        for n in names:
            vals[tape.leaf_index[n]] = thetas[n] + sign * eps * v[n]
        for i, op, inputs, attrs in tape.ops:
            vals[i] = op.forward(*[vals[j] for j in inputs], **attrs)
        return float(np.sum(vals[out]))

    return DirectionCheck(v, eps, (f(1.0) - f(-1.0)) / (2.0 * eps))


# ---------------------------------------------------------------- generic helper (layer check)
def gradient_of(f: Callable[[], float], x: np.ndarray, h: float | None = None,
                richardson: bool = False) -> np.ndarray:
    """∂f/∂x by central differences, perturbing the array `x` in place (and restoring it).

    `f()` must read `x` afresh on every call (a layer's forward pass, for example)."""
    h = DEFAULT_H if h is None else float(h)
    grad = np.zeros(x.shape, dtype=float)
    hs = step(x, h)
    for idx in np.ndindex(x.shape):
        old = x[idx]

        def diff(hk):
            x[idx] = old + hk
            fp = f()
            plus = x[idx]
            x[idx] = old - hk
            fm = f()
            minus = x[idx]
            x[idx] = old
            return (fp - fm) / (plus - minus)

        try:
            d = diff(float(hs[idx]))
            if richardson:
                d = (4.0 * diff(float(hs[idx]) / 2) - d) / 3.0
        finally:
            x[idx] = old
        grad[idx] = d
    return grad
