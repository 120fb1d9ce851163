"""Grouping by shape stops walking a form past the size limit, so a form whose tree is huge
(shared parts counted every time) is neither walked for long nor grouped: it gets its own group,
and the backend reports it as too large before evaluating anything."""
import time

import sympy

from gradcalc.derive.symbolic import groups


def _nested(x, depth):
    f = x
    for _ in range(depth):          # every level uses the one below twice: 2^depth as a tree
        f = f * x + sympy.sin(f)
    return f


def test_a_huge_tree_is_not_walked_but_set_apart():
    x = sympy.Symbol("x", real=True)
    form = _nested(x, 40)
    t = time.process_time()
    assert groups.shape_key(form, {x: 0}, set(), limit=1000) == (None, None)
    found = groups.group_entries([form, form], {x: 0}, set(), limit=1000)
    assert time.process_time() - t < 2.0
    assert [g.own for g in found] == [True, True]


def test_the_limit_counts_every_node_of_the_tree():
    x, y = sympy.symbols("x y", real=True)
    form = x * y + sympy.sin(x)          # Add(Mul(x, y), sin(x)): 6 nodes written out
    assert groups.shape_key(form, {x: 0, y: 1}, set(), limit=6)[0] is not None
    assert groups.shape_key(form, {x: 0, y: 1}, set(), limit=5) == (None, None)
    # without a limit, the same key as with one that is not reached
    assert groups.shape_key(form, {x: 0, y: 1}, set()) == \
        groups.shape_key(form, {x: 0, y: 1}, set(), limit=6)
