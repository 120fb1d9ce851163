"""CSV that is safe to open in a spreadsheet: one writer and one rule against formula injection."""
from __future__ import annotations

import csv
import re

_NUMERIC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def escape_cell(text) -> str:
    """Against CSV formula injection: a cell starting with = + - @ (or tab, CR) gets a leading
    apostrophe, unless it is a plain number such as -0.5."""
    text = "" if text is None else str(text)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMERIC.fullmatch(text):
        return "'" + text
    return text


def csv_text(rows, delimiter: str = ",", newline: str = "\r\n", escape: bool = True) -> str:
    """THE writer of every CSV gradcalc writes: each cell formula-escaped (escape_cell), and
    every cell holding a CR or LF quoted whatever the line ending (csv.writer quotes only the
    characters of its own line terminator, so with "\\n" a bare CR in a student id would start
    a new spreadsheet row such as "=1+1"). `newline` is the row ending ("\\r\\n" as RFC 4180,
    or "\\n"); `escape=False` leaves cells as they are (numbers and names gradcalc made)."""
    lines: list[str] = []
    # lineterminator "\r\n" makes the csv module quote a cell holding either character
    writer = csv.writer(_Lines(lines), delimiter=delimiter, lineterminator="\r\n")
    for row in rows:
        writer.writerow([escape_cell(c) for c in row] if escape else
                        ["" if c is None else str(c) for c in row])
    if newline == "\r\n":
        return "".join(lines)
    return "".join(line[:-2] + newline for line in lines)


class _Lines:
    """A file-like sink for csv.writer: one string per row."""

    def __init__(self, lines: list):
        self.write = lines.append
