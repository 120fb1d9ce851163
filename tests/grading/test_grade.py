"""Grading: rubric, tolerance, partial credit, follow-through and the mistake catalogue.

Every expected number comes from `net()` below: the two-layer network written out by hand with
NumPy (row-vector batches, W is out × in), with a switch per classic mistake. It never calls
gradcalc, so a wrong reference or a wrong variant in gradcalc cannot hide."""
import json
from pathlib import Path

import numpy as np
import pytest

from gradcalc.grading import key as grade_mod
from gradcalc.grading import tape as tape_mod
from gradcalc.grading.documents import read_document_bytes
from gradcalc.api import load_problem, parse_problem
from gradcalc.errors import ProblemError
from gradcalc.grading.key import AnswerKey
from gradcalc.grading.report import summarize
from gradcalc.render.feedback import feedback_markdown

ROOT = Path(__file__).resolve().parents[2]
HW1 = load_problem(ROOT / "problems" / "hw1.yaml")

X = np.array([0.5, -1.5])
W1 = np.array([[0.4, -0.2], [-0.1, 0.3]])
B1 = np.array([0.1, -0.3])
W2 = np.array([[0.2, -0.5]])
B2 = np.array([0.05])
T = np.array([0.3])


def sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def net(x=X, w1=W1, b1=B1, w2=W2, b2=B2, t=T, act="sigmoid", loss="mse", label=None, l2=0.0,
        mistake=None, z1=None, h1=None):
    """The network by hand. z1 / h1 replace the computed values (a student's own numbers)."""
    single = np.ndim(x) == 1
    X2 = np.atleast_2d(x)
    n = X2.shape[0]
    f = {"sigmoid": sig, "tanh": np.tanh}[act]
    dfh = {"sigmoid": lambda h: h * (1 - h), "tanh": lambda h: 1 - h ** 2}[act]   # f′ from f
    Z1 = X2 @ (w1 if mistake == "transposed_W_forward" else w1.T) \
        + (0 if mistake == "no_bias_forward_1" else b1)
    if z1 is not None:
        Z1 = np.reshape(z1, Z1.shape)
    H1 = Z1.copy() if mistake == "no_activation_forward" else f(Z1)
    if h1 is not None:
        H1 = np.reshape(h1, H1.shape)
    Y = H1 @ w2.T + (0 if mistake == "no_bias_forward_2" else b2)
    if loss == "mse":
        R = Y - np.reshape(t, Y.shape)
        scale = {"mse_no_half": 1.0}.get(mistake, 0.5)
        L = scale * np.sum(R ** 2) / (1 if mistake == "no_batch_mean" else n)
        dY = 2 * scale * R / (1 if mistake == "no_batch_mean" else n)
        if mistake == "mse_no_two":
            dY = 0.5 * dY
    elif loss == "ce":
        k = np.reshape(label, (n,))
        P = np.exp(Y) / np.exp(Y).sum(axis=1, keepdims=True)
        L = -np.sum(np.log(P[np.arange(n), k])) / n
        onehot = np.zeros_like(P)
        onehot[np.arange(n), k] = 1
        dY = (P - (0 if mistake == "softmax_no_onehot" else onehot)) / n
    else:   # hinge, margin 1
        k = np.reshape(label, (n,))
        M = Y - Y[np.arange(n), k][:, None] + 1.0
        M[np.arange(n), k] = 0.0
        L = np.sum(np.maximum(M, 0)) / n
        dY = (M > 0).astype(float)
        dY[np.arange(n), k] = 0.0 if mistake == "hinge_no_count" else -dY.sum(axis=1)
        dY /= n
    reg = {"l2_lambda": 1.0, "l2_missing": 0.0}.get(mistake, 2.0) * l2
    L_data, Rg = L, l2 * (np.sum(w1 ** 2) + np.sum(w2 ** 2))
    L = L_data + Rg
    dW2 = dY.T @ (Z1 if mistake == "preactivation_in_dW" else H1) + reg * w2
    db2 = dY.sum(axis=0)
    dH1 = dY @ (w2.T if mistake == "dx_not_transposed" else w2)
    d = {"no_activation_derivative": 1.0, "no_activation_forward": 1.0,
         "activation_for_derivative": H1, "derivative_at_output": dfh(f(H1)),
         "derivative_of_preactivation": dfh(Z1)}.get(mistake, dfh(H1))
    dZ1 = dfh(H1) if mistake == "no_chain_rule" else dH1 * d
    dW1 = dZ1.T @ X2 + reg * w1
    db1 = {"bias_not_summed": dZ1, "bias_mean": dZ1.mean(axis=0)}.get(mistake, dZ1.sum(axis=0))
    out = {"z1": Z1, "h1": H1, "z2": Y, "y": Y, "L": L, "dW1": dW1, "db1": db1, "dW2": dW2,
           "db2": db2, "dz1": dZ1, "dh1": dH1}
    if l2:
        out.update(L_data=L_data, R=Rg)
    if single:
        out = {k: (v[0] if np.ndim(v) == 2 and k not in ("dW1", "dW2") else v) for k, v in out.items()}
        if mistake == "bias_not_summed":
            out["db1"] = dZ1
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


