"""Normalization and dropout ops: batch norm, layer norm (x̂), the scale-and-shift γ ⊙ x̂ + β, dropout."""
from __future__ import annotations

import numpy as np

from gradcalc.ops import matrix as mx
from gradcalc.ops.arrays import as_float, sympy_module
from gradcalc.ops.registry import Op, register


# x̂ = (x − μ) / √(σ² + eps), μ and σ² the mean and the *biased* variance (÷ m, as PyTorch's
# training mode) over `axes`: batch norm reduces over the batch (and over H×W for C×H×W
# examples), layer norm over the features of each example (the last axis).
def _axes(x, axes):
    return tuple(a % x.ndim for a in axes)


def _stats(x, axes):
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return mu, var


def _norm_forward(x, *, axes, eps=1e-5):
    x = as_float(x)
    ax = _axes(x, axes)
    mu, var = _stats(x, ax)
    return (x - mu) / np.sqrt(var + eps)


def _norm_vjp(g, out, x, *, axes, eps=1e-5):
    # ∂L/∂x = (δ − mean(δ) − x̂ ⊙ mean(δ ⊙ x̂)) / √(σ² + eps), the means over the same axes
    x, g = as_float(x), as_float(g)
    ax = _axes(x, axes)
    _, var = _stats(x, ax)
    xhat = _norm_forward(x, axes=axes, eps=eps)
    return ((g - g.mean(axis=ax, keepdims=True)
             - xhat * (g * xhat).mean(axis=ax, keepdims=True)) / np.sqrt(var + eps),)


def _norm_sym(x, *, axes, eps=1e-5):
    sp = sympy_module()
    x = np.asarray(x, dtype=object)
    ax = _axes(x, axes)
    m = int(np.prod([x.shape[a] for a in ax]))
    mu = x.sum(axis=ax, keepdims=True) / m
    var = ((x - mu) ** 2).sum(axis=ax, keepdims=True) / m
    root = np.vectorize(lambda v: sp.sqrt(v + eps), otypes=[object])(var)
    return (x - mu) / root


def _norm_local(out, x, *, axes, eps=1e-5):
    # the diagonal of ∂x̂/∂x: (1 − 1/m − x̂²/m) / √(σ² + eps)
    x = as_float(x)
    ax = _axes(x, axes)
    m = int(np.prod([x.shape[a] for a in ax]))
    _, var = _stats(x, ax)
    return ((1.0 - 1.0 / m - as_float(out) ** 2 / m) / np.sqrt(var + eps),)


def _norm_matrix(site):
    """∂L/∂x = (δ − M(δ) − x̂ ⊙ M(δ ⊙ x̂)) ⊙ (1/σ): M the mean over the normalized axes spread
    back over them (a batch N×F: M(A) = (1/N)·𝟙·𝟙ᵀ·A), σ = √(var + eps) spread alike."""
    x = as_float(site.inputs[0])
    axes, eps = site.attrs["axes"], site.attrs.get("eps", 1e-5)
    ax = _axes(x, axes)
    _, var = _stats(x, ax)
    inv = mx.Leaf("1/σ", np.broadcast_to(1.0 / np.sqrt(var + eps), x.shape).copy(),
                  r"\frac{1}{\sigma}")
    g, xh = mx.V("g"), mx.V("out")
    if x.ndim == 2 and ax == (0,):
        N = x.shape[0]
        one = mx.ones(N)

        def mean(t):
            return mx.scale(1.0 / N, mx.dot(one, mx.dot(mx.T(one), t)))
    else:
        def mean(t):
            return mx.fn("mean({0})", r"\operatorname{mean}\left({0}\right)",
                         lambda a: np.broadcast_to(a.mean(axis=ax, keepdims=True), a.shape),
                         t, shapes=(x.shape,))
    return (mx.had(mx.sub(mx.sub(g, mean(g)), mx.had(xh, mean(mx.had(g, xh)))), inv),)


def _register_norm(name, label, axes, sample):
    register(Op(name, 1, _norm_forward, _norm_vjp, _norm_sym, label,
                "({0} − μ) / √(σ² + eps)", ("(1 − 1/m − x̂²/m)/σ (diagonal)",),
                local=_norm_local, matrix=_norm_matrix, sample=sample,
                attrs_sample={"axes": axes, "eps": 1e-5}))


_register_norm("batchnorm", "batch norm x̂", (0,), lambda rng: (rng.uniform(-2, 2, (4, 3)),))
_register_norm("layernorm", "layer norm x̂", (-1,), lambda rng: (rng.uniform(-2, 2, (3, 4)),))


