"""Pooling ops (max and average, 1-D and 2-D) and flatten, the reshape from feature maps to a vector."""
from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from gradcalc.ops import matrix as mx
from gradcalc.ops.arrays import as_float, sympy_module
from gradcalc.ops.registry import Op, register


# pooling: windows of `size` (per axis) every `stride` (default: size) over the last nd axes,
# whatever comes before them (channels, a batch).
# Each window offset (row-major) is one strided view of x: the loops run over the size**nd
# offsets of a window, never over the windows themselves.
_dot = np.dot


@functools.lru_cache(maxsize=256)
def _pool_offsets(shape, nd, size, stride) -> tuple:
    """For every window offset, the index of the entries at that offset of every window
    (cached: a graph pools the same shapes again and again; the result is immutable)."""
    s = stride or size
    So = tuple((n - size) // s + 1 for n in shape[len(shape) - nd:])
    return tuple((Ellipsis,) + tuple(slice(o, o + s * (n - 1) + 1, s) for o, n in zip(off, So))
                 for off in itertools.product(range(size), repeat=nd))   # row-major


def _first_argmax(x, where):
    """The max of every window and the offset of its first maximum (row-major: the tie rule)."""
    best = x[where[0]].copy()
    arg = np.zeros(best.shape, dtype=int)
    for j, w in enumerate(where[1:], 1):
        v = x[w]
        better = v > best                     # strict: a tie keeps the earlier maximum
        best = np.where(better, v, best)
        arg[better] = j
    return best, arg


def _maxpool_forward(x, *, nd, size=2, stride=None):
    x = as_float(x)
    where = _pool_offsets(x.shape, nd, size, stride)
    if len(where) == 1:
        return x[where[0]].copy()
    out = np.maximum(x[where[0]], x[where[1]])
    for w in where[2:]:
        np.maximum(out, x[w], out=out)
    return out


def _maxpool_vjp(g, out, x, *, nd, size=2, stride=None):
    x, g = as_float(x), as_float(g)
    where = _pool_offsets(x.shape, nd, size, stride)
    if (stride or size) >= size:              # windows do not overlap: each entry has one window
        # the forward's output is the windows' maxima (recomputed if a caller passes none)
        best = out if type(out) is np.ndarray and out.dtype == np.float64 and \
            out.shape == x[where[0]].shape else _maxpool_forward(x, nd=nd, size=size, stride=stride)
        flat = best.reshape(-1)         # no NaN window (else the loop below): a sum of
        if math.isfinite(_dot(flat, flat)):  # squares, inf/NaN also when a maximum is huge
            best = best.copy()                # a taken maximum becomes NaN: it matches no more
            dx = np.zeros(x.shape)
            if g.shape != best.shape:
                g = np.broadcast_to(g, best.shape)
            hit = np.empty(best.shape, dtype=bool)
            last = len(where) - 1
            for j, w in enumerate(where):     # row-major offsets: the first maximum wins a tie
                np.equal(x[w], best, out=hit)
                np.copyto(dx[w], g, where=hit)      # = np.where(hit, g, 0.0) into the zeros
                if j < last:
                    np.copyto(best, np.nan, where=hit)
            return (dx,)
    _, arg = _first_argmax(x, where)
    dx = np.zeros(x.shape)
    for j, w in enumerate(where):             # += : overlapping windows may share a winner
        dx[w] += np.where(arg == j, g, 0.0)
    return (dx,)


def _maxpool_branch(x, tol=0.0, *, nd, size=2, stride=None):
    """Per input entry: +1 wins a window outright, −1 loses, 0 is tied (within tol) for a max."""
    x = as_float(x)
    where = _pool_offsets(x.shape, nd, size, stride)
    top, arg = _first_argmax(x, where)
    second = np.full(top.shape, -np.inf)
    for j, w in enumerate(where):
        second = np.maximum(second, np.where(arg == j, -np.inf, x[w]))
    tied = (top - second) <= tol
    kink, wins = np.zeros(x.shape, dtype=bool), np.zeros(x.shape, dtype=bool)
    for j, w in enumerate(where):
        kink[w] |= tied & (x[w] >= top - tol)
        wins[w] |= arg == j
    return np.where(kink, 0, np.where(wins, 1, -1)).astype(int)


def _avgpool_forward(x, *, nd, size=2, stride=None):
    x = as_float(x)
    where = _pool_offsets(x.shape, nd, size, stride)
    out = x[where[0]].copy()
    for w in where[1:]:
        out += x[w]
    return out / len(where)


def _avgpool_vjp(g, out, x, *, nd, size=2, stride=None):
    x = as_float(x)
    where = _pool_offsets(x.shape, nd, size, stride)
    share = as_float(g) / len(where)
    dx = np.zeros(x.shape)
    for w in where:
        dx[w] += share
    return (dx,)


def _first_max_sym(vals):
    """max of the values as a Piecewise whose pieces pick the *first* maximum (the tie rule)."""
    sp = sympy_module()
    if len(vals) == 1:
        return vals[0]
    pieces = []
    for j, v in enumerate(vals[:-1]):
        conds = [v > u for u in vals[:j]] + [v >= u for u in vals[j + 1:]]
        pieces.append((v, sp.And(*conds)))
    pieces.append((vals[-1], True))
    return sp.Piecewise(*pieces)


def _pool_sym(x, *, nd, size, stride, reduce):
    """Index by index: out[…, p] = reduce(x[…, p·stride + k] for k in the window)."""
    x = np.asarray(x, dtype=object)
    s = stride or size
    lead, S = x.shape[:x.ndim - nd], x.shape[x.ndim - nd:]
    So = tuple((n - size) // s + 1 for n in S)
    out = np.empty(lead + So, dtype=object)
    for li in np.ndindex(*lead):
        for p in np.ndindex(*So):
            vals = [x[li + tuple(pi * s + ki for pi, ki in zip(p, k))]
                    for k in np.ndindex(*(size,) * nd)]
            out[li + p] = reduce(vals)
    return out


def _pool_matrix(site, nd, kind):
    """∂L/∂x = reshape(Rᵀ·vec(δ)): R has a row per output entry and a column per input entry,
    1 at the first maximum of its window (max: the gradient is routed to the argmax) or
    1/window size on every entry of the window (average).  R is kept sparse (its nonzero
    entries; a 28×28 map would make a dense R of tens of MB) and Rᵀ·vec(δ) is the sparse
    product, Σ over R's entries of R[p, i]·δ[p] into entry i."""
    x = as_float(site.inputs[0])
    size = site.attrs.get("size", 2)
    where = _pool_offsets(x.shape, nd, size, site.attrs.get("stride"))
    index = np.arange(x.size).reshape(x.shape)
    cells = np.stack([index[w].reshape(-1) for w in where])      # (window entries, outputs)
    rows = np.arange(cells.shape[1])
    if kind == "max":      # np.argmax picks the first maximum: the tie rule
        arg = np.argmax(np.stack([x[w].reshape(-1) for w in where]), axis=0)
        R = (rows, cells[arg, rows], np.ones(rows.size))
    else:
        R = (np.tile(rows, len(where)), cells.reshape(-1), np.full(cells.size, 1.0 / len(where)))

    def route(g):          # Rᵀ·vec(δ), R sparse
        r, c, v = R
        return np.bincount(c, weights=v * g.reshape(-1)[r], minlength=x.size).reshape(x.shape)

    name = "argmax" if kind == "max" else "mean"
    return (mx.fn(f"reshape(R_{name}ᵀ·vec({{0}}))",
                  rf"\operatorname{{reshape}}\left(R_{{\mathrm{{{name}}}}}^{{\top}} \cdot "
                  rf"\operatorname{{vec}}\left({{0}}\right)\right)",
                  route, mx.V("g"), shapes=(site.out_shape,)),)


def _apart(size=2, stride=None, **attrs) -> bool:
    """The windows do not overlap: every input entry is in one window at most."""
    return (stride or size) >= size


def _pool_op(name, nd, kind, sample, attrs_sample):
    if kind == "max":
        fwd, vjp, reduce = _maxpool_forward, _maxpool_vjp, _first_max_sym
        text = ("1 at the first maximum of each window, 0 elsewhere (the gradient is routed there)",)
        label, formula = f"max pool ({name})", "max over each window of {0}"
    else:
        fwd, vjp = _avgpool_forward, _avgpool_vjp
        text = (f"1/size{'²' if nd == 2 else ''} for every entry of its window",)
        label, formula = f"average pool ({name})", "mean over each window of {0}"

        def reduce(vals):
            return sum(vals[1:], vals[0]) / len(vals)

    def branch(x, tol=0.0, **a):
        return _maxpool_branch(x, tol, nd=nd, **a)

    return register(Op(name, 1, lambda x, **a: fwd(x, nd=nd, **a),
                       lambda g, out, x, **a: vjp(g, out, x, nd=nd, **a),
                       lambda x, size=2, stride=None: _pool_sym(x, nd=nd, size=size, stride=stride,
                                                                reduce=reduce),
                       label, formula, text, branch=branch if kind == "max" else None,
                       sample=sample, attrs_sample=attrs_sample,
                       matrix=lambda site: _pool_matrix(site, nd, kind),
                       # max: routing unless windows overlap (a sum of gradients may
                       # overflow); a mean of huge entries may overflow
                       routes=_apart if kind == "max" else False))


_pool_op("maxpool2d", 2, "max", lambda rng: (rng.uniform(-2, 2, (2, 4, 4)),),
         {"size": 2, "stride": 1})
_pool_op("avgpool2d", 2, "avg", lambda rng: (rng.uniform(-2, 2, (2, 4, 4)),),
         {"size": 2, "stride": 2})
_pool_op("maxpool1d", 1, "max", lambda rng: (rng.uniform(-2, 2, (2, 7)),),
         {"size": 3, "stride": 2})
_pool_op("avgpool1d", 1, "avg", lambda rng: (rng.uniform(-2, 2, (2, 6)),),
         {"size": 2, "stride": 1})


def _flatten_shape(shape, batch):
    return (shape[0], -1) if batch else (-1,)


register(Op("flatten", 1,
            lambda x, batch=False: as_float(x).reshape(_flatten_shape(np.shape(x), batch)),
            lambda g, out, x, batch=False: (as_float(g).reshape(np.shape(x)),),
            lambda x, batch=False: np.asarray(x, dtype=object).reshape(
                _flatten_shape(np.shape(x), batch)),
            "flatten", "flatten({0})", ("1 (a reshape: each gradient goes back to its entry)",),
            sample=lambda rng: (rng.uniform(-2, 2, (2, 3, 2)),), attrs_sample={"batch": False},
            routes=True,
            matrix=lambda site: (mx.fn("reshape({0})", r"\operatorname{reshape}\left({0}\right)",
                                       lambda g: g.reshape(np.shape(site.inputs[0])), mx.V("g"),
                                       shapes=(site.out_shape,)),)))
