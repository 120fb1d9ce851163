"""The handout's note states the problem's own shape rule, as `gradcalc template` does: W is
out × in (the lecture), in × out under `layout: in_out`, and no W at all for an expression
problem, in English and in Chinese, in the markdown and the HTML handout."""
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcalc.cli import cli

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "problems" / "hw1_template.yaml"

RULES = {   # (lang, layout) -> the sentence the handout must carry
    ("en", "out_in"): "A gradient has the shape of its parameter (W is out × in).",
    ("en", "in_out"): "A gradient has the shape of its parameter (W is in × out).",
    ("zh", "out_in"): "梯度与对应参数形状相同（W 为 输出 × 输入）。",
    ("zh", "in_out"): "梯度与对应参数形状相同（W 为 输入 × 输出）。",
}


def _handouts(tmp_path, template: Path, lang: str) -> list[str]:
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\ns001,Ada\n", encoding="utf-8")
    out = tmp_path / f"out_{lang}"
    r = CliRunner().invoke(cli, ["variants", str(template), "--roster", str(roster), "-o",
                                 str(out), "--quiet", "--lang", lang])
    assert r.exit_code == 0, r.output
    return [(out / "handouts" / f"s001.{ext}").read_text(encoding="utf-8")
            for ext in ("md", "html")]


def _in_out_template(tmp_path) -> Path:
    # hw1's template in the CS231n layout: W is in × out, so the output layer's W is 2 × 1
    text = TEMPLATE.read_text(encoding="utf-8")
    flipped = text.replace("shape: [1, 2]", "shape: [2, 1]")
    assert flipped != text
    path = tmp_path / "hw1_in_out.yaml"
    path.write_text("layout: in_out\n" + flipped, encoding="utf-8")
    return path


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("layout", ["out_in", "in_out"])
def test_the_handout_states_the_layout_of_its_problem(tmp_path, lang, layout):
    template = TEMPLATE if layout == "out_in" else _in_out_template(tmp_path)
    other = RULES[(lang, "in_out" if layout == "out_in" else "out_in")]
    for text in _handouts(tmp_path, template, lang):
        assert RULES[(lang, layout)] in text
        assert other not in text


@pytest.mark.parametrize("lang, rule", [("en", "A gradient has the shape of its quantity."),
                                        ("zh", "梯度与对应的量形状相同。")])
def test_an_expression_handout_has_no_w_and_shows_its_matrices(tmp_path, lang, rule):
    # mc_trace: f = trace(W.T @ A @ W) with W 3×2 and A 3×3 given (the handout crashed on them)
    md, html = _handouts(tmp_path, ROOT / "problems" / "mc_trace.yaml", lang)
    for text in (md, html):
        assert rule in text
        assert "W is" not in text and "W 为" not in text
    assert r"W = \begin{bmatrix} 1 & -2 \\ 0.5 & 3 \\ 2 & 1 \end{bmatrix}" in md
    assert r"A = \begin{bmatrix} 2 & 1 & 0 \\ -1 & 3 & 0.5 \\ 0 & 2 & 1 \end{bmatrix}" in md
