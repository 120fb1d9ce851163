"""Binary elementwise steps (a − b, a·b, x², max(a, b) …) are written once over places and renamed
per entry (groups.elementwise2): the template and rows must be exactly the one group that
`group_entries` makes of the forms SymPy builds entry by entry (the reference), whatever the
names of the symbols (SymPy orders the arguments of a sum or product by name), and the step must
fall back to the op's own forms where that is not so (x − x is 0)."""
import numpy as np
import pytest
import sympy

from gradcalc import ops
from gradcalc.derive.symbolic import groups


def _syms(name, n):
    return np.array([sympy.Symbol(f"{name}_{i + 1}", real=True) for i in range(n)], dtype=object)


# names chosen so that the first input's name sorts before the second's in some entries and
# after it in others (Z < a < b in ASCII; b_10 < b_2)
A = np.array([sympy.Symbol(n, real=True) for n in ("Z_1", "b_2", "a_3", "b_10", "m")],
             dtype=object)
B = np.array([sympy.Symbol(n, real=True) for n in ("a_1", "Z_2", "b_3", "b_9", "n")],
             dtype=object)
TWO = np.array(sympy.Integer(2), dtype=object)
HALF = np.array(sympy.Float(0.5), dtype=object)
CASES = {
    "sub": ("sub", A, B), "add": ("add", A, B), "mul": ("mul", A, B), "div": ("div", A, B),
    "pow": ("pow", A, B), "max": ("max", A, B), "min": ("min", B, A),
    "square": ("pow", A, TWO), "two to the x": ("pow", TWO, A), "number minus x": ("sub", HALF, A),
    "x times a number": ("mul", A, HALF),
    "broadcast matrix and vector": ("add", _syms("X", 6).reshape(2, 3), _syms("c", 3)),
    "scalar times matrix": ("mul", np.array(sympy.Symbol("lam", real=True), dtype=object),
                            _syms("W", 6).reshape(3, 2)),
}


def _reference(op, a, b, known):
    forms = np.asarray(ops.get(op).sym(a, b), dtype=object)
    return forms, groups.group_entries(list(forms.flat), known, set(), 20000)


@pytest.mark.parametrize("case", CASES)
def test_template_and_rows_are_those_of_the_forms_built_entry_by_entry(case):
    op, a, b = CASES[case]
    known = {u: r for r, u in enumerate(u for x in (a, b) for u in np.ravel(x)
                                        if isinstance(u, sympy.Symbol))}
    forms, ref = _reference(op, a, b, known)
    lifted = groups.elementwise2(ops.get(op).sym.scalar, [a, b], {}, known, set())
    if len(ref) != 1:                   # not one group: the op's own forms must be used
        assert lifted is None
        return
    assert lifted is not None
    got_forms, g = lifted
    want = ref[0]
    assert g.template == want.template and g.template.args == want.template.args
    assert g.places == want.places and g.args == want.args and g.ks == want.ks
    assert got_forms.shape == forms.shape
    for got, own in zip(got_forms.flat, forms.flat):
        assert got.expr == own and got.free_symbols == own.free_symbols


def test_the_names_decide_the_rows_of_a_sum():
    known = {u: r for r, u in enumerate(list(A) + list(B))}
    _, g = groups.elementwise2(ops.get("add").sym.scalar, [A, B], {}, known, set())
    # Z_1 + a_1: Z_1 is met first; b_2 + Z_2: Z_2 first
    assert g.args[0] == [A[0], B[0]] and g.args[1] == [B[1], A[1]]


@pytest.mark.parametrize("op", ["sub", "mul", "add"])
def test_an_entry_with_one_symbol_twice_falls_back_to_the_ops_forms(op):
    x = _syms("x", 4)
    y = x.copy()
    y[2] = sympy.Symbol("y_3", real=True)
    known = {u: r for r, u in enumerate(list(x) + [y[2]])}
    assert groups.elementwise2(ops.get(op).sym.scalar, [x, y], {}, known, set()) is None


def test_targets_and_arrays_of_numbers_fall_back():
    x = _syms("x", 3)
    t = _syms("t", 3)
    known = {u: r for r, u in enumerate(list(x) + list(t))}
    sub = ops.get("sub").sym.scalar
    assert groups.elementwise2(sub, [x, t], {}, known, set(t)) is None
    numbers = np.array([sympy.Integer(1), sympy.Integer(2), sympy.Integer(3)], dtype=object)
    assert groups.elementwise2(sub, [x, numbers], {}, known, set()) is None
