"""Every registered operation three ways: its VJP against sympy.diff of its SymPy form and against
central differences of its NumPy forward, at random points of its domain (op.sample).

The list of operations is ops.REGISTRY itself, so a new op is tested with no edit here."""
import numpy as np
import pytest
import sympy

from gradcalc import ops
from gradcalc.derive.numeric import gradient_of

OP_NAMES = sorted(ops.REGISTRY)
SEEDS = (0, 1)


def _point(op, seed):
    rng = np.random.default_rng(1000 + seed)
    xs = [np.array(v, dtype=float) for v in op.sample(rng)]
    attrs = dict(op.attrs_sample)
    out = np.asarray(op.forward(*xs, **attrs), dtype=float)
    g = rng.standard_normal(out.shape)          # a random, non-uniform upstream gradient
    return xs, attrs, out, g


def _sympy_vjp(op, xs, attrs, g):
    """∂/∂xs of Σ g·form by sympy.diff of the op's SymPy form, evaluated at xs; also the form's
    values (an independent forward)."""
    syms, values = [], {}
    for i, x in enumerate(xs):
        s = np.empty(x.shape, dtype=object)
        for idx in np.ndindex(x.shape):
            s[idx] = sympy.Symbol(f"a{i}_" + "_".join(map(str, idx)), real=True)
            values[s[idx]] = sympy.Float(float(x[idx]))
        syms.append(s)
    forms = np.asarray(op.sym(*syms, **attrs), dtype=object)
    total = sum((float(gk) * sympy.sympify(fk) for gk, fk in zip(g.ravel(), forms.ravel())),
                sympy.Integer(0))

    def num(e):
        v = sympy.sympify(e).xreplace(values)
        return float(v if v.is_Number else v.evalf())

    grads = []
    for s in syms:
        grad = np.zeros(s.shape)
        for idx in np.ndindex(s.shape):
            grad[idx] = num(sympy.diff(total, s[idx]))
        grads.append(grad)
    fwd = np.vectorize(num, otypes=[float])(forms) if forms.size else np.zeros(forms.shape)
    return grads, fwd


def _central(op, xs, attrs, g):
    work = [x.copy() for x in xs]
    f = lambda: float(np.sum(g * np.asarray(op.forward(*work, **attrs), dtype=float)))  # noqa
    return [gradient_of(f, w) for w in work]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", OP_NAMES)
def test_vjp_against_sympy_diff_and_central_differences(name, seed):
    op = ops.REGISTRY[name]
    xs, attrs, out, g = _point(op, seed)
    vjp = [np.asarray(v, dtype=float) for v in op.vjp(g, out, *xs, **attrs)]
    sym, fwd = _sympy_vjp(op, xs, attrs, g)
    num = _central(op, xs, attrs, g)
    np.testing.assert_allclose(fwd.reshape(out.shape), out, rtol=1e-12, atol=1e-13,
                               err_msg=f"{name}: NumPy forward vs SymPy form")
    assert len(vjp) == len(xs)
    for i, (a, b, c) in enumerate(zip(vjp, sym, num)):
        a = a.reshape(xs[i].shape)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12,
                                   err_msg=f"{name}: VJP vs sympy.diff, input {i}")
        np.testing.assert_allclose(a, c, rtol=1e-6, atol=1e-8,
                                   err_msg=f"{name}: VJP vs central differences, input {i}")


@pytest.mark.parametrize("name", OP_NAMES)
def test_the_comparison_can_fail_for_every_op(name):
    # a mutant VJP, 1 % off, must not pass the same comparison (the test is not vacuous)
    op = ops.REGISTRY[name]
    xs, attrs, out, g = _point(op, 0)
    vjp = [1.01 * np.asarray(v, dtype=float) for v in op.vjp(g, out, *xs, **attrs)]
    sym, _ = _sympy_vjp(op, xs, attrs, g)
    nonzero = [i for i, b in enumerate(sym) if np.any(np.abs(b) > 1e-6)]
    assert nonzero, f"{name}: the sample point gives an all-zero gradient; pick a better sample"
    i = nonzero[0]
    assert not np.allclose(vjp[i].reshape(xs[i].shape), sym[i], rtol=1e-6, atol=1e-12)


# ---------------------------------------------------------------- one-example forwards
def _lse(v):
    """log Σ exp(v), written here with math.fsum (an independent reference)."""
    import math
    m = max(v)
    return m + math.log(math.fsum(math.exp(x - m) for x in v))


@pytest.mark.parametrize("seed", range(5))
def test_one_example_loss_forwards_equal_the_batch_form_and_a_reference(seed):
    # the forwards of cross_entropy, mse and softmax have a faster path for one example (the
    # numeric check calls them ~20,000 times); it must give what the batch form gives for a
    # batch of one row, bit for bit, and agree with a reference computed here
    import math
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        y = rng.standard_normal(n) * rng.choice([1e-3, 1.0, 30.0])
        label = np.asarray(int(rng.integers(0, n)))
        t = rng.standard_normal(n)
        ce = float(ops.get("cross_entropy").forward(y, label))
        assert ce == float(ops.get("cross_entropy").forward(y[None, :], label.reshape(1)))
        lse = _lse(list(y))
        # float64 rounding of log Σ exp only (the difference may cancel: an absolute bound)
        assert abs(ce - (lse - y[int(label)])) <= 4e-16 * max(1.0, abs(lse), abs(y[int(label)]))
        mse = float(ops.get("mse").forward(y, target=t, scale=0.5))
        assert mse == float(ops.get("mse").forward(y[None, :], target=t[None, :], scale=0.5))
        assert mse == pytest.approx(0.5 * math.fsum((a - b) ** 2 for a, b in zip(y, t)),
                                    rel=1e-14)
        s = ops.get("softmax").forward(y)
        np.testing.assert_array_equal(s, ops.get("softmax").forward(y[None, :])[0])
        # exp(v − lse) carries the rounding of lse times |v − lse|: about 1e-14 at most here
        np.testing.assert_allclose(s, [math.exp(v - lse) for v in y], rtol=1e-12, atol=1e-300)
    with pytest.raises(ValueError):                   # one example needs exactly one label
        ops.get("cross_entropy").forward(np.zeros(3), np.array([0, 1]))
