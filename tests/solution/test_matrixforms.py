"""The backward pass in matrix notation (gradcalc.solution.matrixforms): every displayed product of
every shipped problem conforms and equals autograd; hw1's products by hand; a batch's δᵀX; the
closed forms composed along the graph, evaluated and compared; and a wrong rule is caught."""
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gradcalc import ops
from gradcalc.api import solve
from gradcalc.ops import matrix as mx
from gradcalc.render.jsonout import dumps
from gradcalc.render.latex import latex_document
from gradcalc.render.markdown import solution_markdown
from gradcalc.render.tables import backward_table

PROBLEMS = Path(__file__).resolve().parents[2] / "problems"
SHIPPED = sorted(p for p in PROBLEMS.glob("*.yaml") if not p.stem.endswith("_template"))


@pytest.fixture(scope="module")
def solved():
    return {p.stem: solve(p) for p in SHIPPED}


@pytest.mark.parametrize("name", [p.stem for p in SHIPPED])
def test_every_displayed_product_of_every_shipped_problem_conforms_and_equals_autograd(solved, name):
    sol = solved[name]
    m = sol.matrix
    assert m.mismatches() == []
    for s in sol.steps:      # every step shows a product for every input it differentiates
        shown = m.products[s.node]
        assert sorted({p.input for p in shown}) == sorted(s.downstream)
        for p in shown:
            assert p.ok and p.error == "" and p.value.shape == s.downstream[p.input].shape
    for f in m.forms.values():
        assert f.verified and f.max_rel_error <= 1e-9, (name, f.text)


# layer types no shipped problem uses: a softmax activation, an rnn returning every state,
# a batch through an rnn with a shared h0, average pooling
EXTRA_PROBLEMS = {
    "softmax": """
input: [0.5, -1.0]
layers:
  - {W: [[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]], b: [0.0, 0.1, -0.1], activation: softmax}
loss: {type: mse, target: [0.2, 0.5, 0.3]}
""",
    "rnn_all": """
input: [[1.0, 0.5], [-0.5, 1.0], [0.2, -1.0]]
layers:
  - {type: rnn, Wxh: [[0.5, -0.3], [0.2, 0.4]], Whh: [[0.1, -0.4], [0.3, 0.2]], b: [0.0, 0.1],
     activation: tanh, return: all}
  - {type: flatten}
  - {W: [[1.0, -1.0, 0.5, 0.2, -0.3, 0.1]], b: [0.0]}
loss: {type: mse, target: [0.5]}
""",
    "pool": """
input: [[0.5, -1.0, 0.3, 0.2], [1.5, 0.2, -0.7, 0.4], [-0.3, 0.8, 0.9, -0.2], [0.0, -0.5, 0.1, 0.6]]
layers:
  - {type: conv2d, W: [[0.3, -0.6], [0.8, 0.1]], b: [0.05], activation: sigmoid}
  - {type: avgpool2d, size: 1}
  - {type: flatten}
  - {W: [[0.7, -0.3, 0.45, 0.1, 0.2, -0.1, 0.3, 0.5, -0.2]], b: [0.1]}
loss: {type: mse, target: [0.5]}
""",
}


def test_the_shipped_problems_and_a_few_more_use_every_layer_type(solved):
    from gradcalc.problem.load import parse_problem
    sols = list(solved.values())
    for name, text in EXTRA_PROBLEMS.items():
        sol = solve(parse_problem(text, f"{name}.yaml"))
        assert sol.matrix.mismatches() == [], name
        assert all(f.verified for f in sol.matrix.forms.values()), name
        sols.append(sol)
    used = {s.op for sol in sols for s in sol.steps}
    layers = {"affine", "conv1d", "conv2d", "maxpool2d", "avgpool2d", "flatten", "rnn_step",
              "stack_steps", "softmax", "sigmoid", "tanh", "relu", "leaky_relu", "linear",
              "mse", "cross_entropy", "hinge", "l2", "add", "mul"}
    assert layers <= used, layers - used
    # (every registered op, the others included, is checked in tests/ops/test_matrix_forms.py)


