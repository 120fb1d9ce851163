"""The printer remembers the order of a sum's terms (per sum): printing many sums, and one sum
many times, as text and LaTeX in any order, gives what a fresh printer gives for each alone."""
import sympy

from gradcalc.derive.symbolic.printing import FormulaPrinter

w = sympy.symbols("w_1:13", real=True)
y, t = sympy.symbols("y t", real=True)
S = sympy.Add(*[v ** 2 for v in w])
EXPRS = [w[0] / sympy.sqrt(S), w[9] / sympy.sqrt(S), S, y - t, t - y, -y - t + 3,
         sympy.sqrt(S) * (y - t) + w[2], (y - t) ** 2 + S]


def _alone(e):
    return FormulaPrinter(False).text(e), FormulaPrinter(False).latex(e)


def test_a_shared_printer_prints_every_expression_as_a_fresh_one():
    want = [_alone(e) for e in EXPRS]
    pr = FormulaPrinter(False)
    for _ in range(2):
        assert [(pr.text(e), pr.latex(e)) for e in EXPRS] == want
    pr = FormulaPrinter(False)
    latex_first = [pr.latex(e) for e in reversed(EXPRS)][::-1]
    assert latex_first == [l for _, l in want]
    assert [pr.text(e) for e in EXPRS] == [s for s, _ in want]


def test_positive_terms_first_as_before():
    pr = FormulaPrinter(False)
    assert pr.text(t - y) == "t − y" and pr.text(y - t) == "y − t"
    assert pr.text(-y - t + 3) == "3 − t − y"
