"""Recurrent layers: BPTT against an unrolled hand derivation, central differences, SymPy,
batches, names, and the vanishing / exploding-gradient diagnostics."""
import json
from pathlib import Path

import numpy as np
import pytest

from gradcalc import ops
from gradcalc.api import solve
from gradcalc.derive.autograd import run
from gradcalc.solution.diagnostics import verdict
from gradcalc.errors import ProblemError
from gradcalc.graph.network import forward_names, leaf_values
from gradcalc.problem.load import load_problem, parse_problem

PROBLEMS = Path(__file__).resolve().parents[2] / "problems"
H = 1e-6


def _parse(text):
    return parse_problem(text, "r.yaml")


def central(fn, x):
    x = np.asarray(x, dtype=float)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += H
        minus[idx] -= H
        grad[idx] = (fn(plus) - fn(minus)) / (2 * H)
    return grad


# ---------------------------------------------------------------- scalar example by hand
SCALAR = """input: [[1], [2]]
layers:
  - type: rnn
    Wxh: [[2]]
    Whh: [[0.5]]
    b: [0]
    h0: [1]
    activation: linear
"""


def test_scalar_linear_rnn_by_hand():
    # z1 = 2·1 + 0.5·1 = 2.5, z2 = 2·2 + 0.5·2.5 = 5.25 = y (return: last)
    sol = solve(_parse(SCALAR))
    np.testing.assert_allclose(sol.forward["z1"], [[2.5], [5.25]])
    np.testing.assert_allclose(sol.forward["y"], [5.25])
    # δ2 = 1, δ1 = Whh·δ2 = 0.5; ∂y/∂Wxh = δ2 x2 + δ1 x1 = 2 + 0.5 = 2.5;
    # ∂y/∂Whh = δ2 h1 + δ1 h0 = 2.5 + 0.5 = 3; ∂y/∂b = 1.5; ∂y/∂h0 = Whh δ1 = 0.25;
    # ∂y/∂x = [Wxh δ1, Wxh δ2] = [1, 2]
    assert float(sol.gradients["Wxh1"][0, 0]) == pytest.approx(2.5)
    assert float(sol.gradients["Whh1"][0, 0]) == pytest.approx(3.0)
    assert float(sol.gradients["b1"][0]) == pytest.approx(1.5)
    assert float(sol.gradients["h0_1"][0]) == pytest.approx(0.25)
    np.testing.assert_allclose(sol.gradients["x"], [[1], [2]])
    # the reported gradients of the states are the BPTT totals: ∂y/∂h_1 = Whh = 0.5, ∂y/∂h_2 = 1
    np.testing.assert_allclose(sol.gradients["h1"], [[0.5], [1.0]])


# ---------------------------------------------------------------- T = 2, unrolled by hand
T2 = """input: [[0.5, -1.0], [1.5, 0.25]]
layers:
  - type: rnn
    Wxh: [[0.3, -0.6], [0.8, 0.2]]
    Whh: [[0.5, -0.4], [0.7, 0.1]]
    b: [0.1, -0.2]
    h0: [0.2, -0.3]
  - W: [[1.2, -0.7]]
    b: [0.05]
loss: {type: mse, target: [0.4]}
"""


