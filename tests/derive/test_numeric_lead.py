"""Finite differences: a leaf's first operation on a stack of perturbed copies of the leaf
(chain._leads) gives, bit for bit, the differences of one perturbed leaf per call."""
import numpy as np
import pytest

from gradcalc import ops
from gradcalc.derive import numeric
from gradcalc.derive.numeric import chain
from gradcalc.derive.numeric.tape import Tape
from gradcalc.graph.network import build
from gradcalc.problem.load import parse_problem

X = [[0.5, -1.2, 0.3], [2.0, 0.1, -0.7], [-0.4, 0.9, 1.1], [0.6, -0.3, 0.2]]
W = [0.7, -0.2, 0.4]
Y = [0.3, -1.0, 0.5, 0.8]
LEAST_SQUARES = (f"expression:\n  r: X @ w - y\n  L: sum(r^2) + lam * norm(w)**2\n"
                 f"values: {{X: {X}, w: {W}, y: {Y}, lam: 0.1}}\n")
# a matrix leaf on the right of @ (A @ B), and elementwise first operations (tanh, b + ...)
RIGHT = ("expression:\n  H: tanh(A @ B + c)\n  L: sum(H^2)\n"
         "values: {A: [[0.2, -0.5], [1.1, 0.3], [-0.7, 0.4]], B: [[0.3, -0.1, 0.6], "
         "[0.9, 0.2, -0.4]], c: [[0.1, -0.2, 0.3]]}\n")
ELEMENTWISE = ("expression:\n  L: sum(exp(x) * y + sigmoid(y))\n"
               "values: {x: [0.1, -0.4, 0.8], y: [1.5, -0.2, 0.3]}\n")


def _run(text, richardson=False, lead=True, monkeypatch=None):
    if not lead:
        monkeypatch.setattr(chain, "_leads", lambda *a: False)
    try:
        return numeric.run(parse_problem(text), richardson=richardson, direction=False)
    finally:
        if monkeypatch is not None:
            monkeypatch.undo()


@pytest.mark.parametrize("text", [LEAST_SQUARES, RIGHT, ELEMENTWISE])
@pytest.mark.parametrize("richardson", [False, True])
def test_stacked_first_operation_gives_the_same_bits(text, richardson, monkeypatch):
    used = []
    real = chain._leads
    monkeypatch.setattr(chain, "_leads", lambda *a: used.append(real(*a)) or used[-1])
    stacked = numeric.run(parse_problem(text), richardson=richardson, direction=False)
    monkeypatch.undo()
    assert any(used)                       # at least one leaf's first operation was stacked
    single = _run(text, richardson, lead=False, monkeypatch=monkeypatch)
    for name, g in single.gradients.items():
        assert np.array_equal(stacked.gradients[name], g), name
        assert np.array_equal(stacked.checked[name], single.checked[name])


def test_least_squares_against_the_gradient_by_hand():
    got = numeric.run(parse_problem(LEAST_SQUARES), direction=False).gradients
    # L = Σ rᵢ² + λ‖w‖², r = Xw − y: ∂L/∂X = 2 r wᵀ, ∂L/∂y = −2r, ∂L/∂λ = ‖w‖²
    Xa, w, y = np.array(X), np.array(W), np.array(Y)
    r = Xa @ w - y
    np.testing.assert_allclose(got["X"], 2 * np.outer(r, w), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(got["y"], -2 * r, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(got["lam"], w @ w, rtol=1e-7)


def test_the_copies_are_restored_between_calls():
    p = parse_problem(LEAST_SQUARES)
    tape = Tape()
    out = build(p, tape, None)
    li = tape.leaf_index["X"]
    before = tape.values[li].copy()
    ch = chain.StackedChain.make(tape, li, out)
    assert ch.lead is not None
    ch.copies = 3                        # several calls of the first operation per stack
    ks = np.array([0, 0, 5, 5, 11, 11, 7])
    vs = np.array([1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.25])
    with np.errstate(all="ignore"):
        first = ch.values(ks, vs)
        again = ch.values(ks, vs)
    assert first == again
    assert np.array_equal(tape.values[li], before)
    assert np.array_equal(ch._buffer, np.broadcast_to(before, ch._buffer.shape))
    # each value by hand: X with one entry set, then the forward of the problem
    Xa, w, y = np.array(X), np.array(W), np.array(Y)
    for k, v, f in zip(ks, vs, first):
        Xk = Xa.copy()
        Xk.reshape(-1)[k] = v
        assert f == pytest.approx(np.sum((Xk @ w - y) ** 2) + 0.1 * (w @ w), rel=1e-12)


def test_which_first_operations_are_stacked():
    mm, tanh, mul = ops.get("matmul"), ops.get("tanh"), ops.get("mul")
    shapes = [(4, 3), (3,), (3, 2), (3,), (2, 4, 3)]
    assert chain._leads(mm, [0, 1], 0, shapes)           # X @ w, X perturbed
    assert chain._leads(mm, [3, 2], 1, shapes)           # a @ B, B perturbed
    assert not chain._leads(mm, [0, 1], 1, shapes)       # w a vector: a matrix stack of rows
    assert not chain._leads(mm, [2, 4], 0, shapes)       # the other factor a stack itself
    assert chain._leads(tanh, [0], 0, shapes)
    assert chain._leads(mul, [1, 3], 0, shapes)
    assert not chain._leads(mul, [1, 1], 0, shapes)      # x · x: the leaf twice
    assert not chain._leads(mul, [1, 0], 0, shapes)      # would broadcast against the stack
    assert not chain._leads(ops.get("affine"), [2, 1, 3], 1, [(3,), (3,), (2, 3), (2,)])
    big = [(200, 100), (100,)]
    assert not chain._leads(mm, [0, 1], 0, big)          # over _LEAD_ENTRIES: in place
