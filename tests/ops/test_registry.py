"""Tests of gradcalc.ops: every registered VJP against central differences computed here."""
import math

import numpy as np
import pytest

from gradcalc import ops
from gradcalc.derive.autograd import Graph
from gradcalc.problem.load import parse_problem

OP_NAMES = sorted(ops.REGISTRY)
SEEDS = (0, 1, 2)
H = 1e-6


def _forward(op, xs, attrs):
    return np.asarray(op.forward(*xs, **attrs), dtype=float)


def central_vjp(op, xs, attrs, g, h=H):
    """∂/∂xs of Σ g · forward(xs), by central differences of the forward only."""
    grads = []
    for i, x in enumerate(xs):
        x = np.asarray(x, dtype=float)
        grad = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            plus = [np.array(v, dtype=float, copy=True) for v in xs]
            minus = [np.array(v, dtype=float, copy=True) for v in xs]
            plus[i][idx] += h
            minus[i][idx] -= h
            grad[idx] = (np.sum(g * _forward(op, plus, attrs))
                         - np.sum(g * _forward(op, minus, attrs))) / (2 * h)
        grads.append(grad)
    return grads


def test_every_op_has_a_sample_so_it_is_tested():
    # a new op without a valid sample domain would silently escape the VJP test below
    missing = [name for name, op in ops.REGISTRY.items() if op.sample is None]
    assert missing == []


def test_activation_and_loss_names_point_into_the_registry():
    for table in (ops.ACTIVATIONS, ops.LOSSES):
        for name, op_name in table.items():
            assert op_name in ops.REGISTRY, name
    for name in ("linear", "identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"):
        assert name in ops.ACTIVATIONS
    assert ops.ACTIVATIONS["identity"] == "linear"
    for name in ("mse", "cross_entropy", "hinge", "bce"):
        assert name in ops.LOSSES


def test_expression_grammar_functions_are_registered():
    funcs = ops.expression_functions()
    for name in ("exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu"):
        assert funcs[name] == 1
    assert funcs["max"] == 2 and funcs["min"] == 2


def test_get_unknown_op_names_it():
    with pytest.raises(KeyError, match="'nope'"):
        ops.get("nope")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", OP_NAMES)
def test_vjp_matches_central_differences(name, seed):
    op = ops.REGISTRY[name]
    rng = np.random.default_rng(seed)
    xs = [np.asarray(x, dtype=float) for x in op.sample(rng)]
    attrs = dict(op.attrs_sample)
    if op.check is not None:
        assert op.check(*xs) is None, "the sample must lie inside the op's domain"
    out = _forward(op, xs, attrs)
    assert np.all(np.isfinite(out))
    g = rng.normal(size=out.shape)
    got = op.vjp(g, out, *xs, **attrs)
    assert len(got) == len(xs)
    want = central_vjp(op, xs, attrs, g)
    for i, (a, b) in enumerate(zip(got, want)):
        a = np.asarray(a, dtype=float)
        assert a.shape == xs[i].shape, f"gradient of input {i} has the wrong shape"
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg=f"{name} input {i}")


