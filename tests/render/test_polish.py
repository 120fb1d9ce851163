"""The write-ups' polish (issue 12 item 5): no matrix notes for scalar problems, the HTML report's
tables once and no absolute path, one number display across the three-methods table."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from gradcalc.cli import cli

ROOT = Path(__file__).resolve().parents[2]
MATRIX_NOTES = ("W is out", "out × in", "out $\\times$ in", "Layout", "输出 × 输入", "布局")


def run(argv, columns=120):
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        r = CliRunner().invoke(cli, [str(a) for a in argv], env={"COLUMNS": str(columns)})
    finally:
        os.chdir(cwd)
    assert r.exit_code == 0, r.output
    return r.stdout + r.stderr


FORMATS = [[], ["--format", "markdown"], ["--format", "latex"], ["--lang", "zh"],
           ["--lang", "zh", "--format", "markdown"]]


@pytest.mark.parametrize("extra", FORMATS, ids=lambda a: "-".join(a) or "text")
@pytest.mark.parametrize("name", ["lecture_scalar", "lecture_sigmoid"])
def test_scalar_problems_have_no_matrix_notes(name, extra, tmp_path):
    out = run(["solve", f"problems/{name}.yaml", *extra])
    out += run(["check", f"problems/{name}.yaml", *(["--lang", "zh"] if "zh" in extra else [])])
    assert not [n for n in MATRIX_NOTES if n in out]


@pytest.mark.parametrize("extra", FORMATS, ids=lambda a: "-".join(a) or "text")
def test_network_problems_keep_their_layout_note(extra):
    out = run(["solve", "problems/hw1.yaml", *extra])
    assert any(n in out for n in MATRIX_NOTES)


def test_scalar_html_has_no_matrix_notes(tmp_path):
    page = tmp_path / "s.html"
    run(["solve", "problems/lecture_scalar.yaml", "--html", page])
    text = page.read_text(encoding="utf-8")
    assert not [n for n in MATRIX_NOTES if n in text]


def _tables(page: str) -> list[tuple[str, list[str]]]:
    """(caption, header cells) of every <table> of the page."""
    out = []
    for t in re.findall(r"<table.*?</table>", page, flags=re.S):
        cap = re.search(r"<caption[^>]*>(.*?)</caption>", t, flags=re.S)
        heads = re.findall(r"<th[^>]*>(.*?)</th>", t, flags=re.S)
        out.append((cap.group(1) if cap else "", heads))
    return out


@pytest.mark.parametrize("name", ["hw1", "cnn_tiny", "hinge"])
def test_html_report_shows_each_table_once_and_no_path_of_this_machine(name, tmp_path):
    # the problem at an absolute path of "this machine"
    here = tmp_path / "home" / "someone" / "course"
    here.mkdir(parents=True)
    shutil.copy(ROOT / "problems" / f"{name}.yaml", here / f"{name}.yaml")
    page_path = tmp_path / "r.html"
    run(["solve", here / f"{name}.yaml", "--html", page_path])
    page = page_path.read_text(encoding="utf-8")
    assert str(tmp_path) not in page and "/home/someone" not in page
    assert f"{name}.yaml" in page
    tables = _tables(page)
    # the three methods side by side: one table (the agreement section's)
    methods = [c for c, heads in tables if "numeric" in " ".join(heads)
               and "autograd" in " ".join(heads) and len(heads) == 4]
    assert len(methods) == 1, methods
    captions = [c for c, _ in tables]
    assert len(captions) == len(set(captions)), captions
    # SymPy's formulas once (the formulas section), not again as a text table
    assert not [c for c in captions if c.startswith(("Local derivatives", "Gradients in closed"))]


def test_three_methods_show_one_number_display():
    """lecture_scalar by hand: f = (x + y)·z at x = −2, y = 5, z = −4: ∂f/∂x = ∂f/∂y = z = −4,
    ∂f/∂z = x + y = 3; central differences give −3.99999999…, shown as −4 like the others."""
    out = run(["solve", "problems/lecture_scalar.yaml"])
    block = out.split("Three derivations")[1].split("Agreement")[0]
    rows = {line.split()[0]: line.split()[1:] for line in block.split("\n")
            if line.strip().startswith("∂f/")}
    assert rows == {"∂f/∂x": ["-4"] * 3, "∂f/∂y": ["-4"] * 3, "∂f/∂z": ["3"] * 3}


def test_a_value_different_at_the_shown_digits_keeps_its_own_text():
    from gradcalc.render.check import methods_tables
    pair = SimpleNamespace(ok=True, max_rel=1e-3, failures=[])
    rep = SimpleNamespace(
        names=["a", "b"], output="f",
        methods={"autograd": {"a": np.array(-4.0), "b": np.array([1.0, 2.0])},
                 "numeric": {"a": np.array(-3.99999999), "b": np.array([1.0, 2.003])}},
        pairs={"numeric": pair}, forward=None, direction=None, ok=True, kinks=[], notices=[],
        symbolic=None, problem=SimpleNamespace(kind="expression"))
    sol = SimpleNamespace(comparison=SimpleNamespace(report=rep))
    t = methods_tables(sol, "en", 4)[0]
    assert t.rows[0] == ["∂f/∂a", "-4", "-4"]
    assert t.rows[1] == ["∂f/∂b", "[1, 2]", "[1, 2.003]"]