# h = γ ⊙ x̂ + β, γ and β one entry per feature (per channel at `axis`, counted from the end)
def _spread(v, ndim, axis):
    v = as_float(v) if np.asarray(v).dtype != object else np.asarray(v, dtype=object)
    return v.reshape(v.shape + (1,) * (-axis - 1)) if ndim else v


def _others(ndim, axis):
    return tuple(a for a in range(ndim) if a != ndim + axis)


def _affine_forward(xhat, gamma, beta, *, axis=-1):
    xhat = as_float(xhat)
    return _spread(gamma, xhat.ndim, axis) * xhat + _spread(beta, xhat.ndim, axis)


def _affine_vjp(g, out, xhat, gamma, beta, *, axis=-1):
    g, xhat = as_float(g), as_float(xhat)
    other = _others(xhat.ndim, axis)
    return (g * _spread(gamma, xhat.ndim, axis), (g * xhat).sum(axis=other), g.sum(axis=other))


def _affine_sym(xhat, gamma, beta, *, axis=-1):
    xhat = np.asarray(xhat, dtype=object)
    return (_spread(np.asarray(gamma, dtype=object), xhat.ndim, axis) * xhat
            + _spread(np.asarray(beta, dtype=object), xhat.ndim, axis))


def _affine_local(out, xhat, gamma, beta, *, axis=-1):
    xhat = as_float(xhat)
    return (np.broadcast_to(_spread(gamma, xhat.ndim, axis), xhat.shape), xhat,
            np.ones_like(as_float(beta)))


def _affine_matrix(site):
    """∂x̂ = δ ⊙ γ (γ spread over the batch: 𝟙·γᵀ), ∂γ = Σᵢ (δ ⊙ x̂)ᵢ, ∂β = Σᵢ δᵢ (sums over
    every axis but the feature axis)."""
    xhat = as_float(site.inputs[0])
    axis = site.attrs.get("axis", -1)
    g, xh, gamma = mx.V("g"), mx.V(0), mx.V(1)
    if xhat.ndim == 1:
        return mx.had(g, gamma), mx.had(g, xh), g
    if xhat.ndim == 2 and axis == -1:
        spread = mx.dot(mx.ones(xhat.shape[0]), mx.T(gamma))
        return mx.had(g, spread), mx.sum_rows(mx.had(g, xh)), mx.sum_rows(g)
    other = _others(xhat.ndim, axis)
    spread = mx.fn("spread({0})", r"\operatorname{spread}\left({0}\right)",
                   lambda v: np.broadcast_to(_spread(v, xhat.ndim, axis), xhat.shape),
                   gamma, shapes=(np.shape(site.inputs[1]),))

    def total(t):
        return mx.fn("Σ {0}", r"\sum {0}", lambda a: a.sum(axis=other), t, shapes=(xhat.shape,))
    return mx.had(g, spread), total(mx.had(g, xh)), total(g)


register(Op("scale_shift", 3, _affine_forward, _affine_vjp, _affine_sym, "γ ⊙ x̂ + β",
            "{1} ⊙ {0} + {2}", ("{1}", "{0}", "1"), local=_affine_local, matrix=_affine_matrix,
            sample=lambda rng: (rng.uniform(-2, 2, (4, 3)), rng.uniform(0.5, 2, 3),
                                rng.uniform(-1, 1, 3)),
            attrs_sample={"axis": -1}))


# inverted dropout in training mode: h = x ⊙ mask / (1 − p); the mask is an input of the op (a
# constant leaf of the graph, so the tables print it) and is never differentiated.
def _dropout_forward(x, mask, *, p):
    return as_float(x) * as_float(mask) / (1.0 - p)


def _dropout_vjp(g, out, x, mask, *, p):
    g = as_float(g)
    return (g * as_float(mask) / (1.0 - p), g * as_float(x) / (1.0 - p))


def _dropout_sym(x, mask, *, p):
    keep = 1 / (1 - p)
    return np.asarray(x, dtype=object) * np.asarray(mask, dtype=object) * keep


def _dropout_matrix(site):
    """∂x = (1/(1 − p)) · δ ⊙ mask."""
    c = 1.0 / (1.0 - site.attrs["p"])
    return mx.scale(c, mx.had(mx.V("g"), mx.V(1))), mx.scale(c, mx.had(mx.V("g"), mx.V(0)))


register(Op("dropout", 2, _dropout_forward, _dropout_vjp, _dropout_sym, "dropout",
            "{0} ⊙ {1} / (1 − p)", ("{1}/(1 − p)", "{0}/(1 − p)"), matrix=_dropout_matrix,
            sample=lambda rng: (rng.uniform(-2, 2, (3, 4)),
                                (rng.uniform(0, 1, (3, 4)) >= 0.5).astype(float)),
            attrs_sample={"p": 0.5}))