def test_bptt_matches_the_unrolled_hand_derivation_for_T_2():
    x1, x2 = np.array([0.5, -1.0]), np.array([1.5, 0.25])
    Wxh = np.array([[0.3, -0.6], [0.8, 0.2]])
    Whh = np.array([[0.5, -0.4], [0.7, 0.1]])
    b, h0 = np.array([0.1, -0.2]), np.array([0.2, -0.3])
    V, c, t = np.array([[1.2, -0.7]]), np.array([0.05]), 0.4
    # forward, step by step
    z1 = Wxh @ x1 + Whh @ h0 + b
    h1 = np.tanh(z1)
    z2 = Wxh @ x2 + Whh @ h1 + b
    h2 = np.tanh(z2)
    y = V @ h2 + c
    L = 0.5 * float((y - t) @ (y - t))
    # backward, unrolled: L = ½(y − t)², y = V h2 + c
    dy = y - t
    dh2 = V.T @ dy
    dz2 = dh2 * (1 - h2 ** 2)
    dh1 = Whh.T @ dz2                 # h1 reaches L only through z2
    dz1 = dh1 * (1 - h1 ** 2)
    want = {
        "Wxh1": np.outer(dz2, x2) + np.outer(dz1, x1),
        "Whh1": np.outer(dz2, h1) + np.outer(dz1, h0),
        "b1": dz1 + dz2,
        "h0_1": Whh.T @ dz1,
        "x": np.stack([Wxh.T @ dz1, Wxh.T @ dz2]),
        "W2": np.outer(dy, h2),
        "b2": dy,
    }
    sol = solve(_parse(T2))
    assert float(sol.forward["L"]) == pytest.approx(L, rel=1e-14)
    np.testing.assert_allclose(sol.forward["z1"], np.stack([z1, z2]), rtol=1e-14)
    np.testing.assert_allclose(sol.forward["h1"], np.stack([h1, h2]), rtol=1e-14)
    for name, value in want.items():
        np.testing.assert_allclose(sol.gradients[name], value, rtol=1e-12, atol=1e-15,
                                   err_msg=name)
    np.testing.assert_allclose(sol.gradients["h1"], np.stack([dh1, dh2]), rtol=1e-12)
    np.testing.assert_allclose(sol.gradients["z1"], np.stack([dz1, dz2]), rtol=1e-12)
    # the BPTT table's rows run backward in time: t = 2 first
    table = [t for t in __import__("gradcalc.render.solvetables", fromlist=["x"]).solve_tables(sol)
             if t.title.startswith("Backpropagation through time")][0]
    assert [row[0] for row in table.rows] == ["2", "1"]


# ---------------------------------------------------------------- op-level checks
STEP_CASES = [
    ({"activation": "tanh", "step": 1}, (3, 2), 4, False),
    ({"activation": "sigmoid", "step": 3}, (2, 3), 3, False),
    ({"activation": "linear", "step": 5}, (2, 1), 5, False),
    ({"activation": "relu", "step": 2}, (3, 2), 3, False),
    ({"activation": "leaky_relu", "alpha": 0.2, "step": 2}, (2, 2), 3, False),
    ({"activation": "tanh", "step": 4, "batch": True}, (3, 2), 4, True),
]


def _step_inputs(rng, hd, T, batch, shared_h=False):
    Hn, D = hd
    x = rng.uniform(-1, 1, (2, T, D) if batch else (T, D))
    h = rng.uniform(-1, 1, (2, Hn) if batch and not shared_h else Hn)
    return [rng.uniform(-1, 1, (Hn, D)), rng.uniform(-1, 1, (Hn, Hn)), rng.uniform(-1, 1, Hn),
            x, h]


def _check_op_against_central(name, xs, attrs, seed):
    op = ops.get(name)
    rng = np.random.default_rng(seed)
    out = op.forward(*xs, **attrs)
    g = rng.normal(size=np.shape(out))
    got = op.vjp(g, out, *xs, **attrs)
    assert len(got) == len(xs)
    for i in range(len(xs)):
        def f(v, i=i):
            ys = list(xs)
            ys[i] = v
            return float(np.sum(g * op.forward(*ys, **attrs)))
        assert np.shape(got[i]) == np.shape(xs[i])
        np.testing.assert_allclose(got[i], central(f, xs[i]), rtol=1e-6, atol=1e-8,
                                   err_msg=f"{name} input {i}")


@pytest.mark.parametrize("attrs,hd,T,batch", STEP_CASES)
def test_rnn_step_vjp_matches_central_differences(attrs, hd, T, batch):
    rng = np.random.default_rng(T + hd[0])
    _check_op_against_central("rnn_step", _step_inputs(rng, hd, T, batch), dict(attrs), T)


def test_rnn_step_batch_with_a_shared_h0():
    rng = np.random.default_rng(8)
    xs = _step_inputs(rng, (3, 2), 4, True, shared_h=True)      # h0 (H,) for every example
    _check_op_against_central("rnn_step", xs, {"step": 1, "batch": True}, 1)
    out = ops.get("rnn_step").forward(*xs, step=1, batch=True)
    for n in range(2):
        single = ops.get("rnn_step").forward(xs[0], xs[1], xs[2], xs[3][n], xs[4], step=1)
        np.testing.assert_allclose(out[n], single)


