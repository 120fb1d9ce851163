"""Convolution ops (conv1d, conv2d): im2col forward, correlation/col2im VJP, the SymPy definition."""
from __future__ import annotations

import math

import numpy as np

from gradcalc.ops import matrix as mx
from gradcalc.ops.arrays import as_float
from gradcalc.ops.registry import Op, register

# Shapes.  A conv kernel W is (out_channels, in_channels, *k), or a plain k-vector (1-D) /
# kh×kw matrix (2-D) for one channel in and out.  An input x is (C, *S), or plain (*S) for one
# channel, with a leading batch axis when the attr batch=True.  The output keeps the caller's
# layout: (O, *So), or plain (*So) for a plain kernel on a plain input.  Everything is
# vectorized with sliding windows (an im2col view); the only Python loops run over the kernel
# offsets, never over pixels.


def conv_canon(W, x, b, nd: int, batch: bool):
    """(W, x, b) -> W (O, C, *k), x (N, C, *S), b (O,) and whether the kernel was plain.

    Pure reshapes, so it serves float and SymPy object arrays alike."""
    plain = W.ndim == nd
    Wc = W.reshape((1, 1) + W.shape) if plain else W
    xc = x if batch else x[None]
    if xc.ndim == nd + 1:                  # no channel axis: one channel
        xc = xc[:, None]
    return Wc, xc, b.reshape(-1), plain


def _conv_uncanon(out, x_ndim: int, nd: int, batch: bool, plain: bool):
    """(N, O, *So) -> the caller's layout (drop the axes the caller did not write)."""
    if plain and x_ndim - int(batch) == nd:
        out = out[:, 0]
    return out if batch else out[0]


def _flip(W, nd):
    return W[(Ellipsis,) + (slice(None, None, -1),) * nd]