REF = net()
KEY = AnswerKey(HW1)


def submit(answers: dict, key: AnswerKey = KEY, student="s1"):
    doc = {"student": student, "answers": {k: (np.asarray(v).tolist() if not isinstance(v, str) else v)
                                           for k, v in answers.items()}}
    return key.grade(read_document_bytes(json.dumps(doc).encode(), key.schema, f"{student}.json"))


def asked(values: dict, key: AnswerKey = KEY) -> dict:
    return {q.name: values[q.name] for q in key.rubric.questions}


def by_name(result):
    return {q.name: q for q in result.questions}


# ---------------------------------------------------------------- the reference
def test_hand_values_of_hw1():
    # z1 = W1·x + b1 = [0.2 + 0.3 + 0.1, −0.05 − 0.45 − 0.3]
    np.testing.assert_allclose(REF["z1"], [0.6, -0.8], atol=1e-15)
    assert float(REF["L"]) == pytest.approx(0.5 * (0.2 * sig(0.6) - 0.5 * sig(-0.8) + 0.05 - 0.3) ** 2)
    for q in KEY.rubric.questions:
        np.testing.assert_allclose(KEY.reference[q.name], REF[q.name], rtol=1e-12, atol=1e-15)


def test_default_rubric_of_hw1():
    # every computed forward quantity (z2 = y for a linear output is asked once) and every
    # parameter gradient, one point each
    assert KEY.rubric.names == ["z1", "h1", "y", "L", "dW1", "db1", "dW2", "db2"]
    assert KEY.rubric.max_points == 8
    assert all(q.rtol == 0.01 and q.atol == 1e-6 for q in KEY.rubric.questions)


# ---------------------------------------------------------------- right and rounded
def test_all_right():
    r = submit(asked(REF))
    assert r.total == 8 and r.status == "ok"
    assert {q.kind for q in r.questions} == {"correct"}


def test_rounded_to_three_significant_figures():
    rounded = {k: np.vectorize(lambda v: float(f"{v:.3g}"))(v) for k, v in asked(REF).items()}
    assert float(rounded["L"]) == 0.0381
    r = submit(rounded)
    assert r.total == 8


def test_tolerance_interval_edges():
    # |a − b| ≤ atol + rtol·|b| with rtol 1% and atol 1e-6
    L = float(REF["L"])
    assert by_name(submit({"L": L * 1.0099}))["L"].kind == "correct"
    assert by_name(submit({"L": L * 1.0101 + 2e-6}))["L"].kind == "wrong"
    assert by_name(submit({"L": "3.806e-2"}))["L"].kind == "correct"          # the "1e-3" form
    assert by_name(submit({"z1": ["3/5", "-4/5"]}))["z1"].kind == "correct"  # fractions
    assert by_name(submit({"h1": ["1/(1+exp(-0.6))", "sigmoid(-0.8)"]}))["h1"].kind == "correct"


