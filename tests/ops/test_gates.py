"""lstm, gru and attention layers: forward values and every gradient against a NumPy
re-implementation written here (its own forward, differentiated by central differences of that
forward), against torch.nn.LSTM / torch.nn.GRU with copied weights when torch is installed, the
three-way check, batches, bad input."""
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gradcalc.api import solve
from gradcalc.cli import cli as main
from gradcalc.errors import ProblemError
from gradcalc.problem.load import load_problem, parse_problem

PROBLEMS = Path(__file__).resolve().parents[2] / "problems"


def sig(z):
    return 1.0 / (1.0 + np.exp(-z))


# ------------------------------------------------------------------ reference forwards (here)
def ref_lstm(x, Wxh, Whh, b, h0, c0, order="ifgo"):
    H = Whh.shape[1]
    h, c, hs, cs = h0, c0, [], []
    for t in range(x.shape[0]):
        z = Wxh @ x[t] + Whh @ h + b
        blk = {k: z[p * H:(p + 1) * H] for p, k in enumerate(order)}
        i, f, g, o = sig(blk["i"]), sig(blk["f"]), np.tanh(blk["g"]), sig(blk["o"])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
    return np.array(hs), np.array(cs)


def ref_gru(x, Wxh, Whh, b, bh, h0):
    H = Whh.shape[1]
    h, hs = h0, []
    for t in range(x.shape[0]):
        a, s = Wxh @ x[t] + b, Whh @ h + bh
        r = sig(a[:H] + s[:H])
        u = sig(a[H:2 * H] + s[H:2 * H])
        n = np.tanh(a[2 * H:] + r * s[2 * H:])
        h = (1 - u) * n + u * h
        hs.append(h)
    return np.array(hs)


def ref_attention(x, Wq, Wk, Wv, Wo=None, causal=False):
    q, k, v = x @ Wq.T, x @ Wk.T, x @ Wv.T
    s = q @ k.T / np.sqrt(q.shape[1])
    T = x.shape[0]
    if causal:
        s = s + np.triu(np.full((T, T), -np.inf), 1)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    a = e / e.sum(axis=1, keepdims=True)
    h = a @ v
    return (h @ Wo.T if Wo is not None else h), a


def central(f, params: dict, eps=1e-6):
    """∂f/∂p for every array p of `params` by central differences of the reference f."""
    out = {}
    for name, p in params.items():
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            up = f()
            p[idx] = old - eps
            down = f()
            p[idx] = old
            g[idx] = (up - down) / (2 * eps)
        out[name] = g
    return out


def yaml_array(a):
    return np.array2string(np.asarray(a), separator=", ", precision=17, max_line_width=10**6,
                           floatmode="unique").replace("\n", "")


# ------------------------------------------------------------------ LSTM
def _lstm_case(seed, order="ifgo", T=4, D=3, H=2):
    rng = np.random.default_rng(seed)
    P = {"x": rng.uniform(-1, 1, (T, D)), "Wxh": rng.uniform(-1, 1, (4 * H, D)),
         "Whh": rng.uniform(-1, 1, (4 * H, H)), "b": rng.uniform(-1, 1, 4 * H),
         "h0": rng.uniform(-1, 1, H), "c0": rng.uniform(-1, 1, H), "W": rng.uniform(-1, 1, (1, H)),
         "t": rng.uniform(-1, 1, 1)}
    text = f"""
input: {yaml_array(P['x'])}
layers:
  - type: lstm
    Wxh: {yaml_array(P['Wxh'])}
    Whh: {yaml_array(P['Whh'])}
    b: {yaml_array(P['b'])}
    h0: {yaml_array(P['h0'])}
    c0: {yaml_array(P['c0'])}
    gate_order: {order}
  - W: {yaml_array(P['W'])}
loss: {{type: mse, target: {yaml_array(P['t'])}}}
"""
    return P, parse_problem(text)


