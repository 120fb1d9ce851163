"""Central differences of a problem's output: every entry (or a sample), Richardson, a direction."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np

from gradcalc.errors import UsageError
from gradcalc.records import init
from gradcalc.derive.numeric.chain import StackedChain
from gradcalc.derive.numeric.kinks import Kink, kink_reason, record_off_domain
from gradcalc.derive.numeric.policy import DEFAULT_H, H_MAX, H_MIN, step
from gradcalc.derive.numeric.tape import Tape


@dataclass
class DirectionCheck:
    """(f(θ + εv) − f(θ − εv)) / 2ε for one random unit direction v over all entries."""

    direction: dict[str, np.ndarray]
    eps: float
    value: float


@dataclass(eq=False, init=False)  # compared by identity; records.init (start-up time)
class NumericResult:
    """Central differences of every (or every sampled) entry, with steps and kinks."""

    __init__ = init

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


class StepError(UsageError, ValueError):
    """A step h outside [H_MIN, H_MAX]: a usage error (one line from the CLI), and still the
    ValueError that library callers caught before."""


def run(problem, h: float | None = None, richardson: bool = False, sample: int | None = None,
        seed: int = 0, direction: bool = True, values: dict | None = None) -> NumericResult:
    """Central differences of the problem's output with respect to every differentiated entry
    (or `sample` random entries per parameter, chosen with `seed`)."""
    from gradcalc.graph.network import build

    h = DEFAULT_H if h is None else float(h)
    if not H_MIN <= h <= H_MAX:          # also NaN
        raise StepError(f"the finite-difference step h must be between {H_MIN:g} and {H_MAX:g}, "
                        f"got {h:g}")
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
                record_off_domain(name, idx, kinks, bad)
                continue
            for rec in my_kinked:
                why = kink_reason(tape, rec, info, hk)
                if why:
                    kinks.append(Kink(name, idx, tape.names[rec[0]], rec[1].name, why))
                    break
        grads[name], checked[name], steps[name] = g, mask, hs
    return NumericResult(grads, checked, steps, kinks, f0, h, richardson, nonfinite=bad)


def _index(k: int, shape: tuple) -> tuple:
    """The index tuple of flat (row-major) position k."""
    return tuple(int(i) for i in np.unravel_index(k, shape)) if shape else ()


def _lean(tape: Tape, li: int, out: int, hs: np.ndarray, g: np.ndarray, mask: np.ndarray, ks,
          richardson: bool, name: str, kinks: list, bad: list) -> None:
    """Central differences (f(θ + h) − f(θ − h)) / ((θ + h) − (θ − h)) of the entries at flat
    positions `ks` of leaf `li` (Richardson on request), θ perturbed in place and restored.

    The forward values come from StackedChain (several perturbations through the same forward at
    once) when the operations after the leaf allow it, else from one evaluation each."""
    theta = tape.values[li]
    tf, hf, gf, mf = theta.reshape(-1), hs.reshape(-1), g.reshape(-1), mask.reshape(-1)
    f = tape.evaluator(li, out)

    def one_by_one(where, to):
        vals = []
        for k, v in zip(where.tolist(), to.tolist()):
            old = float(tf[k])
            tf[k] = v
            try:
                vals.append(f(theta))
            finally:
                tf[k] = old
        return vals

    chain = StackedChain.make(tape, li, out)
    many = chain.values if chain is not None else one_by_one
    size = chain.chunk if chain is not None else 64
    ks = np.fromiter(ks, dtype=np.intp)
    per = 4 if richardson else 2
    for c in range(0, len(ks), size):
        part = ks[c:c + size]
        old, hk = tf[part], hf[part]
        # float64 arithmetic, as the array stores it: the quotient divides by the step
        # actually taken; per entry the values θ + h, θ − h (and θ + h/2, θ − h/2)
        cols = [old + hk, old - hk] + ([old + hk / 2, old - hk / 2] if richardson else [])
        to = np.stack(cols, axis=1)                   # one row per entry
        where = np.repeat(part, per)
        fs = np.asarray(many(where, to.reshape(-1)), dtype=float)
        if c == 0 and chain is not None and not _same(fs, one_by_one, where, to.reshape(-1)):
            many, chain = one_by_one, None      # the stacked forward disagrees: not used
            fs = np.asarray(many(where, to.reshape(-1)), dtype=float)
        fs = fs.reshape(-1, per)
        # the same IEEE operations as one quotient at a time, for every entry of the part
        d = (fs[:, 0] - fs[:, 1]) / (to[:, 0] - to[:, 1])
        if richardson:
            d2 = (fs[:, 2] - fs[:, 3]) / (to[:, 2] - to[:, 3])
            d = (4.0 * d2 - d) / 3.0
        gf[part] = d
        mf[part] = True
        for n in np.flatnonzero(~np.isfinite(d)).tolist():
            record_off_domain(name, _index(int(part[n]), theta.shape), kinks, bad)


def _same(fs: np.ndarray, one_by_one, where: np.ndarray, to: np.ndarray) -> bool:
    """The stacked values of the first and last perturbation against one evaluation each
    (they differ only by the rounding of a matrix product taken as one block)."""
    for r in (0, len(to) - 1):
        want = one_by_one(where[r:r + 1], to[r:r + 1])[0]
        got = float(fs[r])
        if not (abs(got - want) <= 1e-12 * max(1.0, abs(want))) and not (
                math.isnan(got) and math.isnan(want)):
            return False
    return True


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
