"""values.sympy_float makes the SymPy Float of a Python float without Float.__new__'s type tests:
it must be sympy.Float(v) itself (type, mpf, precision, equality, hash) for every float, SymPy's
own special cases included (0, −0, inf, nan, subnormals, the largest float)."""
import math

import numpy as np
import sympy

from gradcalc.derive.symbolic.values import LazyValues, sympy_float

SPECIAL = [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, -2.2e-308, 1.7976931348623157e308,
           1.0, -3.0, 0.1, 2.0 ** 60, 1e-300, -123456.789]


def test_every_float_is_sympys_own():
    rng = np.random.default_rng(7)
    values = SPECIAL + list(rng.normal(size=500) * 10.0 ** rng.integers(-30, 30, 500))
    for v in map(float, values):
        a, b = sympy_float(v), sympy.Float(v)
        assert type(a) is type(b)
        assert getattr(a, "_mpf_", None) == getattr(b, "_mpf_", None)
        assert getattr(a, "_prec", None) == getattr(b, "_prec", None)
        assert hash(a) == hash(b) and (a == b or math.isnan(v))
        assert sympy.srepr(a) == sympy.srepr(b)


def test_lazy_values_make_their_floats_so():
    x = sympy.Symbol("x", real=True)
    vals = LazyValues(sympy.Float)
    vals.Floats[x] = 0.30000000000000004
    assert vals[x] == sympy.Float(0.30000000000000004)
    assert (x + 1).xreplace(vals) == sympy.Float(0.30000000000000004) + 1
