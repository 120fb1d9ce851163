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
    if _plain_output(out):
        # not a terminal: rich would print plain characters; render/plain.py prints the same
        # ones without importing rich's console (most of the start-up time of a short command)
        from gradcalc.render.plain import render
        width = _plain_width(width)
        tables = fit(tables, width)
        text = render(tables, title, width)
        if text is None:
            import io
            buf = io.StringIO()
            print_rich(tables, title, buf, width)
            text = buf.getvalue()
        # piped output carries no padding at the ends of lines
        out.write(strip_line_ends(text))
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


def _plain_output(file) -> bool:
    """Would rich's Console print to `file` without any styling?  (Console.is_terminal is
    false, and no Jupyter, IDLE or legacy Windows console, and a UTF encoding.)"""
    import builtins
    if sys.platform == "win32" or hasattr(builtins, "get_ipython"):
        return False
    if getattr(sys.stdin, "__module__", "").startswith("idlelib"):
        return False
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    force_color = os.environ.get("FORCE_COLOR")
    if tty_compatible == "1" or (tty_compatible != "0" and force_color):
        return False
    if tty_compatible != "0" and force_color is None:
        isatty = getattr(file, "isatty", None)
        try:
            if isatty is not None and isatty():
                return False
        except ValueError:      # a closed file: rich says "not a terminal" too
            pass
    encoding = (getattr(file, "encoding", "utf-8") or "utf-8").lower()
    return encoding.startswith("utf")


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
