"""groups.numpy_lambdify: SymPy's own `lambdify(..., modules="numpy")` is the reference — the same
printed code and the same floats — without loading NumPy's lazy sub-packages."""
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy
from sympy.utilities.lambdify import lambdify

from gradcalc.derive.symbolic.groups import numpy_lambdify

ROOT = Path(__file__).resolve().parents[2]
a, b, c = sympy.symbols("a b c", real=True)
EXPRS = [
    a * b + c, sympy.exp(-a) / (1 + sympy.exp(-a)), sympy.log(a ** 2 + 1), sympy.tanh(b) ** 2,
    sympy.Max(a, 0), sympy.Min(a, b), sympy.Heaviside(a), sympy.Abs(a - c), sympy.sqrt(a ** 2 + b ** 2),
    sympy.Piecewise((a, a > 0), (0.01 * a, True)), a ** b, sympy.Integer(1), sympy.Float(0.5) * c,
]


@pytest.mark.parametrize("expr", EXPRS, ids=str)
def test_same_code_and_values_as_sympys_numpy_lambdify(expr):
    ours = numpy_lambdify([a, b, c], [expr])
    # the arguments are named __0 … in descending order of their names: c, b, a -> __0, __1, __2
    new = {s: sympy.Symbol(f"__{r}", real=True) for s, r in ((a, 2), (b, 1), (c, 0))}
    ref = lambdify([new[a], new[b], new[c]], [expr.xreplace(new)], modules="numpy")
    assert inspect.getsource(ours) == inspect.getsource(ref)
    rng = np.random.default_rng(0)
    cols = rng.uniform(0.1, 2, (3, 50)) * rng.choice([-1, 1], (3, 50))
    with np.errstate(all="ignore"):
        got = np.broadcast_to(np.asarray(ours(*cols)[0], dtype=float), 50)
        want = np.broadcast_to(np.asarray(ref(*cols)[0], dtype=float), 50)
    assert got.tobytes() == want.tobytes()


def test_arguments_that_are_not_identifiers_are_named_like_lambdifys_dummies():
    # lambdify gives the Dummies out in descending order of the names (@9, @8 … @2, @11, @10, @1,
    # @0) and prints in the order of the Dummies' names: the same order, from fixed names
    places = [sympy.Symbol(f"@{p}", real=True) for p in range(12)]
    fn = numpy_lambdify(places, [places[11] - places[2], places[0]])
    ranks = [11, 10, 7, 6, 5, 4, 3, 2, 1, 0, 9, 8]
    assert inspect.getsource(fn).startswith(
        "def _lambdifygenerated(" + ", ".join(f"__{r:02d}" for r in ranks) + "):")
    x = np.arange(12.0)
    assert [float(v) for v in fn(*x)] == [9.0, 0.0]


def test_a_symbolic_check_does_not_load_numpys_unused_subpackages():
    code = ("import sys\nfrom gradcalc.api import load_problem\nfrom gradcalc.derive import symbolic\n"
            "symbolic.run(load_problem('problems/mc_least_squares.yaml')).formulas()\n"
            "print(sorted(m for m in ('numpy.testing', 'numpy.f2py', 'numpy.random', 'numpy.ma')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
