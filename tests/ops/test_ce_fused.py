"""ops.losses.ce_forward_with_vjp (the training fast path's cross entropy): the same loss and
VJP as the registered op, bit for bit, and the VJP equals softmax − onehot (or − target) / den
written out here in NumPy."""
import numpy as np
import pytest

from gradcalc import ops
from gradcalc.ops.losses import ce_forward_with_vjp


def _by_hand(y, label, target, reduction):
    Y = np.atleast_2d(y)
    e = np.exp(Y - Y.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    t = np.eye(Y.shape[1])[np.atleast_1d(label)] if target is None else np.reshape(target, Y.shape)
    den = {"mean": Y.shape[0] if np.ndim(y) > 1 else 1, "sum": 1, "mean_all": Y.size}[reduction]
    L = (np.log(np.exp(Y).sum(axis=1)) - (t * Y).sum(axis=1)).sum() / den
    return L, ((p - t) / den).reshape(np.shape(y))


@pytest.mark.parametrize("shape", [(7, 3), (5, 10), (4,)])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "mean_all"])
def test_fused_cross_entropy_equals_registry_op_bit_for_bit(shape, soft, reduction):
    rng = np.random.default_rng(3)
    y = rng.normal(size=shape) * 3
    n = 1 if len(shape) == 1 else shape[0]
    k = shape[-1]
    label = rng.integers(0, k, size=n) if len(shape) > 1 else np.array(rng.integers(0, k))
    target = None
    if soft:
        t = rng.uniform(size=(n, k))
        target = (t / t.sum(axis=1, keepdims=True)).reshape(shape)
        label = None
    attrs = {"label": label, "target": target, "reduction": reduction}
    ce = ops.get("cross_entropy")
    L_ref = np.asarray(ce.forward(y, **attrs))
    g = np.asarray(0.7)
    gy_ref = ce.vjp(g, L_ref, y, **attrs)[0]
    L, vjp = ce_forward_with_vjp(y, **attrs)
    gy = vjp(g)[0]
    assert np.array_equal(np.asarray(L), L_ref)
    assert np.array_equal(gy, gy_ref) and gy.shape == y.shape
    L_hand, gy_hand = _by_hand(y, label, target, reduction)
    np.testing.assert_allclose(L, L_hand, rtol=1e-12)
    np.testing.assert_allclose(gy, 0.7 * gy_hand, rtol=1e-12, atol=1e-15)
