"""Bounded work of the matrix forms (issue 15 follow-up): a subterm shared by many parts of a
form (a chain's σ) is walked once, not once per path to it."""
import numpy as np

from gradcalc.ops import matrix as mx
from gradcalc.solution import matrixforms


def test_the_where_walk_visits_a_shared_subterm_once():
    # a + a, 40 times over: a DAG of 40 nodes whose tree has 2^40 paths; the named δ at the
    # bottom is found, once (walking the tree would not finish)
    inner = mx.Leaf("x", np.ones(2))
    ref = mx.Ref("∂L/∂z", "", mx.Bin("had", inner, inner))
    t = ref
    for _ in range(40):
        t = mx.Bin("add", t, t)
    seen = {}
    matrixforms._refs(t, seen)
    assert list(seen.values()) == [ref]


def test_nested_definitions_come_in_the_order_met():
    x = mx.Leaf("x", np.ones(2))
    r2 = mx.Ref("b", "", x)
    r1 = mx.Ref("a", "", mx.Bin("add", r2, x))
    seen = {}
    matrixforms._refs(mx.Bin("had", r1, r1), seen)
    assert [r.name for r in seen.values()] == ["a", "b"]
