"""Issue 14, other courses' conventions: loss reduction (mean | sum | mean_all) and
cross-entropy with soft targets.  The expected numbers come from NumPy written here (and torch,
when installed, as an extra reference)."""
import numpy as np
import pytest

from gradcalc.api import parse_problem, solve
from gradcalc.errors import ProblemError

X = np.array([[1.0, 2.0], [0.5, -1.0], [0.2, 0.3]])
W = np.array([[0.5, -0.3], [0.2, 0.8], [-0.6, 0.1]])
SOFT = np.array([[0.7, 0.2, 0.1], [0.0, 1.0, 0.0], [0.3, 0.3, 0.4]])


def _rows(a):
    return "[" + ", ".join("[" + ", ".join(repr(float(v)) for v in r) + "]" for r in a) + "]"


def problem(loss, targets=None, W=W, act="linear"):
    t = f"\n  targets: {_rows(targets)}" if targets is not None else "\n  labels: [0, 2, 1]"
    return parse_problem(f"data:\n  X: {_rows(X)}{t}\nlayers:\n  - W: {_rows(W)}\n"
                         f"    activation: {act}\nloss: {loss}\n")


def softmax(Z):
    e = np.exp(Z - Z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_soft_target_cross_entropy_against_numpy():
    Z = X @ W.T
    P = softmax(Z)
    for reduction, den in (("mean", 3), ("sum", 1)):
        sol = solve(problem(f"{{type: cross_entropy, reduction: {reduction}}}", SOFT))
        L = -np.sum(SOFT * np.log(P)) / den
        np.testing.assert_allclose(sol.forward["L"], L, rtol=1e-12)
        # ∂L/∂Z = (P − T)/den, ∂L/∂W = (∂L/∂Z)ᵀ·X
        np.testing.assert_allclose(sol.gradients["W1"], ((P - SOFT) / den).T @ X, rtol=1e-10)


def test_one_hot_soft_targets_equal_labels():
    onehot = np.eye(3)[[0, 2, 1]]
    a = solve(problem("cross_entropy", onehot))
    b = solve(problem("cross_entropy"))
    np.testing.assert_allclose(a.forward["L"], b.forward["L"], rtol=1e-14)
    np.testing.assert_allclose(a.gradients["W1"], b.gradients["W1"], rtol=1e-12)


def test_sum_is_n_times_mean_for_every_loss():
    T = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    for loss, targets, act in (("mse", T, "linear"), ("bce", T, "sigmoid"),
                               ("cross_entropy", None, "linear"), ("hinge", None, "linear")):
        m = solve(problem(f"{{type: {loss}}}", targets, act=act))
        s = solve(problem(f"{{type: {loss}, reduction: sum}}", targets, act=act))
        np.testing.assert_allclose(s.forward["L"], 3 * m.forward["L"], rtol=1e-13, err_msg=loss)
        np.testing.assert_allclose(s.gradients["W1"], 3 * m.gradients["W1"], rtol=1e-12)


def test_bce_mean_over_all_outputs_against_numpy():
    T = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    Y = 1 / (1 + np.exp(-(X @ W.T)))
    sol = solve(problem("{type: bce, reduction: mean_all}", T, act="sigmoid"))
    L = -np.mean(T * np.log(Y) + (1 - T) * np.log(1 - Y))       # over all 9 outputs
    np.testing.assert_allclose(sol.forward["L"], L, rtol=1e-12)
    dZ = (Y - T) / 9                                              # σ′ cancels the BCE quotient
    np.testing.assert_allclose(sol.gradients["W1"], dZ.T @ X, rtol=1e-10)


def test_bce_mean_all_and_soft_cross_entropy_against_torch():
    torch = pytest.importorskip("torch")
    T = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    w = torch.tensor(W, requires_grad=True)
    y = torch.sigmoid(torch.tensor(X) @ w.T)
    torch.nn.functional.binary_cross_entropy(y, torch.tensor(T)).backward()   # reduction='mean'
    sol = solve(problem("{type: bce, reduction: mean_all}", T, act="sigmoid"))
    np.testing.assert_allclose(sol.gradients["W1"], w.grad.numpy(), rtol=1e-10)
    w = torch.tensor(W, requires_grad=True)
    torch.nn.functional.cross_entropy(torch.tensor(X) @ w.T, torch.tensor(SOFT)).backward()
    sol = solve(problem("cross_entropy", SOFT))
    np.testing.assert_allclose(sol.gradients["W1"], w.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("loss,targets,words", [
    ("{type: cross_entropy, reduction: avg}", None, "expected one of mean, sum"),
    ("{type: hinge, reduction: mean_all}", None, "expected one of mean, sum"),
    ("cross_entropy", np.array([[0.5, 0.2, 0.1], [0, 1, 0], [0.3, 0.3, 0.4]]),
     "summing to 1 per example, got a sum of 0.8"),
    ("cross_entropy", np.array([[1.5, -0.5, 0], [0, 1, 0], [0.3, 0.3, 0.4]]), "entries in [0, 1]"),
])
def test_bad_conventions_are_refused(loss, targets, words):
    with pytest.raises(ProblemError, match=None) as info:
        problem(loss, targets)
    assert words in str(info.value)


HW1_IN_OUT = """layout: in_out
input: [0.5, -1.5]
layers:
  - W: [[0.4, -0.1], [-0.2, 0.3]]
    b: [0.1, -0.3]
    activation: sigmoid
  - W: [[0.2], [-0.5]]
    b: [0.05]
loss: {type: mse, target: [0.3]}
"""


def test_layout_in_out_by_hand():
    # the lecture's hw1 with every W written in × out (CS231n): z = x·W + b
    x, W1, b1 = np.array([0.5, -1.5]), np.array([[0.4, -0.1], [-0.2, 0.3]]), np.array([0.1, -0.3])
    W2, b2, t = np.array([[0.2], [-0.5]]), np.array([0.05]), np.array([0.3])
    h1 = 1 / (1 + np.exp(-(x @ W1 + b1)))
    y = h1 @ W2 + b2
    dy = y - t
    dz1 = (W2 @ dy) * h1 * (1 - h1)
    sol = solve(parse_problem(HW1_IN_OUT))
    np.testing.assert_allclose(sol.forward["z1"], [0.6, -0.8], atol=1e-15)   # 0.2 + 0.3 + 0.1 …
    np.testing.assert_allclose(sol.forward["L"], 0.5 * dy[0] ** 2, rtol=1e-14)
    # gradients keep the parameter's shape: ∂L/∂W is in × out like W
    np.testing.assert_allclose(sol.gradients["W2"], np.outer(h1, dy), rtol=1e-12)
    np.testing.assert_allclose(sol.gradients["W1"], np.outer(x, dz1), rtol=1e-12)
    np.testing.assert_allclose(sol.gradients["x"], W1 @ dz1, rtol=1e-12)
    # and they are the transposes of the lecture layout's (problems/hw1.yaml is this network)
    from pathlib import Path
    hw1 = solve(Path(__file__).resolve().parents[2] / "problems" / "hw1.yaml")
    for name in ("W1", "W2"):
        np.testing.assert_allclose(sol.gradients[name], hw1.gradients[name].T, rtol=1e-14)


def test_layout_in_out_batch_and_shapes():
    p = parse_problem("layout: in_out\ndata:\n  X: [[1.0, 2.0, 3.0], [0.0, 1.0, -1.0]]\n"
                      "  targets: [[1.0, 0.0], [0.0, 1.0]]\nlayers:\n"
                      "  - W: [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]\nloss: mse\n")
    sol = solve(p)
    Xb = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, -1.0]])
    Wb = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    dY = (Xb @ Wb - np.eye(2)) / 2
    np.testing.assert_allclose(sol.gradients["W1"], Xb.T @ dY, rtol=1e-12)
    assert sol.gradients["W1"].shape == (3, 2)
    with pytest.raises(ProblemError) as info:
        parse_problem("layout: in_out\ninput: [1.0, 2.0]\nlayers:\n  - W: [[1.0, 2.0, 3.0]]\n")
    assert "expected 2 rows (layout: in_out) to match 2 inputs, got 1" in str(info.value)
    with pytest.raises(ProblemError) as info:
        parse_problem("layout: io\ninput: [1.0]\nlayers:\n  - W: [[1.0]]\n")
    assert "expected out_in" in str(info.value)


def test_training_in_out_follows_the_lecture_layout_and_soft_targets_train():
    from pathlib import Path

    from gradcalc.train.loop import train
    sgd = "optimizer: {type: sgd, lr: 0.5}\n"
    hw1 = (Path(__file__).resolve().parents[2] / "problems" / "hw1.yaml").read_text()
    a = train(parse_problem(hw1 + sgd), epochs=5)
    b = train(parse_problem(HW1_IN_OUT + sgd), epochs=5)
    # the same network written transposed: the same SGD trajectory
    assert b.final_loss == pytest.approx(a.final_loss, rel=1e-12)
    assert b.final_loss < solve(parse_problem(HW1_IN_OUT)).forward["L"]
    soft = (f"data:\n  X: {_rows(X)}\n  targets: {_rows(SOFT)}\nlayers:\n  - W: {_rows(W)}\n"
            "loss: cross_entropy\n")
    r = train(parse_problem(soft + sgd), epochs=20)
    assert r.final_loss < float(solve(parse_problem(soft)).forward["L"])
