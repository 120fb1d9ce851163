"""values.xreplace_shared is SymPy's xreplace with the replaced subexpressions remembered across
calls: every result must be the very expression `xreplace` gives (argument for argument), in any
order of calls sharing one memo, with a plain dict or the backend's lazy values as the rule."""
import pytest
import sympy

from gradcalc.derive.symbolic.values import LazyValues, xreplace_shared

w = sympy.symbols("w_1:9", real=True)
x, y = sympy.symbols("x y", real=True)
S = sympy.sqrt(sympy.Add(*[v ** 2 for v in w]))
EXPRS = [v / S for v in w] + [S, x * y + sympy.sin(x) * S, sympy.Max(x, y) - S,
                              sympy.Piecewise((x, x > 0), (y, True)), sympy.Integer(3),
                              sympy.Abs(x - y) * sympy.exp(S), x + 1]


def _same(a, b):
    assert type(a) is type(b) and a == b
    assert a.args == b.args
    for u, v in zip(a.args, b.args):
        _same(u, v)


def _floats():
    return {s: sympy.Float(0.25 * (i + 1) - 1.1) for i, s in enumerate(list(w) + [x, y])}


@pytest.mark.parametrize("lazy", [False, True])
def test_every_result_is_sympys_own_xreplace(lazy):
    if lazy:
        rule = LazyValues(sympy.Float)
        rule.Floats.update((s, float(v)) for s, v in _floats().items())
        want_rule = _floats()
    else:
        rule = want_rule = _floats()
    memo: dict = {}
    for e in EXPRS + EXPRS[::-1]:
        _same(xreplace_shared(e, rule, memo), e.xreplace(want_rule))
    assert memo                                   # the sum under every wᵢ/‖w‖ is kept


def test_an_empty_rule_and_a_partial_rule():
    memo: dict = {}
    for e in EXPRS:
        _same(xreplace_shared(e, {}, memo), e.xreplace({}))
    rule = {x: sympy.Integer(2)}
    memo = {}
    for e in EXPRS:
        _same(xreplace_shared(e, rule, memo), e.xreplace(rule))