@pytest.mark.parametrize("order", ["ifgo", "ifog"])
def test_lstm_forward_and_every_gradient_against_a_reference_here(order):
    P, problem = _lstm_case(3, order)
    sol = solve(problem)

    def loss():
        hs, _ = ref_lstm(P["x"], P["Wxh"], P["Whh"], P["b"], P["h0"], P["c0"], order)
        y = P["W"] @ hs[-1]
        return 0.5 * float(np.sum((y - P["t"]) ** 2))

    hs, cs = ref_lstm(P["x"], P["Wxh"], P["Whh"], P["b"], P["h0"], P["c0"], order)
    np.testing.assert_allclose(sol.forward["h1"], hs, rtol=1e-12)
    np.testing.assert_allclose(sol.forward["c1"], cs, rtol=1e-12)
    np.testing.assert_allclose(sol.forward["L"], loss(), rtol=1e-12)
    want = central(loss, {k: P[k] for k in ("x", "Wxh", "Whh", "b", "h0", "c0", "W")})
    names = {"x": "x", "Wxh": "Wxh1", "Whh": "Whh1", "b": "b1", "h0": "h0_1", "c0": "c0_1",
             "W": "W2"}
    for k, name in names.items():
        np.testing.assert_allclose(sol.gradients[name], want[k], rtol=1e-6, atol=1e-9,
                                   err_msg=name)


def test_gate_order_matters():
    # the same numbers read in the other gate order give another loss (the order is not ignored)
    a = solve(_lstm_case(5, "ifgo")[1]).forward["L"]
    b = solve(_lstm_case(5, "ifog")[1]).forward["L"]
    assert abs(float(a) - float(b)) > 1e-6


def test_lstm_matches_torch_nn_lstm_with_copied_weights():
    torch = pytest.importorskip("torch")
    P, problem = _lstm_case(11, "ifgo", T=5, D=3, H=4)
    sol = solve(problem)
    lstm = torch.nn.LSTM(3, 4, dtype=torch.float64)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.tensor(P["Wxh"]))
        lstm.weight_hh_l0.copy_(torch.tensor(P["Whh"]))
        lstm.bias_ih_l0.copy_(torch.tensor(P["b"]))
        lstm.bias_hh_l0.zero_()
    x = torch.tensor(P["x"], requires_grad=True)
    h0 = torch.tensor(P["h0"][None, :], requires_grad=True)
    c0 = torch.tensor(P["c0"][None, :], requires_grad=True)
    out, _ = lstm(x, (h0, c0))
    y = torch.tensor(P["W"]) @ out[-1]
    L = 0.5 * ((y - torch.tensor(P["t"])) ** 2).sum()
    L.backward()
    np.testing.assert_allclose(sol.forward["h1"], out.detach().numpy(), rtol=1e-12)
    for name, ref in (("x", x.grad), ("Wxh1", lstm.weight_ih_l0.grad), ("Whh1", lstm.weight_hh_l0.grad),
                      ("b1", lstm.bias_ih_l0.grad), ("h0_1", h0.grad[0]), ("c0_1", c0.grad[0])):
        np.testing.assert_allclose(sol.gradients[name], ref.numpy(), rtol=1e-10, atol=1e-13,
                                   err_msg=name)


# ------------------------------------------------------------------ GRU
def _gru_case(seed, T=4, D=3, H=2):
    rng = np.random.default_rng(seed)
    P = {"x": rng.uniform(-1, 1, (T, D)), "Wxh": rng.uniform(-1, 1, (3 * H, D)),
         "Whh": rng.uniform(-1, 1, (3 * H, H)), "b": rng.uniform(-1, 1, 3 * H),
         "bh": rng.uniform(-1, 1, 3 * H), "h0": rng.uniform(-1, 1, H),
         "W": rng.uniform(-1, 1, (1, H)), "t": rng.uniform(-1, 1, 1)}
    text = f"""
input: {yaml_array(P['x'])}
layers:
  - type: gru
    Wxh: {yaml_array(P['Wxh'])}
    Whh: {yaml_array(P['Whh'])}
    b: {yaml_array(P['b'])}
    bh: {yaml_array(P['bh'])}
    h0: {yaml_array(P['h0'])}
  - W: {yaml_array(P['W'])}
loss: {{type: mse, target: {yaml_array(P['t'])}}}
"""
    return P, parse_problem(text)


