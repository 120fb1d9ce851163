"""The pieces the training fast path calls directly: elementwise VJPs written `into=` a caller's
array, the L2 penalty's value and factor, the affine VJP without ∂L/∂x — each the same numbers
as the registered op (bit for bit) and as the formula written out here in NumPy."""
import inspect

import numpy as np
import pytest

from gradcalc import ops
from gradcalc.ops.linear import affine_param_vjp, l2_factor, l2_value
from gradcalc.ops.registry import REGISTRY

INTO_OPS = sorted(name for name, op in REGISTRY.items()
                  if "into" in inspect.signature(op.vjp).parameters)


def test_every_activation_vjp_takes_into():
    # the fast path writes a hidden layer's activation gradient over its own dL/dh when the
    # VJP takes into=; every activation a problem file can name does
    from gradcalc.ops.registry import ACTIVATIONS
    assert set(ACTIVATIONS.values()) - {"softmax"} <= set(INTO_OPS)


@pytest.mark.parametrize("name", INTO_OPS)
def test_vjp_into_gives_the_same_array_as_without(name):
    op = ops.get(name)
    rng = np.random.default_rng(5)
    (x,) = op.sample(rng)
    x = np.concatenate([x, rng.uniform(-1, 1, (4,))]) if name in ("relu", "leaky_relu", "abs") \
        else x
    if name in ("relu", "leaky_relu", "abs"):
        x[:2] = [0.0, -0.0]                         # the kink: 0 by the declared convention
    attrs = dict(op.attrs_sample)
    out = np.asarray(op.forward(x, **attrs))
    g = rng.normal(size=x.shape)
    ref = op.vjp(g, out, x, **attrs)[0]
    buf = np.full(x.shape, np.nan)
    got = op.vjp(g, out, x, into=buf, **attrs)[0]
    assert got is buf and np.array_equal(buf, ref)
    g2 = g.copy()                                   # into the gradient itself (in place)
    got = op.vjp(g2, out, x, into=g2, **attrs)[0]
    assert got is g2 and np.array_equal(g2, ref)


def test_relu_vjp_into_is_g_times_the_indicator():
    x = np.array([[-2.0, 0.0, 3.0], [-0.0, 1e-300, -1e-300]])
    g = np.array([[1.5, 2.0, -4.0], [7.0, 0.25, 9.0]])
    relu = ops.get("relu")
    got = relu.vjp(g, np.maximum(x, 0.0), x, into=g)[0]
    assert got is g
    assert np.array_equal(got, np.array([[0.0, 0.0, -4.0], [0.0, 0.25, 0.0]]))


def test_l2_value_and_factor_are_the_registered_op():
    rng = np.random.default_rng(2)
    W1, W2 = rng.normal(size=(4, 3)), rng.normal(size=(2, 4))
    lam = 0.003
    by_hand = lam * (sum(w * w for w in W1.ravel()) + sum(w * w for w in W2.ravel()))
    assert l2_value((W1, W2), lam) == pytest.approx(by_hand, rel=1e-14)
    l2 = ops.get("l2")
    assert float(l2.forward(W1, W2, lam=lam)) == l2_value((W1, W2), lam)
    g = np.asarray(0.5)
    c = l2_factor(g, lam)
    assert float(c) == 2 * lam * 0.5
    for W, gW in zip((W1, W2), l2.vjp(g, None, W1, W2, lam=lam)):
        assert np.array_equal(gW, c * W)            # the fast path's c·W, bit for bit
        np.testing.assert_allclose(gW, 2 * lam * 0.5 * W, rtol=1e-15)


@pytest.mark.parametrize("b_shape", [(3,), (1, 3), ()])
def test_affine_param_vjp_sums_the_bias_over_the_batch(b_shape):
    rng = np.random.default_rng(4)
    g, x, W = rng.normal(size=(5, 3)), rng.normal(size=(5, 4)), rng.normal(size=(3, 4))
    b = np.zeros(b_shape)
    gW, gb = affine_param_vjp(g, x, b)
    np.testing.assert_allclose(gW, np.einsum("ni,nj->ij", g, x), rtol=1e-13)
    expect_b = {(3,): g.sum(axis=0), (1, 3): g.sum(axis=0, keepdims=True), (): g.sum()}[b_shape]
    np.testing.assert_allclose(gb, expect_b, rtol=1e-13)
    assert gb.shape == b_shape
    full = ops.get("affine").vjp(g, None, W, x, b)  # the registered op: the same dW and db
    assert np.array_equal(full[0], gW) and np.array_equal(full[2], gb)
    np.testing.assert_allclose(full[1], g @ W, rtol=1e-13)
