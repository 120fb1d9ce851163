"""Issue 14: batchnorm, layernorm, dropout, embedding and residual layers.

Every expected number is derived here, independently of gradcalc: by hand for tiny cases, and
for larger ones by a NumPy re-implementation written in this file as CS231n stages it (the
forward through μ, x − μ, σ², 1/√(σ² + eps), and the backward stage by stage), which shares no
code or formula layout with gradcalc.ops.normalization.  PyTorch, when installed, is a third
reference."""
from pathlib import Path

import numpy as np
import pytest

from gradcalc import ops
from gradcalc.api import parse_problem, solve

ROOT = Path(__file__).resolve().parents[2]
EPS = 1e-5


# ---------------------------------------------------------------- references written here
def staged_norm(x, axis, eps=EPS):
    """Forward by stages; returns x̂ and a backward closure (CS231n's computational graph)."""
    m = np.prod([x.shape[a] for a in np.atleast_1d(axis)])
    mu = np.sum(x, axis=axis, keepdims=True) / m
    xmu = x - mu
    sq = xmu * xmu
    var = np.sum(sq, axis=axis, keepdims=True) / m
    sqrtvar = np.sqrt(var + eps)
    ivar = 1.0 / sqrtvar
    xhat = xmu * ivar

    def backward(dxhat):
        divar = np.sum(dxhat * xmu, axis=axis, keepdims=True)
        dxmu1 = dxhat * ivar
        dsqrtvar = -1.0 / (sqrtvar ** 2) * divar
        dvar = 0.5 / np.sqrt(var + eps) * dsqrtvar
        dsq = np.ones_like(x) / m * dvar
        dxmu2 = 2 * xmu * dsq
        dx1 = dxmu1 + dxmu2
        dmu = -np.sum(dx1, axis=axis, keepdims=True)
        return dx1 + np.ones_like(x) / m * dmu
    return xhat, backward


def test_batchnorm_forward_by_hand():
    # column 1: 1, 3 -> μ = 2, σ² = 1 (biased); column 2: 2, 6 -> μ = 4, σ² = 4
    X = np.array([[1.0, 2.0], [3.0, 6.0]])
    got = ops.get("batchnorm").forward(X, axes=(0,), eps=EPS)
    want = np.array([[-1 / np.sqrt(1 + EPS), -2 / np.sqrt(4 + EPS)],
                     [1 / np.sqrt(1 + EPS), 2 / np.sqrt(4 + EPS)]])
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_layernorm_forward_by_hand():
    # one example [0, 3, 6]: μ = 3, σ² = (9 + 0 + 9)/3 = 6
    got = ops.get("layernorm").forward(np.array([0.0, 3.0, 6.0]), axes=(-1,), eps=EPS)
    np.testing.assert_allclose(got, np.array([-3.0, 0.0, 3.0]) / np.sqrt(6 + EPS), rtol=1e-15)


@pytest.mark.parametrize("name,axes,shape", [
    ("batchnorm", (0,), (5, 3)), ("layernorm", (-1,), (4, 6)), ("layernorm", (-1,), (7,)),
    ("batchnorm", (0, 2, 3), (3, 2, 4, 4)),       # per channel over N×H×W
])
def test_norm_forward_and_backward_against_the_staged_reference(name, axes, shape):
    rng = np.random.default_rng(len(shape))
    x = rng.normal(size=shape) * 2 + 1
    g = rng.normal(size=shape)
    ax = tuple(a % len(shape) for a in axes)
    want, backward = staged_norm(x, ax)
    op = ops.get(name)
    out = op.forward(x, axes=axes, eps=EPS)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(op.vjp(g, out, x, axes=axes, eps=EPS)[0], backward(g),
                               rtol=1e-9, atol=1e-12)


def test_scale_shift_gradients_by_hand():
    xhat = np.array([[1.0, -1.0], [2.0, 0.5]])
    gamma, beta = np.array([2.0, 3.0]), np.array([0.5, -1.0])
    op = ops.get("scale_shift")
    np.testing.assert_allclose(op.forward(xhat, gamma, beta, axis=-1),
                               [[2.5, -4.0], [4.5, 0.5]])
    g = np.array([[1.0, 2.0], [3.0, 4.0]])
    dxhat, dgamma, dbeta = op.vjp(g, None, xhat, gamma, beta, axis=-1)
    np.testing.assert_allclose(dxhat, [[2.0, 6.0], [6.0, 12.0]])
    np.testing.assert_allclose(dgamma, [1 * 1 + 3 * 2, 2 * -1 + 4 * 0.5])    # Σ δ ⊙ x̂
    np.testing.assert_allclose(dbeta, [4.0, 6.0])