def test_rnn_step_by_hand():
    # h = tanh(Wxh x_t + Whh h + b) at step 2 (the second row of x)
    Wxh, Whh = np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[0.5, 0.0], [0.0, -1.0]])
    b, x, h = np.array([0.1, 0.0]), np.array([[9.0, 9.0], [0.2, -0.1]]), np.array([0.4, 0.3])
    z = np.array([0.2 + 0.2 + 0.1, -0.2 - 0.3 + 0.0])
    out = ops.get("rnn_step").forward(Wxh, Whh, b, x, h, step=2)
    np.testing.assert_allclose(out, np.tanh(z))
    dWxh, dWhh, db, dx, dh = ops.get("rnn_step").vjp(np.array([1.0, 0.0]), out, Wxh, Whh, b,
                                                     x, h, step=2)
    d = 1 - np.tanh(z[0]) ** 2                  # only the first unit gets a gradient
    np.testing.assert_allclose(dWxh, [[d * 0.2, d * -0.1], [0, 0]])
    np.testing.assert_allclose(dWhh, [[d * 0.4, d * 0.3], [0, 0]])
    np.testing.assert_allclose(db, [d, 0])
    np.testing.assert_allclose(dx, [[0, 0], [d, 0]])            # the second row only
    np.testing.assert_allclose(dh, [d * 0.5, 0])


@pytest.mark.parametrize("batch", [False, True])
def test_stack_and_pre_activation_readout(batch):
    rng = np.random.default_rng(6)
    hs = [rng.uniform(-1, 1, (2, 3) if batch else 3) for _ in range(4)]
    _check_op_against_central("stack_steps", hs, {}, 2)
    stacked = ops.get("stack_steps").forward(*hs)
    np.testing.assert_allclose(stacked[..., 2, :], hs[2])
    Wxh, Whh, b = rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, (3, 3)), rng.uniform(-1, 1, 3)
    x = rng.uniform(-1, 1, (2, 4, 2) if batch else (4, 2))
    h0 = rng.uniform(-1, 1, 3)
    xs = [Wxh, Whh, b, x, h0, stacked]
    _check_op_against_central("rnn_pre", xs, {}, 3)
    Z = ops.get("rnn_pre").forward(*xs)
    # z_t = Wxh x_t + Whh h_(t−1) + b with h_0 = h0: row by row
    for t in range(4):
        prev = h0 if t == 0 else stacked[..., t - 1, :]
        np.testing.assert_allclose(Z[..., t, :], x[..., t, :] @ Wxh.T + prev @ Whh.T + b)


@pytest.mark.parametrize("name,attrs", [("rnn_step", {"step": 2, "activation": "tanh"}),
                                        ("rnn_step", {"step": 3, "activation": "sigmoid"}),
                                        ("rnn_step", {"step": 1, "activation": "linear"}),
                                        ("rnn_pre", {}), ("stack_steps", {})])
def test_rnn_ops_vjp_match_sympy_diff(name, attrs):
    sp = pytest.importorskip("sympy")
    op = ops.get(name)
    rng = np.random.default_rng(9)
    xs = [np.asarray(v, dtype=float) for v in op.sample(rng)]
    syms = [np.array(sp.symbols(f"p{i}_0:{x.size}"), dtype=object).reshape(x.shape)
            for i, x in enumerate(xs)]
    Z = np.asarray(op.sym(*syms, **attrs), dtype=object)
    out = op.forward(*xs, **attrs)
    g = rng.normal(size=out.shape)
    total = sum(gi * e for gi, e in zip(g.ravel(), Z.ravel()))
    subs = {s: float(v) for S, x in zip(syms, xs) for s, v in zip(S.ravel(), x.ravel())}
    assert float(total.subs(subs)) == pytest.approx(float(np.sum(g * out)), rel=1e-12)
    got = op.vjp(g, out, *xs, **attrs)
    for S, grad in zip(syms, got):
        want = [float(sp.diff(total, s).subs(subs)) for s in S.ravel()]
        np.testing.assert_allclose(np.ravel(grad), want, rtol=1e-9, atol=1e-12)


