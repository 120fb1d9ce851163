"""CSV that is safe to open in a spreadsheet: one writer and one rule against formula injection."""
from __future__ import annotations

import csv
import re

_NUMERIC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# C0 controls but tab, CR and LF; DEL; C1 controls (an ESC sequence recolours a terminal, a
# NUL truncates some readers): shown as U+FFFD wherever student or roster text is written
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_ALL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text, limit: int | None = None, *, lines: bool = True) -> str:
    """Text from a student or a roster, safe to write: control characters replaced by U+FFFD
    (with lines=False also tab, CR and LF, by a space), and at most `limit` characters (the
    rest shown as '…')."""
    text = "" if text is None else str(text)
    if text.isprintable() and (limit is None or len(text) <= limit):
        return text                      # the common case: nothing to replace or clip
    if not lines:
        text = text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ").replace("\t", " ")
    text = (_CONTROL if lines else _CONTROL_ALL).sub("\ufffd", text)
    if limit is not None and len(text) > limit:
        text = text[:limit - 1] + "…"
    return text


def escape_cell(text) -> str:
    """Against CSV formula injection: a cell starting with = + - @ (or tab, CR) gets a leading
    apostrophe, unless it is a plain number such as -0.5."""
    text = "" if text is None else str(text)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMERIC.fullmatch(text):
        return "'" + text
    return text


CELL_LIMIT = 10_000          # characters of one cell (a 5 MB "name" is not copied whole)


def csv_text(rows, delimiter: str = ",", newline: str = "\r\n", escape: bool = True,
             quote_all: bool = False) -> str:
    """THE writer of every CSV gradcalc writes: each cell formula-escaped (escape_cell), and
    control characters replaced (printable), at most CELL_LIMIT characters, and
    every cell holding a CR or LF quoted whatever the line ending (csv.writer quotes only the
    characters of its own line terminator, so with "\\n" a bare CR in a student id would start
    a new spreadsheet row such as "=1+1"). `newline` is the row ending ("\\r\\n" as RFC 4180,
    or "\\n"); `escape=False` leaves cells as they are (numbers and names gradcalc made);
    `quote_all` puts every cell inside quotes (Blackboard asks it of comma-delimited files)."""
    lines: list[str] = []
    # lineterminator "\r\n" makes the csv module quote a cell holding either character
    writer = csv.writer(_Lines(lines), delimiter=delimiter, lineterminator="\r\n",
                        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    for row in rows:
        writer.writerow([escape_cell(printable(c, CELL_LIMIT)) for c in row] if escape else
                        ["" if c is None else str(c) for c in row])
    if newline == "\r\n":
        return "".join(lines)
    return "".join(line[:-2] + newline for line in lines)


class _Lines:
    """A file-like sink for csv.writer: one string per row."""

    def __init__(self, lines: list):
        self.write = lines.append
