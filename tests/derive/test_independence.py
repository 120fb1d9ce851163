"""The three derivations are independent: SymPy and finite differences never call a backward rule.

Every registry entry's `vjp` and `local` are replaced by functions that raise; the symbolic and
numeric methods must still reproduce hw1's gradients, derived here by hand."""
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from gradcalc.derive import numeric, symbolic
from gradcalc import ops
from gradcalc.api import load_problem

HW1 = Path(__file__).resolve().parents[2] / "problems" / "hw1.yaml"


def _hand_hw1():
    """hw1 by hand: z1 = W1 x + b1, h1 = σ(z1), y = W2 h1 + b2, L = ½(y − t)²."""
    x = [0.5, -1.5]
    W1 = [[0.4, -0.2], [-0.1, 0.3]]
    b1 = [0.1, -0.3]
    W2 = [0.2, -0.5]
    b2, t = 0.05, 0.3
    z1 = [W1[i][0] * x[0] + W1[i][1] * x[1] + b1[i] for i in range(2)]
    h1 = [1 / (1 + math.exp(-z)) for z in z1]
    y = W2[0] * h1[0] + W2[1] * h1[1] + b2
    dy = y - t                                   # d(½(y − t)²)/dy
    dz1 = [dy * W2[i] * h1[i] * (1 - h1[i]) for i in range(2)]
    return {
        "W2": np.array([[dy * h1[0], dy * h1[1]]]),
        "b2": np.array([dy]),
        "W1": np.array([[dz1[i] * x[j] for j in range(2)] for i in range(2)]),
        "b1": np.array(dz1),
        "x": np.array([sum(dz1[i] * W1[i][j] for i in range(2)) for j in range(2)]),
    }


@pytest.fixture
def no_backward_rules(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a hand-written backward rule was called")

    for name, op in list(ops.REGISTRY.items()):
        monkeypatch.setitem(ops.REGISTRY, name,
                            dataclasses.replace(op, vjp=forbidden, local=forbidden))


def test_symbolic_never_calls_a_backward_rule(no_backward_rules):
    result = symbolic.run(load_problem(HW1))
    for name, want in _hand_hw1().items():
        np.testing.assert_allclose(result.gradients[name], want, rtol=1e-12, atol=1e-15)


def test_numeric_never_calls_a_backward_rule(no_backward_rules):
    result = numeric.run(load_problem(HW1))
    for name, want in _hand_hw1().items():
        np.testing.assert_allclose(result.gradients[name], want, rtol=1e-6, atol=1e-9)


def test_the_fixture_really_forbids_backward_rules(no_backward_rules):
    from gradcalc.derive import autograd
    with pytest.raises(AssertionError, match="backward rule"):
        autograd.run(load_problem(HW1))