def _conv_windows(xc, K, stride, padding, nd):
    """Every input patch: (N, C, *So, *k), a strided view of the zero-padded input (no copy)."""
    if padding:
        xc = np.pad(xc, [(0, 0), (0, 0)] + [(padding, padding)] * nd)
    xc = np.ascontiguousarray(xc)
    st = xc.strides
    So = tuple((s - k) // stride + 1 for s, k in zip(xc.shape[2:], K))
    # the view built directly on the buffer (as_strided does the same, at several times the cost)
    win = np.ndarray(xc.shape[:2] + So + tuple(K), xc.dtype, xc, 0,
                     st[:2] + tuple(s * stride for s in st[2:]) + st[2:])
    win.flags.writeable = False
    return win, xc.shape


def _cols(win, nd):
    """(N, C, *So, *k) -> the im2col matrix per example, (N, C·k…, P): one column per output
    position.  The copy keeps the output positions innermost (long contiguous runs)."""
    N, C, So, K = win.shape[0], win.shape[1], win.shape[2:2 + nd], win.shape[2 + nd:]
    order = (0, 1) + tuple(range(2 + nd, 2 + 2 * nd)) + tuple(range(2, 2 + nd))
    return win.transpose(order).reshape(N, C * math.prod(K), math.prod(So))


def _col2im(dcols, spatial, stride, nd):
    """(N, C, *k, *So) -> (N, C, *spatial): every column added back onto its patch, one axis
    at a time (k_a strided adds per axis, not one per kernel offset)."""
    acc = dcols
    for a in range(nd):
        r = nd - a                          # kernel axes left: acc is (N, C, k_a…, *D)
        ax = 1 + r + a                      # spatial axis a once kernel axis k_a is indexed
        n = acc.shape[2 + r + a]
        shape = list(acc.shape[:2] + acc.shape[3:])
        shape[ax] = spatial[a]
        folded = np.zeros(shape)
        for o in range(acc.shape[2]):
            view = folded[(slice(None),) * ax + (slice(o, o + stride * (n - 1) + 1, stride),)]
            np.add(view, acc[:, :, o], out=view)
        acc = folded
    return acc


SAVE_MAX = 1 << 20      # an im2col matrix of more entries (8 MB) is recomputed, not kept


def _conv_forward(W, x, b, *, nd, stride=1, padding=0, flip=False, batch=False):
    return _conv_forward_saving(W, x, b, nd=nd, stride=stride, padding=padding, flip=flip,
                                batch=batch)[0]


def _conv_forward_saving(W, x, b, *, nd, stride=1, padding=0, flip=False, batch=False):
    """(the output, (im2col matrix, padded input shape) for the VJP, or None when large)."""
    W, x, b = as_float(W), as_float(x), as_float(b)
    Wc, xc, bc, plain = conv_canon(W, x, b, nd, batch)
    Wk = _flip(Wc, nd) if flip else Wc     # flip: the mathematical convolution
    win, padded = _conv_windows(xc, Wk.shape[2:], stride, padding, nd)
    cols = _cols(win, nd)
    # out[n, o, p] = Σ_c Σ_k W[o, c, k] · x[n, c, p·stride + k]: one matrix product (im2col)
    out = Wk.reshape(Wk.shape[0], -1) @ cols                             # (N, O, P)
    out += bc[:, None]
    out = out.reshape(out.shape[:2] + win.shape[2:2 + nd])
    saved = (cols, padded) if cols.size <= SAVE_MAX else None
    return _conv_uncanon(out, x.ndim, nd, batch, plain), saved


def _conv_vjp(g, out, W, x, b, *, nd, stride=1, padding=0, flip=False, batch=False):
    return _conv_vjp_saved(g, out, None, W, x, b, nd=nd, stride=stride, padding=padding,
                           flip=flip, batch=batch)


def _conv_vjp_saved(g, out, saved, W, x, b, *, nd, stride=1, padding=0, flip=False,
                    batch=False):
    """The VJP; `saved` is the forward's (im2col matrix, padded shape), or None: recomputed."""
    W, x, b = as_float(W), as_float(x), as_float(b)
    Wc, xc, bc, plain = conv_canon(W, x, b, nd, batch)
    Wk = _flip(Wc, nd) if flip else Wc
    K = Wk.shape[2:]
    if saved is None:
        win, padded = _conv_windows(xc, K, stride, padding, nd)
        cols = _cols(win, nd)                     # (N, C·k…, P)
    else:
        cols, padded = saved
    N, C, O = xc.shape[0], xc.shape[1], Wk.shape[0]
    So = tuple((s - k) // stride + 1 for s, k in zip(padded[2:], K))
    G = as_float(g).reshape(N, O, -1)             # the upstream gradient, (N, O, P)
    # ∂L/∂W: the correlation of the input with the upstream gradient
    dWk = (G[0] @ cols[0].T if N == 1 else np.tensordot(G, cols, axes=((0, 2), (0, 2))))
    dWk = dWk.reshape(Wk.shape)
    dW = _flip(dWk, nd) if flip else dWk
    db = G.sum(axis=(0, 2))
    # ∂L/∂x: every output scatters upstream × kernel back onto its patch (col2im); for stride 1
    # this is the full convolution of the upstream gradient with the flipped kernel
    dcols = (Wk.reshape(O, -1).T @ G).reshape((N, C) + K + So)            # (N, C, *k, *So)
    dxp = _col2im(dcols, padded[2:], stride, nd)
    dx = dxp if not padding else \
        dxp[(slice(None), slice(None)) + tuple(slice(padding, padding + s) for s in xc.shape[2:])]
    return (dW.reshape(W.shape), dx.reshape(x.shape), db.reshape(b.shape))


def _conv_local(out, W, x, b, **attrs):
    # as for W·x + b: each output entry uses its input patch (∂z/∂W) and the kernel (∂z/∂x)
    return as_float(x), as_float(W), np.ones_like(as_float(b))


def _conv_sym(W, x, b, *, nd, stride=1, padding=0, flip=False, batch=False):
    """The definition, index by index: z[n,o,p] = b[o] + Σ_c Σ_k W[o,c,k] x[n,c,p·s+k−padding]."""
    W, x, b = (np.asarray(v, dtype=object) for v in (W, x, b))
    Wc, xc, bc, plain = conv_canon(W, x, b, nd, batch)
    N, C, S = xc.shape[0], xc.shape[1], xc.shape[2:]
    O, K = Wc.shape[0], Wc.shape[2:]
    So = tuple((s + 2 * padding - k) // stride + 1 for s, k in zip(S, K))
    out = np.empty((N, O) + So, dtype=object)
    for n, o in np.ndindex(N, O):
        for p in np.ndindex(*So):
            total = bc[o]
            for c in range(C):
                for k in np.ndindex(*K):
                    src = tuple(pi * stride + ki - padding for pi, ki in zip(p, k))
                    if all(0 <= si < s for si, s in zip(src, S)):     # outside: zero padding
                        wk = tuple(kk - 1 - ki for kk, ki in zip(K, k)) if flip else k
                        total = total + Wc[(o, c) + wk] * xc[(n, c) + src]
            out[(n, o) + p] = total
    return _conv_uncanon(out, x.ndim, nd, batch, plain)


def _windows(a, K, nd):
    """Every K-window of the last nd axes: (…, *L, *K), L = S − K + 1 (stride 1)."""
    return np.lib.stride_tricks.sliding_window_view(a, tuple(K), axis=tuple(range(-nd, 0)))


def _conv_matrix(site, nd):
    """∂L/∂W = x ⋆ δ (the input correlated with the upstream gradient), ∂L/∂x = δ ⋆full
    rot180(kernel) (a full correlation with the flipped kernel: the transposed convolution),
    ∂L/∂b = the sum of δ over positions.  Evaluated here with sliding windows, not the VJP."""
    W, x, b = (as_float(v) for v in site.inputs)
    stride, padding = site.attrs.get("stride", 1), site.attrs.get("padding", 0)
    flip, batch = site.attrs.get("flip", False), site.attrs.get("batch", False)
    Wc, xc, _, _ = conv_canon(W, x, b, nd, batch)
    K, S = Wc.shape[2:], xc.shape[2:]
    So = tuple((s + 2 * padding - k) // stride + 1 for s, k in zip(S, K))
    gshape = (xc.shape[0], Wc.shape[0]) + So
    sp = "".join("pqr"[:nd])
    kk = "".join("ijk"[:nd])
    pad = [(0, 0), (0, 0)] + [(padding, padding)] * nd

    def grad_W(xv, g):
        xp = np.pad(xv.reshape(xc.shape), pad)
        win = _windows(xp, K, nd)[(Ellipsis,) + (slice(None, None, stride),) * nd + (slice(None),) * nd]
        win = win[(slice(None), slice(None)) + tuple(slice(0, n) for n in So)]
        dW = np.einsum(f"nc{sp}{kk},no{sp}->oc{kk}", win, g.reshape(gshape))
        return (_flip(dW, nd) if flip else dW).reshape(W.shape)

    def grad_x(g, Wv):
        Wk = Wv.reshape(Wc.shape)
        Wk = _flip(Wk, nd) if flip else Wk                     # the kernel the forward used
        dil = np.zeros(gshape[:2] + tuple((n - 1) * stride + 1 for n in So))
        dil[(slice(None), slice(None)) + (slice(None, None, stride),) * nd] = g.reshape(gshape)
        full = np.pad(dil, [(0, 0), (0, 0)] + [(k - 1, k - 1) for k in K])
        corr = np.einsum(f"no{sp}{kk},oc{kk}->nc{sp}", _windows(full, K, nd), _flip(Wk, nd))
        dxp = np.zeros(xc.shape[:2] + tuple(s + 2 * padding for s in S))
        dxp[(slice(None), slice(None)) + tuple(slice(0, n) for n in corr.shape[2:])] = corr
        dx = dxp[(slice(None), slice(None)) + tuple(slice(padding, padding + s) for s in S)]
        return dx.reshape(x.shape)

    def grad_b(g):
        return g.reshape(gshape).sum(axis=(0,) + tuple(range(2, 2 + nd))).reshape(b.shape)

    g, out = mx.V("g"), site.out_shape
    how = f" (δ dilated by stride {stride})" if stride > 1 else ""
    rot = ("{1}", "{1}") if flip else ("rot180({1})", r"\operatorname{rot180}\left({1}\right)")
    tw = ("rot180({0} ⋆ {1})", r"\operatorname{rot180}\left({0} \star {1}\right)") if flip else \
        ("{0} ⋆ {1}", r"{0} \star {1}")
    return (mx.fn(tw[0], tw[1], grad_W, mx.V(1), g, shapes=(x.shape, out)),
            mx.fn("{0} ⋆full " + rot[0] + how, r"{0} \star_{\mathrm{full}} " + rot[1], grad_x, g,
                  mx.V(0), shapes=(out, W.shape)),
            mx.fn("Σ_positions {0}", r"\sum_{\mathrm{positions}} {0}", grad_b, g, shapes=(out,)))


def _conv_op(name, nd, sample, attrs_sample):
    def forward(W, x, b, **a):
        return _conv_forward(W, x, b, nd=nd, **a)

    def vjp(g, out, W, x, b, **a):
        return _conv_vjp(g, out, W, x, b, nd=nd, **a)

    def sym(W, x, b, **a):
        return _conv_sym(W, x, b, nd=nd, **a)

    def forward_saving(W, x, b, **a):
        return _conv_forward_saving(W, x, b, nd=nd, **a)

    def vjp_saved(g, out, saved, W, x, b, **a):
        return _conv_vjp_saved(g, out, saved, W, x, b, nd=nd, **a)

    return register(Op(name, 3, forward, vjp, sym, f"W ⋆ x + b ({name})", "{0} ⋆ {1} + {2}",
                       ("the input patch of each output: ∂L/∂W = {1} ⋆ upstream (correlation)",
                        "{0}: ∂L/∂x = upstream ∗ rot180({0}) (full convolution)",
                        "1: ∂L/∂b = Σ upstream"),
                       local=_conv_local, sample=sample, attrs_sample=attrs_sample,
                       matrix=lambda site: _conv_matrix(site, nd),
                       forward_saving=forward_saving, vjp_saved=vjp_saved))


_conv_op("conv2d", 2,
         lambda rng: (rng.uniform(-1, 1, (2, 2, 2, 2)), rng.uniform(-1, 1, (2, 4, 4)),
                      rng.uniform(-1, 1, 2)),
         {"stride": 2, "padding": 1, "flip": True, "batch": False})
_conv_op("conv1d", 1,
         lambda rng: (rng.uniform(-1, 1, (2, 2, 3)), rng.uniform(-1, 1, (2, 6)),
                      rng.uniform(-1, 1, 2)),
         {"stride": 2, "padding": 1, "flip": True, "batch": False})
