"""real_symbol: the same symbol as sympy.Symbol(name, real=True), made without SymPy's cache."""
import pickle

import sympy as sp

from gradcalc.derive.symbolic.symbols import real_symbol, real_symbols


def test_equal_to_sympy_symbol_in_every_respect_we_use():
    for name in ("X_1_1", "w_20", "lam", "δz_3", "@0"):
        s, own = real_symbol(name), sp.Symbol(name, real=True)
        assert type(s) is sp.Symbol
        assert s == own and hash(s) == hash(own) and s.name == name
        assert s.assumptions0 == own.assumptions0
        assert s.is_real is True and s.is_complex is True and s.is_positive is None
        assert sp.srepr(s) == sp.srepr(own) == f"Symbol('{name}', real=True)"
        assert s != sp.Symbol(name) and s != sp.Symbol(name, positive=True)
        assert pickle.loads(pickle.dumps(s)) == own


def test_sympy_works_on_them_as_on_its_own():
    x, y = real_symbol("x_q"), real_symbol("y_q")
    X, Y = sp.symbols("x_q y_q", real=True)
    e = x ** 2 * y + sp.sin(x * y)
    assert sp.diff(e, x) == sp.diff(X ** 2 * Y + sp.sin(X * Y), X)
    assert sp.diff(e, x) == 2 * X * Y + Y * sp.cos(X * Y)    # by hand
    assert (x - X) == 0 and {x: 1}[X] == 1
    assert sp.Abs(x) ** 2 == x ** 2            # real: |x|² = x², as for sympy.Symbol(real=True)
    assert float(e.subs({X: 2.0, Y: 3.0})) == 2.0 ** 2 * 3.0 + __import__("math").sin(6.0)


def test_one_symbol_queried_does_not_change_another():
    a, b = real_symbol("a_q"), real_symbol("b_q")
    assert a.is_positive is None and b.is_nonnegative is None
    assert (a ** 2).is_nonnegative is True and b.is_real is True


def test_this_sympy_gets_the_quick_path():
    from gradcalc.derive.symbolic import symbols
    real_symbol("x_q")
    assert symbols._maker[0].__name__ == "quick"    # else the test above proves only sympy's own


def test_real_symbols_are_named_in_ndindex_order():
    import numpy as np
    for shape in [(), (3,), (2, 12), (2, 1, 3), (0, 4)]:
        got = real_symbols("A", shape)
        want = [sp.Symbol("A" + "".join(f"_{i + 1}" for i in idx), real=True)
                for idx in np.ndindex(shape)]
        assert got == want and [s.name for s in got] == [s.name for s in want]
