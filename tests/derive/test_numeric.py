"""Tests of gradcalc.numeric: step policy, central differences, Richardson, kinks, sampling."""
import ast
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from gradcalc.derive import numeric
from gradcalc.derive.numeric import chain
from gradcalc import ops
from gradcalc.problem.load import load_problem, parse_problem

ROOT = Path(__file__).resolve().parents[2]
HW1 = ROOT / "problems" / "hw1.yaml"


def sig(u):
    return 1.0 / (1.0 + math.exp(-u))


def hw1_grad_W2():
    # by hand: ∂L/∂W2 = (y − t)·h1ᵀ with z1 = [0.6, −0.8]
    h = [sig(0.6), sig(-0.8)]
    y = 0.2 * h[0] - 0.5 * h[1] + 0.05
    return np.array([[(y - 0.3) * h[0], (y - 0.3) * h[1]]])


def hw1_grad_W1():
    h = [sig(0.6), sig(-0.8)]
    y = 0.2 * h[0] - 0.5 * h[1] + 0.05
    dz = [(y - 0.3) * w * hi * (1 - hi) for w, hi in zip([0.2, -0.5], h)]
    return np.outer(dz, [0.5, -1.5])


def test_step_is_relative_to_the_entry_and_absolute_near_zero():
    np.testing.assert_allclose(numeric.step(np.array([0.0, 0.5, -3.0, 1000.0])),
                               [1e-6, 1e-6, 3e-6, 1e-3])
    assert numeric.step(2.0, h=0.01) == pytest.approx(0.02)


def test_central_differences_on_hw1():
    res = numeric.run(load_problem(HW1))
    np.testing.assert_allclose(res.gradients["W2"], hw1_grad_W2(), rtol=1e-8)
    np.testing.assert_allclose(res.gradients["W1"], hw1_grad_W1(), rtol=1e-7)
    assert res.kinks == [] and res.nonfinite == []
    assert all(m.all() for m in res.checked.values())
    assert res.output_value == pytest.approx(
        0.5 * (0.2 * sig(0.6) - 0.5 * sig(-0.8) + 0.05 - 0.3) ** 2, rel=1e-14)


def test_richardson_beats_plain_central_differences_at_a_coarse_step():
    p = load_problem(HW1)
    want = hw1_grad_W1()            # W2 enters L quadratically: differences are exact there
    plain = numeric.run(p, h=0.05).gradients["W1"]
    rich = numeric.run(p, h=0.05, richardson=True).gradients["W1"]
    err_plain = np.max(np.abs(plain - want))
    err_rich = np.max(np.abs(rich - want))
    assert err_plain > 1e-6                  # O(h²) is visible at h = 0.05
    assert err_rich < err_plain / 50         # O(h⁴)


