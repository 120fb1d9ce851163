"""The one place that owns the rich Console (markup, emoji and highlighting off)."""
from __future__ import annotations

import os
import sys


def make_console(file=None, width: int | None = None):
    from rich.console import Console
    if width is None and os.environ.get("COLUMNS", "").isdigit():
        width = int(os.environ["COLUMNS"])
    return Console(file=file or sys.stdout, markup=False, emoji=False, highlight=False,
                   width=width, soft_wrap=False)


def print_tables(tables, title: str | None = None, file=None, width: int | None = None) -> None:
    """Rich tables on a terminal; the same without colour codes when piped."""
    from gradcalc.render.fit import fit
    out = file or sys.stdout
    kind = _output_kind(out)
    if kind != "rich":
        # rich would print plain characters (not a terminal) or the same ones with bold, italic
        # and dim codes (a terminal); render/plain.py prints them without importing rich's
        # console (most of the start-up time of a short command) nor rendering rich's tables
        from gradcalc.render.plain import render
        width = _plain_width(width)
        tables = fit(tables, width)
        text = render(tables, title, width, styled=kind == "styled")
        if text is None and kind == "styled":     # rich itself, writing to this terminal
            print_rich(tables, title, file, width)
            return
        if text is None:
            import io
            buf = io.StringIO()
            print_rich(tables, title, buf, width)
            text = buf.getvalue()
        if kind == "plain":        # piped output carries no padding at the ends of lines
            text = strip_line_ends(text)
        out.write(text)
        out.flush()
        return
    console = make_console(file, width)
    print_rich(fit(tables, console.width), title, file, width)


def strip_line_ends(text: str) -> str:
    """`text` without spaces at the ends of its lines ("\n" only: a cell's U+2028 stays)."""
    return "\n".join(line.rstrip(" ") for line in text.split("\n"))


def print_rich(tables, title: str | None = None, file=None, width: int | None = None) -> None:
    """print_tables through rich itself."""
    from rich import box
    from rich.table import Table as RichTable
    console = make_console(file, width)
    if title:
        console.print(title, style="bold")
        console.print()
    for t in tables:
        rt = RichTable(title=t.title, box=box.SIMPLE_HEAVY, title_justify="left",
                       caption=t.note or None, caption_justify="left", show_lines=False)
        kinds = t.kinds or ["text"] * len(t.columns)
        for col, kind in zip(t.columns, kinds):
            rt.add_column(col, justify="right" if kind == "num" else "left", overflow="fold")
        for row in t.rows:
            rt.add_row(*row)
        console.print(rt)
        console.print()


def _output_kind(file) -> str:
    """What rich's Console (make_console's settings) would write to `file`: "plain" (not a
    terminal: the characters of render/plain.py), "styled" (a terminal with a colour system:
    those characters with bold, italic and dim codes, render.plain.render(styled=True)), or
    "rich" (Jupyter, IDLE, Windows, a dumb terminal, an encoding other than UTF: rich itself).
    Follows rich.console.Console: is_terminal, is_dumb_terminal, _detect_color_system.
    NO_COLOR (rich drops colours, keeps bold, italic and dim), TTY_INTERACTIVE (live
    displays only), COLORTERM and TERM's colour count (which colours, none used) change
    nothing that print_tables writes."""
    import builtins
    if sys.platform == "win32" or hasattr(builtins, "get_ipython"):
        return "rich"
    if getattr(sys.stdin, "__module__", "").startswith("idlelib"):
        return "rich"
    encoding = (getattr(file, "encoding", "utf-8") or "utf-8").lower()
    if not encoding.startswith("utf"):
        return "rich"
    if not _is_terminal(file):
        return "plain"
    if os.environ.get("TERM", "").lower() in ("dumb", "unknown"):
        return "rich"           # no colour system: rich pads lines but writes no styles
    return "styled"


def _is_terminal(file) -> bool:
    """rich.console.Console.is_terminal (once Jupyter and IDLE are ruled out)."""
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return tty_compatible == "1"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color != ""
    isatty = getattr(file, "isatty", None)
    try:
        return False if isatty is None else bool(isatty())
    except ValueError:      # a closed file: rich says "not a terminal" too
        return False


def _plain_width(width: int | None) -> int:
    """rich's Console.size width for a console that is not a terminal."""
    if width is not None:
        return width
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)
    found = None
    for fd in (0, 1, 2):      # rich asks stdin, stdout and stderr, in this order
        try:
            found = os.get_terminal_size(fd)[0]
        except (AttributeError, ValueError, OSError):
            continue
        break
    return found or 80
