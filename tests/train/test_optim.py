"""The optimizer section, the SGD update rule (clipping, momentum, step decay) and `solve --steps`."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gradcalc.api import solve
from gradcalc.cli import cli
from gradcalc.errors import ProblemError
from gradcalc.train.optim import SGD, Optimizer, StepSchedule, global_norm, parse_optimizer
from gradcalc.problem.load import load_problem, parse_problem

ROOT = Path(__file__).resolve().parents[2]
PROBLEMS = ROOT / "problems"


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def hw1_by_hand(W1, b1, W2, b2, x=np.array([0.5, -1.5]), t=0.3):
    """The hw1 network written out: z1 = W1 x + b1, h = σ(z1), y = W2 h + b2, L = ½(y − t)²,
    and its backward pass by the chain rule."""
    z1 = W1 @ x + b1
    h = sigmoid(z1)
    y = W2 @ h + b2
    L = 0.5 * float(np.sum((y - t) ** 2))
    dy = y - t                         # ∂L/∂y
    gW2, gb2 = np.outer(dy, h), dy
    dh = W2.T @ dy
    dz1 = dh * h * (1 - h)             # σ' = σ(1 − σ)
    gW1, gb1 = np.outer(dz1, x), dz1
    return L, {"W1": gW1, "b1": gb1, "W2": gW2, "b2": gb2}


HW1 = {"W1": np.array([[0.4, -0.2], [-0.1, 0.3]]), "b1": np.array([0.1, -0.3]),
       "W2": np.array([[0.2, -0.5]]), "b2": np.array([0.05])}


def test_hw1_forward_by_hand_values():
    # z1 = [0.2 + 0.3 + 0.1, −0.05 − 0.45 − 0.3] = [0.6, −0.8]; y = 0.2σ(0.6) − 0.5σ(−0.8) + 0.05
    L, g = hw1_by_hand(**HW1)
    y = 0.2 * sigmoid(0.6) - 0.5 * sigmoid(-0.8) + 0.05
    assert y == pytest.approx(0.0241185, abs=1e-7)
    assert L == pytest.approx(0.5 * (y - 0.3) ** 2)
    assert g["b2"][0] == pytest.approx(y - 0.3)


def test_one_sgd_step_on_hw1_matches_hand_computation():
    sol = solve(load_problem(PROBLEMS / "hw1_sgd.yaml"))
    up = sol.extras["update"]
    L0, g = hw1_by_hand(**HW1)
    lr = 0.5
    norm = math.sqrt(sum(float(np.sum(v ** 2)) for v in g.values()))
    assert up["lr"] == lr
    assert up["grad_norm"] == pytest.approx(norm, rel=1e-12)
    assert up["clipped"] is False and up["scale"] == 1.0
    assert up["loss_before"] == pytest.approx(L0, rel=1e-12)
    new = {k: HW1[k] - lr * g[k] for k in HW1}
    for k in HW1:
        np.testing.assert_allclose(up["params"][k], new[k], rtol=1e-12, atol=1e-15)
    L1, _ = hw1_by_hand(**new)
    assert up["loss_after"] == pytest.approx(L1, rel=1e-10)
    assert L1 < L0
    # the numbers a student writes down (4 decimals): b2 ← 0.05 − 0.5·(y − t)
    assert up["params"]["b2"][0] == pytest.approx(0.05 - 0.5 * (0.0241185 - 0.3), abs=1e-6)


def test_solve_steps_k_by_hand_and_json():
    res = CliRunner().invoke(cli, ["solve", str(PROBLEMS / "hw1_sgd.yaml"), "--steps", "3",
                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    up = json.loads(res.output)["update"]
    assert [s["step"] for s in up["steps"]] == [1, 2, 3]
    P = {k: v.copy() for k, v in HW1.items()}
    for s in up["steps"]:
        L, g = hw1_by_hand(**P)
        assert s["loss_before"] == pytest.approx(L, rel=1e-10)
        P = {k: P[k] - 0.5 * g[k] for k in P}
        for k in P:
            np.testing.assert_allclose(s["params"][k], P[k], rtol=1e-10, atol=1e-14)
        assert s["loss_after"] == pytest.approx(hw1_by_hand(**P)[0], rel=1e-9)


def test_solve_text_shows_update_table():
    res = CliRunner().invoke(cli, ["solve", str(PROBLEMS / "clip.yaml")], env={"COLUMNS": "120"})
    assert res.exit_code == 0, res.output
    assert "SGD update" in res.output and "clipped" in res.output
    assert "scale = η/‖g‖" in res.output


def test_steps_without_optimizer_is_usage_error():
    res = CliRunner().invoke(cli, ["solve", str(PROBLEMS / "hw1.yaml"), "--steps", "2"])
    assert res.exit_code == 2
    assert "--steps needs an 'optimizer' section" in res.output


def test_problem_without_optimizer_has_no_update():
    sol = solve(load_problem(PROBLEMS / "hw1.yaml"))
    assert "update" not in sol.extras


# ---------------------------------------------------------------- clipping
def test_clipping_below_eta_leaves_gradient_alone():
    p = np.zeros(2)
    g = np.array([3.0, 4.0])          # ‖g‖ = 5
    info = SGD(Optimizer(lr=1.0, clip=10.0), [p]).step([g], 0)
    assert info.grad_norm == 5.0 and not info.clipped and info.scale == 1.0
    np.testing.assert_array_equal(p, [-3.0, -4.0])


def test_clipping_at_eta_exactly_is_not_applied():
    p = np.zeros(2)
    info = SGD(Optimizer(lr=1.0, clip=5.0), [p]).step([np.array([3.0, 4.0])], 0)
    assert not info.clipped            # the rule is ‖g‖ > η, strictly


def test_clipping_above_eta_rescales_to_eta():
    p = np.zeros(2)
    g = np.array([3.0, 4.0])
    info = SGD(Optimizer(lr=1.0, clip=1.0), [p]).step([g], 0)
    assert info.clipped and info.scale == pytest.approx(0.2)
    # g ← η g/‖g‖ = [0.6, 0.8]; W ← 0 − 1·g
    np.testing.assert_allclose(p, [-0.6, -0.8], rtol=1e-15)


def test_clipping_uses_global_norm_over_all_parameters():
    W, b = np.zeros((1, 2)), np.zeros(1)
    gW, gb = np.array([[1.0, 2.0]]), np.array([2.0])     # ‖g‖ = sqrt(1 + 4 + 4) = 3
    assert global_norm([gW, gb]) == 3.0
    info = SGD(Optimizer(lr=0.5, clip=1.5), [W, b]).step([gW, gb], 0)
    assert info.clipped and info.scale == pytest.approx(0.5)
    np.testing.assert_allclose(W, [[-0.25, -0.5]])
    np.testing.assert_allclose(b, [-0.5])


def test_clip_problem_by_hand():
    sol = solve(load_problem(PROBLEMS / "clip.yaml"))
    up = sol.extras["update"]
    _, g = hw1_by_hand(**HW1, t=5.0)
    norm = math.sqrt(sum(float(np.sum(v ** 2)) for v in g.values()))
    assert norm > 1.0
    assert up["clipped"] is True
    assert up["grad_norm"] == pytest.approx(norm, rel=1e-12)
    assert up["scale"] == pytest.approx(1.0 / norm, rel=1e-12)
    for k in HW1:
        np.testing.assert_allclose(up["params"][k], HW1[k] - 0.5 * g[k] * (1.0 / norm),
                                   rtol=1e-12, atol=1e-15)
    clipped = [np.asarray(up["params"][k]) - HW1[k] for k in HW1]
    assert global_norm(clipped) == pytest.approx(0.5 * 1.0, rel=1e-12)   # lr · η


def test_clipped_gradient_is_kept_in_grad_views():
    p = np.zeros(2)
    sgd = SGD(Optimizer(lr=1.0, clip=1.0), [p])
    sgd.step([np.array([3.0, 4.0])], 0)
    # η g/‖g‖ = [3, 4]/5 = [0.6, 0.8] (what `solve` reports as the gradient used)
    np.testing.assert_allclose(sgd.grad_views[0], [0.6, 0.8], rtol=1e-15)


def test_packed_and_separate_parameters_update_bit_for_bit_alike():
    # the flat-buffer form (gradcalc train) and the per-array form (gradcalc solve) must give
    # the same numbers: same norm, same clipping, same momentum, same schedule
    rng = np.random.default_rng(0)
    shapes = [(3, 2), (3,), (1, 3), (1,), ()]
    start = [rng.normal(size=s) for s in shapes]
    opt = Optimizer(lr=0.3, momentum=0.9, clip=1.0, schedule=StepSchedule((2,), 0.5))
    sep = [a.copy() for a in start]
    kept = [a.copy() for a in start]
    a, b = SGD(opt, sep), SGD(opt, start, packed=True)
    assert b.params[0] is not start[0] and np.array_equal(b.params[0], start[0])
    for epoch in range(4):
        grads = [rng.normal(size=s) * 3 for s in shapes]
        ia = a.step([g.copy() for g in grads], epoch)
        ib = b.step([g.copy() for g in grads], epoch)
        assert ia == ib and ia.clipped
        assert ia.grad_norm == global_norm(grads)
        for x, y in zip(sep, b.params):
            assert x.shape == y.shape and np.array_equal(x, y)
    for x, y in zip(start, kept):          # packed=True works on its own copy
        assert np.array_equal(x, y)


# ---------------------------------------------------------------- momentum, schedule
def test_momentum_two_steps_by_hand():
    p = np.array([1.0])
    sgd = SGD(Optimizer(lr=0.1, momentum=0.9), [p])
    sgd.step([np.array([2.0])], 0)          # v = g = 2; p = 1 − 0.2
    assert p[0] == pytest.approx(0.8)
    sgd.step([np.array([1.0])], 1)          # v = 0.9·2 + 1 = 2.8; p = 0.8 − 0.28
    assert p[0] == pytest.approx(0.52)


def test_step_schedule_epochs_29_30_31_60_90():
    opt = Optimizer(lr=0.1, schedule=StepSchedule((30, 60, 90), 0.1))
    assert opt.lr_at(0) == 0.1
    assert opt.lr_at(29) == 0.1
    assert opt.lr_at(30) == pytest.approx(0.01)
    assert opt.lr_at(31) == pytest.approx(0.01)
    assert opt.lr_at(59) == pytest.approx(0.01)
    assert opt.lr_at(60) == pytest.approx(0.001)
    assert opt.lr_at(89) == pytest.approx(0.001)
    assert opt.lr_at(90) == pytest.approx(0.0001)
    assert opt.lr_at(500) == pytest.approx(0.0001)


def test_schedule_parsed_from_problem_file():
    opt = parse_optimizer(load_problem(PROBLEMS / "step_decay.yaml"))
    assert opt.schedule.milestones == (30, 60, 90) and opt.schedule.gamma == 0.1
    assert opt.momentum == 0.9
    assert [opt.lr_at(e) for e in (29, 30, 60, 90)] == pytest.approx([0.1, 0.01, 0.001, 0.0001])


def test_steps_follow_schedule_in_solve():
    text = (PROBLEMS / "hw1_sgd.yaml").read_text().replace(
        "  lr: 0.5", "  lr: 0.5\n  schedule: {type: step, milestones: [2], gamma: 0.5}")
    sol = solve(parse_problem(text, "s.yaml"), update_steps=3)
    assert [s["lr"] for s in sol.extras["update"]["steps"]] == [0.5, 0.5, 0.25]


# ---------------------------------------------------------------- expression problems
def test_expression_problem_step_on_chosen_values():
    # f = (x + y)·z at x=−2, y=5, z=−4: ∂f/∂x = ∂f/∂y = z = −4; only x and y move
    text = ("expression: {q: x + y, f: q * z}\nvalues: {x: -2, y: 5, z: -4}\n"
            "optimizer: {type: sgd, lr: 0.1, params: [x, y]}\n")
    up = solve(parse_problem(text, "e.yaml")).extras["update"]
    assert up["params"] == {"x": pytest.approx(-1.6), "y": pytest.approx(5.4)}
    assert up["loss_before"] == -12.0
    assert up["loss_after"] == pytest.approx((-1.6 + 5.4) * -4)


# ---------------------------------------------------------------- validation
BASE = """title: t
input: [1.0]
layers:
  - W: [[1.0]]
