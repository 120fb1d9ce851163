"""render/plain.py must print, character for character, what rich prints for the same tables when
the output is not a terminal (the reference is rich itself: render.console.print_rich)."""
import io
import random
from pathlib import Path

import pytest

from gradcalc.compare.methods import check_problem
from gradcalc.render import console
from gradcalc.render.check import check_tables, summary_table
from gradcalc.render.plain import render
from gradcalc.render.tables import Table
from random_tables import random_tables, random_text   # tests/render/ is on the path

ROOT = Path(__file__).resolve().parents[2]

# ASCII with runs of spaces, the symbols of our tables, wide (CJK) characters, newlines
ALPHABET = (list("abcdefghij xyz   0123456789.-e") + list("∂↔≈✓✗−·⁽⁾¹²ᵢⱼ₁₂σ×…—")
            + list("中文参数一致") + ["\n"])


def _rich(tables, title, width):
    buf = io.StringIO()
    console.print_rich(tables, title, file=buf, width=width)
    return buf.getvalue()


LENGTHS = [0, 1, 2, 3, 5, 8, 13, 30, 60, 120]


def _text(rng):
    return random_text(rng, ALPHABET, LENGTHS)


def _tables(rng):
    return random_tables(rng, ALPHABET, LENGTHS, 5)


@pytest.mark.parametrize("seed", range(4))
def test_same_text_as_rich_on_random_tables(seed):
    rng = random.Random(seed)
    rendered = 0
    for _ in range(120):
        tables = _tables(rng)
        title = _text(rng) if rng.random() < 0.3 else None
        width = rng.choice([24, 40, 60, 80, 100, 137])
        text = render(tables, title, width)
        if text is None:          # handed to rich (too narrow for its columns): nothing to test
            continue
        rendered += 1
        assert text == _rich(tables, title, width), (tables, title, width)
    assert rendered > 60          # most tables are rendered here, wrapping included


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("width", [50, 80, 120])
def test_same_text_as_rich_on_the_check_tables(lang, width):
    reps = [check_problem(str(ROOT / "problems" / name)) for name in
            ("hw1.yaml", "lecture_scalar.yaml", "hinge.yaml", "softmax_ce.yaml")]
    tables = [t for r in reps for t in check_tables(r, lang, 6, True)]
    tables.append(summary_table(reps, lang))
    text = render(tables, "gradcalc check", width)
    assert text is not None and text == _rich(tables, "gradcalc check", width)


def test_print_tables_uses_plain_text_when_not_a_terminal_and_rich_otherwise(monkeypatch):
    tables = [Table("T", ["name", "value"], [["x", "1.5"], ["long words wrap here", "−2"]],
                    note="a note", kinds=["text", "num"])]
    buf = io.StringIO()
    console.print_tables(tables, title="Title", file=buf, width=30)
    # piped: rich's characters (of the tables fitted to the width, render/fit.py) without the
    # padding at the ends of lines
    from gradcalc.render.fit import fit
    assert buf.getvalue() == "\n".join(line.rstrip(" ")
                                      for line in _rich(fit(tables, 30), "Title", 30).split("\n"))
    assert " \n" not in buf.getvalue()

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    assert console._output_kind(Terminal()) != "plain"
    assert console._output_kind(io.StringIO()) == "plain"
    monkeypatch.setenv("FORCE_COLOR", "1")          # rich then writes colour codes: rich it is
    assert console._output_kind(io.StringIO()) != "plain"
    monkeypatch.setenv("FORCE_COLOR", "")
    assert console._output_kind(Terminal()) == "plain"         # an empty FORCE_COLOR means "no terminal"
    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    assert console._output_kind(Terminal()) == "plain"


def test_text_rich_treats_specially_goes_to_rich():
    for cell in ("tab\there", "bell\a", "cr\rlf", "line\u2028sep"):
        tables = [Table("T", ["a"], [[cell]])]
        assert render(tables, None, 80) is None
        buf = io.StringIO()
        console.print_tables(tables, file=buf, width=80)      # printed by rich instead
        assert buf.getvalue() == console.strip_line_ends(_rich(tables, None, 80))


def test_width_is_rich_s():
    assert console._plain_width(33) == 33
    # COLUMNS, then the terminal size of stdin, stdout or stderr, then 80 (rich.console.size)
    assert console._plain_width(None) == console.make_console(io.StringIO()).width


def test_narrow_characters_are_one_cell_in_every_unicode_version_of_rich():
    # plain.cell_len counts these as one cell each without asking rich: rich must agree, under
    # every Unicode version it has a table for (the UNICODE_VERSION environment variable)
    from rich.cells import cell_len as rich_cell_len, get_character_cell_size
    from rich._unicode_data._versions import VERSIONS
    from gradcalc.render.plain import NARROW, cell_len
    _NARROW = {chr(c) for a, b in NARROW for c in range(a, b + 1)}
    assert len(_NARROW) > 2000
    for version in ("auto", "latest", *VERSIONS):
        wide = [c for c in _NARROW if get_character_cell_size(c, version) != 1]
        assert not wide, (version, wide[:10])
    text = "".join(sorted(_NARROW))
    assert cell_len(text) == rich_cell_len(text) == len(text)
    # outside the set rich measures: wide, zero-width and combining characters
    for s in ("参数", "a\u0302", "x\u200bz", "\u231a", "∂L/∂W₁ = δ₁·xᵀ ✓", "", "a\x01b", "x\x7f",
              "∂\x9f", "plain ascii 0.25"):
        assert cell_len(s) == rich_cell_len(s), s


def test_a_solve_piped_imports_nothing_of_rich(tmp_path):
    # hw1's tables (σ, ∂, −, ⊙, ᵀ, ✓ …) are measured without rich and no line needs breaking
    import subprocess
    import sys
    code = ("import sys; from gradcalc.cli import cli\n"
            "try:\n    cli.main(['solve', 'problems/hw1.yaml', '--method', 'autograd'])\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'), file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       env={**__import__("os").environ, "COLUMNS": "100"})
    assert "Backward pass" in p.stdout
    assert p.stderr.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("seed", range(3))
def test_line_breaks_are_rich_s(seed):
    from rich._wrap import divide_line
    from gradcalc.render.plain import _divide_line
    rng = random.Random(seed)
    letters = list("abc xyz    0.5e-3") + list("∂↔≈✓−·⁽⁾ᵢⱼ₁σ×…—ᵀ") + ["参", "\u0302"]
    for _ in range(3000):
        text = "".join(rng.choice(letters) for _ in range(rng.randint(0, 90)))
        width = rng.randint(1, 40)
        assert _divide_line(text, width) == divide_line(text, width, fold=True), (text, width)
