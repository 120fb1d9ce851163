"""LMS roster exports (Canvas, Moodle, Blackboard, Excel): decoding, delimiter and identity columns."""
from __future__ import annotations

import csv
import io
import os
import stat
from dataclasses import dataclass

from gradcalc.csvsafe import printable
from gradcalc.errors import AnswerError
from gradcalc.grading.csvanswers import header_key, sniff_delimiter
from gradcalc.grading.submissions import decode_export

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
    try:
        return decode_export(raw)          # the same rule as answer files
    except ValueError as exc:
        raise ValueError("the roster is not a text file" if str(exc) == "binary" else
                         "the roster is not UTF-8 text; save it as 'CSV UTF-8'") from None


def read_csv_rows(text: str, delimiter: str, file: str, error=AnswerError) -> list[tuple]:
    """(line, cells) of every row of a roster (the line where the row ends); a quote that is
    never closed (it would swallow every later row into one cell) or a stray quote is an
    error naming the line where its row starts."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows, start = [], 1
    try:
        for row in reader:
            rows.append((reader.line_num, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        why = ("a quoted cell is never closed (a '\"' without its partner)"
               if "end of data" in str(exc) else f"not valid CSV ({exc})")
        raise error(why, file=file, line=start) from None
    return rows


# A class's roster is rarely over 1 MB; 16 MB (566,000 two-column rows) took 7.9 s and 370 MB
# for `grade --roster` (the 300 MB roster took 2.1 GB).
ROSTER_MAX_BYTES = 16 * 1024 * 1024


def read_roster_bytes(file: str) -> bytes:
    """A roster file's bytes: a regular file of at most ROSTER_MAX_BYTES (a FIFO or device such
    as /dev/zero is refused without reading it). UsageError (exit 2) otherwise."""
    from gradcalc.errors import UsageError
    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UsageError("the roster is not a regular file (not read)", file=file)
            raw = f.read(ROSTER_MAX_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read the roster: {exc.strerror or exc}", file=file) from None
    if len(raw) > ROSTER_MAX_BYTES:
        raise UsageError(f"the roster is larger than {ROSTER_MAX_BYTES // (1024 * 1024)} MB; "
                         "is it the right file?", file=file)
    return raw


def parse_roster(raw: bytes, file: str) -> Roster:
    """Read a roster CSV; raises AnswerError (exit 2) when it has no identity column."""
    if len(raw) > ROSTER_MAX_BYTES:
        raise AnswerError(f"the roster is larger than {ROSTER_MAX_BYTES // (1024 * 1024)} MB",
                          file=file)
    try:
        text = decode_roster(raw)
    except ValueError as exc:
        raise AnswerError(str(exc), file=file) from None
    text = text[1:] if text.startswith("\ufeff") else text
    # upload.csv gets a BOM when the roster had one (UTF-16 rosters come from Excel too)
    bom = raw.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))
    first = text.split("\n", 1)[0]
    delimiter = sniff_delimiter(first)
    rows = [cells for _, cells in read_csv_rows(text, delimiter, file)]
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


def match_roster(roster: Roster, results, key_column: str | None = None) -> tuple[int, dict]:
    """Pick the roster column whose values match the most student ids (or `key_column`);
    returns (column index, student id casefolded -> [results]).  `results` may be graded
    results or submissions: anything with a `.student`."""
    by_id: dict[str, list] = {}
    for r in results:
        by_id.setdefault(r.student.strip().casefold(), []).append(r)
    if key_column is not None:
        cols = [i for i, h in enumerate(roster.header) if h.strip() == key_column.strip()]
        if not cols:
            from gradcalc.errors import UsageError
            raise UsageError(f"no column '{key_column}' in the roster", file=roster.file, line=1)
        return cols[0], by_id

    def hits(i):
        return sum(1 for row in roster.rows if row[i].strip().casefold() in by_id)
    return max(roster.identity, key=lambda i: (hits(i), -roster.identity.index(i))), by_id


# Columns holding a student's whole name, best first (the header compared like header_key:
# case, spaces, '_' and '-' ignored); "Student" is the name in Canvas exports.  Without one,
# a first-name column and a last-name column are joined (Moodle: First name, Surname).
NAME_HEADERS = ("name", "student name", "full name", "姓名", "学生姓名", "student", "学生",
                "sortable name", "display name")
FIRST_NAME_HEADERS = ("first name", "given name", "名")
LAST_NAME_HEADERS = ("last name", "surname", "family name", "姓")


def roster_names(roster: Roster, id_col: int) -> dict[str, str]:
    """Student id (casefolded) -> the name on its roster row, for the rows that have one; an
    id on two rows gets no name (the upload gives it no grade either)."""
    keys = [header_key(h) for h in roster.header]

    def column(wanted) -> int | None:
        for w in wanted:
            w = header_key(w)
            for i, k in enumerate(keys):
                if k == w and i != id_col:
                    return i
        return None
    whole = column(NAME_HEADERS)
    parts = [c for c in (column(FIRST_NAME_HEADERS), column(LAST_NAME_HEADERS)) if c is not None]
    cols = [whole] if whole is not None else parts
    if not cols:
        return {}
    names: dict[str, str] = {}
    twice: set = set()
    for row in roster.rows:
        sid = row[id_col].strip().casefold()
        if not sid or row[0].strip() == "Points Possible":      # Canvas' second line
            continue
        if sid in names:
            twice.add(sid)
        names[sid] = printable(" ".join(row[c].strip() for c in cols if row[c].strip()), 200,
                               lines=False)      # as a name read from an answer CSV
    return {k: v for k, v in names.items() if v and k not in twice}


def fill_names(results, roster: Roster, key_column: str | None = None) -> None:
    """Give every result without a name of its own the name on its roster row (grades.csv's
    name column, the feedback's heading)."""
    col, _ = match_roster(roster, results, key_column)
    names = roster_names(roster, col)
    for r in results:
        if not r.name:
            r.name = names.get(r.student.strip().casefold(), "")