def test_numeric_uses_forward_evaluations_only(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a VJP was called")
    for name, op in list(ops.REGISTRY.items()):
        monkeypatch.setitem(ops.REGISTRY, name, dataclasses.replace(op, vjp=boom, local=boom))
    res = numeric.run(load_problem(HW1))
    np.testing.assert_allclose(res.gradients["W2"], hw1_grad_W2(), rtol=1e-8)


def test_the_three_methods_never_import_one_another():
    src = ROOT / "gradcalc" / "derive"
    banned = {file: names for pkg, names in {"numeric": {"autograd", "symbolic"},
                                              "symbolic": {"autograd", "numeric"}}.items()
              for file in sorted((src / pkg).rglob("*.py"))}
    for file, names in banned.items():
        tree = ast.parse((src / file).read_text())
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.ImportFrom):
                mods = [node.module or ""] + [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            for m in mods:
                assert m.split(".")[-1] not in names, (file, m)


def test_kink_flagged_at_relu_of_zero():
    res = numeric.run(parse_problem("expression: 'relu(x) + 2*y'\nvalues: {x: 0, y: 1}"))
    assert [(k.param, k.op) for k in res.kinks] == [("x", "relu")]
    assert "kink" in res.kinks[0].reason
    # the central difference sits between the two sides: (1 + 0) / 2
    assert res.gradients["x"] == pytest.approx(0.5)
    assert res.gradients["y"] == pytest.approx(2.0)


def test_no_kink_away_from_it():
    res = numeric.run(parse_problem("expression: 'relu(x)'\nvalues: {x: 0.3}"))
    assert res.kinks == []


def test_kink_within_h_that_moves_with_the_entry():
    # x = 5e-7 is inside h = 1e-6 of the kink: x − h crosses it
    res = numeric.run(parse_problem("expression: 'abs(x) + z'\nvalues: {x: 5.0e-7, z: 1}"))
    assert [k.param for k in res.kinks] == ["x"]


def test_leaving_the_domain_is_unreliable_not_a_failure():
    from gradcalc.compare.methods import check_problem
    p = parse_problem("expression: 'sqrt(x) + z'\nvalues: {x: 5.0e-7, z: 1}")
    res = numeric.run(p)
    assert [(k.param, k.op) for k in res.kinks] == [("x", "domain")]
    assert res.nonfinite == [("x", ())]
    assert check_problem(p).pairs["numeric"].ok


HINGE_AT_ZERO = """
title: hinge margin exactly 0
input: [1.0]
layers:
  - W: [[0.5], [1.5]]
    b: [0.0, 0.0]
loss: {type: hinge, label: 1, margin: 1}
"""


def test_kink_flagged_at_a_hinge_margin_of_exactly_zero():
    # scores y = [0.5, 1.5]: the margin of class 0 is 0.5 − 1.5 + 1 = 0 exactly
    res = numeric.run(parse_problem(HINGE_AT_ZERO))
    flagged = {(k.param, k.index) for k in res.kinks}
    assert ("W1", (0, 0)) in flagged and ("W1", (1, 0)) in flagged
    assert all(k.op == "hinge" for k in res.kinks)
    from gradcalc.compare.methods import check_problem
    rep = check_problem(parse_problem(HINGE_AT_ZERO))
    assert rep.ok                                  # reported, not counted as a failure
    assert rep.pairs["numeric"].params["W1"].kinks == 2
    assert rep.agreement()["kinks"][0]["op"] == "hinge"


def test_sample_checks_k_random_entries_per_parameter_reproducibly():
    p = load_problem(HW1)
    a = numeric.run(p, sample=1, seed=3)
    b = numeric.run(p, sample=1, seed=3)
    assert {n: int(m.sum()) for n, m in a.checked.items()} == {
        "x": 1, "W1": 1, "b1": 1, "W2": 1, "b2": 1}
    for n in a.checked:
        np.testing.assert_array_equal(a.checked[n], b.checked[n])
        assert np.isnan(a.gradients[n][~a.checked[n]]).all()


def test_random_direction_is_the_directional_derivative():
    p = load_problem(HW1)
    res = numeric.run(p, seed=5)
    d = res.direction
    norm = math.sqrt(sum(float(np.sum(v * v)) for v in d.direction.values()))
    assert norm == pytest.approx(1.0)
    # v·∇L with the gradient worked out by hand (not by the code under test)
    h = np.array([sig(0.6), sig(-0.8)])
    dy = 0.2 * h[0] - 0.5 * h[1] + 0.05 - 0.3
    dz = dy * np.array([0.2, -0.5]) * h * (1 - h)
    grads = {"x": np.array([[0.4, -0.2], [-0.1, 0.3]]).T @ dz, "W1": hw1_grad_W1(), "b1": dz,
             "W2": hw1_grad_W2(), "b2": np.array([dy])}
    assert set(grads) == set(d.direction)
    want = sum(float(np.sum(d.direction[n] * g)) for n, g in grads.items())
    assert d.value == pytest.approx(want, rel=1e-7)


def test_gradient_of_restores_the_array():
    x = np.array([0.5, -2.0, 3.0])
    g = numeric.gradient_of(lambda: float(np.sum(x ** 3)), x)
    np.testing.assert_allclose(g, 3 * np.array([0.5, -2.0, 3.0]) ** 2, rtol=1e-8)
    np.testing.assert_array_equal(x, [0.5, -2.0, 3.0])


def test_bad_step_is_refused():
    with pytest.raises(ValueError):
        numeric.run(load_problem(HW1), h=0.0)


# ---------------------------------------------------------------- many perturbations at once
SOFTMAX_NET = """
title: tanh hidden layer, softmax cross-entropy
input: [0.5, -1.0, 2.0]
layers:
  - W: [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6], [-0.7, 0.8, 0.9], [0.2, 0.1, -0.3]]
    b: [0.1, 0.0, -0.1, 0.2]
    activation: tanh
  - W: [[0.3, -0.1, 0.2, 0.5], [-0.4, 0.6, 0.1, -0.2]]
    b: [0.05, -0.05]
loss: {type: cross_entropy, label: 1}
"""


def _softmax_net_by_hand():
    """∂L/∂W2 = (softmax(y) − onehot) h1ᵀ and ∂L/∂b2 = softmax(y) − onehot, computed here."""
    x = [0.5, -1.0, 2.0]
    W1 = [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6], [-0.7, 0.8, 0.9], [0.2, 0.1, -0.3]]
    b1 = [0.1, 0.0, -0.1, 0.2]
    W2 = [[0.3, -0.1, 0.2, 0.5], [-0.4, 0.6, 0.1, -0.2]]
    b2 = [0.05, -0.05]
    h = [math.tanh(sum(w * v for w, v in zip(row, x)) + b) for row, b in zip(W1, b1)]
    y = [sum(w * v for w, v in zip(row, h)) + b for row, b in zip(W2, b2)]
    e = [math.exp(v) for v in y]
    p = [v / sum(e) for v in e]
    dy = [p[0], p[1] - 1.0]
    return np.outer(dy, h), np.array(dy)


