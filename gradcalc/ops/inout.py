"""The affine map of the in × out layout (CS231n, Deep Learning from Scratch): z = x·W + b."""
from __future__ import annotations

import numpy as np

from gradcalc.ops import matrix as mx
from gradcalc.ops.arrays import as_float, unbroadcast
from gradcalc.ops.linear import affine_sym, w_local_text
from gradcalc.ops.registry import Op, register


# W is in × out and an example is a row: z = x·W + b (a batch Z = X·W + b).  The gradients keep
# the parameter's shape: ∂L/∂W = xᵀ·δ (in × out), ∂L/∂x = δ·Wᵀ, ∂L/∂b = δ (summed over a batch).
def _forward(W, x, b):
    return as_float(x) @ as_float(W) + as_float(b)


def _vjp(g, out, W, x, b):
    W, x, g = as_float(W), as_float(x), as_float(g)
    if x.ndim == 1:
        return np.outer(x, g), W @ g, g.copy()
    return x.T @ g, g @ W.T, unbroadcast(g, np.shape(b))


def _local(out, W, x, b):
    # ∂z_j/∂W_ij = x_i (shown as xᵀ), the Jacobian ∂z/∂x = Wᵀ (out × in), ∂z/∂b = 1
    return as_float(x), as_float(W).T, np.ones_like(as_float(b))


def _sym(W, x, b):
    # the lecture's affine with W transposed: the same SymPy sums (products are canonical)
    return affine_sym(np.asarray(W, dtype=object).T, x, b)


def _matrix(site):
    """One example (a column x, as the write-ups show vectors): ∂W = x·δᵀ, ∂x = W·δ, ∂b = δ;
    a batch (rows): ∂W = Xᵀ·δ, ∂X = δ·Wᵀ, ∂b = Σᵢ δᵢ."""
    g, W, x = mx.V("g"), mx.V(0), mx.V(1)
    if len(site.shapes[1]) == 1:
        return mx.dot(x, mx.T(g)), mx.dot(W, g), g
    return mx.dot(mx.T(x), g), mx.dot(g, mx.T(W)), mx.sum_to(mx.sum_rows(g), (site.shapes[2][0],),
                                                             site.shapes[2])


register(Op("affine_in_out", 3, _forward, _vjp, _sym, "x·W + b", "{1}·{0} + {2}",
            (w_local_text, "{0}ᵀ", "1"), local=_local, matrix=_matrix,
            sample=lambda rng: (rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, (4, 3)),
                                rng.uniform(-1, 1, 2))))
