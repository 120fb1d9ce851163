"""Tests of gradcalc.render.latex: the derivation compiles (with pdflatex) and reads right."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gradcalc.api import solve
from gradcalc.render.latex import array, derivation_markdown, formula, latex_document, number

ROOT = Path(__file__).resolve().parents[2]
PROBLEMS = ROOT / "problems"


def _balanced(tex: str):
    depth = 0
    for c in tex.replace(r"\{", "").replace(r"\}", ""):
        depth += c == "{"
        depth -= c == "}"
        assert depth >= 0
    assert depth == 0
    begins = re.findall(r"\\begin\{(\w+\*?)\}", tex)
    ends = re.findall(r"\\end\{(\w+\*?)\}", tex)
    assert sorted(begins) == sorted(ends)


def test_formula_to_latex():
    names = {"W1": "W^{(1)}", "x": "x", "b1": "b^{(1)}", "h1": "h^{(1)}", "z1": "z^{(1)}"}
    assert formula("W1·x + b1", names) == r"{W^{(1)}}\cdot x + {b^{(1)}}"
    assert formula("σ(z1)", names) == r"\sigma ({z^{(1)}})"
    assert formula("h1ᵀ", names) == r"{h^{(1)}}^{\top}"           # no double superscript
    assert formula("scale·Σ(y − t)²", names) == r"\text{scale}\cdot \sum (y - t)^{2}"
    assert formula("mean over the batch", {}) == (r"\text{mean}\ \text{over}\ "
                                                  r"\text{the}\ \text{batch}")


def test_numbers_and_arrays():
    assert number(-0.25) == "-0.25"
    assert number(1.5e-12) == r"1.5\times 10^{-12}"
    assert array([1.0, 2.0]) == r"\begin{bmatrix} 1 \\ 2 \end{bmatrix}"
    assert array([1.0, 2.0], row=True) == r"\begin{bmatrix} 1 & 2 \end{bmatrix}"
    assert "array" in array([[0.0] * 9] * 2)


def test_hw1_derivation_reads_like_the_homework():
    tex = latex_document(solve(PROBLEMS / "hw1.yaml", "all", exact=True))
    _balanced(tex)
    assert tex.startswith(r"\documentclass{article}") and r"\usepackage{amsmath}" in tex
    assert tex.rstrip().endswith(r"\end{document}")
    # forward: z1 = W1 x + b1 with the numbers substituted, then the value 0.6, −0.8
    line = [ln for ln in tex.splitlines() if ln.startswith("z^{(1)} &=")][0]
    assert r"0.40 & -0.20 \\ -0.10 & 0.30" in line          # the lecture's number style
    assert line.rstrip(" \\").endswith(r"\begin{bmatrix} 0.60 \\ -0.80 \end{bmatrix}")
    # backward in matrix notation: ∂L/∂x = W1ᵀ·∂L/∂z1 (a 2×2 times a 2×1), the sigmoid step
    # elementwise, and the closed form of ∂L/∂W1 composed along the graph
    assert r"\frac{\partial L}{\partial x} &= {W^{(1)}}^{\top} \cdot \frac{\partial L}{\partial z^{(1)}}" in tex
    assert r"\frac{\partial L}{\partial h^{(1)}} \odot h^{(1)} \odot \left(1 - h^{(1)}\right)" in tex
    assert (r"\frac{\partial L}{\partial W^{(1)}} &= \left(\left({W^{(2)}}^{\top} \cdot \left(y - t\right)"
            r"\right) \odot h^{(1)} \odot \left(1 - h^{(1)}\right)\right) \cdot x^{\top}") in tex
    # SymPy's formulas and the exact values
    assert r"h^{(1)}_{i} \left(1 - h^{(1)}_{i}\right)" in tex
    assert r"e^{- \frac{3}{5}}" in tex
    assert "Agreement: agree" in tex
    assert not re.search(r"\^\{[^{}]*\}\^", tex)                 # no x^{a}^{b}


@pytest.mark.parametrize("name", ["hw1", "lecture_sigmoid", "lecture_scalar", "hinge",
                                  "softmax_ce", "leaky_tanh",
                                  # the matrix notation of conv, pooling, rnn steps and a batch
                                  "cnn_tiny", "conv_flip", "rnn_T3", "batch_ce"])
def test_derivations_compile_with_standard_latex(name, tmp_path):
    sol = solve(PROBLEMS / f"{name}.yaml", "all", exact=name == "hw1")
    tex = latex_document(sol)
    _balanced(tex)
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed")
    (tmp_path / "d.tex").write_text(tex)
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "d.tex"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
    assert (tmp_path / "d.pdf").stat().st_size > 1000


def test_markdown_derivation_uses_dollar_math():
    md = derivation_markdown(solve(PROBLEMS / "lecture_scalar.yaml", "all"))
    assert md.startswith("## Lecture: f = (x + y) · z")
    assert md.count("$$") % 2 == 0 and "$$\n\\begin{aligned}" in md
    assert r"\frac{\partial f}{\partial q}" in md