def test_stacked_perturbations_give_the_same_differences(monkeypatch):
    p = parse_problem(SOFTMAX_NET)
    calls = []
    real = chain.StackedChain.values
    monkeypatch.setattr(chain.StackedChain, "values",
                        lambda self, ks, vs: calls.append(len(ks)) or real(self, ks, vs))
    stacked = numeric.run(p, direction=False)
    assert calls                                  # the stacked forward was used
    dW2, db2 = _softmax_net_by_hand()
    np.testing.assert_allclose(stacked.gradients["W2"], dW2, rtol=1e-8)
    np.testing.assert_allclose(stacked.gradients["b2"], db2, rtol=1e-8)
    monkeypatch.setattr(chain.StackedChain, "make", classmethod(lambda cls, *a: None))
    single = numeric.run(p, direction=False)      # one forward evaluation per perturbation
    for name, g in single.gradients.items():
        # the quotients differ at most by the rounding of a matrix product taken as a block
        np.testing.assert_allclose(stacked.gradients[name], g, rtol=1e-8, atol=1e-10)
    rich_stacked = numeric.run(p, direction=False, richardson=True, h=1e-3)
    monkeypatch.undo()
    rich_single = numeric.run(p, direction=False, richardson=True, h=1e-3)
    for name, g in rich_single.gradients.items():
        np.testing.assert_allclose(rich_stacked.gradients[name], g, rtol=1e-9, atol=1e-12)


def test_a_stacked_forward_that_disagrees_is_not_used(monkeypatch):
    p = parse_problem(SOFTMAX_NET)
    want = numeric.run(p, direction=False).gradients
    real = chain.StackedChain.values
    # a stacking mistake (here: the r-th value off by r·1e-6) is found on the first
    # perturbations, and every entry is then evaluated one by one
    monkeypatch.setattr(chain.StackedChain, "values",
                        lambda self, ks, vs: [v + r * 1e-6 for r, v in enumerate(real(self, ks, vs))])
    got = numeric.run(p, direction=False).gradients
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-8, atol=1e-10)


def test_rowwise_operations_only():
    # a loss averages over a batch: never stacked; affine only with its input x stacked
    shapes = [(3,), (2, 3), (2,), (2,)]
    assert chain._rowwise(ops.get("tanh"), [0], 0, shapes)
    assert chain._rowwise(ops.get("affine"), [1, 0, 2], 1, shapes)
    assert not chain._rowwise(ops.get("affine"), [1, 0, 2], 0, shapes)
    assert not chain._rowwise(ops.get("cross_entropy"), [2], 0, shapes)
    assert not chain._rowwise(ops.get("mse"), [2], 0, shapes)
    assert chain._rowwise(ops.get("softmax"), [0], 0, shapes)
    assert not chain._rowwise(ops.get("softmax"), [1], 0, shapes)     # rows of a batch
    assert chain._rowwise(ops.get("mul"), [0, 2], 0, [(3,), (), (3,)])
    assert not chain._rowwise(ops.get("mul"), [0, 1], 0, [(), (3,)])  # would broadcast wrongly


