"""The local-derivative lines print their LaTeX when it is first read: a check's text tables
print none; JSON reads every line's LaTeX, printed once."""
from pathlib import Path

from gradcalc.derive import symbolic
from gradcalc.derive.symbolic.printing import FormulaPrinter
from gradcalc.problem.load import load_problem

ROOT = Path(__file__).resolve().parents[2]


def test_latex_is_printed_when_read_and_once(monkeypatch):
    printed = []
    real = FormulaPrinter.latex
    monkeypatch.setattr(FormulaPrinter, "latex",
                        lambda self, e: printed.append(e) or real(self, e))
    # mc_softmax_regression: lines with an index pattern; softmax_ce: a line listing entries
    for name in ("mc_softmax_regression", "softmax_ce"):
        F = symbolic.run(load_problem(ROOT / "problems" / f"{name}.yaml")).formulas(closed=False)
        texts = [f.text for f in F.local]
        assert texts and not printed                 # the text alone prints no LaTeX
        first = [f.latex for f in F.local]
        n = len(printed)
        assert n >= len(F.local)
        assert [f.latex for f in F.local] == first and len(printed) == n    # printed once
        assert all(s.startswith(r"\frac{\partial ") for s in first)
        assert [d["latex"] for d in F.to_json()["local"]] == first
        printed.clear()
