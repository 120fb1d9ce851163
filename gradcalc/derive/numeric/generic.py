"""Central differences of any f() with respect to an array (the layer check uses them)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from gradcalc.derive.numeric.policy import DEFAULT_H, step


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