@pytest.mark.parametrize("name", OP_NAMES)
def test_elementwise_local_gradient_is_the_derivative(name):
    """For elementwise ops the local gradient shown in tables is d out_i / d x_i."""
    op = ops.REGISTRY[name]
    rng = np.random.default_rng(7)
    xs = [np.asarray(x, dtype=float) for x in op.sample(rng)]
    attrs = dict(op.attrs_sample)
    out = _forward(op, xs, attrs)
    if op.local is not None or any(x.shape != out.shape for x in xs):
        pytest.skip("not elementwise")
    local = op.local_values(out, *xs, **attrs)
    for i, x in enumerate(xs):
        plus = [v.copy() for v in xs]
        minus = [v.copy() for v in xs]
        plus[i] = plus[i] + H
        minus[i] = minus[i] - H
        want = (_forward(op, plus, attrs) - _forward(op, minus, attrs)) / (2 * H)
        np.testing.assert_allclose(local[i], want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", OP_NAMES)
def test_symbolic_forward_agrees_with_numpy_forward(name):
    """The SymPy form is written separately from the NumPy forward: they must agree."""
    sympy = pytest.importorskip("sympy")
    op = ops.REGISTRY[name]
    rng = np.random.default_rng(3)
    xs = [np.asarray(x, dtype=float) for x in op.sample(rng)]
    attrs = dict(op.attrs_sample)
    sym_in = [np.vectorize(sympy.Float, otypes=[object])(x) if x.ndim else
              np.asarray(sympy.Float(float(x)), dtype=object) for x in xs]
    got = np.asarray(op.sym(*sym_in, **attrs), dtype=object)
    got = np.vectorize(lambda e: float(sympy.N(e)), otypes=[float])(got)
    np.testing.assert_allclose(got, _forward(op, xs, attrs), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- batch forms, by hand
def test_affine_batch_is_x_w_transpose_plus_b_and_bias_gradient_sums_rows():
    W = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]])
    X = np.array([[1.0, -1.0], [2.0, 0.5]])
    b = np.array([0.1, 0.2, 0.3])
    out = ops.get("affine").forward(W, X, b)
    np.testing.assert_allclose(out, [[1 - 2 + 0.1, 3 + 1 + 0.2, 0.5 + 0.3],
                                     [2 + 1 + 0.1, 6 - 0.5 + 0.2, 1 + 0.3]])
    G = np.array([[1.0, 0.0, 2.0], [-1.0, 1.0, 0.5]])
    dW, dX, db = ops.get("affine").vjp(G, out, W, X, b)
    np.testing.assert_allclose(db, [0.0, 1.0, 2.5])               # Σ over examples
    np.testing.assert_allclose(dW, G.T @ X)
    np.testing.assert_allclose(dX, G @ W)
    want = central_vjp(ops.get("affine"), [W, X, b], {}, G)
    for a, w in zip((dW, dX, db), want):
        np.testing.assert_allclose(a, w, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name,attrs", [
    ("mse", {"target": np.array([[0.3, -0.2], [0.5, 0.1], [0.0, 1.0]]), "scale": 0.5}),
    ("bce", {"target": np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])}),
    ("cross_entropy", {"label": np.array([1, 0, 1])}),
    ("hinge", {"label": np.array([0, 1, 0]), "margin": 1.0}),
])
def test_batch_losses_are_means_and_match_central_differences(name, attrs):
    op = ops.get(name)
    Y = np.array([[0.3, 0.6], [0.2, 0.9], [0.75, 0.4]])
    out = _forward(op, [Y], attrs)
    # the batch loss is the mean of the one-example losses
    singles = []
    for i in range(3):
        a = {k: (v[i] if isinstance(v, np.ndarray) else v) for k, v in attrs.items()}
        singles.append(float(_forward(op, [Y[i]], a)))
    assert float(out) == pytest.approx(np.mean(singles), rel=1e-12)
    (got,) = op.vjp(np.asarray(1.0), out, Y, **attrs)
    (want,) = central_vjp(op, [Y], attrs, np.asarray(1.0))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_softmax_batch_rows_are_independent():
    Z = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    S = ops.get("softmax").forward(Z)
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(S[0], e / e.sum())
    np.testing.assert_allclose(S[1], [1 / 3] * 3)
    G = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, 0.0]])
    (got,) = ops.get("softmax").vjp(G, S, Z)
    (want,) = central_vjp(ops.get("softmax"), [Z], {}, G)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_softmax_local_is_the_jacobian():
    z = np.array([0.5, -1.0, 2.0])
    s = np.exp(z) / np.exp(z).sum()
    (J,) = ops.get("softmax").local_values(s, z)
    np.testing.assert_allclose(J, np.diag(s) - np.outer(s, s))


