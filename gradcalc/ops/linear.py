"""Layer ops: the affine map W·x + b, softmax and the L2 weight penalty."""
from __future__ import annotations

import numpy as np

from gradcalc.ops import matrix as mx
from gradcalc.ops.arrays import as_float, sympy_module, unbroadcast
from gradcalc.ops.registry import ACTIVATIONS, Op, register


def _affine_forward(W, x, b):
    W, x, b = as_float(W), as_float(x), as_float(b)
    z = W @ x if x.ndim == 1 else x @ W.T
    try:
        return np.add(z, b, out=z)      # the same sums as z + b, without a second array (z is new)
    except (ValueError, TypeError):     # b broadcasts wider than z (checked before writing); z a scalar
        return z + b


def affine_param_vjp(g, x, b):
    """(∂L/∂W, ∂L/∂b) of W·x + b alone, as `_affine_vjp` computes them, for a caller that does
    not need ∂L/∂x (a network's input layer)."""
    x, g = as_float(x), as_float(g)
    if x.ndim == 1:
        return np.outer(g, x), g.copy()
    if g.ndim == 2 and np.ndim(b) == 1 and np.shape(b)[0] == g.shape[1]:
        return g.T @ x, g.sum(axis=0)       # a bias per unit over a batch: what unbroadcast sums
    return g.T @ x, unbroadcast(g, np.shape(b))


def _affine_vjp(g, out, W, x, b):
    W, x, g = as_float(W), as_float(x), as_float(g)
    gW, gb = affine_param_vjp(g, x, b)
    return gW, (W.T @ g if x.ndim == 1 else g @ W), gb


def _affine_local(out, W, x, b):
    # ∂z_i/∂W_ij = x_j (shown as xᵀ), ∂z/∂x = W, ∂z/∂b = 1
    return as_float(x), as_float(W), np.ones_like(as_float(b))


def _affine_matrix(site):
    """z = W·x + b: δ·xᵀ, Wᵀ·δ, δ;  a batch Z = X·Wᵀ + b: δᵀ·X, δ·W, Σᵢ δᵢ."""
    g, W, x = mx.V("g"), mx.V(0), mx.V(1)
    if len(site.shapes[1]) == 1:
        return mx.dot(g, mx.T(x)), mx.dot(mx.T(W), g), g
    return mx.dot(mx.T(g), x), mx.dot(g, W), mx.sum_to(mx.sum_rows(g), (site.shapes[2][0],),
                                                        site.shapes[2])


def affine_sym(W, x, b):
    W, x, b = (np.asarray(v, dtype=object) for v in (W, x, b))
    # every entry is one SymPy sum of all its terms (NumPy's object dot adds them one at a
    # time, re-sorting a growing sum at each step: quadratic in the width)
    sp = sympy_module()
    X = x[None, :] if x.ndim == 1 else x
    B = np.broadcast_to(b, (X.shape[0], W.shape[0]))
    out = np.empty(B.shape, dtype=object)
    for i, j in np.ndindex(B.shape):
        out[i, j] = sp.Add(*[W[j, k] * X[i, k] for k in range(W.shape[1])], B[i, j])
    return out[0] if x.ndim == 1 else out


def w_local_text(xs) -> str:
    """∂z/∂W is shown as xᵀ for one example (a row) and as the batch X itself (the values shown)."""
    return "{1}ᵀ" if np.ndim(xs[1]) <= 1 else "{1}"


register(Op("affine", 3, _affine_forward, _affine_vjp, affine_sym, "W·x + b", "{0}·{1} + {2}",
            (w_local_text, "{0}", "1"), local=_affine_local, matrix=_affine_matrix,
            sample=lambda rng: (rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, (4, 3)),
                                rng.uniform(-1, 1, 2))))


# Rows of at most this many classes are reduced column by column: NumPy reduces a row of
# fewer than 8 numbers with a plain left-to-right loop, so the results are bit-identical, and a
# loop over 3 columns of a 300-row batch is about twice as fast as reducing 300 short rows.
_FEW_COLUMNS = 7


