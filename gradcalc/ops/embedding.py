"""Embedding op: rows of W (V×D) picked by integer ids; its gradient is a scatter-add."""
from __future__ import annotations

import numpy as np

from gradcalc.ops import matrix as mx
from gradcalc.ops.arrays import as_float
from gradcalc.ops.registry import Op, register


# h = W[ids]: ids (T, or N×T for a batch) are an attribute, not an input — they are indices,
# nothing to differentiate.  ∂L/∂W = onehot(ids)ᵀ·δ: row v collects δ of every position whose id
# is v, so a repeated id accumulates (a scatter-add, np.add.at, never an assignment).
def _ids(ids):
    return np.asarray(ids, dtype=int)


def _embed_forward(W, *, ids):
    return as_float(W)[_ids(ids)]


def _embed_vjp(g, out, W, *, ids):
    dW = np.zeros(np.shape(W))
    np.add.at(dW, _ids(ids), as_float(g))
    return (dW,)


def _embed_sym(W, *, ids):
    return np.asarray(W, dtype=object)[_ids(ids)]


def _onehot(ids, V):
    flat = _ids(ids).reshape(-1)
    out = np.zeros((flat.size, V))
    out[np.arange(flat.size), flat] = 1.0
    return out


def _embed_matrix(site):
    """∂W = onehot(ids)ᵀ·δ (a batch: its N·T positions as rows)."""
    V, D = np.shape(site.inputs[0])
    ids = site.attrs["ids"]
    onehot = mx.Leaf("onehot(ids)", _onehot(ids, V), r"\operatorname{onehot}(\mathrm{ids})")
    g = mx.V("g")
    if _ids(ids).ndim > 1:
        g = mx.fn("{0}", "{0}", lambda a: a.reshape(-1, D), g, shapes=(site.out_shape,))
    return (mx.dot(mx.T(onehot), g),)


register(Op("embedding", 1, _embed_forward, _embed_vjp, _embed_sym, "W[ids]", "{0}[ids]",
            ("onehot(ids) (one row per position; rows of W hit twice add)",), matrix=_embed_matrix,
            local=lambda out, W, *, ids: (_onehot(ids, np.shape(W)[0]),),
            sample=lambda rng: (rng.uniform(-1, 1, (5, 3)),),
            attrs_sample={"ids": np.array([1, 3, 1, 0])}))