def test_sigmoid_is_stable_for_large_inputs():
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # underflow is harmless
        v = ops.get("sigmoid").forward(np.array([-800.0, 0.0, 800.0]))
    np.testing.assert_allclose(v, [0.0, 0.5, 1.0])


def test_unbroadcast_sums_the_broadcast_axes():
    g = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(ops.unbroadcast(g, (3,)), [3.0, 5.0, 7.0])
    np.testing.assert_allclose(ops.unbroadcast(g, (2, 1)), [[3.0], [12.0]])
    assert float(ops.unbroadcast(g, ())) == 15.0


# ---------------------------------------------------------------- kinks (the declared convention)
def test_kink_convention_relu_abs_leaky():
    zero = np.array([0.0])
    one = np.array([1.0])
    assert ops.get("relu").vjp(one, zero, zero)[0][0] == 0.0
    assert ops.get("abs").vjp(one, zero, zero)[0][0] == 0.0
    assert ops.get("leaky_relu").vjp(one, zero, zero, alpha=0.2)[0][0] == 0.2


def test_kink_convention_max_min_tie_splits_evenly():
    # as torch.maximum/minimum and jnp.maximum/minimum: ½ to each argument at a tie; and a
    # central difference across the tie, (max(a + h, b) − max(a − h, b)) / 2h = h / 2h, says ½ too
    a = b = np.array(1.5)
    for name in ("max", "min"):
        da, db = ops.get(name).vjp(np.array(1.0), a, a, b)
        assert (float(da), float(db)) == (0.5, 0.5)
        h = 1e-3
        f = ops.get(name).forward
        assert float((f(a + h, b) - f(a - h, b)) / (2 * h)) == pytest.approx(0.5)
    # away from a tie the winner takes all
    da, db = ops.get("max").vjp(np.array(1.0), None, np.array(2.0), np.array(1.0))
    assert (float(da), float(db)) == (1.0, 0.0)
    da, db = ops.get("min").vjp(np.array(1.0), None, np.array(2.0), np.array(1.0))
    assert (float(da), float(db)) == (0.0, 1.0)


def test_kink_convention_hinge_term_at_margin_zero_contributes_nothing():
    # y_0 − y_1 + 1 = 0 exactly: the term is at its kink and contributes 0 to the gradient
    y = np.array([1.0, 2.0, -5.0])
    (g,) = ops.get("hinge").vjp(np.array(1.0), None, y, label=1, margin=1.0)
    np.testing.assert_allclose(g, [0.0, 0.0, 0.0])
    assert ops.get("hinge").branch(y, label=1, margin=1.0)[0, 0] == 0


# ---------------------------------------------------------------- domain checks
@pytest.mark.parametrize("name,xs,words", [
    ("log", (np.array([1.0, 0.0]),), "positive"),
    ("log", (np.array([-1.0]),), "positive"),
    ("sqrt", (np.array([-4.0]),), "non-negative"),
    ("div", (np.array(1.0), np.array(0.0)), "division by zero"),
    ("pow", (np.array(-2.0), np.array(0.5)), "non-integer power"),
])
def test_domain_checks_refuse_bad_values(name, xs, words):
    msg = ops.get(name).check(*xs)
    assert msg and words in msg


def test_domain_checks_accept_good_values():
    assert ops.get("log").check(np.array([0.1, 3.0])) is None
    assert ops.get("div").check(np.array(1.0), np.array(-2.0)) is None
    assert ops.get("pow").check(np.array(-2.0), np.array(3.0)) is None


# ---------------------------------------------------------------- fan-out: gradients accumulate
def _graph_grad(build):
    g = Graph()
    out, leaves = build(g)
    g.backward(out)
    return {k: v.grad for k, v in leaves.items()}


def test_fan_out_x_times_x():
    def build(g):
        x = g.leaf("x", 3.0, "param")
        return g.apply("mul", [x, x], "f", {}, "x · x", ()), {"x": x}
    assert float(_graph_grad(build)["x"]) == 6.0       # d(x²)/dx = 2x


