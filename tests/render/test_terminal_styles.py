"""On a terminal, print_tables writes render/plain.py's text with the styles rich adds, and it
must be byte for byte what rich writes there: the reference is rich itself, a Console with
make_console's settings, force_terminal=True and color_system="standard" (what a terminal
gives it) printing render.console.print_rich's tables into a StringIO."""
import io
import random
import sys
from pathlib import Path

import pytest

from gradcalc.render import console
from gradcalc.render.fit import fit
from gradcalc.render.plain import render
from gradcalc.render.tables import Table
from random_tables import random_tables, random_text   # tests/render/ is on the path

ROOT = Path(__file__).resolve().parents[2]
# every shipped problem that solves (a variant template is not a problem until drawn)
PROBLEMS = sorted(p for p in (ROOT / "problems").glob("*.yaml") if "template" not in p.name)

# ASCII with runs of spaces, our tables' symbols, wide (CJK) characters, emoji (wide, with a
# skin-tone modifier, a variation selector), a combining accent, a zero-width space, newlines
ALPHABET = (list("abcdefghij xyz   0123456789.-e") + list("∂↔≈✓✗−·⁽⁾¹²ᵢⱼ₁₂σ×…—ᵀ⊙")
            + list("中文参数一致梯度") + ["😀", "🎉", "👍🏽", "✅", "❤️", "\u0302", "\u200b"]
            + ["\n"])
WIDTHS = [10, 12, 16, 20, 24, 32, 40, 60, 80, 100, 137]


