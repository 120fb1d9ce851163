"""Attention ops: a projection X·Wᵀ, the scaled dot-product weights softmax(Q·Kᵀ/√d), and A·V."""
from __future__ import annotations

import numpy as np

from gradcalc.ops import matrix as mx
from gradcalc.ops.arrays import as_float, sympy_module
from gradcalc.ops.registry import Op, register

# Single-head self-attention over a T×D input X (a batch: N×T×D, every example on its own):
#   Q = X·Wqᵀ, K = X·Wkᵀ, V = X·Wvᵀ             (op proj; W is d×D, out × in as everywhere)
#   A = softmax(Q·Kᵀ/√d) row by row           (op attn_weights; causal: row t sees 1 … t)
#   H = A·V                                    (op attn_mix), then optionally H·Woᵀ (proj)
G = mx.V("g")


def _proj_forward(W, x):
    return as_float(x) @ as_float(W).T


def _proj_vjp(g, out, W, x):
    W, x, g = as_float(W), as_float(x), as_float(g)
    return g.reshape(-1, g.shape[-1]).T @ x.reshape(-1, x.shape[-1]), g @ W


def _proj_sym(W, x):
    W, x = np.asarray(W, dtype=object), np.asarray(x, dtype=object)
    return np.asarray(x.dot(W.T), dtype=object)


def _proj_matrix(site):
    """Y = X·Wᵀ: ∂W = δᵀ·X, ∂X = δ·W (a batch: its examples' rows stacked)."""
    W, X = mx.V(0), mx.V(1)
    if len(site.shapes[1]) == 2:
        return mx.dot(mx.T(G), X), mx.dot(G, W)
    rows = lambda t, shape: mx.fn("{0}", "{0}", lambda a: a.reshape(-1, a.shape[-1]), t,  # noqa: E731
                                  shapes=(shape,))
    return (mx.dot(mx.T(rows(G, site.out_shape)), rows(X, site.shapes[1])),
            mx.fn("{0}·{1}", r"{0} \cdot {1}", lambda a, w: a @ w, G, W,
                  shapes=(site.out_shape, site.shapes[0])))


register(Op("proj", 2, _proj_forward, _proj_vjp, _proj_sym, "X·Wᵀ", "{1}·{0}ᵀ", ("{1}", "{0}"),
            matrix=_proj_matrix, local=lambda out, W, x: (as_float(x), as_float(W)),
            sample=lambda rng: (rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, (4, 3)))))


def _mask(T: int, causal: bool) -> np.ndarray:
    return np.tril(np.ones((T, T), dtype=bool)) if causal else np.ones((T, T), dtype=bool)