def test_exact_zero_is_gradable():
    # a relu network whose second hidden unit is dead: its gradient entries are exactly 0
    p = parse_problem("input: [1.0]\nlayers:\n  - W: [[1.0], [-1.0]]\n    activation: relu\n"
                      "  - W: [[0.5, 0.5]]\nloss: {type: mse, target: [0.0]}\n")
    key = AnswerKey(p)
    # hand: z1 = [1, −1], h1 = [1, 0], y = 0.5, dy = 0.5, dz1 = [0.25, 0] (relu′(−1) = 0)
    r = submit({"dW1": [[0.25], [0]], "db1": [0.25, 0]}, key)
    assert by_name(r)["dW1"].kind == "correct" and by_name(r)["db1"].kind == "correct"


# ---------------------------------------------------------------- partial credit and shapes
def test_partial_credit_names_the_wrong_entries():
    dW1 = REF["dW1"].copy()
    dW1[0, 1] = 0.5
    r = by_name(submit({"dW1": dW1}))["dW1"]
    assert r.kind == "partial" and r.credit == 0.75 and r.wrong_entries == ((0, 1),)
    text = feedback_markdown(submit({"dW1": dW1}), "HW1")
    assert "3 of 4 entries correct; wrong: dW1[1,2]" in text


def test_wrong_shape_scores_zero_unless_transposed():
    r = by_name(submit({"z1": [0.6, -0.8, 0.1], "dW2": REF["dW2"].T, "dW1": REF["dW1"].T}))
    assert r["z1"].kind == "shape" and r["z1"].credit == 0
    # dW2 (1×2) written as a column: the transpose of the right answer, diagnosed
    assert r["dW2"].kind == "mistake" and r["dW2"].mistake[0] == "transposed"
    # dW1 is square: a transposed dW1 has the right shape, still diagnosed
    assert r["dW1"].mistake[0] == "transposed"
    # a 1×2 matrix given as a flat list, and a 1-vector given as a number, are the same answer
    r = by_name(submit({"dW2": REF["dW2"].ravel(), "y": float(REF["y"][0])}))
    assert r["dW2"].kind == "correct" and r["y"].kind == "correct"


# ---------------------------------------------------------------- follow-through
def test_wrong_z1_with_consistent_downstream_answers():
    z1 = np.array([0.7, -0.8])                    # a slip in z1[1]
    own = net(z1=z1)
    r = submit(asked(own))
    q = by_name(r)
    assert q["z1"].kind == "partial" and q["z1"].credit == 0.5
    for name in ("h1", "y", "L", "dW1", "db1", "dW2", "db2"):
        assert q[name].kind == "follow_through", name
        assert q[name].credit == 1.0
        assert "z1" in q[name].upstream
    assert r.total == 7.5
    text = feedback_markdown(r, HW1.title)
    assert "consistent with your z1, h1, y (follow-through, 100% credit)" in text
    zh = feedback_markdown(r, HW1.title, lang="zh")
    assert "误差传递" in zh


def test_follow_through_fraction_from_the_rubric():
    p = parse_problem((ROOT / "problems" / "hw1.yaml").read_text() + "grading: {follow_through: 0.5}\n")
    key = AnswerKey(p)
    r = by_name(submit(asked(net(z1=np.array([0.7, -0.8])), key), key))
    assert r["h1"].kind == "follow_through" and r["h1"].credit == 0.5


def test_error_in_h1_reaches_dW1_through_unwritten_dz1_and_dh1():
    h1 = np.array([0.7, 0.31])                   # wrong h1; dh1 and dz1 are never written
    own = net(h1=h1)
    answers = {"h1": h1, "dW1": own["dW1"], "db1": own["db1"]}
    r = by_name(submit(answers))
    assert r["h1"].kind == "partial"
    assert r["dW1"].kind == "follow_through" and r["dW1"].upstream == ("h1",)
    assert r["db1"].kind == "follow_through"
    # issue 17: with the right z1 written too, this h1 is not σ(z1): an activation that does
    # not follow from the student's own input gives no follow-through
    r = by_name(submit(dict(answers, z1=REF["z1"])))
    assert r["h1"].kind == "partial" and r["dW1"].kind == "wrong" and r["dW1"].credit == 0
    # the same dW1 without the wrong h1 written down earns nothing
    r = by_name(submit({"dW1": own["dW1"]}))
    assert r["dW1"].kind == "wrong" and r["dW1"].credit == 0


