"""Tables at 60, 80 and 120 columns never cut a number, a path or a formula token, and piped
output carries no spaces at the ends of its lines.

The reference for "not cut" is the same command at 1,000 columns, where nothing wraps: every
word (whitespace-separated token) printed there must be printed whole at the narrow width too
(as often or more: a stacked table repeats its column names).  A token folded across two lines
is missing from the narrow output and fails the test."""
from __future__ import annotations

import functools
import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from rich.cells import cell_len

from gradcalc.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = ROOT / "tests" / "snapshots"
PROBLEMS = sorted(p.name for p in (ROOT / "problems").glob("*.yaml")
                  if "template" not in p.name)
_RULE = re.compile(r"^━+$")


@functools.lru_cache(maxsize=None)
def run(argv: tuple, columns: int) -> str:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        r = CliRunner().invoke(cli, list(argv), env={"COLUMNS": str(columns)})
    finally:
        os.chdir(cwd)
    assert r.exit_code in (0, 1), r.output
    return r.stdout


def tokens(text: str) -> Counter:
    """Words, and a long product of formula factors in its factors: W·(V·x) may wrap after
    a "·" (that is a separator, not a token)."""
    # an error figure such as 1.0e-15 may differ in its last digit from run to run (float
    # sums in another order): a whole one stands for any; a cut one still matches none
    return Counter(re.sub(r"\d\.\de[-+]\d\d", "E", p) for t in text.split() if not _RULE.match(t)
                   for p in re.split(r"(?<=·)", t) if p)


def assert_fits(argv: tuple, width: int, message: str = "\0"):
    """`message`: the start of a one-line message (not a table) that may be longer than the
    console (it names files by their full paths; the terminal wraps it)."""
    wide, narrow = run(argv, 1000), run(argv, width)
    missing = tokens(wide) - tokens(narrow)
    assert not missing, f"cut at {width} columns: {sorted(missing)[:10]}"
    too_long = [line for line in narrow.split("\n")
                if cell_len(line) > width and not line.startswith(message)]
    assert not too_long, too_long[:3]
    assert not [line for line in narrow.split("\n") if line.endswith(" ")]


def test_a_folded_token_is_caught():
    # the reference: rich itself folds a long word in a narrow column
    from io import StringIO

    from gradcalc.render.console import print_rich
    from gradcalc.render.tables import Table
    t = Table("T", ["a", "b"], [["x", "[[-0.006312, 0.01894], [0.01475, -0.04426]]"]])
    buf = StringIO()
    print_rich([t], None, buf, 16)
    assert tokens(buf.getvalue()) != tokens("T a b x [[-0.006312, 0.01894], [0.01475, -0.04426]]")
    assert "[[-0.006312," not in buf.getvalue().split()


@pytest.mark.parametrize("width", [60, 80, 120])
@pytest.mark.parametrize("name", PROBLEMS)
def test_solve_tables_keep_every_token_whole(name, width):
    assert_fits(("solve", f"problems/{name}"), width)


@pytest.mark.parametrize("width", [60, 80, 120])
def test_check_tables_keep_every_token_whole(width):
    assert_fits(("check", "problems/"), width)


def _hw1_answers(folder: Path):
    """Two students' hw1 answers computed here in NumPy (one forgets σ′)."""
    x = np.array([0.5, -1.5])
    W1, b1 = np.array([[0.4, -0.2], [-0.1, 0.3]]), np.array([0.1, -0.3])
    W2, b2 = np.array([[0.2, -0.5]]), np.array([0.05])
    z1 = W1 @ x + b1
    h1 = 1 / (1 + np.exp(-z1))
    y = W2 @ h1 + b2
    dy = y - 0.3
    for sid, sp in (("s01", h1 * (1 - h1)), ("s02", 1.0)):
        dz1 = (W2.T @ dy) * sp
        vals = {"z1": z1, "h1": h1, "y": y, "L": 0.5 * float(dy[0] ** 2),
                "dW1": np.outer(dz1, x), "db1": dz1, "dW2": np.outer(dy, h1), "db2": dy}
        lines = [f"student: {sid}", "answers:"]
        lines += [f"  {k}: {json.dumps(np.asarray(v).tolist())}" for k, v in vals.items()]
        (folder / f"{sid}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("width", [60, 80, 120])
def test_grade_table_keeps_every_token_whole(tmp_path, width):
    answers = tmp_path / "answers"
    answers.mkdir()
    _hw1_answers(answers)
    assert_fits(("grade", "problems/hw1.yaml", str(answers), "-o", str(tmp_path / "g")), width,
                message="wrote ")


def test_no_trailing_spaces_in_any_shipped_output():
    """Every command and format of every shipped problem (the snapshots, which
    tests/test_snapshots.py keeps equal to the live output, stdout and stderr)."""
    names = sorted(SNAPSHOTS.glob("*.txt"))
    assert len(names) > 150
    bad = [f"{p.name}:{i}" for p in names
           for i, line in enumerate(p.read_text(encoding="utf-8").split("\n"), 1)
           if line.endswith((" ", "\t"))]
    assert bad == []


def test_no_trailing_spaces_in_written_files(tmp_path):
    """grade's summary and feedback, the variants' handouts and keys."""
    answers = tmp_path / "answers"
    answers.mkdir()
    _hw1_answers(answers)
    run(("grade", "problems/hw1.yaml", str(answers), "-o", str(tmp_path / "g")), 80)
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\ns001,Ada\ns002,张三\n", encoding="utf-8")
    run(("variants", "problems/hw1_template.yaml", "--roster", str(roster), "-o",
         str(tmp_path / "v"), "--quiet"), 80)
    files = [p for p in tmp_path.rglob("*") if p.suffix in (".md", ".html", ".csv")]
    assert len(files) > 6
    bad = [f"{p.name}:{i}" for p in files
           for i, line in enumerate(p.read_text(encoding="utf-8-sig").split("\n"), 1)
           if line.endswith((" ", "\t"))]
    assert bad == []