def test_gru_forward_and_every_gradient_against_a_reference_here():
    P, problem = _gru_case(4)
    sol = solve(problem)

    def loss():
        hs = ref_gru(P["x"], P["Wxh"], P["Whh"], P["b"], P["bh"], P["h0"])
        return 0.5 * float(np.sum((P["W"] @ hs[-1] - P["t"]) ** 2))

    np.testing.assert_allclose(sol.forward["h1"],
                               ref_gru(P["x"], P["Wxh"], P["Whh"], P["b"], P["bh"], P["h0"]),
                               rtol=1e-12)
    want = central(loss, {k: P[k] for k in ("x", "Wxh", "Whh", "b", "bh", "h0", "W")})
    names = {"x": "x", "Wxh": "Wxh1", "Whh": "Whh1", "b": "b1", "bh": "bh1", "h0": "h0_1",
             "W": "W2"}
    for k, name in names.items():
        np.testing.assert_allclose(sol.gradients[name], want[k], rtol=1e-6, atol=1e-9,
                                   err_msg=name)


def test_gru_matches_torch_nn_gru_with_copied_weights():
    torch = pytest.importorskip("torch")
    P, problem = _gru_case(12, T=5, D=3, H=4)
    sol = solve(problem)
    gru = torch.nn.GRU(3, 4, dtype=torch.float64)
    with torch.no_grad():
        for p, k in ((gru.weight_ih_l0, "Wxh"), (gru.weight_hh_l0, "Whh"), (gru.bias_ih_l0, "b"),
                     (gru.bias_hh_l0, "bh")):
            p.copy_(torch.tensor(P[k]))
    x = torch.tensor(P["x"], requires_grad=True)
    h0 = torch.tensor(P["h0"][None, :], requires_grad=True)
    out, _ = gru(x, h0)
    L = 0.5 * ((torch.tensor(P["W"]) @ out[-1] - torch.tensor(P["t"])) ** 2).sum()
    L.backward()
    np.testing.assert_allclose(sol.forward["h1"], out.detach().numpy(), rtol=1e-12)
    for name, ref in (("x", x.grad), ("Wxh1", gru.weight_ih_l0.grad), ("Whh1", gru.weight_hh_l0.grad),
                      ("b1", gru.bias_ih_l0.grad), ("bh1", gru.bias_hh_l0.grad), ("h0_1", h0.grad[0])):
        np.testing.assert_allclose(sol.gradients[name], ref.numpy(), rtol=1e-10, atol=1e-13,
                                   err_msg=name)