def test_unreadable_answer_counts_as_not_answered_for_follow_through():
    own = net(h1=np.array([0.7, 0.31]))
    r = by_name(submit({"h1": "__import__('os')", "dW2": own["dW2"]}))
    assert r["h1"].kind == "unreadable"
    assert r["dW2"].kind == "wrong"


def test_rounded_earlier_answers_are_not_a_mistake():
    # h1 rounded to 2 decimals is within 1%; y computed from it is 3.6% off the reference
    h1 = np.array([0.65, 0.31])
    y = 0.2 * 0.65 - 0.5 * 0.31 + 0.05                  # = 0.025
    r = by_name(submit({"z1": REF["z1"], "h1": h1, "y": y}))
    assert r["h1"].kind == "correct"
    assert r["y"].kind == "correct" and r["y"].rounding and r["y"].credit == 1


def test_follow_through_in_an_expression_problem():
    p = load_problem(ROOT / "problems" / "lecture_scalar.yaml")   # f = (x + y)·z, x=−2 y=5 z=−4
    key = AnswerKey(p)
    assert key.rubric.names == ["q", "f", "dx", "dy", "dz"]
    r = by_name(submit({"q": 3, "f": -12, "df/dx": -4, "∂f/∂y": -4, "dz": 3}, key))
    assert all(q.kind == "correct" for q in r.values())
    r = by_name(submit({"q": 4, "f": -16, "dx": -4, "dy": -4, "dz": 4}, key))   # q wrong
    assert r["q"].kind == "wrong"
    assert r["f"].kind == "follow_through" and r["dz"].kind == "follow_through"
    assert r["dx"].kind == "correct"


# ---------------------------------------------------------------- the mistake catalogue
HW1_MISTAKES = [
    ("no_activation_derivative", ["dW1", "db1"]),
    ("activation_for_derivative", ["dW1", "db1"]),
    ("derivative_at_output", ["dW1", "db1"]),
    ("derivative_of_preactivation", ["dW1", "db1"]),
    ("no_chain_rule", ["dW1", "db1"]),
    ("preactivation_in_dW", ["dW2"]),
    ("mse_no_half", ["L", "dW1", "db1", "dW2", "db2"]),
    ("mse_no_two", ["dW1", "db1", "dW2", "db2"]),
    ("transposed_W_forward", ["z1"]),
    ("no_bias_forward_1", ["z1"]),
    ("no_bias_forward_2", ["y"]),
    ("no_activation_forward", ["h1", "dW1", "db1"]),   # σ skipped both ways
]


@pytest.mark.parametrize("mistake, diagnosed", HW1_MISTAKES)
def test_each_catalogued_mistake_on_hw1(mistake, diagnosed):
    wrong = net(mistake=mistake)
    r = by_name(submit(asked(wrong)))
    key = mistake.rsplit("_", 1)[0] if mistake.startswith("no_bias_forward") else mistake
    for name in diagnosed:
        assert r[name].mistake is not None and r[name].mistake[0] == key, (name, r[name])
        assert r[name].kind == "mistake" and r[name].credit == 0
    # every other wrong answer is explained by follow-through from the diagnosed ones
    for name, q in r.items():
        if name not in diagnosed:
            assert q.kind in ("correct", "follow_through"), (name, q.kind)


def test_sign_flip_and_its_credit():
    r = by_name(submit({"dW2": -REF["dW2"], "db1": -REF["db1"]}))
    assert r["dW2"].mistake[0] == "sign_flip" and r["db1"].mistake[0] == "sign_flip"
    p = parse_problem((ROOT / "problems" / "hw1_rubric.yaml").read_text())
    key = AnswerKey(p)
    r = submit({"dW2": -REF["dW2"]}, key)
    q = by_name(r)["dW2"]
    assert q.points == 2 and q.credit == 0.5 and q.score == 1.0
    text = feedback_markdown(r, p.title)
    assert "the sign of the gradient is flipped (a classic mistake; 50% credit)" in text