def test_dropout_by_hand():
    x, mask = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 0.0, 1.0, 1.0])
    op = ops.get("dropout")
    np.testing.assert_allclose(op.forward(x, mask, p=0.25), [4 / 3, 0.0, 4.0, 16 / 3])
    dx = op.vjp(np.array([1.0, 1.0, 2.0, -3.0]), None, x, mask, p=0.25)[0]
    np.testing.assert_allclose(dx, [4 / 3, 0.0, 8 / 3, -4.0])


def test_embedding_repeated_ids_accumulate_by_hand():
    W = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    ids = np.array([2, 0, 2])
    op = ops.get("embedding")
    np.testing.assert_allclose(op.forward(W, ids=ids), [[0.5, 0.6], [0.1, 0.2], [0.5, 0.6]])
    g = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    # row 2 is used at positions 1 and 3: 1 + 5, 2 + 6; row 1 is unused
    np.testing.assert_allclose(op.vjp(g, None, W, ids=ids)[0], [[3.0, 4.0], [0.0, 0.0], [6.0, 8.0]])


# ---------------------------------------------------------------- whole problems
def _net_reference(X, W1, b1, gamma, beta, W2, b2, T):
    """dense -> batchnorm -> dense -> MSE (½Σ(y − t)² / N), by stages; gradients."""
    N = X.shape[0]
    z1 = X @ W1.T + b1
    xhat, bn_back = staged_norm(z1, 0)
    h = gamma * xhat + beta
    y = h @ W2.T + b2
    dy = (y - T) / N
    dW2, db2, dh = dy.T @ h, dy.sum(0), dy @ W2
    dgamma, dbeta = (dh * xhat).sum(0), dh.sum(0)
    dz1 = bn_back(dh * gamma)
    return {"x": dz1 @ W1, "W1": dz1.T @ X, "b1": dz1.sum(0), "gamma2": dgamma, "beta2": dbeta,
            "W3": dW2, "b3": db2, "L": 0.5 * np.sum((y - T) ** 2) / N, "xhat2": xhat}


BN_YAML = """
data:
  X: [[1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [-1.0, 1.5]]
  targets: [[1.0], [0.0], [0.5], [0.2]]
layers:
  - W: [[0.5, -0.3], [0.2, 0.8], [-0.6, 0.1]]
    b: [0.1, 0.0, -0.1]
  - type: batchnorm
    gamma: [1.0, 0.5, 2.0]
    beta: [0.0, 0.1, -0.2]
  - W: [[0.3, -0.2, 0.5]]
    b: [0.1]
loss: mse
"""


def _bn_values():
    return dict(X=np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [-1.0, 1.5]]),
                W1=np.array([[0.5, -0.3], [0.2, 0.8], [-0.6, 0.1]]), b1=np.array([0.1, 0.0, -0.1]),
                gamma=np.array([1.0, 0.5, 2.0]), beta=np.array([0.0, 0.1, -0.2]),
                W2=np.array([[0.3, -0.2, 0.5]]), b2=np.array([0.1]),
                T=np.array([[1.0], [0.0], [0.5], [0.2]]))


def test_batchnorm_network_against_the_staged_reference():
    sol = solve(parse_problem(BN_YAML))
    ref = _net_reference(**_bn_values())
    np.testing.assert_allclose(sol.forward["L"], ref["L"], rtol=1e-12)
    np.testing.assert_allclose(sol.forward["xhat2"], ref["xhat2"], rtol=1e-12)
    for name in ("x", "W1", "gamma2", "beta2", "W3", "b3"):
        np.testing.assert_allclose(sol.gradients[name], ref[name], rtol=1e-9, atol=1e-14,
                                   err_msg=name)
    # the batch mean removes b1: its gradient is zero (to rounding)
    np.testing.assert_allclose(sol.gradients["b1"], 0.0, atol=1e-15)