# ------------------------------------------------------------------ attention
@pytest.mark.parametrize("causal,with_wo", [(False, False), (True, True)])
def test_attention_forward_and_every_gradient_against_a_reference_here(causal, with_wo):
    rng = np.random.default_rng(8)
    T, D, d = 4, 3, 2
    P = {"x": rng.uniform(-1, 1, (T, D)), "Wq": rng.uniform(-1, 1, (d, D)),
         "Wk": rng.uniform(-1, 1, (d, D)), "Wv": rng.uniform(-1, 1, (d, D)),
         "Wo": rng.uniform(-1, 1, (2, d)), "W": rng.uniform(-1, 1, (1, 2 * T))}
    wo = f"    Wo: {yaml_array(P['Wo'])}\n" if with_wo else ""
    problem = parse_problem(f"""
input: {yaml_array(P['x'])}
layers:
  - type: attention
    Wq: {yaml_array(P['Wq'])}
    Wk: {yaml_array(P['Wk'])}
    Wv: {yaml_array(P['Wv'])}
{wo}    causal: {str(causal).lower()}
  - type: flatten
  - W: {yaml_array(P['W'])}
loss: {{type: mse, target: [0.3]}}
""")
    sol = solve(problem)

    def loss():
        h, _ = ref_attention(P["x"], P["Wq"], P["Wk"], P["Wv"], P["Wo"] if with_wo else None, causal)
        return 0.5 * float(np.sum((P["W"] @ h.ravel() - 0.3) ** 2))

    h, a = ref_attention(P["x"], P["Wq"], P["Wk"], P["Wv"], P["Wo"] if with_wo else None, causal)
    np.testing.assert_allclose(sol.forward["a1"], a, rtol=1e-12)
    np.testing.assert_allclose(sol.forward["h1"], h, rtol=1e-12)
    if causal:      # token 1 sees only itself
        assert sol.forward["a1"][0, 0] == 1.0 and np.all(np.triu(sol.forward["a1"], 1) == 0)
    keys = ["x", "Wq", "Wk", "Wv"] + (["Wo"] if with_wo else [])
    want = central(loss, {k: P[k] for k in keys})
    for k in keys:
        name = k if k == "x" else f"{k}1"
        np.testing.assert_allclose(sol.gradients[name], want[k], rtol=1e-6, atol=1e-9, err_msg=name)