def row_max(Y):
    if Y.ndim == 2 and 1 < Y.shape[1] <= _FEW_COLUMNS:
        m = Y[:, 0].copy()
        for j in range(1, Y.shape[1]):
            np.maximum(m, Y[:, j], out=m)
        return m[:, None]
    return Y.max(axis=-1, keepdims=True)


def row_sum(E):
    if E.ndim == 2 and 1 < E.shape[1] <= _FEW_COLUMNS:
        s = E[:, 0].copy()
        for j in range(1, E.shape[1]):
            s += E[:, j]
        return s[:, None]
    return E.sum(axis=-1, keepdims=True)


def softmax(z):
    z = as_float(z)
    if z.ndim == 1:     # one vector: the same arithmetic without keepdims (faster)
        e = np.exp(z - z.max())
        return e / e.sum()
    e = np.exp(z - row_max(z))
    return e / row_sum(e)


def _softmax_vjp(g, out, z):
    return (out * (g - (g * out).sum(axis=-1, keepdims=True)),)


def _softmax_local(out, z):
    if out.ndim == 1:     # the Jacobian diag(s) − s sᵀ
        return (np.diag(out) - np.outer(out, out),)
    return (out * (1.0 - out),)   # batch: only the diagonal is shown


def _softmax_matrix(site):
    """s = softmax(z): J_softmax(z)ᵀ·δ = s ⊙ (δ − sᵀ·δ); a batch row by row, with the row sums
    of S ⊙ δ spread over the columns by ·𝟙ᵀ."""
    g, s = mx.V("g"), mx.V("out")
    if len(site.out_shape) == 1:
        return (mx.had(s, mx.sub(g, mx.dot(mx.T(s), g))),)
    one = mx.ones(site.out_shape[-1])
    return (mx.had(s, mx.sub(g, mx.dot(mx.dot(mx.had(s, g), one), mx.T(one)))),)


def _softmax_sym(z):
    sp = sympy_module()
    z = np.asarray(z, dtype=object)
    e = np.vectorize(sp.exp, otypes=[object])(z)
    return e / e.sum(axis=-1, keepdims=True)


register(Op("softmax", 1, softmax, _softmax_vjp, _softmax_sym, "softmax", "softmax({0})",
            ("diag(s) − s sᵀ",), local=_softmax_local, matrix=_softmax_matrix,
            sample=lambda rng: (rng.uniform(-2, 2, 4),)))
ACTIVATIONS["softmax"] = "softmax"


def l2_value(Ws, lam) -> float:
    """λ·Σ‖W‖² as a float: one sum of squares per matrix, added left to right (the l2 op's value;
    the training fast path calls it directly)."""
    total = 0
    for W in Ws:                # W·W and add.reduce: the products and the sum of np.sum(W ** 2)
        W = as_float(W)
        total += float(np.add.reduce(np.multiply(W, W), axis=None))
    return lam * total


def l2_factor(g, lam):
    """2λ·g: ∂(λ‖W‖²)/∂W times the upstream g is this factor times W (the l2 op's VJP)."""
    return 2.0 * lam * as_float(g)


def _l2_forward(*Ws, lam):
    return np.asarray(l2_value(Ws, lam))


def _l2_vjp(g, out, *Ws, lam):
    c = l2_factor(g, lam)
    return tuple(c * as_float(W) for W in Ws)


def _l2_sym(*Ws, lam):
    return np.asarray(lam * sum(sum(w ** 2 for w in np.asarray(W, dtype=object).ravel()) for W in Ws),
                      dtype=object)


register(Op("l2", -1, _l2_forward, _l2_vjp, _l2_sym, "λ·ΣW²", "λ·Σ‖W‖²", ("2λ{i}",),
            matrix=lambda site: tuple(mx.scale(2.0 * site.attrs["lam"], mx.dot(mx.V("g"), mx.V(i)))
                                      for i in range(len(site.inputs))),
            sample=lambda rng: (rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, (1, 2))),
            attrs_sample={"lam": 0.1}))