def test_big_network_every_entry_against_autograd():
    # 40 inputs, 30 tanh units, 5 classes: ≈ 1,400 entries through the stacked forward
    from gradcalc.api import solve
    from gradcalc.problem.model import Layer, Loss, NetworkProblem
    rng = np.random.default_rng(7)
    p = NetworkProblem("big", rng.standard_normal(40),
                       (Layer(rng.standard_normal((30, 40)) / 6, rng.standard_normal(30) / 6,
                              "tanh"),
                        Layer(rng.standard_normal((5, 30)) / 5, rng.standard_normal(5) / 5,
                              "linear")),
                       Loss("cross_entropy", label=np.asarray(2)))
    res = numeric.run(p)
    auto = solve(p).gradients                # the hand-written VJPs: an independent method
    for name in ("x", "W1", "b1", "W2", "b2"):
        np.testing.assert_allclose(res.gradients[name], auto[name], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("loss, grad_y", [
    # ∂L/∂y written out: mse ½‖y − t‖² → y − t; soft-target cross-entropy → softmax(y) − t;
    # with reduction sum over one example the same
    ("{type: mse, target: [0.3, -0.2]}", lambda y: y - np.array([0.3, -0.2])),
    ("{type: cross_entropy, target: [0.25, 0.75]}",
     lambda y: np.exp(y) / np.exp(y).sum() - np.array([0.25, 0.75])),
    ("{type: cross_entropy, label: 0, reduction: sum}",
     lambda y: np.exp(y) / np.exp(y).sum() - np.array([1.0, 0.0])),
])
def test_a_last_loss_runs_once_per_stack(loss, grad_y, monkeypatch):
    text = SOFTMAX_NET.replace("loss: {type: cross_entropy, label: 1}", f"loss: {loss}")
    p = parse_problem(text)
    seen = []
    real = chain.StackedChain._row_loss
    monkeypatch.setattr(chain.StackedChain, "_row_loss",
                        lambda self, *a: seen.append(real(self, *a)) or seen[-1])
    got = numeric.run(p, direction=False).gradients
    assert seen and all(f is not None for f in seen)   # every leaf's chain used the per-row loss
    # reference: the forward pass and the last layer's gradient in NumPy here
    W1 = np.array([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6], [-0.7, 0.8, 0.9], [0.2, 0.1, -0.3]])
    W2 = np.array([[0.3, -0.1, 0.2, 0.5], [-0.4, 0.6, 0.1, -0.2]])
    h = np.tanh(W1 @ np.array([0.5, -1.0, 2.0]) + np.array([0.1, 0.0, -0.1, 0.2]))
    dy = grad_y(W2 @ h + np.array([0.05, -0.05]))
    np.testing.assert_allclose(got["W2"], np.outer(dy, h), rtol=1e-7)
    np.testing.assert_allclose(got["b2"], dy, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(got["W1"], np.outer((W2.T @ dy) * (1 - h ** 2),
                                                   [0.5, -1.0, 2.0]), rtol=1e-6, atol=1e-10)


def test_per_row_losses_are_the_losses_of_each_row():
    rng = np.random.default_rng(3)
    Y = rng.standard_normal((5, 4))
    t = np.array([0.1, 0.2, 0.3, 0.4])
    for name, attrs in (("cross_entropy", {"label": np.asarray(2)}),
                        ("cross_entropy", {"target": t}), ("mse", {"target": t})):
        op = ops.get(name)
        each = {k: np.broadcast_to(v, (5,) + np.shape(v)) for k, v in attrs.items()}
        rows = op.forward(Y, reduction="none", **each)
        assert rows.shape == (5,)
        for r in range(5):
            assert rows[r] == pytest.approx(float(op.forward(Y[r], **attrs)), rel=1e-14)
