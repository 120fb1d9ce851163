"""Tables as plain text for output that is not a terminal, character for character what rich
prints for them there (box SIMPLE_HEAVY), without importing rich's console (≈ 20 ms at start-up).

Only rich's cell-width and line-breaking helpers are used (rich.cells, rich._wrap, rich._ratio),
so wide (CJK) characters and word wrapping follow rich exactly, and only when needed: text whose
characters are all one cell wide in every Unicode table of rich is measured here (cell_len), a
line that fits is not divided, and columns that fit are not reduced, so that the usual tables
print without importing rich at all (≈ 3 ms of a short command); the layout below follows
rich.table.Table (column measurement, collapsing of columns that are too wide, padding, title
and caption wrapped at the table's width).  render() returns None for anything it does not
reproduce (control characters, tiny widths, a table wider than the console); the caller then
uses rich itself.  tests/render/test_plain.py compares the two on many random tables.
"""
from __future__ import annotations

import re

# characters rich treats specially (control codes it strips, tabs it expands, line separators
# its measurement splits on): such text goes to rich itself
_SPECIAL = frozenset(chr(c) for c in (*range(0, 10), *range(11, 32), *range(0x7F, 0xA0),
                                      0x2028, 0x2029))

# characters one cell wide in every Unicode version rich has tables for (tests/render/
# test_plain.py checks each against rich): rich's own single-cell ranges (Latin, Greek and
# Cyrillic, box drawing, Braille), phonetic super/subscripts (ᵀ ᵢ), punctuation (– — … ′),
# super/subscripts (⁽¹⁾ ₁), letterlike symbols (ℓ), arrows, mathematical operators (∂ − ⊙ ≈),
# Latin Extended-C (ⱼ), ✓ ✗ and 𝟙
NARROW = ((0x20, 0x7E), (0xA0, 0xAC), (0xAE, 0x2FF), (0x370, 0x482), (0x1D00, 0x1DBF),
          (0x2010, 0x2027), (0x2030, 0x205E), (0x2070, 0x209C), (0x2100, 0x214F),
          (0x2190, 0x22FF), (0x2500, 0x25FC), (0x2713, 0x2713), (0x2717, 0x2717),
          (0x2800, 0x28FF), (0x2C60, 0x2C7F), (0x1D7D9, 0x1D7D9))
_SEEN: set = set()      # the characters of NARROW met so far (not built at import: start-up)


def narrow(text: str) -> bool:
    """Is every character of `text` in NARROW?"""
    if text.isascii():
        return text.isprintable()           # 0x20 … 0x7E
    if _SEEN.issuperset(text):
        return True
    for ch in set(text).difference(_SEEN):
        code = ord(ch)
        if not any(a <= code <= b for a, b in NARROW):
            return False
        _SEEN.add(ch)
    return True


def cell_len(text: str) -> int:
    """rich.cells.cell_len(text), importing rich only for characters outside NARROW."""
    if narrow(text):
        return len(text)
    from rich.cells import cell_len as rich_cell_len
    return rich_cell_len(text)


def _set_cell_size(text: str, width: int) -> str:
    from rich.cells import set_cell_size
    return set_cell_size(text, width)


def _divide_line(line: str, width: int) -> list[int]:
    """rich._wrap.divide_line(line, width, fold=True): where rich breaks a line (a line that
    fits: nowhere), worked out here when every character is one cell wide."""
    if cell_len(line) <= width:
        return []
    if not narrow(line):
        from rich._wrap import divide_line
        return divide_line(line, width, fold=True)
    breaks, used = [], 0          # used: the cells taken on the current line
    # a word is rich's: its leading (first word only) and trailing spaces included
    for m in re.finditer(r"\s*\S+\s*", line):
        start, word = m.start(), m.group()
        length = len(word.rstrip())
        if length <= width - used:                    # fits on this line
            used += len(word)
        elif length > width:       # fits on no line: cut into pieces of `width` characters,
            cuts = range(start, start + len(word), width)    # each on a line of its own;
            breaks += [c for c in cuts if c]                 # the last one goes on
            used = start + len(word) - cuts[-1]
        elif used and start:                          # starts the next line
            breaks.append(start)
            used = len(word)
    return breaks


