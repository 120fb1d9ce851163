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
