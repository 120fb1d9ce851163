"""Issue 15, matrix-calculus expression problems: each shipped problem against gradients derived
by hand and written out with NumPy here; the two-layer expression against the same net as a
layer stack (hw1); the bad-input lines (exit 2, one line, the step and both shapes)."""
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from gradcalc.api import check, load_problem, solve
from gradcalc.cli import cli

PROBLEMS = Path(__file__).resolve().parents[2] / "problems"


def values(stem):
    raw = yaml.safe_load((PROBLEMS / f"{stem}.yaml").read_text())["values"]
    return {k: np.asarray(v, dtype=float) for k, v in raw.items()}


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_least_squares_by_hand():
    v = values("mc_least_squares")
    X, w, y, lam = v["X"], v["w"], v["y"], float(v["lam"])
    sol = solve(load_problem(PROBLEMS / "mc_least_squares.yaml"))
    r = X @ w - y
    np.testing.assert_allclose(sol.forward["L"], r @ r + lam * w @ w, rtol=1e-14)
    np.testing.assert_allclose(sol.gradients["w"], 2 * X.T @ r + 2 * lam * w, rtol=1e-12)
    np.testing.assert_allclose(sol.gradients["X"], 2 * np.outer(r, w), rtol=1e-12)
    np.testing.assert_allclose(sol.gradients["y"], -2 * r, rtol=1e-12)
    np.testing.assert_allclose(sol.gradients["lam"], w @ w, rtol=1e-12)


def test_logistic_regression_by_hand():
    v = values("mc_logistic")
    X, w, y = v["X"], v["w"], v["y"]
    sol = solve(load_problem(PROBLEMS / "mc_logistic.yaml"))
    p = sigmoid(X @ w)
    L = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(sol.forward["L"], L, rtol=1e-13)
    np.testing.assert_allclose(sol.gradients["w"], X.T @ (p - y) / len(y), rtol=1e-11)


def test_softmax_regression_by_hand():
    v = values("mc_softmax_regression")
    X, W, b, Y = v["X"], v["W"], v["b"], v["Y"]
    sol = solve(load_problem(PROBLEMS / "mc_softmax_regression.yaml"))
    Z = X @ W.T + b
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    P = E / E.sum(axis=1, keepdims=True)
    N = len(X)
    np.testing.assert_allclose(sol.forward["L"], -np.sum(Y * np.log(P)) / N, rtol=1e-13)
    np.testing.assert_allclose(sol.gradients["W"], (P - Y).T @ X / N, rtol=1e-11)
    np.testing.assert_allclose(sol.gradients["b"], (P - Y).sum(axis=0) / N, rtol=1e-11)
    np.testing.assert_allclose(sol.gradients["X"], (P - Y) @ W / N, rtol=1e-11)


def test_trace_by_hand():
    v = values("mc_trace")
    W, A = v["W"], v["A"]
    sol = solve(load_problem(PROBLEMS / "mc_trace.yaml"))
    np.testing.assert_allclose(sol.forward["f"], np.trace(W.T @ A @ W), rtol=1e-14)
    np.testing.assert_allclose(sol.gradients["W"], (A + A.T) @ W, rtol=1e-12)
    np.testing.assert_allclose(sol.gradients["A"], W @ W.T, rtol=1e-12)


def test_two_layer_expression_equals_the_layer_stack():
    expr = solve(load_problem(PROBLEMS / "mc_twolayer.yaml"))
    net = solve(load_problem(PROBLEMS / "hw1.yaml"))
    np.testing.assert_allclose(expr.forward["L"], net.forward["L"], rtol=1e-15)
    for name in ("W1", "b1", "W2", "b2", "x"):
        np.testing.assert_allclose(expr.gradients[name], net.gradients[name], rtol=1e-14,
                                   atol=1e-17, err_msg=name)


@pytest.mark.parametrize("stem", ["mc_least_squares", "mc_logistic", "mc_softmax_regression",
                                  "mc_trace", "mc_twolayer"])
def test_three_derivations_agree_and_matrix_forms_verified(stem):
    report = check(PROBLEMS / f"{stem}.yaml")
    assert report.ok
    forms = solve(load_problem(PROBLEMS / f"{stem}.yaml")).json_extras()["matrix_forms"]
    assert forms and all(f["verified"] for f in forms.values())


def test_a_wrong_vjp_would_be_caught():
    """The check can fail: the least-squares gradient of w differs from 2Xᵀr without the λ term."""
    v = values("mc_least_squares")
    sol = solve(load_problem(PROBLEMS / "mc_least_squares.yaml"))
    r = v["X"] @ v["w"] - v["y"]
    assert not np.allclose(sol.gradients["w"], 2 * v["X"].T @ r)


def error_line(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["solve", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


VALUES = "values:\n  a: [[1, 2], [3, 4], [5, 6]]\n  v: [1, 2, 3]\n  u: [1, 2]\n"


@pytest.mark.parametrize("expression, expected", [
    ("{m: a @ v, L: sum(m)}", "expression.m: m: (3,2) @ (3,) — inner sizes 2 and 3 differ"),
    ("{m: a + u.T @ a, L: sum(m)}", "(2,) @ (3,2) — inner sizes 2 and 3 differ"),
    ("{m: a * v, L: sum(m)}", "m: (3,2) * (3,) — shapes do not broadcast"),
    ("\n  m: sum(a, axis=2)\n  L: sum(m)",
     "m: sum((3,2), axis=2) — axis=2 does not exist for shape (3,2) (axes 0 to 1)"),
    ("{m: a @ u}", "the output is step 'm' of shape (3,); gradients need a scalar output"),
    ("{m: a.shape, L: sum(m)}", "'.' attribute access is not allowed ('.shape'; only .T, the transpose)"),
    ("{m: trace(a), L: m}", "trace needs a square matrix, got shape (3,2)"),
    ("\n  m: dot(v, u)", "m: dot((3,), (2,)) — lengths 3 and 2 differ"),
    ("{sum: a @ u, L: 1}", "'sum' is a function name; choose another step name"),
])
def test_bad_input_is_one_line(tmp_path, expression, expected):
    line = error_line(tmp_path, f"expression: {expression}\n{VALUES}")
    assert line.startswith("gradcalc: error: ") and str(tmp_path) in line
    assert expected in line, line


def test_a_value_that_shadows_a_function(tmp_path):
    line = error_line(tmp_path, "expression: norm * 2\nvalues: {norm: [1, 2]}\n")
    assert "values.norm: 'norm' is a function name" in line, line


def test_parser_reads_and_prints_array_syntax_back():
    from gradcalc import ops
    from gradcalc.problem.exprparse import Call, Var, parse_expression, to_text
    functions = ops.expression_functions()
    tree = parse_expression("sum(A.T @ x, axis=1)", functions)
    assert tree == Call("sum_axis", (Call("matmul", (Call("transpose", (Var("A"),)), Var("x"))),),
                        (("axis", 1),))
    for text in ("trace(W.T @ A @ W)", "sum(A, axis=0) + mean(B, axis=1)", "x.T @ x",
                 "norm(w) ^ 2", "(A @ B).T"):
        assert parse_expression(to_text(parse_expression(text, functions)), functions) == \
            parse_expression(text, functions)


def test_array_operations_in_a_student_answer_are_refused_not_crashed():
    from gradcalc.grading.values import AnswerError, parse_scalar
    for text in ("2 @ 3", "trace(2)", "logsumexp(2)"):
        with pytest.raises(AnswerError, match="does not apply to a number"):
            parse_scalar(text)
    assert parse_scalar("norm(-3)") == 3.0