def _ratio_reduce(total: int, ratios: list[int], maximums: list[int], values: list[int]):
    from rich._ratio import ratio_reduce
    return ratio_reduce(total, ratios, maximums, values)


def _unstyled(text: str, sgr: str) -> str:
    return text


def _styled(text: str, sgr: str) -> str:
    """rich.style.Style.render of one segment: its SGR codes around it, nothing when empty."""
    return f"\x1b[{sgr}m{text}\x1b[0m" if text else ""


def render(tables, title: str | None, width: int, styled: bool = False) -> str | None:
    """The text rich would print for `tables` (render.tables.Table) on a console `width`
    cells wide that is not a terminal, or None when this module does not reproduce it.
    styled: what rich prints on a terminal instead (render/console.py decides which): the same
    characters with the styles of rich's default theme, each segment rich writes styled on its
    own (the title bold, a table's title italic, header cells bold, the caption dim italic)."""
    try:
        return _render(tables, title, width, _styled if styled else _unstyled)
    except ImportError:          # another rich: let rich itself do it
        return None


def _render(tables, title: str | None, width: int, paint) -> str | None:
    if width < 10:
        return None
    tools = (cell_len, _set_cell_size, _divide_line, _ratio_reduce)
    texts = [title or ""]
    for t in tables:
        texts += [t.title or "", t.note or "", *t.columns, *(c for row in t.rows for c in row)]
    if any(not isinstance(s, str) or not _SPECIAL.isdisjoint(s) for s in texts):
        return None
    out = []
    if title:
        out += [paint(line, "1") for line in _wrap(title, width, None, tools)]
        out.append("")
    for t in tables:
        lines = _table(t, width, tools, paint)
        if lines is None:
            return None
        out += lines
        out.append("")
    return "".join(line + "\n" for line in out)


def _wrap(text: str, width: int, justify: str | None, tools) -> list[str]:
    """rich.text.Text.wrap with overflow "fold": word wrap, words longer than the line folded,
    then justified ("left" pads to `width`, "right" right-aligns, None leaves the line)."""
    cell_len, set_cell_size, divide_line, _ = tools
    out = []
    for line in text.split("\n"):
        offsets = divide_line(line, width)
        bounds = [0, *offsets, len(line)]
        pieces = [line[a:b] for a, b in zip(bounds, bounds[1:])]
        # a line of one-cell characters: its pieces (cropped or padded with spaces) too
        measure = len if narrow(line) else cell_len
        for piece in pieces:
            if len(piece) > width:           # Text.rstrip_end: counts characters, not cells
                excess = len(piece) - width
                stripped = piece.rstrip()
                crop = min(len(piece) - len(stripped), excess)
                if crop:
                    piece = piece[:-crop]
            if justify == "right":
                piece = piece.rstrip()
                if measure(piece) > width:
                    piece = set_cell_size(piece, width)
                piece = " " * (width - measure(piece)) + piece
            else:
                n = measure(piece)
                if n > width:
                    piece = set_cell_size(piece, width)
                elif justify == "left" and n < width:
                    piece += " " * (width - n)
            if measure(piece) > width:       # the final truncate of Text.wrap
                piece = set_cell_size(piece, width)
            out.append(piece)
    return out


def _measure(text: str, avail: int, cell_len) -> tuple[int, int]:
    """Measurement.get of a cell (the text in a Padding of one space each side)."""
    if avail < 1:
        return 0, 0
    if avail - 2 < 1:
        lo, hi = avail, avail
    else:
        if narrow(text.replace("\n", " ")):    # every line and word one cell a character
            cell_len = len
        lines = text.splitlines()
        hi = max(map(cell_len, lines), default=0)
        words = text.split()
        lo = max(map(cell_len, words)) if words else hi
        lo, hi = _norm(lo, hi)
        lo, hi = min(lo, avail), min(hi, avail)
        if hi < 1:
            lo, hi = 0, 0
        else:
            lo, hi = _norm(lo, hi)
        lo, hi = min(lo + 2, avail), min(hi + 2, avail)
    lo, hi = _norm(lo, hi)
    lo, hi = min(lo, avail), min(hi, avail)
    if hi < 1:
        return 0, 0
    return _norm(lo, hi)


