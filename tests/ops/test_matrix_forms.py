"""The matrix-form rules of the registry (gradcalc.ops.matrix): every op, every input, evaluated
under the notation's own rules (columns, true matrix products) and compared with the VJP (which
tests/ops/test_registry.py checks against central differences); the check must be able to fail."""
import numpy as np
import pytest

from gradcalc import ops
from gradcalc.ops import matrix as mx

OP_NAMES = sorted(ops.REGISTRY)


def _compare(op, xs, attrs, seed=0):
    rng = np.random.default_rng(seed)
    out = np.asarray(op.forward(*xs, **attrs), dtype=float)
    g = rng.uniform(-1, 1, out.shape)
    want = op.vjp(g, out, *xs, **attrs)
    got = mx.evaluate(op, g, out, xs, attrs)
    assert len(got) == len(xs)
    for i, ((term, value), w) in enumerate(zip(got, want)):
        w = np.asarray(w, dtype=float).reshape(np.shape(xs[i]))
        assert value.shape == w.shape, (op.name, i, term.text())
        np.testing.assert_allclose(value, w, rtol=1e-10, atol=1e-12, err_msg=f"{op.name} input {i}: "
                                   f"{term.text()}")
    return [t for t, _ in got]


@pytest.mark.parametrize("name", OP_NAMES)
@pytest.mark.parametrize("seed", (0, 1, 2))
def test_every_op_rule_equals_its_vjp_at_its_sample(name, seed):
    op = ops.REGISTRY[name]
    assert op.matrix is not None, f"{name} has no matrix-form rule"
    xs = [np.array(v, dtype=float) for v in op.sample(np.random.default_rng(seed))]
    terms = _compare(op, xs, dict(op.attrs_sample), seed)
    for t in terms:       # printable both ways, no placeholder left
        assert t.text() and t.latex()
        assert "x0" in t.text() or "x1" in t.text() or "δ" in t.text() or "out" in t.text()


# the layouts the samples do not cover: one example vs a batch, channels vs plain, h0 shared
R = np.random.default_rng(7)
EXTRA = [
    ("affine", (R.uniform(-1, 1, (2, 3)), R.uniform(-1, 1, 3), R.uniform(-1, 1, 2)), {}),
    ("softmax", (R.uniform(-2, 2, (3, 4)),), {}),
    ("mse", (R.uniform(-1, 1, (3, 2)),), {"target": R.uniform(-1, 1, (3, 2)), "scale": 0.5}),
    ("cross_entropy", (R.uniform(-1, 1, (3, 4)),), {"label": np.array([0, 3, 1])}),
    ("hinge", (R.uniform(-1, 1, (3, 4)),), {"label": np.array([2, 0, 1]), "margin": 1.0}),
    ("bce", (R.uniform(0.1, 0.9, (3, 2)),), {"target": np.array([[1, 0], [0, 1], [1, 1.0]])}),
    ("conv2d", (R.uniform(-1, 1, (3, 3)), R.uniform(-1, 1, (5, 6)), R.uniform(-1, 1, 1)),
     {"stride": 1, "padding": 0, "flip": False, "batch": False}),
    ("conv2d", (R.uniform(-1, 1, (2, 1, 2, 2)), R.uniform(-1, 1, (3, 1, 5, 5)), R.uniform(-1, 1, 2)),
     {"stride": 2, "padding": 0, "flip": False, "batch": True}),
    ("conv1d", (R.uniform(-1, 1, 3), R.uniform(-1, 1, 7), R.uniform(-1, 1, 1)),
     {"stride": 3, "padding": 2, "flip": True, "batch": False}),
    ("maxpool2d", (R.uniform(-1, 1, (4, 6)),), {"size": 2, "stride": 2}),
    ("avgpool1d", (R.uniform(-1, 1, (2, 3, 6)),), {"size": 3, "stride": 3}),
    ("flatten", (R.uniform(-1, 1, (2, 2, 3)),), {"batch": True}),
    ("rnn_step", (R.uniform(-1, 1, (3, 2)), R.uniform(-1, 1, (3, 3)), R.uniform(-1, 1, 3),
                  R.uniform(-1, 1, (4, 5, 2)), R.uniform(-1, 1, 3)),
     {"step": 2, "activation": "relu", "batch": True}),
    ("rnn_step", (R.uniform(-1, 1, (3, 2)), R.uniform(-1, 1, (3, 3)), R.uniform(-1, 1, 3),
                  R.uniform(-1, 1, (4, 5, 2)), R.uniform(-1, 1, (4, 3))),
     {"step": 5, "activation": "sigmoid", "batch": True}),
    ("rnn_step", (R.uniform(-1, 1, (3, 2)), R.uniform(-1, 1, (3, 3)), R.uniform(-1, 1, 3),
                  R.uniform(-1, 1, (4, 2)), R.uniform(-1, 1, 3)),
     {"step": 1, "activation": "leaky_relu", "alpha": 0.2, "batch": False}),
    ("stack_steps", (R.uniform(-1, 1, (2, 3)), R.uniform(-1, 1, (2, 3))), {}),
    ("rnn_pre", (R.uniform(-1, 1, (3, 2)), R.uniform(-1, 1, (3, 3)), R.uniform(-1, 1, 3),
                 R.uniform(-1, 1, (2, 4, 2)), R.uniform(-1, 1, 3), R.uniform(-1, 1, (2, 4, 3))), {}),
    ("add", (R.uniform(-1, 1, (2, 3)), R.uniform(-1, 1, 3)), {}),     # broadcasting: Σ
    ("mul", (np.array(2.0), R.uniform(-1, 1, 3)), {}),
    ("pow", (np.array([0.0, 1.5, 2.0]), np.array([2.0, 0.5, -1.0])), {}),   # 0^2: d/db = 0
]