SQUARE = """\
input: [0.5, -1.0]
layers:
  - W: [[0.3, -0.6], [0.8, 0.1]]
    b: [0.05, -0.1]
    activation: tanh
  - W: [[0.7, -0.3], [0.45, 0.2]]
    b: [0.1, 0.0]
loss: {type: mse, target: [0.2, -0.1]}
"""
SQ = dict(x=np.array([0.5, -1.0]), w1=np.array([[0.3, -0.6], [0.8, 0.1]]), b1=np.array([0.05, -0.1]),
          w2=np.array([[0.7, -0.3], [0.45, 0.2]]), b2=np.array([0.1, 0.0]), t=np.array([0.2, -0.1]),
          act="tanh")


def test_dx_not_transposed_and_tanh_mistakes():
    key = AnswerKey(parse_problem(SQUARE))
    ref = net(**SQ)
    assert all(np.allclose(key.reference[q.name], ref[q.name]) for q in key.rubric.questions)
    for mistake in ("dx_not_transposed", "no_activation_derivative", "derivative_of_preactivation",
                    "activation_for_derivative"):
        r = by_name(submit(asked(net(**SQ, mistake=mistake), key), key))
        assert r["db1"].mistake[0] == mistake, mistake
        assert r["dW1"].mistake[0] == mistake, mistake


BATCH = """\
data:
  X: [[0.5, -1.5], [1.0, 0.2], [-0.4, 0.8]]
  targets: [[0.3], [-0.2], [0.6]]
layers:
  - W: [[0.4, -0.2], [-0.1, 0.3]]
    b: [0.1, -0.3]
    activation: sigmoid
  - W: [[0.2, -0.5]]
    b: [0.05]
loss: {type: mse}
"""
BX = dict(x=np.array([[0.5, -1.5], [1.0, 0.2], [-0.4, 0.8]]), t=np.array([[0.3], [-0.2], [0.6]]))


@pytest.mark.parametrize("mistake, diagnosed", [
    ("no_batch_mean", ["L", "dW1", "db1", "dW2", "db2"]),
    ("bias_not_summed", ["db1"]),
    ("bias_mean", ["db1"]),
])
def test_batch_mistakes(mistake, diagnosed):
    key = AnswerKey(parse_problem(BATCH))
    ref = net(**BX)
    assert all(np.allclose(key.reference[q.name], ref[q.name]) for q in key.rubric.questions)
    wrong = net(**BX, mistake=mistake)
    if mistake == "bias_not_summed":
        assert wrong["db1"].shape == (3, 2)          # one row per example: a wrong shape
    r = by_name(submit(asked(wrong, key), key))
    for name in diagnosed:
        assert r[name].mistake[0] == mistake, (name, r[name].kind)


def test_l2_gradient_mistakes():
    key = AnswerKey(parse_problem((ROOT / "problems" / "hw1.yaml").read_text()
                                  + "regularization: {l2: 0.1}\n"))
    assert key.rubric.names == ["z1", "h1", "y", "L_data", "R", "L", "dW1", "db1", "dW2", "db2"]
    ref = net(l2=0.1)
    assert all(np.allclose(key.reference[q.name], ref[q.name]) for q in key.rubric.questions)
    for mistake in ("l2_lambda", "l2_missing"):
        r = by_name(submit(asked(net(l2=0.1, mistake=mistake), key), key))
        assert r["dW1"].mistake[0] == mistake and r["dW2"].mistake[0] == mistake
        assert r["db1"].kind == "correct"


def test_softmax_without_one_hot():
    p = parse_problem("input: [1.0, -2.0]\nlayers:\n  - W: [[0.5, 0.1], [-0.3, 0.8]]\n"
                      "    b: [0.0, 0.1]\n    activation: sigmoid\n"
                      "  - W: [[1.0, -0.5], [-0.2, 0.4], [0.7, 0.1]]\n    b: [0.1, 0.0, -0.1]\n"
                      "loss: {type: cross_entropy, label: 1}\n")
    key = AnswerKey(p)
    kw = dict(x=np.array([1.0, -2.0]), w1=np.array([[0.5, 0.1], [-0.3, 0.8]]), b1=np.array([0.0, 0.1]),
              w2=np.array([[1.0, -0.5], [-0.2, 0.4], [0.7, 0.1]]), b2=np.array([0.1, 0.0, -0.1]),
              loss="ce", label=1)
    ref = net(**kw)
    assert all(np.allclose(key.reference[q.name], ref[q.name]) for q in key.rubric.questions)
    r = by_name(submit(asked(net(**kw, mistake="softmax_no_onehot"), key), key))
    assert r["db2"].mistake[0] == "softmax_no_onehot" and r["dW1"].mistake[0] == "softmax_no_onehot"