def _norm(lo: int, hi: int) -> tuple[int, int]:
    lo = min(max(0, lo), hi)
    return max(0, lo), max(0, max(lo, hi))


def _column(cells: list[str], avail: int, cell_len) -> tuple[int, int]:
    if avail < 1:
        return 0, 0
    ms = [_measure(c, avail, cell_len) for c in cells]
    lo = max(m[0] for m in ms) if ms else 1
    hi = max(m[1] for m in ms) if ms else avail
    return min(lo, avail), min(hi, avail)


def _collapse(widths: list[int], max_width: int, ratio_reduce) -> list[int]:
    """rich.table.Table._collapse_widths with every column wrapable."""
    total = sum(widths)
    excess = total - max_width
    while total and excess > 0:
        top = max(widths)
        second = max((w if w != top else 0) for w in widths)
        diff = top - second
        ratios = [1 if w == top else 0 for w in widths]
        if not any(ratios) or not diff:
            break
        widths = ratio_reduce(excess, ratios, [min(excess, diff)] * len(widths), widths)
        total = sum(widths)
        excess = total - max_width
    return widths


def _widths(cols: list[list[str]], avail: int, cell_len, ratio_reduce) -> list[int]:
    """rich.table.Table._calculate_column_widths for columns of text cells."""
    widths = [(_column(c, avail, cell_len)[1] or 1) for c in cols]
    if sum(widths) > avail:
        widths = _collapse(widths, avail, ratio_reduce)
        if sum(widths) > avail:
            widths = ratio_reduce(sum(widths) - avail, [1] * len(cols), widths, widths)
        widths = [(_column(c, w, cell_len)[1] or 0) for c, w in zip(cols, widths)]
    return widths


def _table(t, width: int, tools, paint) -> list[str] | None:
    cell_len, _, _, ratio_reduce = tools
    ncol = len(t.columns)
    if ncol == 0:
        return None
    kinds = t.kinds or ["text"] * ncol
    rows = [list(r) for r in t.rows]
    if any(len(r) != ncol for r in rows) or len(kinds) != ncol:
        return None
    cols = [[t.columns[j]] + [r[j] for r in rows] for j in range(ncol)]
    extra = 2 + (ncol - 1)
    widths = _widths(cols, width - extra, cell_len, ratio_reduce)
    table_width = sum(widths) + extra
    if table_width > width or min(widths) < 3:
        return None           # rich would crop or squeeze: let it
    out = []
    if t.title:
        out += [paint(line, "3") for line in _wrap(t.title, table_width, "left", tools)]
    out.append(" " * table_width)                 # the (blank) top edge
    body = [t.columns] + rows
    edge = paint(" ", "1")         # a header cell's padding: a segment of its own
    for r, row in enumerate(body):
        cells = []
        for j, text in enumerate(row):
            just = "right" if kinds[j] == "num" else "left"
            pieces = _wrap(text, widths[j] - 2, just, tools)
            cells.append([edge + paint(s, "1") + edge for s in pieces] if r == 0 else
                         [" " + s + " " for s in pieces])
        height = max(len(c) for c in cells)
        for j, c in enumerate(cells):
            blank = [paint(" " * widths[j], "1") if r == 0 else " " * widths[j]] * (height - len(c))
            cells[j] = blank + c if r == 0 else c + blank    # header at the bottom, rows on top
        for k in range(height):
            out.append(" " + " ".join(c[k] for c in cells) + " ")
        if r == 0:
            out.append(" " + "━" * (table_width - 2) + " ")
    out.append(" " * table_width)                 # the (blank) bottom edge
    if t.note:
        out += [paint(line, "2;3") for line in _wrap(t.note, table_width, "left", tools)]
    return out
