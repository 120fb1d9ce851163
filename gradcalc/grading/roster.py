"""LMS roster exports (Canvas, Moodle, Blackboard, Excel): decoding, delimiter and identity columns."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from gradcalc.errors import AnswerError
from gradcalc.grading.csvanswers import header_key, sniff_delimiter
from gradcalc.grading.submissions import MAX_BYTES

# Identity columns copied verbatim into the upload file (Canvas, Moodle, Blackboard, generic).
ROSTER_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Section",
                   "First name", "Last name", "Surname", "First Name", "Last Name", "ID number",
                   "Username", "Email address", "Email", "Student ID", "Name", "学号", "姓名", "班级")


@dataclass
class Roster:
    """An LMS export: its header, rows, which columns identify a student, and its BOM."""

    file: str
    header: list[str]
    rows: list[list[str]]
    identity: list[int]          # indices of the identity columns, in roster order
    bom: bool = False
    delimiter: str = ","


def decode_roster(raw: bytes) -> str:
    """A roster as LMS and Excel save it: UTF-16 ("Unicode text"), UTF-8 with or without the
    BOM, or GB18030 (Excel's "CSV" on Chinese Windows).  ValueError says why it is unreadable."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    if b"\x00" in raw:
        raise ValueError("the roster is not a text file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        raise ValueError("the roster is not UTF-8 text; save it as 'CSV UTF-8'") from None


def parse_roster(raw: bytes, file: str) -> Roster:
    """Read a roster CSV; raises AnswerError (exit 2) when it has no identity column."""
    if len(raw) > 50 * MAX_BYTES:
        raise AnswerError("roster too large", file=file)
    try:
        text = decode_roster(raw)
    except ValueError as exc:
        raise AnswerError(str(exc), file=file) from None
    text = text[1:] if text.startswith("\ufeff") else text
    # upload.csv gets a BOM when the roster had one (UTF-16 rosters come from Excel too)
    bom = raw.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))
    first = text.split("\n", 1)[0]
    delimiter = sniff_delimiter(first)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise AnswerError(f"CSV error: {exc}", file=file) from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise AnswerError("the roster is empty", file=file)
    header = rows[0]
    wanted = {header_key(h) for h in ROSTER_IDENTITY}
    identity = [i for i, h in enumerate(header) if header_key(h) in wanted]
    if not identity:
        raise AnswerError("no identity column in the roster header (expected some of: "
                          + ", ".join(ROSTER_IDENTITY[:6]) + " …)", file=file, line=1)
    width = len(header)
    body = [r + [""] * (width - len(r)) if len(r) < width else r for r in rows[1:]]
    return Roster(file, header, body, identity, bom, delimiter)
