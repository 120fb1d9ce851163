"""Max pooling's VJP on tie-heavy and NaN inputs against a window-by-window loop written here:
every window routes its upstream gradient to its first maximum in row-major order (the tie
rule); a scan with strict > never lets a NaN win unless it is the window's first entry."""
import itertools

import numpy as np
import pytest

from gradcalc import ops


def reference(x, g, nd, size, stride):
    """The rule, one window at a time: scan the window row-major, keep an entry only if it is
    strictly greater than the best so far."""
    s = stride or size
    lead, S = x.shape[:x.ndim - nd], x.shape[x.ndim - nd:]
    So = tuple((n - size) // s + 1 for n in S)
    dx = np.zeros(x.shape)
    for li in itertools.product(*map(range, lead)):
        for p in itertools.product(*map(range, So)):
            cells = [tuple(pi * s + ki for pi, ki in zip(p, k))
                     for k in itertools.product(range(size), repeat=nd)]
            best = cells[0]
            for c in cells[1:]:
                if x[li + c] > x[li + best]:
                    best = c
            dx[li + best] += g[li + p]
    return dx


CASES = [  # (shape, nd, size, stride): tiling, a cut edge, gaps between windows, overlap
    ((3, 8, 8), 2, 2, None), ((2, 9, 7), 2, 2, 2), ((2, 9, 9), 2, 3, None), ((2, 10, 10), 2, 2, 3),
    ((2, 7, 7), 2, 3, 2), ((3, 12), 1, 2, None), ((2, 11), 1, 3, 3), ((2, 3, 8, 8), 2, 2, None),
]


@pytest.mark.parametrize("shape,nd,size,stride", CASES)
def test_vjp_routes_to_the_first_maximum_of_every_window(shape, nd, size, stride):
    rng = np.random.default_rng(sum(shape) + size)
    op = ops.get("maxpool2d" if nd == 2 else "maxpool1d")
    for x in (rng.integers(0, 3, shape).astype(float),           # many ties
              np.maximum(rng.normal(size=shape), 0.0),            # ties at 0 (after a relu)
              rng.normal(size=shape)):                            # no ties
        out = np.asarray(op.forward(x, size=size, stride=stride))
        g = rng.normal(size=out.shape)
        (dx,) = op.vjp(g, out, x, size=size, stride=stride)
        np.testing.assert_array_equal(dx, reference(x, g, nd, size, stride))
        assert not np.signbit(dx[dx == 0]).any()                  # zeros are +0.0


@pytest.mark.parametrize("first", [True, False])
def test_nan_keeps_the_strict_scan_rule(first):
    x = np.arange(16, dtype=float).reshape(1, 4, 4)
    x[0, 0 if first else 1, 0 if first else 1] = np.nan
    op = ops.get("maxpool2d")
    g = np.arange(1.0, 5.0).reshape(1, 2, 2)
    with np.errstate(invalid="ignore"):
        (dx,) = op.vjp(g, op.forward(x, size=2), x, size=2)
    np.testing.assert_array_equal(dx, reference(x, g, 2, 2, None))
