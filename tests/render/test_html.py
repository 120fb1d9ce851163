"""The self-contained HTML report: structure, MathML, agreement, plots and `solve --html`."""
from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gradcalc.api import solve
from gradcalc.cli import cli
from gradcalc.render.charts import line_chart_svg
from gradcalc.render.html import solution_html
from gradcalc.render.mathml import latex_mathml, mathml
from gradcalc.solution.model import Comparison, RnnDiagnostics

ROOT = Path(__file__).resolve().parents[2]
HW1 = ROOT / "problems/hw1.yaml"
MML = "{http://www.w3.org/1998/Math/MathML}"
VOID = {"meta", "br", "img", "hr", "input", "link", "col", "area", "base", "wbr", "source"}


class Checker(HTMLParser):
    """Collects tags, attributes and text; checks that every element is closed in order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> Checker:
    c = Checker()
    c.feed(page)
    c.close()
    assert c.errors == [] and c.stack == [], (c.errors[:5], c.stack[:5])
    return c


@pytest.fixture(scope="module")
def hw1_page() -> str:
    return solution_html(solve(HW1))


# ---------------------------------------------------------------- self-contained, well formed
def test_page_is_balanced_and_has_every_part(hw1_page):
    c = _parse(hw1_page)
    ids = {a.get("id") for _, a in c.tags}
    assert {"graph", "forward", "backward", "gradients", "matrix", "problem"} <= ids
    assert sum(1 for t, _ in c.tags if t == "table") == 4     # + the gradients in matrix form
    assert any(t == "svg" for t, _ in c.tags) and any(t == "math" for t, _ in c.tags)
    assert hw1_page.startswith("<!DOCTYPE html>")


def test_page_loads_nothing_from_outside(hw1_page):
    c = _parse(hw1_page)
    assert not any(t in ("script", "link", "iframe", "object", "embed") for t, _ in c.tags)
    for tag, attrs in c.tags:
        for key in ("src", "href", "xlink:href", "action"):
            v = attrs.get(key)
            assert v is None or v.startswith(("data:", "#")), (tag, key, v)
    assert "@import" not in hw1_page and not re.search(r"url\((?!#)", hw1_page)
    assert "default-src 'none'" in hw1_page        # the browser enforces it too


def test_numbers_on_the_page_are_the_json_values(hw1_page):
    # hw1 by hand: z1 = [0.6, -0.8]; L = ½(y − t)² with y = 0.024119…, t = 0.3 -> 0.03806
    data = json.loads(CliRunner().invoke(cli, ["solve", str(HW1), "--format", "json"]).output)
    text = " ".join(_parse(hw1_page).text)
    assert "0.03806" in text and data["forward"]["L"] == pytest.approx(0.0380550, abs=5e-7)
    for name in ("W1", "b1", "W2", "b2"):
        for v in np.ravel(data["gradients"][name]):
            assert f"{v:.4g}".replace("e-0", "e-") in text or f"{v:.4g}" in text, (name, v)


def test_graph_svg_keeps_its_labels_as_text(hw1_page):
    svg = hw1_page[hw1_page.index("<svg"):hw1_page.index("</svg>") + 6]
    root = ET.fromstring(svg)                          # the inline SVG is XML on its own
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "[0.6457, 0.31]" in texts or "[0.6457, 0.3100]" in texts   # h1 = σ([0.6, −0.8])


def test_every_math_element_is_xml(hw1_page):
    maths = re.findall(r"<math\b.*?</math>", hw1_page, flags=re.S)
    assert len(maths) > 20
    for m in maths:
        assert ET.fromstring(m).tag == f"{MML}math"


# ---------------------------------------------------------------- MathML
def test_mathml_identifiers_subscripts_and_superscripts():
    assert "<msub><mi>W</mi><mn>1</mn></msub>" in mathml("W1·x + b1")
    assert '<msup><mi>x</mi><mi mathvariant="normal">T</mi></msup>' in mathml("xᵀ")
    assert "<msub><mi>L</mi><mi>data</mi></msub>" in mathml("L_data")
    assert "<mi>exp</mi>" in mathml("exp(t3)")                 # a function name stays whole
    assert "<mtext>mean over the batch</mtext>" in mathml("L (mean over the batch)")
    assert "&lt;" in mathml("1[z1 < 0]")                         # escaped, still XML
    for text in ("Σ_{j≠label} max(0, y_j − y_label + margin)", "h1_(t − 1)", "a & b"):
        ET.fromstring(mathml(text))


def test_latex_subset_from_sympy():
    m = latex_mathml(r"\frac{\partial L}{\partial W^{(2)}_{ij}} = h^{(1)}_{j} \left(y_{i} - t_{i}\right)")
    root = ET.fromstring(m)
    assert root.find(f".//{MML}mfrac") is not None and root.find(f".//{MML}msubsup") is not None
    cases = latex_mathml(r"c_{1} = \begin{cases} 1 & \text{for}\: y_{1} > 0 \\0 & \text{otherwise} \end{cases}")
    root = ET.fromstring(cases)
    assert len(root.findall(f".//{MML}mtr")) == 2 and "otherwise" in "".join(root.itertext())
    assert "h0_1" in latex_mathml(r"\mathrm{h0\_1}_{1}")
    assert latex_mathml(r"\unknowncommand{x}") is None          # shown as LaTeX source instead
    assert latex_mathml(r"\frac{a}{") is None


# ---------------------------------------------------------------- three-way agreement
def _fake_agreement(ok: bool):
    sol = solve(ROOT / "problems/lecture_scalar.yaml")
    methods = {"autograd": {"x": -4.0, "y": -4.0, "z": 3.0},
                             "symbolic": {"x": -4.0, "y": -4.0, "z": 3.0},
                             "numeric": {"x": -4.0000000001, "y": -4.0, "z": 3.0 if ok else 2.5}}
    agreement = {
        "ok": ok, "max_rel_error": 2.5e-11 if ok else 0.1667,
        "pairs": {"autograd~symbolic": {"ok": True, "max_rel_error": 0.0, "atol": 1e-8,
                                        "rtol": 1e-6, "band": "good"},
                  "autograd~numeric": {"ok": ok, "max_rel_error": 2.5e-11 if ok else 0.1667,
                                       "atol": 1e-6, "rtol": 1e-5,
                                       "band": "good" if ok else "wrong"}},
        "kinks": [{"parameter": "z", "index": [], "node": "f", "op": "relu",
                   "reason": "input within h of 0"}],
        "notices": []}
    sol.comparison = Comparison(None, methods, agreement)
    return sol


def test_agreement_section_when_all_agree():
    page = solution_html(_fake_agreement(True))
    _parse(page)
    section = page[page.index('<section id="agreement">'):]
    section = section[:section.index("</section>")]
    assert 'class="ok"' in section and "autograd, symbolic and numeric gradients agree" in section
    assert "symbolic (SymPy)" in section and "numeric (central differences)" in section
    assert "z — f (relu): input within h of 0" in section


def test_agreement_section_shows_a_disagreement():
    page = solution_html(_fake_agreement(False), "zh")
    section = page[page.index('<section id="agreement">'):]
    assert 'class="bad"' in section and "三种方法的结果不一致" in section
    assert re.search(r">2\.50*<", section)                       # the numeric value shown


def test_no_agreement_section_without_the_data(hw1_page):
    assert 'id="agreement"' not in hw1_page


def test_real_three_way_check_on_hw1():
    sol = solve(HW1, method="all")
    page = solution_html(sol)
    _parse(page)
    assert 'id="agreement"' in page and 'id="formulas"' in page
    assert "<code>" not in page[page.index('id="formulas"'):]       # every formula is MathML


# ---------------------------------------------------------------- plots
def test_line_chart_svg_draws_every_point():
    svg = line_chart_svg("loss", {"loss": [4.0, 2.0, 1.0]}, xlabel="step")
    root = ET.fromstring(svg)
    [line] = root.iter("{http://www.w3.org/2000/svg}polyline")
    pts = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    assert len(pts) == 3 and pts[0][0] < pts[1][0] < pts[2][0]
    assert pts[0][1] < pts[1][1] < pts[2][1]          # falling loss: y grows downward on screen
    # equal steps in value are equal steps on the page (linear axis)
    assert (pts[1][1] - pts[0][1]) == pytest.approx(2 * (pts[2][1] - pts[1][1]), abs=0.2)  # 0.1 px rounding


def test_plots_from_extras_and_found_histories():
    sol = solve(ROOT / "problems/lecture_scalar.yaml")
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    sol.plots = [{"title": "curve", "series": {"a": [1, 2, 3]}},
                           {"title": "image", "png": png},
                           {"title": "svg", "svg": '<svg xmlns="http://www.w3.org/2000/svg">'
                                                  '<script>alert(1)</script><circle r="2"/></svg>'}]
    sol.diagnostics = RnnDiagnostics([{"states": "h1", "grad_norms": [1.0, 0.1, 0.001]}], {})
    page = solution_html(sol)
    _parse(page)
    plots = page[page.index('<section id="plots"'):]
    assert plots.count("<figure>") == 4
    assert f"data:image/png;base64,{png}" in plots and "<script" not in page
    assert "grad_norms" in plots


def test_other_tables_are_included():
    sol = solve(ROOT / "problems/hw1_sgd.yaml")
    page = solution_html(sol)
    _parse(page)
    assert 'id="more"' in page and "SGD" in page


# ---------------------------------------------------------------- language
def test_chinese_page():
    page = solution_html(solve(ROOT / "problems/lecture_sigmoid.yaml"), "zh")
    _parse(page)
    assert '<html lang="zh-CN">' in page
    for word in ("计算图", "前向计算", "反向传播", "上游梯度", "局部梯度", "下游梯度"):
        assert word in page


# ---------------------------------------------------------------- the command
def test_solve_html_writes_the_report_and_keeps_stdout(tmp_path):
    out = tmp_path / "r.html"
    r = CliRunner().invoke(cli, ["solve", str(HW1), "--format", "json", "--html", str(out)])
    assert r.exit_code == 0
    assert json.loads(r.output)["output"] == "L"                  # stdout is still pure JSON
    page = out.read_text(encoding="utf-8")
    _parse(page)
    assert "HW1" in page and sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_solve_html_bad_name_folder_or_problem_writes_nothing(tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["solve", str(HW1), "--html", str(tmp_path / "r.pdf")])
    assert r.exit_code == 2 and r.output.strip() == (
        f"gradcalc: error: {tmp_path / 'r.pdf'}: the file name must end in .html, .htm "
        "(got '.pdf')")
    r = runner.invoke(cli, ["solve", str(HW1), "--html", str(tmp_path / "no" / "r.html")])
    assert r.exit_code == 2 and "does not exist" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: bad\nexpression: 'x +'\nvalues: {x: 1}\n")
    r = runner.invoke(cli, ["solve", str(bad), "--html", str(tmp_path / "r.html")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_a_failing_report_keeps_the_old_file(tmp_path, monkeypatch):
    from gradcalc.render import html as rh
    out = tmp_path / "r.html"
    out.write_text("old")

    def boom(*a, **k):
        raise RuntimeError("cannot draw")
    monkeypatch.setattr(rh, "_graph_figure", boom)
    with pytest.raises(RuntimeError):
        rh.write_html(solve(HW1), out)
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.html"]