loss: {type: mse, target: [0.0]}
optimizer:
"""


@pytest.mark.parametrize("section, line, field, words", [
    ("  type: sgd\n  lr: -1\n", 8, "optimizer.lr", "expected a learning rate > 0, got -1"),
    ("  type: adam\n  lr: 0.1\n", 7, "optimizer.type", "unknown optimizer 'adam'"),
    ("  type: sgd\n", 6, "optimizer", "needs a learning rate 'lr'"),
    ("  lr: 0.1\n", 6, "optimizer", "needs a 'type'"),
    ("  type: sgd\n  lr: 0.1\n  clip: 0\n", 9, "optimizer.clip", "clipping threshold η > 0"),
    ("  type: sgd\n  lr: 0.1\n  momentum: 1.0\n", 9, "optimizer.momentum", "momentum μ < 1"),
    ("  type: sgd\n  lr: 0.1\n  lr_decay: 2\n", 9, "optimizer.lr_decay", "unknown key 'lr_decay'"),
    ("  type: sgd\n  lr: 0.1\n  schedule: {type: step, milestones: [30, 20]}\n", 9,
     "optimizer.schedule.milestones[1]", "milestones must increase"),
    ("  type: sgd\n  lr: 0.1\n  schedule: {type: cosine, milestones: [3]}\n", 9,
     "optimizer.schedule.type", "unknown schedule 'cosine'"),
    ("  type: sgd\n  lr: 0.1\n  schedule: {type: step}\n", 9, "optimizer.schedule",
     "needs 'milestones'"),
    ("  type: sgd\n  lr: 0.1\n  params: [W3]\n", 9, "optimizer.params[0]",
     "unknown parameter 'W3'"),
])
def test_bad_optimizer_sections_name_file_field_line(section, line, field, words):
    problem = parse_problem(BASE + section, "bad.yaml")
    with pytest.raises(ProblemError) as info:
        parse_optimizer(problem)
    err = info.value
    assert (err.file, err.line, err.field) == ("bad.yaml", line, field)
    assert words in err.message


def test_bad_optimizer_via_cli_is_one_line_exit_2(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(BASE + "  type: sgd\n  lr: fast\n")
    res = CliRunner().invoke(cli, ["solve", str(f)])
    assert res.exit_code == 2
    assert res.output.strip() == (f"gradcalc: error: {f}:8: optimizer.lr: expected a learning "
                                  f"rate, got 'fast'")