def test_batchnorm_network_against_torch():
    torch = pytest.importorskip("torch")
    v = _bn_values()
    t = {k: torch.tensor(a, dtype=torch.float64, requires_grad=True) for k, a in v.items()}
    z1 = t["X"] @ t["W1"].T + t["b1"]
    h = torch.nn.functional.batch_norm(z1, None, None, t["gamma"], t["beta"], training=True,
                                       eps=EPS)
    y = h @ t["W2"].T + t["b2"]
    L = 0.5 * ((y - t["T"]) ** 2).sum() / 4
    L.backward()
    sol = solve(parse_problem(BN_YAML))
    for ours, theirs in (("x", "X"), ("W1", "W1"), ("gamma2", "gamma"), ("beta2", "beta"),
                         ("W3", "W2")):
        np.testing.assert_allclose(sol.gradients[ours], t[theirs].grad.numpy(), rtol=1e-9,
                                   atol=1e-14)


def test_batchnorm_over_channels_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(2, 2, 3, 3))
    gamma, beta = np.array([1.5, 0.5]), np.array([0.1, -0.2])
    op, ss = ops.get("batchnorm"), ops.get("scale_shift")
    out = ss.forward(op.forward(X, axes=(0, 2, 3)), gamma, beta, axis=-3)
    want = torch.nn.functional.batch_norm(torch.tensor(X), None, None, torch.tensor(gamma),
                                          torch.tensor(beta), training=True, eps=EPS)
    np.testing.assert_allclose(out, want.numpy(), rtol=1e-12, atol=1e-12)


def test_residual_fan_out_by_hand():
    # h1 = 0.5·x + x (linear layer, residual x), y = [1 1]·h1, L = ½(y − 1)²
    p = parse_problem("""
input: [1.0, -3.0]
layers:
  - W: [[0.5, 0.0], [0.0, 0.5]]
    residual: x
  - W: [[1.0, 1.0]]
loss: {type: mse, target: [1.0]}
""")
    sol = solve(p)
    # h1 = 1.5·x = [1.5, −4.5]; y = −3; δy = y − 1 = −4; δh1 = [−4, −4]
    np.testing.assert_allclose(sol.forward["h1"], [1.5, -4.5])
    np.testing.assert_allclose(sol.forward["f1"], [0.5, -1.5])
    # x feeds the layer (W1ᵀ·δ = [−2, −2]) and the skip (δ = [−4, −4]): the two add up
    np.testing.assert_allclose(sol.gradients["x"], [-6.0, -6.0])
    np.testing.assert_allclose(sol.gradients["W1"], [[-4.0, 12.0], [-4.0, 12.0]])
    steps = {s.node: s for s in sol.steps}
    np.testing.assert_allclose(steps["h1"].downstream["x"], [-4.0, -4.0])
    np.testing.assert_allclose(steps["z1"].downstream["x"], [-2.0, -2.0])


def test_dropout_problem_by_hand_and_eval_mode():
    text = """
input: [1.0, -2.0, 3.0]
layers:
  - type: dropout
    p: 0.5
    mask: [1, 0, 1]
  - W: [[1.0, 2.0, 3.0]]
loss: {type: mse, target: [0.0]}
"""
    sol = solve(parse_problem(text))
    # h1 = x ⊙ mask / 0.5 = [2, 0, 6]; y = 2 + 18 = 20; δy = 20; δh1 = [20, 40, 60]
    np.testing.assert_allclose(sol.forward["h1"], [2.0, 0.0, 6.0])
    np.testing.assert_allclose(sol.gradients["x"], [40.0, 0.0, 120.0])
    assert "mask1 = [1 0 1]" in sol.formulas["h1"]
    ev = solve(parse_problem(text.replace("mask: [1, 0, 1]", "mode: eval")))
    np.testing.assert_allclose(ev.forward["h1"], [1.0, -2.0, 3.0])
    # eval: h1 = x, y = 1 − 4 + 9 = 6, δy = 6, ∂L/∂x = Wᵀ·6
    np.testing.assert_allclose(ev.gradients["x"], [6.0, 12.0, 18.0])