def test_fan_out_x_plus_x():
    def build(g):
        x = g.leaf("x", -1.25, "param")
        return g.apply("add", [x, x], "f", {}, "x + x", ()), {"x": x}
    assert float(_graph_grad(build)["x"]) == 2.0


def test_fan_out_vector_through_two_branches():
    def build(g):
        x = g.leaf("x", np.array([0.5, -2.0]), "param")
        a = g.apply("sin", [x], "a", {}, "sin(x)", ())
        b = g.apply("mul", [x, a], "b", {}, "x · a", ())
        return g.apply("mse", [b], "L", {"target": np.zeros(2), "scale": 1.0}, "", ()), {"x": x}
    x = np.array([0.5, -2.0])
    # L = Σ (x sin x)², dL/dx = 2 x sin x (sin x + x cos x)
    want = 2 * x * np.sin(x) * (np.sin(x) + x * np.cos(x))
    np.testing.assert_allclose(_graph_grad(build)["x"], want, rtol=1e-12)


def test_fan_out_step_used_by_two_later_steps():
    p = parse_problem("expression:\n  q: x + y\n  r: q * z\n  f: q + r\n"
                      "values: {x: 1.5, y: -0.5, z: 4}\n")
    from gradcalc.api import solve
    sol = solve(p)
    # f = q + q z with q = x + y: ∂f/∂q = 1 + z = 5, ∂f/∂x = ∂f/∂y = 5, ∂f/∂z = q = 1
    assert float(sol.gradients["q"]) == pytest.approx(5.0, abs=1e-12)
    assert float(sol.gradients["x"]) == pytest.approx(5.0, abs=1e-12)
    assert float(sol.gradients["y"]) == pytest.approx(5.0, abs=1e-12)
    assert float(sol.gradients["z"]) == pytest.approx(1.0, abs=1e-12)


def test_fan_out_same_variable_in_one_expression():
    from gradcalc.api import solve
    sol = solve(parse_problem('expression: "x * x + x / y"\nvalues: {x: 3, y: 2}\n'))
    assert float(sol.forward["f"]) == pytest.approx(9 + 1.5)
    assert float(sol.gradients["x"]) == pytest.approx(2 * 3 + 1 / 2, abs=1e-12)
    assert float(sol.gradients["y"]) == pytest.approx(-3 / 4, abs=1e-12)


def test_backward_twice_gives_the_same_gradients():
    # gradients are reset before each sweep, not accumulated across sweeps
    g = Graph()
    x = g.leaf("x", 2.0, "param")
    f = g.apply("mul", [x, x], "f", {}, "", ())
    g.backward(f)
    g.backward(f)
    assert float(x.grad) == 4.0


def test_deep_chain_has_no_recursion_limit():
    g = Graph()
    x = g.leaf("x", 0.5, "param")
    h = x
    for i in range(3000):
        h = g.apply("sin", [h], f"t{i}", {}, "", ())
    g.backward(h, record=False)
    # the derivative of the composition is the product of cos at each point
    v, d = 0.5, 1.0
    for _ in range(3000):
        d *= math.cos(v)
        v = math.sin(v)
    assert float(x.grad) == pytest.approx(d, rel=1e-9)


def test_column_by_column_row_reductions_are_bit_identical_to_numpy():
    """ops reduces short rows column by column for speed; it must give NumPy's exact bits."""
    from gradcalc.ops.linear import row_max, row_sum
    rng = np.random.default_rng(7)
    for k in range(2, 10):
        for scale in (1e-3, 1.0, 50.0):
            Y = rng.standard_normal((300, k)) * scale
            assert np.array_equal(row_max(Y), Y.max(axis=-1, keepdims=True))
            E = np.exp(Y - Y.max(axis=-1, keepdims=True))
            assert np.array_equal(row_sum(E), E.sum(axis=-1, keepdims=True))