def _rich_terminal(tables, title, width, **env) -> str:
    """What rich writes for print_rich(tables, title) on a terminal `width` cells wide."""
    from rich.console import Console
    buf = io.StringIO()
    original = console.make_console

    def make(file=None, width=None):
        return Console(file=file, markup=False, emoji=False, highlight=False, width=width,
                       soft_wrap=False, force_terminal=True, color_system="standard", **env)
    console.make_console = make
    try:
        console.print_rich(tables, title, buf, width)
    finally:
        console.make_console = original
    return buf.getvalue()


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def terminal_env(monkeypatch):
    """An ordinary terminal's environment: none of the variables that change rich's mind."""
    for name in ("TTY_COMPATIBLE", "FORCE_COLOR", "NO_COLOR", "TTY_INTERACTIVE", "COLUMNS",
                 "COLORTERM", "LINES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    return monkeypatch


PRINT_TABLES = console.print_tables      # the real one (a test below records the CLI's calls)


def _on_terminal(tables, title, width) -> str:
    out = Terminal()
    PRINT_TABLES(tables, title, file=out, width=width)
    return out.getvalue()


LENGTHS = [0, 0, 1, 2, 3, 5, 8, 13, 30, 60, 120]


def _text(rng):
    return random_text(rng, ALPHABET, LENGTHS)


def _tables(rng):
    return random_tables(rng, ALPHABET, LENGTHS, 6)


def test_the_styles_are_the_ones_the_brief_describes():
    # written out by hand from `script -c "gradcalc solve …" | cat -v` on a terminal
    tables = [Table("T", ["name", "value"], [["x", "1.5"]], note="a note", kinds=["text", "num"])]
    text = render(tables, "Title", 20, styled=True)
    B, I, D, E = "\x1b[1m", "\x1b[3m", "\x1b[2;3m", "\x1b[0m"
    assert text.split("\n")[:7] == [
        f"{B}Title{E}", "", f"{I}T" + " " * 15 + E, " " * 16,
        f" {B} {E}{B}name{E}{B} {E} {B} {E}{B}value{E}{B} {E} ", " " + "━" * 14 + " ",
        "  x        1.5  "]
    assert text.split("\n")[8] == f"{D}a note" + " " * 10 + E
    assert render(tables, "Title", 20) == text.replace(B, "").replace(I, "").replace(
        D, "").replace(E, "")


@pytest.mark.parametrize("seed", range(5))
def test_same_bytes_as_rich_on_random_tables(seed):
    rng = random.Random(seed)
    compared = 0
    for _ in range(700):
        tables = _tables(rng)
        title = _text(rng) if rng.random() < 0.4 else None
        width = rng.choice(WIDTHS)
        text = render(tables, title, width, styled=True)
        if text is None:          # handed to rich (too narrow, control characters)
            continue
        compared += 1
        assert text == _rich_terminal(tables, title, width), (tables, title, width)
    assert compared > 400         # 5 seeds: more than 2,000 tables compared in all


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_same_bytes_as_rich_for_every_shipped_problem(lang, terminal_env):
    import os
    from click.testing import CliRunner
    from gradcalc.cli import cli
    calls = []
    terminal_env.setattr(console, "print_tables",
                         lambda tables, title=None, **kw: calls.append((tables, title)))
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        for path in PROBLEMS:
            argv = ["solve", f"problems/{path.name}"]
            if lang == "zh":
                argv += ["--lang", "zh", "--method", "autograd"]
            r = CliRunner().invoke(cli, argv)
            assert r.exit_code == 0 and calls, (path.name, r.output)
            tables, title = calls.pop()
            for width in (80, 120):
                fitted = fit(tables, width)
                assert render(fitted, title, width, styled=True) is not None, path.name
                expected = _rich_terminal(fitted, title, width)
                assert _on_terminal(tables, title, width) == expected, (path.name, width)
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("width", [50, 80, 120])
def test_same_bytes_as_rich_on_the_check_tables(width, terminal_env):
    from gradcalc.compare.methods import check_problem
    from gradcalc.render.check import check_tables, summary_table
    reps = [check_problem(str(ROOT / "problems" / name)) for name in
            ("hw1.yaml", "lecture_scalar.yaml", "hinge.yaml", "softmax_ce.yaml", "conv1d.yaml")]
    for lang in ("en", "zh"):
        tables = [t for r in reps for t in check_tables(r, lang, 6, True)]
        tables.append(summary_table(reps, lang))
        fitted = fit(tables, width)
        assert render(fitted, "gradcalc check", width, styled=True) is not None
        assert (_on_terminal(tables, "gradcalc check", width)
                == _rich_terminal(fitted, "gradcalc check", width))


def test_what_the_styled_path_cannot_print_goes_to_rich(terminal_env):
    for cell in ("tab\there", "bell\a", "line\u2028sep"):
        tables = [Table("T", ["a"], [[cell]])]
        assert render(tables, None, 80, styled=True) is None
        assert _on_terminal(tables, None, 80) == _rich_terminal(tables, None, 80)
    narrow = [Table("T", ["a", "b", "c"], [["long words here", "x", "y"]])]
    assert render(narrow, None, 8, styled=True) is None
    assert _on_terminal(narrow, None, 8) == _rich_terminal(fit(narrow, 8), None, 8)


def _rich_console(file):
    """make_console's Console on `file`, rich detecting everything itself."""
    return console.make_console(file)


ENV_CASES = [
    # (environment, file is a tty, what print_tables does)
    ({}, True, "styled"),
    ({}, False, "plain"),
    ({"TERM": "dumb"}, True, "rich"),
    ({"TERM": "unknown"}, True, "rich"),
    ({"TERM": "DUMB"}, True, "rich"),
    ({"TERM": ""}, True, "styled"),
    ({"TERM": "xterm"}, True, "styled"),
    ({"TERM": "linux", "COLORTERM": "truecolor"}, True, "styled"),
    ({"FORCE_COLOR": "1"}, False, "styled"),
    ({"FORCE_COLOR": "0"}, False, "styled"),       # force-color.org: any non-empty value
    ({"FORCE_COLOR": ""}, True, "plain"),
    ({"TTY_COMPATIBLE": "0"}, True, "plain"),
    ({"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, True, "plain"),
    ({"TTY_COMPATIBLE": "1"}, False, "styled"),
    ({"TTY_COMPATIBLE": "1", "FORCE_COLOR": ""}, False, "styled"),
    ({"TTY_COMPATIBLE": "2"}, True, "styled"),
    ({"NO_COLOR": "1"}, True, "styled"),
    ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, False, "styled"),
    ({"TTY_INTERACTIVE": "0"}, True, "styled"),
    ({"TTY_INTERACTIVE": "1"}, False, "plain"),
    ({"COLUMNS": "50"}, True, "styled"),
    ({"COLUMNS": "200", "LINES": "10"}, True, "styled"),
    ({"FORCE_COLOR": "1", "TERM": "dumb"}, False, "rich"),
]


@pytest.mark.parametrize("env,tty,kind", ENV_CASES)
def test_the_terminal_is_detected_as_rich_detects_it(env, tty, kind, terminal_env):
    for name, value in env.items():
        terminal_env.setenv(name, value)
    f = Terminal() if tty else io.StringIO()
    assert console._output_kind(f) == kind
    rc = _rich_console(io.StringIO() if not tty else Terminal())
    if kind == "plain":
        assert not rc.is_terminal
    elif kind == "styled":
        assert rc.is_terminal and rc.color_system is not None
    else:
        assert rc.is_terminal and rc.color_system is None     # a dumb terminal
    # and what is written is what rich writes there (piped: without the line ends' padding)
    tables = [Table("Gradients ∂L/∂W 梯度", ["name", "value"],
                    [["W₁", "−0.25"], ["long words that wrap " * 4, "1e-3"], ["", ""]],
                    note="a note\non two lines", kinds=["text", "num"])]
    console.print_tables(tables, "Title", file=f)
    ref = Terminal() if tty else io.StringIO()
    console.print_rich(fit(tables, _rich_console(ref).width), "Title", ref)
    expected = ref.getvalue()
    if kind == "plain":
        expected = console.strip_line_ends(expected)
    assert f.getvalue() == expected
    if kind == "styled":
        assert "\x1b[1m" in expected and "\x1b[3m" in expected


def test_jupyter_idle_windows_and_other_encodings_go_to_rich(terminal_env):
    import builtins
    assert console._output_kind(Terminal()) == "styled"
    terminal_env.setattr(builtins, "get_ipython", lambda: None, raising=False)
    assert console._output_kind(Terminal()) == "rich"
    terminal_env.delattr(builtins, "get_ipython")

    class Idle:
        __module__ = "idlelib.run"
    terminal_env.setattr(sys, "stdin", Idle())
    assert console._output_kind(Terminal()) == "rich"
    terminal_env.undo()
    terminal_env.setenv("TERM", "xterm")
    terminal_env.setattr(sys, "platform", "win32")
    assert console._output_kind(Terminal()) == "rich"
    terminal_env.undo()

    class Latin1(Terminal):
        encoding = "latin-1"
    assert console._output_kind(Latin1()) == "rich"

    class Closed(io.StringIO):
        def isatty(self):
            raise ValueError("I/O operation on closed file")
    terminal_env.delenv("FORCE_COLOR", raising=False)
    terminal_env.delenv("TTY_COMPATIBLE", raising=False)
    assert console._output_kind(Closed()) == "plain"


def test_a_solve_on_a_terminal_imports_nothing_of_rich():
    # hw1's tables on a (pseudo-)terminal: TTY_COMPATIBLE=1 makes stdout one for rich too
    import os
    import subprocess
    code = ("import sys; from gradcalc.cli import cli\n"
            "try:\n    cli.main(['solve', 'problems/hw1.yaml', '--method', 'autograd'])\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'), file=sys.stderr)")
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(COLUMNS="100", TTY_COMPATIBLE="1", TERM="xterm")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       env=env)
    assert "\x1b[1mBackward pass" in p.stdout or "\x1b[3mBackward pass" in p.stdout
    assert p.stderr.strip().splitlines()[-1] == "[]"