def test_dropout_seed_draws_a_reproducible_0_1_mask():
    text = """
data:
  X: [[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 0.5], [1.0, 1.0, 1.0, 1.0]]
  targets: [[0.0], [1.0], [0.5]]
layers:
  - {type: dropout, p: 0.5, seed: 3}
  - W: [[1.0, 1.0, 1.0, 1.0]]
loss: mse
"""
    a, b = parse_problem(text), parse_problem(text)
    np.testing.assert_array_equal(a.layers[0].mask, b.layers[0].mask)
    m = a.layers[0].mask
    assert m.shape == (3, 4) and set(np.unique(m)) <= {0.0, 1.0}
    sol = solve(a)
    np.testing.assert_allclose(sol.forward["h1"], a.x * m / 0.5)


def test_embedding_problem_scatter_adds_by_hand():
    sol = solve(parse_problem("""
input: [1, 0, 1]
layers:
  - type: embedding
    W: [[1.0, 2.0], [3.0, 4.0]]
  - type: flatten
  - W: [[1.0, 0.0, 0.0, 0.0, 1.0, 1.0]]
"""))
    # y = W[1,0] + W[1,0]·… : positions 1 and 3 are id 1; y = h[0] + h[4] + h[5] = 3 + 3 + 4
    assert float(sol.forward["y"][0]) == 10.0
    # ∂y/∂W: id 1 row gets [1, 0] (position 1) + [1, 1] (position 3); id 0 row gets [0, 0]
    np.testing.assert_allclose(sol.gradients["W1"], [[0.0, 0.0], [2.0, 1.0]])


@pytest.mark.parametrize("stem", ["batchnorm", "layernorm", "dropout", "embedding", "residual"])
def test_shipped_problems_agree_three_ways(stem):
    from click.testing import CliRunner

    from gradcalc.cli import cli
    r = CliRunner().invoke(cli, ["check", str(ROOT / "problems" / f"{stem}.yaml")],
                           env={"COLUMNS": "120"})
    assert r.exit_code == 0, r.output
    assert "agree" in r.output


@pytest.mark.parametrize("stem,labels", [("batchnorm", ("batch norm x̂", "xhat2", "gamma2")),
                                         ("dropout", ("• ⊙ mask2 / (1 − p)", "h2")),
                                         ("embedding", ("W[ids]", "W1")),
                                         ("residual", ("+", "tanh", "h1"))])
def test_graph_pictures_render(tmp_path, stem, labels):
    from click.testing import CliRunner

    from gradcalc.cli import cli
    out = tmp_path / f"{stem}.svg"
    r = CliRunner().invoke(cli, ["graph", str(ROOT / "problems" / f"{stem}.yaml"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    svg = out.read_text()
    for label in labels:
        assert f">{label}<" in svg, label


CONV_BN = """data:
  X: [[[[0.1, 0.5, -0.2], [0.3, -0.4, 0.8], [0.0, 0.2, 0.6]]], [[[0.9, -0.1, 0.4], [-0.5, 0.7, 0.2], [0.3, 0.1, -0.6]]]]
  labels: [0, 1]
layers:
  - type: conv2d
    W: [[[[1.0, -0.5], [0.5, 0.2]]], [[[-0.3, 0.8], [0.1, -0.7]]]]
    b: [0.1, -0.1]
  - type: batchnorm
    gamma: [1.5, 0.7]
    beta: [0.1, 0.0]
  - type: flatten
  - W: [[0.2, -0.1, 0.3, 0.5, -0.4, 0.1, 0.2, 0.3], [0.1, 0.2, -0.3, 0.1, 0.2, 0.3, -0.2, 0.1]]
loss: cross_entropy
"""


def test_batchnorm_after_a_conv_is_per_channel_and_agrees_three_ways(tmp_path):
    from click.testing import CliRunner

    from gradcalc.cli import cli
    sol = solve(parse_problem(CONV_BN))
    z = sol.forward["z1"]                        # N×C×H×W = 2×2×2×2
    want, _ = staged_norm(z, (0, 2, 3))          # one μ, σ² per channel over N×H×W
    np.testing.assert_allclose(sol.forward["xhat2"], want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(sol.forward["h2"],
                               np.array([1.5, 0.7])[:, None, None] * want
                               + np.array([0.1, 0.0])[:, None, None], rtol=1e-12)
    f = tmp_path / "cbn.yaml"
    f.write_text(CONV_BN)
    r = CliRunner().invoke(cli, ["check", str(f)])
    assert r.exit_code == 0, r.output
