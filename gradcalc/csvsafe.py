"""CSV cells safe to open in a spreadsheet: one rule against formula injection for every CSV."""
from __future__ import annotations

import re

_NUMERIC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def escape_cell(text) -> str:
    """Against CSV formula injection: a cell starting with = + - @ (or tab, CR) gets a leading
    apostrophe, unless it is a plain number such as -0.5."""
    text = "" if text is None else str(text)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMERIC.fullmatch(text):
        return "'" + text
    return text