def test_hinge_without_the_count_at_the_true_class():
    p = parse_problem("input: [1.0, -1.0]\nlayers:\n  - W: [[0.5, -0.3], [0.2, 0.4], [-0.6, 0.1]]\n"
                      "    b: [0.1, 0.0, 0.2]\nloss: {type: hinge, label: 0}\n")
    key = AnswerKey(p)
    # hand: y = [0.9, −0.2, −0.5]; margins vs class 0: −0.1, −0.4 → no violation; make one:
    p = parse_problem("input: [1.0, -1.0]\nlayers:\n  - W: [[0.5, -0.3], [0.9, 0.4], [-0.6, 0.1]]\n"
                      "    b: [0.1, 0.0, 0.2]\nloss: {type: hinge, label: 0}\n")
    key = AnswerKey(p)
    y = np.array([0.5 + 0.3 + 0.1, 0.9 - 0.4, -0.6 - 0.1 + 0.2])      # [0.9, 0.5, −0.5]
    np.testing.assert_allclose(key.reference["y"], y)
    # margins: 0.5 − 0.9 + 1 = 0.6 > 0; −0.5 − 0.9 + 1 = −0.4: one violation → dy = [−1, 1, 0]
    np.testing.assert_allclose(key.reference["db1"], [-1.0, 1.0, 0.0])
    r = by_name(submit({"db1": [0.0, 1.0, 0.0], "dW1": [[0, 0], [1, -1], [0, 0]]}, key))
    assert r["db1"].mistake[0] == "hinge_no_count" and r["dW1"].mistake[0] == "hinge_no_count"


def test_mistake_matched_but_partial_credit_is_better():
    # a sign flip with one entry right (the second entry of db1 happens to be kept)
    db1 = REF["db1"].copy()
    db1[0] = -db1[0]
    r = by_name(submit({"db1": db1}))["db1"]
    assert r.kind == "partial" and r.credit == 0.5 and r.mistake is None


# ---------------------------------------------------------------- rubric
def rubric_error(grading: str) -> ProblemError:
    text = (ROOT / "problems" / "hw1.yaml").read_text() + grading
    with pytest.raises(ProblemError) as info:
        AnswerKey(parse_problem(text, file="r.yaml"))
    return info.value


def test_rubric_errors_name_file_line_and_field():
    e = rubric_error("grading:\n  questions:\n    z1: 1\n    dW3: 2\n")
    assert str(e).startswith("r.yaml:20: grading.questions.dW3: unknown quantity 'dW3' (did you mean")
    e = rubric_error("grading:\n  rtol: -0.1\n")
    assert str(e) == "r.yaml:18: grading.rtol: expected a relative tolerance ≥ 0, got -0.1"
    e = rubric_error("grading:\n  mistake_credit: {sign_flp: 0.5}\n")
    assert "unknown mistake 'sign_flp' (did you mean 'sign_flip'?)" in str(e)
    e = rubric_error("grading:\n  follow_through: 2\n")
    assert "between 0 and 1" in str(e)
    e = rubric_error("grading:\n  questions: {z1: {points: 1, sigfig: 3}}\n")
    assert "unknown key 'sigfig' in question z1 (did you mean 'sigfigs'?)" in str(e)


def test_rubric_points_sigfigs_and_names():
    text = (ROOT / "problems" / "hw1.yaml").read_text() + (
        "grading:\n  atol: 0\n  questions:\n    dL/dW2: 2\n    L: {points: 3, sigfigs: 3}\n")
    key = AnswerKey(parse_problem(text))
    assert key.rubric.names == ["dW2", "L"] and key.rubric.max_points == 5
    # L = 0.0380553…: within half a unit of the third significant figure (±0.00005)
    assert by_name(submit({"L": 0.0381}, key))["L"].kind == "correct"
    assert by_name(submit({"L": 0.03806}, key))["L"].kind == "correct"
    assert by_name(submit({"L": 0.038}, key))["L"].kind == "wrong"
    assert by_name(submit({"L": 0.0381}, key))["L"].score == 3


