"""The step-size policy of the finite differences: the only place it is decided.

The policy:
  * entry θ gets the step hθ = h · max(1, |θ|), default h = 1e-6 (`--h`): relative for large
    entries, absolute near 0, so that θ ± hθ always changes θ;
  * the difference is divided by the step actually taken, (θ + hθ) − (θ − hθ) in float64, which
    removes the rounding of θ ± hθ from the quotient;
  * with Richardson extrapolation the estimate is (4·D(hθ/2) − D(hθ)) / 3, whose error is
    O(h⁴) instead of O(h²).
For f of size |f| the rounding error of D is about ε|f|/hθ (ε = 2.2e-16) and the truncation error
about hθ²|f‴|/6: with h = 1e-6 both are near 1e-10 for the homework problems.
"""
from __future__ import annotations

import numpy as np

DEFAULT_H = 1e-6
# below H_MIN, θ ± hθ is θ ± a few units in the last place (for h < 2.2e-16 θ itself) and the
# difference quotient is rounding noise or 0/0; above H_MAX the "step" is no longer small
H_MIN, H_MAX = 1e-12, 1.0


def step(theta: np.ndarray | float, h: float = DEFAULT_H) -> np.ndarray:
    """The step used for each entry: h · max(1, |θ|)."""
    return h * np.maximum(1.0, np.abs(np.asarray(theta, dtype=float)))
