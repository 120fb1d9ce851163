"""partials._diff, SymPy's differentiation without its bookkeeping: every result is the very
expression `sympy.diff` builds (the reference), argument for argument."""
import pytest
import sympy

from gradcalc.derive.symbolic.partials import _diff

w = sympy.symbols("w_1:13", real=True)
x, y, z = sympy.symbols("x y z", real=True)
S = sympy.Add(*[v ** 2 for v in w])
TERMS = {
    "norm": sympy.sqrt(S),
    "norm squared as a power": S ** 2,
    "one over a sum": (sympy.Add(*[c * v for c, v in zip(range(1, 13), w)]) + 3) ** -1,
    "sum of exps to -1/2": sympy.Add(*[sympy.exp(v) for v in w[:4]]) ** sympy.Rational(-1, 2),
    "u in several terms": (x * y + x ** 2 + sympy.sin(x) * z + 3) ** sympy.Rational(3, 2),
    "float exponent": (x ** 2 + y ** 2) ** sympy.Float(0.75),
    "symbolic exponent": (x ** 2 + y ** 2) ** z,
    "plain power": x ** 3,
    "product": x * sympy.sqrt(x ** 2 + y ** 2),
    # a power of one symbol (the terms of a norm): SymPy's rule without log x, whatever u is
    "square of a symbol": y ** 2,
    "inverse of a symbol": y ** -1,
    "root of a symbol": y ** sympy.Rational(1, 2),
    "float power of a symbol": y ** sympy.Float(1.5),
    "positive symbol cubed": sympy.Symbol("p", positive=True) ** 3,
    "symbol without assumptions": sympy.Symbol("q") ** 2,
    "nonzero symbol": sympy.Symbol("o", real=True, nonzero=True) ** -2,
    "extended real symbol": sympy.Symbol("e", extended_real=True) ** sympy.Rational(1, 3),
}


def _same(a, b):
    assert type(a) is type(b) and a == b
    assert a.args == b.args
    for u, v in zip(a.args, b.args):
        _same(u, v)


@pytest.mark.parametrize("name", TERMS)
def test_diff_is_sympys_own_derivative(name):
    term = TERMS[name]
    for u in sorted(term.free_symbols | {x}, key=str):
        _same(_diff(term, u), sympy.diff(term, u))