@pytest.mark.parametrize("case", range(len(EXTRA)))
def test_rules_in_every_layout(case):
    name, xs, attrs = EXTRA[case]
    _compare(ops.REGISTRY[name], [np.asarray(x, dtype=float) for x in xs], attrs, case)


def test_affine_rules_read_like_the_lecture():
    W, x, b = np.ones((2, 3)), np.ones(3), np.ones(2)
    site = mx.Site({}, (W, x, b), np.ones(2))
    env = {"g": mx.Leaf("δ", np.ones(2)), 0: mx.Leaf("W", W), 1: mx.Leaf("x", x), 2: mx.Leaf("b", b)}
    texts = [t.bind(env).text() for t in ops.get("affine").matrix(site)]
    assert texts == ["δ·xᵀ", "Wᵀ·δ", "δ"]
    X = np.ones((4, 3))
    site = mx.Site({}, (W, X, b), np.ones((4, 2)))
    env = {"g": mx.Leaf("δ", np.ones((4, 2))), 0: mx.Leaf("W", W), 1: mx.Leaf("X", X),
           2: mx.Leaf("b", b)}
    texts = [t.bind(env).text() for t in ops.get("affine").matrix(site)]
    assert texts == ["δᵀ·X", "δ·W", "Σᵢ δᵢ"]
    assert [t.bind(env).latex() for t in ops.get("affine").matrix(site)][0] == r"δ^{\top} \cdot X"


def test_sigmoid_rule_is_written_from_the_output():
    t = ops.get("sigmoid").matrix(mx.Site({}, (np.zeros(2),), np.zeros(2)))[0]
    assert t.bind({"g": mx.Leaf("δ", 0), "out": mx.Leaf("h", 0)}).text() == "δ ⊙ h ⊙ (1 − h)"


def test_a_product_whose_shapes_do_not_multiply_is_caught():
    # the bug of the issue: ∂L/∂x written as ∂L/∂z1 · W1, a 2×1 column times a 2×2 matrix
    delta = mx.Leaf("∂L/∂z1", np.array([-0.01262, 0.02951]))
    W = mx.Leaf("W1", np.array([[0.4, -0.2], [-0.1, 0.3]]))
    with pytest.raises(mx.ShapeMismatch, match="2×1 · 2×2"):
        mx.dot(delta, W).compute()
    # the right rule is a product, 2×2 · 2×1 -> 2×1: computed by hand,
    # 0.4·(−0.01262) + (−0.1)·0.02951 = −0.007999, −0.2·(−0.01262) + 0.3·0.02951 = 0.011377
    np.testing.assert_allclose(mx.dot(mx.T(W), delta).compute()[:, 0], [-0.007999, 0.011377],
                               atol=1e-9)
    # a row where the input is a column is a mismatch too, even with the right numbers
    with pytest.raises(mx.ShapeMismatch):
        mx.as_input(mx.T(mx.dot(mx.T(W), delta)).compute(), (2,))


def test_elementwise_products_need_equal_shapes():
    a, b = mx.Leaf("a", np.ones(3)), mx.Leaf("b", np.ones((3, 3)))
    with pytest.raises(mx.ShapeMismatch):
        mx.had(a, b).compute()
    with pytest.raises(mx.ShapeMismatch):      # no NumPy broadcasting of a column against a row
        mx.had(a, mx.T(a)).compute()
    assert mx.had(mx.Num(2.0), a).compute().shape == (3, 1)   # a number scales anything


def test_a_wrong_rule_with_conforming_shapes_gives_a_different_value():
    op = ops.get("affine")
    W, x, b = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, -1.0]), np.zeros(2)
    g = np.array([1.0, 0.0])
    wrong = mx.dot(mx.Leaf("W", W), mx.Leaf("δ", g)).compute()[:, 0]      # W·δ instead of Wᵀ·δ
    right = op.vjp(g, op.forward(W, x, b), W, x, b)[1]
    assert right.tolist() == [1.0, 2.0] and wrong.tolist() == [1.0, 3.0]


def test_an_op_without_a_rule_is_named():
    op = ops.Op("nothing", 1, lambda x: x, lambda g, out, x: (g,), lambda x: x, "n", "n({0})", ("1",))
    with pytest.raises(LookupError, match="nothing"):
        mx.vjp_terms(op, mx.Site({}, (np.zeros(1),), np.zeros(1)))


def test_the_local_gradient_of_a_batched_affine_names_the_values_it_shows():
    """A batch Z = X·Wᵀ + b shows ∂Z/∂W as the batch X itself (N × D, the values printed), never
    as 'Xᵀ' beside X's untransposed values; one example keeps the row xᵀ."""
    from pathlib import Path
    from gradcalc.derive import autograd
    from gradcalc.problem.load import load_problem
    root = Path(__file__).resolve().parents[2]
    for stem, want in (("batch_mse", "x"), ("hw1", "xᵀ")):
        graph, _, steps = autograd.run(load_problem(str(root / "problems" / f"{stem}.yaml")))
        z1 = next(s for s in steps if s.node == "z1")
        assert z1.local_text["W1"] == want
        np.testing.assert_array_equal(z1.local["W1"], graph.by_name["x"].value)