# ---------------------------------------------------------------- the class
def test_variants_are_computed_once_per_problem(monkeypatch):
    calls = {"catalogue": 0, "variant_runs": 0}
    real_catalogue, real_run = grade_mod.catalogue, tape_mod.Tape.run

    def counting_catalogue(*a):
        calls["catalogue"] += 1
        return real_catalogue(*a)

    def counting_run(self, fsub, gsub, variant=None):
        if variant is not None:
            calls["variant_runs"] += 1
        return real_run(self, fsub, gsub, variant)

    monkeypatch.setattr(grade_mod, "catalogue", counting_catalogue)
    monkeypatch.setattr(tape_mod.Tape, "run", counting_run)
    key = AnswerKey(HW1)
    built = dict(calls)
    for i in range(30):
        submit(asked(net(mistake=HW1_MISTAKES[i % len(HW1_MISTAKES)][0])), key, f"s{i}")
    assert calls == built and built["catalogue"] == 1


def test_summary_counts_mistakes_and_clusters():
    wrong_z1 = asked(REF)
    wrong_z1["z1"] = [0.61, -0.9]                       # the same unexplained wrong answer twice
    results = [submit(asked(REF), student="a"), submit(asked(net(mistake="no_chain_rule")), student="b"),
               submit(asked(net(mistake="no_chain_rule")), student="c"), submit(wrong_z1, student="d"),
               submit(wrong_z1, student="e")]
    report = summarize("HW1", KEY.rubric, results)
    stats = {s.name: s for s in report.stats}
    assert stats["db1"].mistakes["no_chain_rule"] == 2 and stats["db1"].counts["mistake"] == 2
    assert stats["z1"].share("correct") == 60.0
    # diagnosed mistakes are not a copying signal; the identical unexplained z1 is
    assert report.clusters == [("z1=2:0.61,-0.9", ["d", "e"])]
    assert [r.student for r in report.results] == ["a", "b", "c", "d", "e"]


def test_mistake_values_kept_one_by_one():
    """The rule for keeping a mistake's value, with values made up here: finite, more than
    3 tolerances from the right answer somewhere, and not the same (1e-9 relative) as an
    earlier one kept; another shape is never near the right answer."""
    r = KEY.reference["dW2"]                      # [[-0.178…, -0.0855…]], rtol 0.01
    cands = [("same", {}, r.copy()), ("near", {}, r * 1.02), ("neg", {}, -r),
             ("neg_again", {}, -r * (1 + 1e-12)), ("tr", {}, r.T), ("tr_again", {}, r.T + 1e-15),
             ("nan", {}, np.array([[np.nan, 1.0]])), ("inf", {}, np.array([[np.inf, 1.0]])),
             ("one_far", {}, r * np.array([[1.0, 1.5]])), ("double", {}, 2 * r),
             ("double_again", {}, 2 * r + 1e-13), ("half_near", {}, r * np.array([[1.02, 1.0]]))]
    kept = KEY._distinct("dW2", cands)
    assert [k for k, _, _ in kept] == ["neg", "tr", "one_far", "double"]
    assert kept[1][2].shape == (2, 1)


def test_answer_key_from_a_graph_already_built():
    from gradcalc.derive import autograd
    graph, out, _ = autograd.run(HW1, record=False)
    key = AnswerKey(HW1, built=(graph, out))
    for name in KEY.reference:
        np.testing.assert_array_equal(key.reference[name], KEY.reference[name])
        assert key.deps[name] == KEY.deps[name]
    np.testing.assert_allclose(key.reference["dW1"], REF["dW1"], rtol=1e-12)
    wrong = asked(REF)
    wrong["z1"] = [0.7, -0.8]
    assert by_name(submit(wrong, key))["z1"].kind == "partial"


def test_feedback_status_in_chinese_keeps_the_names():
    from gradcalc.render.feedback import status_text
    s = "not answered: y, L; unreadable: h1"
    assert status_text(s, "en") == s
    assert status_text(s, "zh") == "未作答：y, L；无法读取：h1"
    assert status_text("ok", "zh") == "正常"
    assert status_text("nothing answered", "zh") == "全部未作答"