def _weights_forward(q, k, *, causal=False):
    q, k = as_float(q), as_float(k)
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    s = np.where(_mask(q.shape[-2], causal), s, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _dscores(g, A, d):
    """∂L/∂S / √d for S = Q·Kᵀ: the softmax rule per row, A ⊙ (δ − rowsum(A ⊙ δ)), over √d
    (a masked entry has A = 0, so it gets nothing)."""
    return A * (g - (g * A).sum(axis=-1, keepdims=True)) / np.sqrt(d)


def _weights_vjp(g, out, q, k, *, causal=False):
    q, k, g, A = as_float(q), as_float(k), as_float(g), as_float(out)
    dS = _dscores(g, A, q.shape[-1])
    return dS @ k, np.swapaxes(dS, -1, -2) @ q


def _weights_sym(q, k, *, causal=False):
    sp = sympy_module()
    q, k = np.asarray(q, dtype=object), np.asarray(k, dtype=object)
    if q.ndim == 3:
        return np.stack([_weights_sym(q[n], k[n], causal=causal) for n in range(q.shape[0])])
    T, d = q.shape
    out = np.empty((T, T), dtype=object)
    for t in range(T):
        seen = range(t + 1) if causal else range(T)
        e = {j: sp.exp(sp.Add(*[q[t, m] * k[j, m] for m in range(d)]) / sp.sqrt(d)) for j in seen}
        total = sp.Add(*e.values())
        for j in range(T):
            out[t, j] = e[j] / total if j in e else sp.Integer(0)
    return out


def _weights_matrix(site):
    """Δ_S = A ⊙ (δ − (A ⊙ δ)·𝟙·𝟙ᵀ)/√d with A the output (the softmax rule row by row);
    ∂Q = Δ_S·K, ∂K = Δ_Sᵀ·Q."""
    d = site.shapes[0][-1]
    dS = mx.fn(f"({{1}} ⊙ ({{0}} − ({{1}} ⊙ {{0}})·𝟙·𝟙ᵀ)/√{d})",
               rf"\left({{1}} \odot \left({{0}} - ({{1}} \odot {{0}}) \mathbf{{1}} \mathbf{{1}}^\top\right) / \sqrt{{{d}}}\right)",
               lambda g, A: _dscores(g, A, d), G, mx.V("out"), shapes=(site.out_shape, site.out_shape))
    if len(site.out_shape) == 2:
        return mx.dot(dS, mx.V(1)), mx.dot(mx.T(dS), mx.V(0))
    mm = lambda a, b: a @ b                                               # noqa: E731
    mtm = lambda a, b: np.swapaxes(a, -1, -2) @ b                         # noqa: E731
    return (mx.fn("{0}·{1}", r"{0} \cdot {1}", mm, dS, mx.V(1), shapes=(site.out_shape, site.shapes[1])),
            mx.fn("{0}ᵀ·{1}", r"{0}^\top \cdot {1}", mtm, dS, mx.V(0),
                  shapes=(site.out_shape, site.shapes[0])))


register(Op("attn_weights", 2, _weights_forward, _weights_vjp, _weights_sym, "softmax(Q·Kᵀ/√d)",
            "softmax({0}·{1}ᵀ/√d)", ("{1}/√d, then softmax′ row by row",
                                     "{0}/√d, then softmax′ row by row"), matrix=_weights_matrix,
            local=lambda out, q, k, causal=False: (as_float(k) / np.sqrt(np.shape(q)[-1]),
                                                   as_float(q) / np.sqrt(np.shape(q)[-1])),
            sample=lambda rng: (rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, (3, 2))),
            attrs_sample={"causal": True}))


def _mix_vjp(g, out, a, v):
    a, v, g = as_float(a), as_float(v), as_float(g)
    return g @ np.swapaxes(v, -1, -2), np.swapaxes(a, -1, -2) @ g


def _mix_sym(a, v):
    a, v = np.asarray(a, dtype=object), np.asarray(v, dtype=object)
    if a.ndim == 3:
        return np.stack([_mix_sym(a[n], v[n]) for n in range(a.shape[0])])
    return np.asarray(a.dot(v), dtype=object)


def _mix_matrix(site):
    """H = A·V: ∂A = δ·Vᵀ, ∂V = Aᵀ·δ."""
    if len(site.out_shape) == 2:
        return mx.dot(G, mx.T(mx.V(1))), mx.dot(mx.T(mx.V(0)), G)
    s = site.shapes
    return (mx.fn("{0}·{1}ᵀ", r"{0} \cdot {1}^\top", lambda g, v: g @ np.swapaxes(v, -1, -2), G,
                  mx.V(1), shapes=(site.out_shape, s[1])),
            mx.fn("{0}ᵀ·{1}", r"{0}^\top \cdot {1}", lambda a, g: np.swapaxes(a, -1, -2) @ g,
                  mx.V(0), G, shapes=(s[0], site.out_shape)))


register(Op("attn_mix", 2, lambda a, v: as_float(a) @ as_float(v), _mix_vjp, _mix_sym, "A·V",
            "{0}·{1}", ("{1}ᵀ", "{0}ᵀ"), matrix=_mix_matrix,
            local=lambda out, a, v: (np.swapaxes(as_float(v), -1, -2), np.swapaxes(as_float(a), -1, -2)),
            sample=lambda rng: (rng.uniform(0, 1, (3, 3)), rng.uniform(-1, 1, (3, 2)))))
