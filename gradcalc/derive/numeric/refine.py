"""Smaller steps for entries whose central difference left the linear range (forward evaluations only).

The policy's step h·max(1, |θ|) assumes that the output changes about as much as θ does.  When
θ multiplies something huge (W = 1e-300 against an input of 1e300) a step of 1e-6 moves the
output by 1e294: a sigmoid saturates and the quotient is meaningless, a false "DISAGREE".  The
derivative is then re-estimated with steps shrinking by STEP_FACTOR until two successive
quotients agree to AGREE (relative) — the scale of the step comes from the forward values
alone, so this stays independent of autograd and SymPy."""
from __future__ import annotations

import numpy as np

from gradcalc.derive.numeric.policy import DEFAULT_H, step
from gradcalc.derive.numeric.tape import Tape

STEP_FACTOR = 1e-3
AGREE = 1e-6
MAX_TRIES = 110          # 1e-6 · (1e-3)^110 is far below the smallest float: every scale is tried


def refine(problem, entries, h: float | None = None) -> dict:
    """{(name, index): derivative} for the given entries, from shrinking central differences;
    an entry whose quotients never settle is left out (its first estimate stands)."""
    from gradcalc.graph.network import build

    h = DEFAULT_H if h is None else float(h)
    tape = Tape()
    out = build(problem, tape)
    found = {}
    with np.errstate(all="ignore"):
        for name, idx in entries:
            li = tape.leaf_index[name]
            theta = tape.values[li]
            f = tape.evaluator(li, out)
            old = theta[idx]
            hk = float(step(old, h))
            prev = None
            try:
                for _ in range(MAX_TRIES):
                    theta[idx] = old + hk
                    plus = theta[idx]
                    fp = f(theta)
                    theta[idx] = old - hk
                    minus = theta[idx]
                    fm = f(theta)
                    theta[idx] = old
                    if plus == minus:           # below the resolution of θ: stop
                        break
                    d = (fp - fm) / (plus - minus)
                    # two zeros agree trivially (both sides saturated): keep shrinking
                    if d != 0 and np.isfinite(d) and prev is not None and np.isfinite(prev) \
                            and abs(d - prev) <= AGREE * max(abs(d), abs(prev)):
                        found[(name, idx)] = float(d)
                        break
                    prev = d
                    hk *= STEP_FACTOR
            finally:
                theta[idx] = old
    return found
