"""Tables that fit the console without cutting a word.

The console (rich) narrows the widest columns first and then folds whatever no longer fits,
in the middle of a number, a path or a formula token.  Here a table that is too wide is
instead wrapped by us at the spaces between words, each column given at least its longest
word; when even the longest words do not fit side by side, the table is stacked (one line per
column, "column: value")."""
from __future__ import annotations

import re

from gradcalc.render.tables import Table

_AFTER_DOT = re.compile(r"(?<=·)")

_EDGES = 2          # box SIMPLE_HEAVY: one blank cell at each edge, one between columns


def _pieces(word: str) -> list[str]:
    """A word cut after each "·" (a product of long formula factors may break there)."""
    return [p for p in _AFTER_DOT.split(word) if p]


def _longest_word(text: str, measure) -> int:
    """The widest piece that cannot be broken: a word (or a piece of a "·" product), or the
    indent of a line with its first word (the rows of a matrix stay aligned)."""
    text = str(text)
    cell_len = measure(text)
    if cell_len is len:      # one cell a character; a word without "·" is its own piece
        longest = max((len(w) if "·" not in w else max(map(len, _pieces(w)))
                       for w in text.split()), default=0)
    else:
        longest = max((cell_len(p) for w in text.split() for p in _pieces(w)), default=0)
    for line in str(text).split("\n"):
        words = line.split()
        if words:
            indent = len(line) - len(line.lstrip(" "))
            longest = max(longest, indent + cell_len(_pieces(words[0])[0]))
    return longest


def _longest_line(text: str, measure) -> int:
    text = str(text)
    cell_len = measure(text)
    return max((cell_len(line) for line in text.split("\n")), default=0)


def _wrap_line(line: str, width: int, measure) -> list[str]:
    """Greedy word wrap of one line at its spaces (and, inside a word too long for the line,
    after a "·"); continuation lines keep the line's indent."""
    indent = line[:len(line) - len(line.lstrip(" "))]
    cell_len = measure(line)
    if cell_len is not len:
        return _wrap_line_measured(line, indent, width, cell_len)
    # every character one cell wide: lengths add up, and the line's length is kept as it grows
    words = line.split()
    if not words:
        return [line]
    if max(map(len, words)) > width:   # a word too long for the line: cut after its "·"
        units = []                                   # (joiner, text)
        for word in words:
            parts = _pieces(word) if len(word) > width else [word]
            units += [(" " if k == 0 else "", p) for k, p in enumerate(parts)]
    else:
        units = [(" ", w) for w in words]
    out, cur = [], [indent, units[0][1]]
    n, lead = len(indent) + len(units[0][1]), len(indent)
    for joiner, u in units[1:]:
        m = len(u)
        if n + len(joiner) + m <= width:
            cur += (joiner, u)
            n += len(joiner) + m
        else:
            out.append("".join(cur))
            cur, n = ([indent, u], lead + m) if lead + m <= width else ([u], m)
    out.append("".join(cur))
    return out


def _wrap_line_measured(line: str, indent: str, width: int, cell_len) -> list[str]:
    """_wrap_line with every piece measured as it is (wide characters, zero-width joiners)."""
    units = []                                   # (joiner, text)
    for word in line.split():
        parts = _pieces(word) if cell_len(word) > width else [word]
        units += [(" " if k == 0 else "", p) for k, p in enumerate(parts)]
    if not units:
        return [line]
    out, cur = [], indent + units[0][1]
    for joiner, u in units[1:]:
        if cell_len(cur) + len(joiner) + cell_len(u) <= width:
            cur += joiner + u
        else:
            out.append(cur)
            cur = (indent + u) if cell_len(indent + u) <= width else u
    out.append(cur)
    return out


def _wrap(text: str, width: int, measure) -> str:
    return "\n".join(piece for line in str(text).split("\n")
                     for piece in _wrap_line(line, width, measure))


def widths_for(t: Table, width: int, measure) -> list[int] | None:
    """Column widths (text only, no padding) at which every word stands whole and the table
    fits `width`; None when the longest words alone are too wide."""
    ncol = len(t.columns)
    cols = [[t.columns[j]] + [r[j] for r in t.rows] for j in range(ncol)]
    avail = width - _EDGES - (ncol - 1) - 2 * ncol
    high = [max(_longest_line(c, measure) for c in col) for col in cols]
    if sum(high) <= avail:            # fits as it is (most tables): no need to measure words
        return high
    low = [max(_longest_word(c, measure) for c in col) for col in cols]
    if sum(low) > avail:
        return None
    spare, need = avail - sum(low), [h - lo for h, lo in zip(high, low)]
    total = sum(need)
    return [lo + (spare * n) // total for lo, n in zip(low, need)]


def stacked(t: Table) -> Table:
    """The same rows with the columns after the first stacked: "column: value" lines."""
    head = t.columns[1:]
    rows = []
    for r in t.rows:
        for j, (col, cell) in enumerate(zip(head, r[1:])):
            cell = str(cell).replace("\n", "\n  ")
            rows.append([r[0] if j == 0 else "", f"{col}: {cell}" if col else cell])
    return Table(t.title, [t.columns[0], " · ".join(c for c in head if c)], rows, note=t.note,
                 kinds=["text", "text"])


def fit_table(t: Table, width: int, measure) -> Table:
    if not t.columns or any(len(r) != len(t.columns) for r in t.rows):
        return t
    widths = widths_for(t, width, measure)
    if widths is None:
        if len(t.columns) <= 2:
            return t
        return fit_table(stacked(t), width, measure)
    if all(max(_longest_line(c, measure) for c in [t.columns[j]] + [r[j] for r in t.rows])
           <= widths[j] for j in range(len(widths))):
        return t
    rows = [[_wrap(c, widths[j], measure) for j, c in enumerate(r)] for r in t.rows]
    columns = [_wrap(c, widths[j], measure) for j, c in enumerate(t.columns)]
    wrapped = Table(t.title, columns, rows, note=t.note, kinds=list(t.kinds))
    if len(t.columns) > 2:       # narrow columns wrapped to many lines: stacked reads better
        st = fit_table(stacked(t), width, measure)
        if _height(st) < _height(wrapped):
            return st
    return wrapped


def _height(t: Table) -> int:
    return sum(max(str(c).count("\n") + 1 for c in r) for r in [t.columns] + t.rows)


def fit(tables, width: int) -> list[Table]:
    """Each table as it is when it fits in `width` cells, else wrapped at its spaces (or
    stacked) so that the console never has to cut a word."""
    from gradcalc.render.plain import cell_len, narrow    # rich.cells.cell_len, lighter

    def measure(text: str):
        """How to measure the pieces of `text` (words, lines: never a newline): len when
        every other character of it is one cell wide, else rich's cell_len."""
        return len if narrow(text.replace("\n", " ") if "\n" in text else text) else cell_len
    return [fit_table(t, width, measure) for t in tables]