def _sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def test_hw1_products_by_hand(solved):
    sol = solved["hw1"]
    # forward by hand: z1 = W1 x + b1 = [0.2 + 0.3 + 0.1, −0.05 − 0.45 − 0.3] = [0.6, −0.8]
    h = [_sig(0.6), _sig(-0.8)]
    y = 0.2 * h[0] - 0.5 * h[1] + 0.05
    dy = y - 0.3                                     # 0.5·(y − t)² -> y − t
    dh = [0.2 * dy, -0.5 * dy]                       # W2ᵀ·δ
    d1 = [dh[0] * h[0] * (1 - h[0]), dh[1] * h[1] * (1 - h[1])]          # ⊙ σ′
    dx = [0.4 * d1[0] - 0.1 * d1[1], -0.2 * d1[0] + 0.3 * d1[1]]        # W1ᵀ·δ1
    assert round(dx[0], 5) == -0.008 and round(dx[1], 5) == 0.01138    # the numbers
    by = {(p.node, p.input): p for ps in sol.matrix.products.values() for p in ps}
    p = by[("z1", "x")]
    assert p.text() == "W1ᵀ·∂L/∂z1"
    np.testing.assert_allclose(p.value, dx, rtol=0, atol=1e-15)
    np.testing.assert_allclose(by[("z2", "h1")].value, dh, rtol=0, atol=1e-15)
    assert by[("z2", "h1")].text() == "W2ᵀ·∂L/∂z2"
    assert by[("z1", "W1")].text() == "∂L/∂z1·xᵀ"
    np.testing.assert_allclose(by[("z1", "W1")].value,
                               [[d1[0] * 0.5, d1[0] * -1.5], [d1[1] * 0.5, d1[1] * -1.5]],
                               rtol=0, atol=1e-15)
    assert by[("h1", "z1")].text() == "∂L/∂h1 ⊙ h1 ⊙ (1 − h1)"
    # the table a student pastes: the product, then its value
    rows = {r[0]: r[4] for r in backward_table(sol).rows}
    assert "x: W1ᵀ·δ = [-0.008, 0.01138]" in rows["z1"]
    assert "h1: W2ᵀ·δ = [-0.05518, 0.1379]" in rows["z2"]
    assert "∂L/∂z1 · W1" not in solution_markdown(sol) + latex_document(sol)


def test_a_batch_gives_delta_transposed_times_X(solved):
    sol = solved["batch_mse"]
    X = np.array([[0.5, -1.0], [1.5, 0.2], [-0.3, 0.8], [0.0, -0.5]])
    by = {(p.node, p.input): p for ps in sol.matrix.products.values() for p in ps}
    step = next(s for s in sol.steps if s.node == "z1")
    assert by[("z1", "W1")].text() == "∂L/∂z1ᵀ·x"
    np.testing.assert_allclose(by[("z1", "W1")].value, step.upstream.T @ X, rtol=1e-14)
    assert by[("z1", "b1")].text() == "Σᵢ ∂L/∂z1ᵢ"
    np.testing.assert_allclose(by[("z1", "b1")].value, step.upstream.sum(axis=0), rtol=1e-14)
    # the whole gradient, re-derived here with NumPy: Z = X W1ᵀ + b1, L = mean 0.5 (y − t)²
    W1 = np.array([[0.3, -0.6], [0.8, 0.1], [-0.4, 0.5]])
    b1 = np.array([0.05, -0.1, 0.2])
    W2, b2 = np.array([[0.7, -0.3, 0.45]]), np.array([0.1])
    T = np.array([[0.2], [0.9], [-0.4], [0.1]])
    H = np.tanh(X @ W1.T + b1)
    dY = (H @ W2.T + b2 - T) / 4
    dW1 = ((dY @ W2) * (1 - H ** 2)).T @ X
    f = sol.matrix.forms["W1"]
    assert f.text == "∂L/∂W1 = ((0.25·(y − t)·W2) ⊙ (1 − h1²))ᵀ·x" and f.verified
    np.testing.assert_allclose(sol.gradients["W1"], dW1, rtol=1e-12)


def test_hw1_closed_forms_read_like_the_lecture(solved):
    forms = solved["hw1"].matrix.forms
    assert forms["W1"].text == "∂L/∂W1 = ((W2ᵀ·(y − t)) ⊙ h1 ⊙ (1 − h1))·xᵀ"
    assert forms["x"].text == "∂L/∂x = W1ᵀ·((W2ᵀ·(y − t)) ⊙ h1 ⊙ (1 − h1))"
    assert forms["W2"].text == "∂L/∂W2 = (y − t)·h1ᵀ"
    assert forms["b2"].text == "∂L/∂b2 = y − t"
    assert forms["W1"].latex.startswith(r"\frac{\partial L}{\partial W^{(1)}} = ")


