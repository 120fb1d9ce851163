"""Handouts and answer keys show vectors as columns (bmatrix in markdown math, a column in the
HTML's MathML), never a row between plain vertical bars (|−1| reads as an absolute value)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from gradcalc.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def _num(x: float) -> str:
    """The shortest text of a float, as a student would copy it (0.5, 1, -0.05)."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _column(values) -> str:
    return r"\begin{bmatrix} " + r" \\ ".join(_num(v) for v in values) + r" \end{bmatrix}"


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("v")
    roster = tmp / "roster.csv"
    roster.write_text("id,name\ns001,Ada\ns002,Bo\n", encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        r = CliRunner().invoke(cli, ["variants", "problems/hw1_template.yaml", "--roster",
                                     str(roster), "-o", str(tmp / "v"), "--quiet"])
    finally:
        os.chdir(cwd)
    assert r.exit_code == 0, r.output
    return tmp / "v"


@pytest.mark.parametrize("sid", ["s001", "s002"])
def test_handout_shows_vectors_as_columns(out, sid):
    p = yaml.safe_load((out / "problems" / f"{sid}.yaml").read_text(encoding="utf-8"))
    md = (out / "handouts" / f"{sid}.md").read_text(encoding="utf-8")
    x, l1 = p["input"], p["layers"][0]
    assert "x = " + _column(x) in md
    assert "b1 = " + _column(l1["b"]) in md
    rows = r" \\ ".join(" & ".join(_num(v) for v in row) for row in l1["W"])
    assert r"W1 = \begin{bmatrix} " + rows + r" \end{bmatrix}" in md
    assert "t = " + _column(p["loss"]["target"]) in md
    # no number between plain bars, no bracketed row list of the given numbers
    given = md.split("## Given")[1].split("## Questions")[0]
    assert not re.search(r"\|\s*-?\d[\d.]*\s*\|", given)
    assert "x = [" not in md


@pytest.mark.parametrize("sid", ["s001", "s002"])
def test_handout_html_shows_a_column(out, sid):
    p = yaml.safe_load((out / "problems" / f"{sid}.yaml").read_text(encoding="utf-8"))
    page = (out / "handouts" / f"{sid}.html").read_text(encoding="utf-8")
    maths = re.findall(r'<div class="arr">(.*?)</div>', page, flags=re.S)
    x_math = next(m for m in maths if "<mi>x</mi>" in m)
    # one table row per entry of x, each with one number, in brackets
    assert x_math.count("<mtr>") == len(p["input"])
    assert x_math.count("<mtd") == len(p["input"])
    assert "<mo>[</mo>" in x_math and "<mo>]</mo>" in x_math
    assert 'class="m"' not in page


def test_key_values_are_columns_computed_by_hand(out):
    p = yaml.safe_load((out / "problems" / "s001.yaml").read_text(encoding="utf-8"))
    key = (out / "keys" / "s001.md").read_text(encoding="utf-8")
    x = np.array(p["input"], dtype=float)
    W1, b1 = np.array(p["layers"][0]["W"], dtype=float), np.array(p["layers"][0]["b"])
    z1 = W1 @ x + b1                                  # by hand, from the drawn numbers
    row = next(line for line in key.split("\n") if line.startswith("| 1 | z1 |"))
    value = row.split("|")[3].strip()
    m = re.fullmatch(r"\$\\begin\{bmatrix\} (.*) \\end\{bmatrix\}\$", value)
    assert m, value
    shown = [float(v) for v in m.group(1).split(r" \\ ")]
    assert len(shown) == len(z1) and np.allclose(shown, z1, rtol=1e-5, atol=1e-12)