def test_rnn_relu_branch_marks_kinks_of_every_pre_activation():
    op = ops.get("rnn_step")
    # z = Wxh x_0 + Whh h0 = [0, 1]: the first unit sits on the relu kink
    Wxh, Whh, b = np.array([[1.0], [1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2)
    x, h0 = np.array([[0.0]]), np.array([0.0, 1.0])
    side = op.branch(Wxh, Whh, b, x, h0, tol=0.0, step=1, activation="relu")
    np.testing.assert_array_equal(side, [0, 1])
    assert np.all(op.branch(Wxh, Whh, b, x, h0, tol=0.0, step=1, activation="tanh") == 1)


def test_backward_table_has_one_row_per_time_step():
    sol = solve(load_problem(PROBLEMS / "rnn_T20.yaml"))
    steps = [s.node for s in sol.steps if s.op == "rnn_step"]
    assert steps == [f"h1[{t}]" for t in range(20, 0, -1)]


# ---------------------------------------------------------------- names and problem format
def test_names_of_rnn_layers():
    p = _parse(T2)
    assert forward_names(p) == ["x", "Wxh1", "Whh1", "b1", "h0_1", "z1", "h1", "h1[2]",
                                "W2", "b2", "z2", "y", "L"]
    assert list(leaf_values(p)) == ["x", "Wxh1", "Whh1", "b1", "h0_1", "W2", "b2"]
    sol = solve(p)
    assert sol.forward["z1"].shape == (2, 2) and sol.forward["h1"].shape == (2, 2)
    np.testing.assert_allclose(sol.forward["h1[2]"], sol.forward["h1"][-1])
    no_h0 = _parse(T2.replace("    h0: [0.2, -0.3]\n", ""))
    assert "h0_1" not in forward_names(no_h0) and "h0_1" not in leaf_values(no_h0)
    assert "h0_1" not in solve(no_h0).gradients


def test_return_all_feeds_every_state_to_the_next_layer():
    text = T2.replace("    h0: [0.2, -0.3]\n", "    return: all\n").replace(
        "  - W: [[1.2, -0.7]]", "  - type: flatten\n  - W: [[1.2, -0.7, 0.3, 0.5]]")
    p = _parse(text)
    assert forward_names(p)[:7] == ["x", "Wxh1", "Whh1", "b1", "z1", "h1", "h2"]
    sol = solve(p)
    np.testing.assert_allclose(sol.forward["h2"], sol.forward["h1"].ravel())
    for name in ("Wxh1", "Whh1", "b1", "x"):
        def f(v, name=name):
            return float(run(p, values={name: v}, record=False)[1].value)
        np.testing.assert_allclose(sol.gradients[name], central(f, leaf_values(p)[name]),
                                   rtol=1e-6, atol=1e-9)


def test_stacked_rnn_layers():
    text = """input: [[0.5], [-0.2], [0.9]]
layers:
  - {type: rnn, Wxh: [[0.4], [-0.3]], Whh: [[0.2, 0.1], [-0.3, 0.5]], return: all}
  - {type: rnn, Wxh: [[0.6, -0.5]], Whh: [[0.7]], b: [0.1]}
"""
    p = _parse(text)
    sol = solve(p)
    assert sol.forward["y"].shape == (1,)
    for name in ("Wxh1", "Whh1", "Wxh2", "Whh2", "x"):
        def f(v, name=name):
            return float(run(p, values={name: v}, record=False)[1].value[0])
        np.testing.assert_allclose(sol.gradients[name], central(f, leaf_values(p)[name]),
                                   rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("text,field,words", [
    ("input: [[1, 2]]\nlayers:\n  - {type: rnn, Wxh: [[1, 2, 3]], Whh: [[1]]}\n",
     "layers[0].Wxh", "expected 2 columns to match the 2 features per time step"),
    ("input: [[1, 2]]\nlayers:\n  - {type: rnn, Wxh: [[1, 2], [3, 4]], Whh: [[1, 2]]}\n",
     "layers[0].Whh", "expected a 2×2 matrix (Wxh has 2 rows), got 1×2"),
    ("input: [[1, 2]]\nlayers:\n  - {type: rnn, Wxh: [[1, 2]], Whh: [[1]], h0: [1, 2]}\n",
     "layers[0].h0", "expected 1 entries to match the 1 hidden units"),
    ("input: [[1, 2]]\nlayers:\n  - {type: rnn, Wxh: [[1, 2]], Whh: [[1]], return: first}\n",
     "layers[0].return", "expected 'last' (h_T) or 'all' (every h_t)"),
    ("input: [[1, 2]]\nlayers:\n  - {type: rnn, Wxh: [[1, 2]]}\n", "layers[0]",
     "an rnn layer needs 'Wxh' (hidden × input) and 'Whh'"),
    ("input: [1, 2]\nlayers:\n  - {type: rnn, Wxh: [[1, 2]], Whh: [[1]]}\n", "input",
     "a sequence (T×D, rows are time steps)"),
    ("input: [[1, 2], [3, 4]]\nlayers:\n  - {type: rnn, Wxh: [[1, 2]], Whh: [[1]], "
     "return: all}\n  - {type: rnn, Wxh: [[1]], Whh: [[1]], return: all}\n"
     "loss: {type: mse, target: [1]}\n", "layers[1]", "or use return: last"),
])
def test_rnn_problem_errors(text, field, words):
    with pytest.raises(ProblemError) as info:
        _parse(text)
    assert info.value.field == field and words in info.value.message
    assert info.value.line is not None


# ---------------------------------------------------------------- shipped problems
@pytest.mark.parametrize("file", ["rnn_T3.yaml", "rnn_T20.yaml", "rnn_exploding_tanh.yaml"])
def test_shipped_rnn_problems_agree_with_central_differences(file):
    p = load_problem(PROBLEMS / file)
    sol = solve(p)
    for name in sol.leaves:
        def f(v, name=name):
            return float(run(p, values={name: v}, record=False)[1].value)
        np.testing.assert_allclose(sol.gradients[name], central(f, leaf_values(p)[name]),
                                   rtol=1e-5, atol=1e-9, err_msg=name)


def test_rnn_T3_and_T20_shapes():
    s3 = solve(load_problem(PROBLEMS / "rnn_T3.yaml"))
    assert s3.forward["h1"].shape == (3, 2)
    s20 = solve(load_problem(PROBLEMS / "rnn_T20.yaml"))
    assert s20.forward["z1"].shape == (20, 2)
    assert s20.extras["diagnostics"]["rnn"][0]["verdict"] == "stable"


# ---------------------------------------------------------------- diagnostics
def test_linear_rnn_norms_are_powers_of_whh():
    # linear activation, return: last: ∂L/∂h_t = (Whhᵀ)^(T−t) ∂L/∂h_T exactly, and Whh = 1.3 R
    # (R a rotation: 1.2² + 0.5² = 1.3²) scales every vector's norm by exactly 1.3 per step
    sol = solve(load_problem(PROBLEMS / "rnn_exploding.yaml"))
    d = sol.extras["diagnostics"]["rnn"][0]
    norms = np.array(d["grad_norms"])
    assert d["T"] == 20 and d["verdict"] == "exploding"
    np.testing.assert_allclose(norms, norms[-1] * 1.3 ** np.arange(19, -1, -1), rtol=1e-10)
    assert d["ratio_first_last"] == pytest.approx(1.3 ** 19, rel=1e-10)
    assert d["factor_per_step"] == pytest.approx(1.3, rel=1e-10)
    assert d["whh_spectral_norm"] == pytest.approx(1.3, rel=1e-12)
    # ∂L/∂h_20 = W2ᵀ (y − t) with W2 = [1, −0.5]
    y = float(sol.forward["y"][0])
    assert norms[-1] == pytest.approx(abs(y - 0.2) * np.hypot(1.0, 0.5), rel=1e-12)


def test_vanishing_problems():
    lin = solve(load_problem(PROBLEMS / "rnn_vanishing_linear.yaml")).extras["diagnostics"]
    d = lin["rnn"][0]
    assert d["verdict"] == "vanishing"
    # Whh = √0.13 R: ratio = 0.13^(19/2)
    assert d["ratio_first_last"] == pytest.approx(0.13 ** 9.5, rel=1e-9)
    tanh = solve(load_problem(PROBLEMS / "rnn_vanishing.yaml")).extras["diagnostics"]["rnn"][0]
    assert tanh["verdict"] == "vanishing"
    # tanh′ ≤ 1 only shrinks it further than the linear layer with the same Whh
    assert tanh["ratio_first_last"] < d["ratio_first_last"]
    assert solve(load_problem(PROBLEMS / "rnn_exploding_tanh.yaml")).extras[
        "diagnostics"]["rnn"][0]["verdict"] == "exploding"


def test_verdict_thresholds():
    assert verdict([1e-3, 0.5, 1.0])[0] == "vanishing"
    assert verdict([0.02, 1.0])[0] == "stable"
    assert verdict([200.0, 1.0])[0] == "exploding"
    kind, ratio, factor = verdict([8.0, 4.0, 2.0, 1.0])
    assert (kind, ratio, factor) == ("stable", 8.0, pytest.approx(2.0))
    assert verdict([0.0, 0.0]) == ("undefined", None, None)
    assert verdict([1.0, 0.0]) == ("exploding", None, None)


def test_diagnostics_in_text_markdown_and_json():
    from click.testing import CliRunner
    from gradcalc.cli import cli
    path = str(PROBLEMS / "rnn_vanishing.yaml")
    r = CliRunner().invoke(cli, ["solve", path, "--format", "json"])
    assert r.exit_code == 0
    data = json.loads(r.output)
    d = data["diagnostics"]["rnn"][0]
    assert d["verdict"] == "vanishing" and len(d["grad_norms"]) == 20
    assert "table_bptt" not in data and "table_builders" not in data
    r = CliRunner().invoke(cli, ["solve", path, "--format", "markdown"])
    assert "### Vanishing / exploding gradients, rnn layer 1" in r.output
    assert "vanishing: ‖∂L/∂h_1‖ is" in r.output
    r = CliRunner().invoke(cli, ["solve", path, "--lang", "zh"], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "梯度消失" in r.output


def test_batch_rnn_is_the_mean_of_single_sequences():
    seqs = ["[[0.5, -1.0], [1.5, 0.25]]", "[[-0.3, 0.8], [0.2, -0.6]]"]
    batch = T2.replace("input: [[0.5, -1.0], [1.5, 0.25]]",
                       f"data:\n  X: [{seqs[0]}, {seqs[1]}]\n  targets: [[0.4], [-0.1]]").replace(
        "loss: {type: mse, target: [0.4]}", "loss: mse")
    pb = _parse(batch)
    assert pb.batch
    sb = solve(pb)
    singles = [solve(_parse(T2.replace("[[0.5, -1.0], [1.5, 0.25]]", s).replace("[0.4]}", t)))
               for s, t in zip(seqs, ("[0.4]}", "[-0.1]}"))]
    for name in ("Wxh1", "Whh1", "b1", "h0_1", "W2", "b2"):
        np.testing.assert_allclose(sb.gradients[name],
                                   np.mean([s.gradients[name] for s in singles], axis=0),
                                   rtol=1e-12, atol=1e-15, err_msg=name)
    assert sb.forward["z1"].shape == (2, 2, 2)
    d = sb.extras["diagnostics"]["rnn"][0]
    # over a batch ‖∂L/∂h_t‖ is the norm over every example
    want = [np.linalg.norm(sb.gradients["h1"][:, t]) for t in range(2)]
    np.testing.assert_allclose(d["grad_norms"], want)


def test_zero_last_gradient_gives_json_null_not_nan():
    # y = h_2 · 0 after a dense layer with zero weights: every ∂L/∂h_t is 0
    text = T2.replace("  - W: [[1.2, -0.7]]", "  - W: [[0.0, 0.0]]")
    from gradcalc.render.jsonout import dumps
    sol = solve(_parse(text))
    d = sol.extras["diagnostics"]["rnn"][0]
    assert d["verdict"] == "undefined" and d["ratio_first_last"] is None
    assert '"ratio_first_last": null' in dumps(sol.to_dict())