@pytest.mark.parametrize("name, where", [("hw1", False), ("batch_ce", False), ("cnn_tiny", True),
                                         ("rnn_T3", True)])
def test_matrix_forms_are_evaluated_against_autograd(solved, name, where):
    sol = solved[name]
    out = json.loads(dumps(sol.to_dict()))["matrix_forms"]
    assert set(out) == set(sol.leaves)
    for key, f in out.items():
        assert set(f) == {"text", "latex", "verified", "max_rel_error", "source"}
        assert f["source"] in ("sympy-matrix", "simplified", "composed")
        assert f["verified"] is True and f["max_rel_error"] <= 1e-9, (name, key)
        assert f["text"].startswith(f"∂L/∂{key} = ")
    # conv and rnn: the recursion is shown by name (∂L/∂h1[2] …) and defined after "where"
    assert any("; where " in f["text"] for f in out.values()) == where


def test_rnn_forms_state_the_bptt_recursion(solved):
    f = solved["rnn_T3"].matrix.forms["Whh1"].text
    assert "where ∂L/∂h1[2] = Whh1ᵀ·((W2ᵀ·(y − t)) ⊙ (1 − h1[3]²)); " \
           "∂L/∂h1[1] = Whh1ᵀ·(∂L/∂h1[2] ⊙ (1 − h1[2]²))" in f


def test_a_wrong_rule_cannot_pass(monkeypatch):
    # the bug of the issue, put into the registry: ∂L/∂x = δ·W (a 2×1 column times a 2×2)
    affine = ops.REGISTRY["affine"]

    def wrong(site):
        W, x, b = affine.matrix(site)
        return W, mx.dot(mx.V("g"), mx.V(0)), b

    monkeypatch.setitem(ops.REGISTRY, "affine", replace(affine, matrix=wrong))
    sol = solve(PROBLEMS / "hw1.yaml")
    bad = sol.matrix.mismatches()
    assert {(p.node, p.input) for p in bad} == {("z1", "x"), ("z2", "h1")}
    errors = {p.node: p.error for p in bad}
    assert "2×1 · 2×2 is not a product" in errors["z1"]
    # z2: a 1×1 times a 1×2 is a product, but a row where h1 is a column: caught as well
    assert "gives 1×2, the input is 2×1" in errors["z2"]
    assert not sol.matrix.forms["x"].verified and sol.matrix.forms["W1"].verified is False
    text = "\n".join(r[4] for r in backward_table(sol).rows)
    assert "x: ∂L/∂z1·W1" not in text and "✗" in text
    assert "mismatch" in latex_document(sol)

    # conforming shapes but the wrong value (Wᵀ replaced by W for hw1's square W1) is caught too
    def square(site):
        W, x, b = affine.matrix(site)
        return W, (mx.dot(mx.V(0), mx.V("g")) if site.shapes[0] == (2, 2) else x), b

    monkeypatch.setitem(ops.REGISTRY, "affine", replace(affine, matrix=square))
    sol = solve(PROBLEMS / "hw1.yaml")
    assert [(p.node, p.input, p.error) for p in sol.matrix.mismatches()] == \
        [("z1", "x", "does not equal the autograd gradient")]
    assert not sol.matrix.forms["x"].verified and sol.matrix.forms["x"].max_rel_error > 0.1


def test_a_gradient_that_is_zero_up_to_rounding_is_verified():
    # a bias right before batchnorm cannot change L (batchnorm subtracts the batch mean), so
    # ∂L/∂b1 = 0 exactly; autograd and the composed form round to different ±1e-17
    text = (PROBLEMS / "batchnorm.yaml").read_text()
    text = text.replace("activation: tanh\n  - type: batchnorm", "activation: linear\n  - type: batchnorm")
    from gradcalc.problem.load import parse_problem
    sol = solve(parse_problem(text, "bn.yaml"), "autograd")
    assert np.max(np.abs(sol.gradients["b1"])) < 1e-15
    f = sol.matrix.forms["b1"]
    assert f.verified and sol.matrix.mismatches() == []
    from gradcalc.render.solvetables import matrix_table
    row = next(r for r in matrix_table(sol).rows if r[0].startswith("∂L/∂b1 ="))
    assert row[1] == "✓ 0 up to rounding (|error| ≤ 1e-14)"
