"""Issue 17 item 8: follow-through only from upstream answers a student could have got.

The numbers are hw1 written out by hand with NumPy (x = [0.5, −1.5], sigmoid hidden layer,
linear output, ½(y − t)², t = 0.3); gradcalc's reference is never used for them."""
from pathlib import Path

import numpy as np

from gradcalc.api import load_problem
from gradcalc.grading.key import AnswerKey
from gradcalc.grading.possible import in_range, op_range
from gradcalc.grading.submissions import Submission, add_answer
from gradcalc import ops

ROOT = Path(__file__).resolve().parents[2]
KEY = AnswerKey(load_problem(ROOT / "problems" / "hw1.yaml"))
X = np.array([0.5, -1.5])
W1, B1 = np.array([[0.4, -0.2], [-0.1, 0.3]]), np.array([0.1, -0.3])
W2, B2 = np.array([[0.2, -0.5]]), np.array([0.05])


def by_hand(z1=None, h1=None):
    z1 = W1 @ X + B1 if z1 is None else np.asarray(z1, float)
    h1 = 1 / (1 + np.exp(-z1)) if h1 is None else np.asarray(h1, float)
    y = W2 @ h1 + B2
    dz1 = (W2.T @ (y - 0.3)) * h1 * (1 - h1)
    return {"z1": z1, "h1": h1, "y": y, "dW1": np.outer(dz1, X), "db1": dz1}


def grade(answers):
    sub = Submission("s", "", "s.yaml")
    for k, v in answers.items():
        add_answer(sub, k, k, np.asarray(v, float).tolist(), None)
    return {q.name: q for q in KEY.grade(sub).questions}


def test_an_impossible_sigmoid_value_gives_no_follow_through():
    # h1 = [1, 1] is no sigmoid's value; σ′ = h(1 − h) = 0 makes dW1 = db1 = 0 "consistent"
    gamed = {"h1": [1, 1], "dW1": [[0, 0], [0, 0]], "db1": [0, 0]}
    for extra in ({}, {"z1": by_hand()["z1"]}):
        r = grade(dict(gamed, **extra))
        assert r["dW1"].credit == 0 and r["db1"].credit == 0
        assert r["dW1"].kind != "follow_through"


def test_an_activation_that_is_not_f_of_the_students_own_z_gives_none():
    z1 = by_hand()["z1"]
    h1 = np.array([0.3, 0.2])                      # in σ's range, but not σ(z1)
    own = by_hand(h1=h1)
    r = grade({"z1": z1, "h1": h1, "dW1": own["dW1"], "db1": own["db1"]})
    assert r["dW1"].kind == "wrong" and r["dW1"].credit == 0


def test_a_real_carried_error_still_gets_follow_through():
    own = by_hand(z1=[0.7, -0.8])                   # z1 wrong, the rest computed from it
    r = grade({k: own[k] for k in ("z1", "h1", "y", "dW1", "db1")})
    assert r["h1"].kind == "follow_through" and r["dW1"].kind == "follow_through"
    assert r["dW1"].credit > 0


def test_an_all_zero_gradient_follows_from_nothing_unless_zero_is_right():
    # z1 far negative: σ(z1) ≈ 0 is possible and σ′ ≈ 0, so dW1 from it is tiny but not 0;
    # writing 0 for it scores nothing
    own = by_hand(z1=[-30.0, -30.0])
    assert np.abs(own["dW1"]).max() < 1e-10
    r = grade({"z1": [-30, -30], "h1": own["h1"], "dW1": [[0, 0], [0, 0]]})
    assert r["dW1"].credit == 0


def test_op_ranges_come_from_the_forward_functions():
    sig = op_range(ops.get("sigmoid"), {})
    assert 0 < sig[0] < 1e-12 and 1 - 1e-12 < sig[1] < 1 and not any(sig[2:])
    assert not in_range(np.array([1.0]), sig) and not in_range(np.array([0.0]), sig)
    assert in_range(np.array([0.999999, 1e-9]), sig)
    th = op_range(ops.get("tanh"), {})
    assert not in_range(np.array([1.0]), th) and not in_range(np.array([-1.0]), th)
    assert in_range(np.array([0.9999999999, -0.99]), th)
    assert op_range(ops.get("relu"), {}) == (0.0, np.inf, True, False)
    assert in_range(np.array([0.0, 1e6]), op_range(ops.get("relu"), {}))
    assert not in_range(np.array([-1e-3]), op_range(ops.get("relu"), {}))
    assert op_range(ops.get("exp"), {})[1] == np.inf