def test_attention_matches_torch_sdpa():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    x, Wq, Wk, Wv = (rng.uniform(-1, 1, s) for s in ((5, 3), (2, 3), (2, 3), (2, 3)))
    X = torch.tensor(x, requires_grad=True)
    q, k, v = X @ torch.tensor(Wq).T, X @ torch.tensor(Wk).T, X @ torch.tensor(Wv).T
    h = torch.nn.functional.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=True)[0]
    h.sum().backward()
    ours, _ = ref_attention(x, Wq, Wk, Wv, causal=True)
    np.testing.assert_allclose(ours, h.detach().numpy(), rtol=1e-12)     # the reference itself
    problem = parse_problem(f"""
input: {yaml_array(x)}
layers:
  - type: attention
    Wq: {yaml_array(Wq)}
    Wk: {yaml_array(Wk)}
    Wv: {yaml_array(Wv)}
    causal: true
  - type: flatten
  - W: {yaml_array(np.ones((1, 10)))}
""")
    sol = solve(problem)
    np.testing.assert_allclose(sol.gradients["x"], X.grad.numpy(), rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------------ batches, check, errors
def test_lstm_over_a_batch_is_every_example_on_its_own():
    rng = np.random.default_rng(2)
    N, T, D, H = 3, 4, 2, 2
    X = rng.uniform(-1, 1, (N, T, D))
    Wxh, Whh, b = rng.uniform(-1, 1, (4 * H, D)), rng.uniform(-1, 1, (4 * H, H)), rng.uniform(-1, 1, 4 * H)
    t = rng.uniform(-1, 1, (N, 1))
    problem = parse_problem(f"""
data: {{X: {yaml_array(X)}, targets: {yaml_array(t)}}}
layers:
  - type: lstm
    Wxh: {yaml_array(Wxh)}
    Whh: {yaml_array(Whh)}
    b: {yaml_array(b)}
  - W: [[1.0, -0.5]]
loss: {{type: mse}}
""")
    sol = solve(problem)
    P = {"Wxh": Wxh, "Whh": Whh, "b": b}

    def loss():
        total = 0.0
        for n in range(N):
            hs, _ = ref_lstm(X[n], P["Wxh"], P["Whh"], P["b"], np.zeros(H), np.zeros(H))
            total += 0.5 * float(np.sum((np.array([1.0, -0.5]) @ hs[-1] - t[n]) ** 2))
        return total / N

    np.testing.assert_allclose(sol.forward["L"], loss(), rtol=1e-12)
    want = central(loss, P)
    for k in P:
        np.testing.assert_allclose(sol.gradients[f"{k}1"], want[k], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("stem", ["lstm", "gru", "attention", "lstm_T30", "rnn_T30"])
def test_shipped_problems_three_way_check_agrees(stem):
    r = CliRunner().invoke(main, ["check", str(PROBLEMS / f"{stem}.yaml")])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("layer,words", [
    ("{type: lstm, Wxh: [[1, 2], [3, 4], [5, 6]], Whh: [[1]]}", "not a multiple of 4"),
    ("{type: lstm, Wxh: [[1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3]], Whh: [[1]]}",
     "expected 4H×D with H = 1, D = 2"),
    ("{type: lstm, Wxh: [[1, 2], [1, 2], [1, 2], [1, 2]], Whh: [[1, 2]]}",
     "expected 4H×H with H = 1"),
    ("{type: gru, Wxh: [[1, 2], [1, 2], [1, 2]], Whh: [[1], [1]]}", "expected 3H×H with H = 1"),
    ("{type: gru, Wxh: [[1, 2], [1, 2], [1, 2]], Whh: [[1], [1], [1]], bh: [1, 2]}",
     "expected 3 entries (3H with H = 1)"),
    ("{type: lstm, Wxh: [[1, 2], [1, 2], [1, 2], [1, 2]], Whh: [[1], [1], [1], [1]], gate_order: iofg}",
     "expected 'ifgo'"),
    ("{type: attention, Wq: [[1, 2]], Wk: [[1, 2], [3, 4]], Wv: [[1, 2]]}", "expected 1 rows"),
    ("{type: attention, Wq: [[1, 2]], Wk: [[1, 2]], Wv: [[1, 2]], causal: 1}",
     "expected true or false"),
])
def test_bad_gate_stacks_are_one_error_line(layer, words):
    text = f"input: [[1, 2], [3, 4]]\nlayers:\n  - {layer}\n  - type: flatten\n  - W: [[1, 1]]\n"
    with pytest.raises(ProblemError) as e:
        parse_problem(text)
    assert words in str(e.value)


def test_bad_gate_stack_on_the_command_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("input: [[1, 2]]\nlayers:\n  - type: lstm\n    Wxh: [[1, 2, 3], [1, 2, 3], [1, 2, 3], "
                 "[1, 2, 3]]\n    Whh: [[1], [1], [1], [1]]\n  - W: [[1]]\n")
    r = CliRunner().invoke(main, ["solve", str(f)])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert lines[0].startswith("gradcalc: error: ") and "bad.yaml:4: layers[0].Wxh: expected 4H×D " \
        "with H = 1" in lines[0], r.output


def test_graph_picture_of_an_lstm(tmp_path):
    out = tmp_path / "lstm.svg"
    r = CliRunner().invoke(main, ["graph", str(PROBLEMS / "lstm.yaml"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "c1[2]" in text and "h1[2]" in text


def test_lstm_problem_loads_with_its_names():
    p = load_problem(PROBLEMS / "lstm.yaml")
    sol = solve(p)
    assert sol.forward["z1"].shape == (3, 8) and sol.forward["c1"].shape == (3, 2)
    assert {"Wxh1", "Whh1", "b1", "h0_1", "c0_1"} <= set(sol.gradients)


# ------------------------------------------------------------------ the ops in every layout
R = np.random.default_rng(21)
LAYOUTS = [
    ("lstm_gates", (R.uniform(-1, 1, (8, 3)), R.uniform(-1, 1, (8, 2)), R.uniform(-1, 1, 8),
                    R.uniform(-1, 1, (4, 5, 3)), R.uniform(-1, 1, 2)),
     {"step": 2, "batch": True, "order": "ifog"}),            # h0 shared by a batch
    ("lstm_gates", (R.uniform(-1, 1, (8, 3)), R.uniform(-1, 1, (8, 2)), R.uniform(-1, 1, 8),
                    R.uniform(-1, 1, (4, 5, 3)), R.uniform(-1, 1, (4, 2))),
     {"step": 5, "batch": True, "order": "ifgo"}),
    ("lstm_cell", (R.uniform(0, 1, (4, 8)), R.uniform(-1, 1, 2)), {"order": "ifog"}),   # c0 shared
    ("lstm_cell", (R.uniform(0, 1, (4, 8)), R.uniform(-1, 1, (4, 2))), {"order": "ifgo"}),
    ("lstm_hidden", (R.uniform(0, 1, (4, 8)), R.uniform(-1, 1, (4, 2))), {"order": "ifog"}),
    ("gru_step", (R.uniform(-1, 1, (6, 3)), R.uniform(-1, 1, (6, 2)), R.uniform(-1, 1, 6),
                  R.uniform(-1, 1, 6), R.uniform(-1, 1, (4, 5, 3)), R.uniform(-1, 1, 2)),
     {"step": 1, "batch": True}),
    ("gru_step", (R.uniform(-1, 1, (6, 3)), R.uniform(-1, 1, (6, 2)), R.uniform(-1, 1, 6),
                  R.uniform(-1, 1, 6), R.uniform(-1, 1, (4, 5, 3)), R.uniform(-1, 1, (4, 2))),
     {"step": 3, "batch": True}),
    ("proj", (R.uniform(-1, 1, (2, 3)), R.uniform(-1, 1, (4, 5, 3))), {}),
    ("attn_weights", (R.uniform(-1, 1, (2, 4, 3)), R.uniform(-1, 1, (2, 4, 3))), {"causal": False}),
    ("attn_weights", (R.uniform(-1, 1, (2, 4, 3)), R.uniform(-1, 1, (2, 4, 3))), {"causal": True}),
    ("attn_mix", (R.uniform(0, 1, (2, 4, 4)), R.uniform(-1, 1, (2, 4, 3))), {}),
    # the lstm's z{i} read-out: rnn_pre with a 4H gate stack over H states
    ("rnn_pre", (R.uniform(-1, 1, (8, 3)), R.uniform(-1, 1, (8, 2)), R.uniform(-1, 1, 8),
                 R.uniform(-1, 1, (4, 3)), R.uniform(-1, 1, 2), R.uniform(-1, 1, (4, 2))), {}),
    ("rnn_pre", (R.uniform(-1, 1, (8, 3)), R.uniform(-1, 1, (8, 2)), R.uniform(-1, 1, 8),
                 R.uniform(-1, 1, (2, 4, 3)), R.uniform(-1, 1, 2), R.uniform(-1, 1, (2, 4, 2))), {}),
]


@pytest.mark.parametrize("case", range(len(LAYOUTS)))
def test_vjp_and_matrix_rule_in_every_layout(case):
    from gradcalc import ops
    from gradcalc.ops import matrix as mx
    name, xs, attrs = LAYOUTS[case]
    op = ops.REGISTRY[name]
    xs = [np.array(x, dtype=float) for x in xs]
    out = np.asarray(op.forward(*xs, **attrs), dtype=float)
    g = np.random.default_rng(case).uniform(-1, 1, out.shape)
    grads = op.vjp(g, out, *xs, **attrs)
    # central differences of the op's forward in the direction of g
    for k, x in enumerate(xs):
        want = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            old = x[idx]
            x[idx] = old + 1e-6
            up = float(np.sum(g * op.forward(*xs, **attrs)))
            x[idx] = old - 1e-6
            down = float(np.sum(g * op.forward(*xs, **attrs)))
            x[idx] = old
            want[idx] = (up - down) / 2e-6
        np.testing.assert_allclose(grads[k], want, rtol=1e-6, atol=1e-8, err_msg=f"{name} input {k}")
    for k, (term, value) in enumerate(mx.evaluate(op, g, out, xs, attrs)):
        np.testing.assert_allclose(value, np.reshape(grads[k], np.shape(xs[k])), rtol=1e-10,
                                   atol=1e-12, err_msg=f"{name} input {k}: {term.text()}")


# ------------------------------------------------------------------ variants and grading
LSTM_TEMPLATE = """\
title: "LSTM variant"
input: {uniform: [-1, 1], decimals: 1, shape: [3, 2]}
layers:
  - type: lstm
    Wxh: {uniform: [-1, 1], decimals: 1, shape: [8, 2]}
    Whh: {uniform: [-0.5, 0.5], decimals: 1, shape: [8, 2]}
    b: {uniform: [-0.5, 0.5], decimals: 1, shape: [8]}
    gate_order: ifog
  - W: {uniform: [-1, 1], decimals: 1, shape: [1, 2]}
loss:
  type: mse
  target: [{uniform: [-1, 1], decimals: 1}]
variants:
  seed: "lstm-2026"
"""


def test_a_variant_template_with_random_lstm_weights():
    from gradcalc.variants.maker import VariantMaker
    from gradcalc.variants.template import parse_template
    t = parse_template(LSTM_TEMPLATE)
    a, b = VariantMaker(t).make("s001"), VariantMaker(t).make("s002")
    pa, pb = a.problem, b.problem
    Wa = np.asarray(pa.layers[0].params["Wxh"])
    assert Wa.shape == (8, 2) and np.all(np.abs(Wa) <= 1) and np.allclose(Wa, np.round(Wa, 1))
    assert not np.array_equal(Wa, pb.layers[0].params["Wxh"])       # another student, other numbers
    np.testing.assert_array_equal(Wa, VariantMaker(parse_template(LSTM_TEMPLATE)).make("s001")
                                  .problem.layers[0].params["Wxh"])   # the same student, the same
    # the variant's gradients against the reference here (its own forward, central differences)
    L = pa.layers[0].params
    P = {"x": np.array(pa.x, dtype=float), "Wxh": np.array(L["Wxh"], dtype=float),
         "Whh": np.array(L["Whh"], dtype=float), "b": np.array(L["b"], dtype=float)}
    W, tgt = np.asarray(pa.layers[1].W), np.asarray(pa.loss.target)

    def loss():
        hs, _ = ref_lstm(P["x"], P["Wxh"], P["Whh"], P["b"], np.zeros(2), np.zeros(2), "ifog")
        return 0.5 * float(np.sum((W @ hs[-1] - tgt) ** 2))

    sol = solve(pa)
    want = central(loss, P)
    for k in ("Wxh", "Whh", "b"):
        np.testing.assert_allclose(sol.gradients[f"{k}1"], want[k], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sol.gradients["x"], want["x"], rtol=1e-6, atol=1e-9)


def test_grading_an_lstm_problem(tmp_path):
    import yaml
    sol = solve(PROBLEMS / "lstm.yaml")
    # h1[3] (the last state, a question of the template) is left out: an answer file reads
    # "h1[3]" as entry 3 of h1 — the same holds for rnn layers; a grading issue of its own
    good = {k: np.asarray(sol.forward[k]).tolist() for k in ("z1", "c1", "h1", "y", "L")}
    good.update({f"d{k}": np.asarray(sol.gradients[k]).tolist()
                 for k in ("Wxh1", "Whh1", "b1", "h0_1", "c0_1", "W2", "b2")})
    bad = dict(good, dc0_1=(np.asarray(good["dc0_1"]) * -1).tolist())
    (tmp_path / "ans").mkdir()
    for who, ans in (("s1", good), ("s2", bad)):
        (tmp_path / "ans" / f"{who}.yaml").write_text(yaml.safe_dump({"student": who, "answers": ans}))
    r = CliRunner().invoke(main, ["grade", str(PROBLEMS / "lstm.yaml"), str(tmp_path / "ans"),
                                  "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    rows = {line.split(",")[0]: line.split(",") for line in
            (tmp_path / "out" / "grades.csv").read_text().splitlines()}
    head = rows["student"]
    questions = [q for q in head[2:head.index("total")] if q != "h1[3]"]
    assert all(rows["s1"][head.index(q)] == "1" for q in questions), rows["s1"]
    assert rows["s2"][head.index("dc0_1")] == "0" and rows["s2"][head.index("dWxh1")] == "1"


def test_cell_gradients_and_the_t30_comparison():
    # ∂L/∂c_t of every step (the cell path of the diagnostics) against the reference here: a
    # perturbation added to c_t after step t, differentiated by central differences
    P, problem = _lstm_case(6, "ifgo", T=4)
    sol = solve(problem)

    def loss_with(t, delta):
        H = P["Whh"].shape[1]
        h, c = P["h0"], P["c0"]
        for s in range(P["x"].shape[0]):
            z = P["Wxh"] @ P["x"][s] + P["Whh"] @ h + P["b"]
            i, f, g, o = sig(z[:H]), sig(z[H:2 * H]), np.tanh(z[2 * H:3 * H]), sig(z[3 * H:])
            c = f * c + i * g + (delta if s == t else 0.0)
            h = o * np.tanh(c)
        return 0.5 * float(np.sum((P["W"] @ h - P["t"]) ** 2))

    for t in range(4):
        d = np.zeros(2)
        want = central(lambda: loss_with(t, d), {"d": d})["d"]
        np.testing.assert_allclose(sol.gradients["c1"][t], want, rtol=1e-6, atol=1e-9)
    rnn = solve(load_problem(PROBLEMS / "rnn_T30.yaml")).diagnostics.summaries[0]
    lstm = solve(load_problem(PROBLEMS / "lstm_T30.yaml")).diagnostics.summaries[0]
    assert rnn["verdict"] == "vanishing" and rnn["ratio_first_last"] < 1e-10
    assert lstm["cell_verdict"] == "stable" and lstm["cell_ratio_first_last"] > 0.1
    assert len(lstm["cell_grad_norms"]) == 30 and 0.9 < lstm["forget_gate_mean"] < 1.0


def test_a_batch_through_attention_then_gru_every_example_on_its_own(tmp_path):
    f = tmp_path / "batch.yaml"
    f.write_text("""\
data:
  X: [[[1.0, 0.5], [-0.5, 1.0], [0.2, -1.0]], [[0.3, 0.1], [0.4, -0.2], [-0.6, 0.9]]]
  targets: [[0.5], [-0.2]]
layers:
  - type: attention
    Wq: [[0.5, -0.3], [0.2, 0.4]]
    Wk: [[0.1, 0.3], [-0.2, 0.1]]
    Wv: [[0.4, -0.5], [0.3, 0.2], [0.1, 0.1]]
    causal: true
  - type: gru
    Wxh: [[0.5, -0.3, 0.1], [0.2, 0.4, 0.0], [0.1, 0.3, 0.2], [-0.2, 0.1, 0.3], [0.4, -0.5, 0.1], [0.3, 0.2, -0.1]]
    Whh: [[0.1, -0.4], [0.3, 0.2], [0.2, 0.1], [-0.1, 0.3], [0.5, -0.2], [0.1, 0.4]]
    h0: [0.1, -0.2]
  - W: [[1.0, -1.0]]
loss: {type: mse}
""")
    r = CliRunner().invoke(main, ["check", str(f)])
    assert r.exit_code == 0, r.output
    p = load_problem(f)
    sol = solve(p)
    A = p.layers[0].params
    G = p.layers[1].params
    for n in range(2):
        h, a = ref_attention(np.asarray(p.x[n]), A["Wq"], A["Wk"], A["Wv"], causal=True)
        np.testing.assert_allclose(sol.forward["a1"][n], a, rtol=1e-12)
        np.testing.assert_allclose(sol.forward["h1"][n], h, rtol=1e-12)
        hs = ref_gru(h, G["Wxh"], G["Whh"], G["b"], np.zeros(6), G["h0"])
        np.testing.assert_allclose(sol.forward["h2"][n], hs, rtol=1e-12)
