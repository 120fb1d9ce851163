"""Finite differences: a sum or mean of every entry continues the stacked forward (one call
per stack instead of one per perturbation); the quotients stay those of one evaluation each."""
import numpy as np
import pytest

from gradcalc import ops
from gradcalc.derive import numeric
from gradcalc.derive.numeric import chain
from gradcalc.problem.load import parse_problem

X = [[0.5, -1.2, 0.3], [2.0, 0.1, -0.7], [-0.4, 0.9, 1.1], [0.6, -0.3, 0.2]]
W = [0.7, -0.2, 0.4]
Y = [0.3, -1.0, 0.5, 0.8]


def _text(reduce_: str) -> str:
    return (f"expression:\n  r: X @ w - y\n  L: {reduce_}(r^2) + lam * norm(w)**2\n"
            f"values: {{X: {X}, w: {W}, y: {Y}, lam: 0.1}}\n")


@pytest.mark.parametrize("reduce_, scale", [("sum", 1.0), ("mean", 0.25)])
def test_a_reduction_of_every_entry_is_stacked(reduce_, scale, monkeypatch):
    p = parse_problem(_text(reduce_))
    made = []
    real_make = chain.StackedChain.make.__func__
    monkeypatch.setattr(chain.StackedChain, "make", classmethod(
        lambda cls, tape, li, out: made.append((tape.names[li], real_make(cls, tape, li, out)))
        or made[-1][1]))
    got = numeric.run(p, direction=False).gradients
    chains = dict(made)
    # X's forward: matmul (once per perturbation), then sub, pow, the reduction and the add
    # all on the stack; nothing is left to run once per row
    assert chains["X"] is not None and chains["X"].tail == []
    assert len(chains["X"].stacked) == 4
    # by hand: L = scale·Σ rᵢ² + λ‖w‖², r = Xw − y: ∂L/∂X = 2·scale·r wᵀ, ∂L/∂y = −2·scale·r
    Xa, w, y = np.array(X), np.array(W), np.array(Y)
    r = Xa @ w - y
    np.testing.assert_allclose(got["X"], 2 * scale * np.outer(r, w), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(got["y"], -2 * scale * r, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(got["w"], 2 * scale * Xa.T @ r + 0.2 * w, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(got["lam"], w @ w, rtol=1e-7)


def test_stacked_reduction_equals_one_evaluation_each(monkeypatch):
    p = parse_problem(_text("sum"))
    stacked = numeric.run(p, direction=False).gradients
    monkeypatch.setattr(chain.StackedChain, "make", classmethod(lambda cls, *a: None))
    single = numeric.run(p, direction=False).gradients     # one forward per perturbation
    for name, g in single.items():
        np.testing.assert_allclose(stacked[name], g, rtol=1e-12, atol=1e-14)


def test_only_a_reduction_of_every_entry_is_rowwise():
    shapes = [(2, 3), ()]
    assert chain._rowwise(ops.get("sum"), [0], 0, shapes, {})
    assert chain._rowwise(ops.get("mean"), [0], 0, shapes, {"axis": None})
    # a sum along one axis: its axis counts the stack's rows differently
    assert not chain._rowwise(ops.get("sum_axis"), [0], 0, shapes, {"axis": 0})
    assert not chain._rowwise(ops.get("sum"), [0], 0, shapes, {"axis": 1})
