"""LMS roster exports: reading the CSV, detecting the id and name columns, file names."""
from __future__ import annotations

from dataclasses import dataclass, field

from gradcalc.errors import UsageError
from gradcalc.variants.draw import normalize_id

# Header names (case, spaces, '_' and '-' ignored) that hold the student id, best first.
# "student" alone comes last: in Canvas exports it is the *name* column, next to ID columns.
ID_HEADERS = ("student id", "studentid", "student number", "student no", "学号", "学生学号",
              "学生编号", "sis user id", "sis login id", "login id", "user id", "id", "username",
              "用户名", "student", "学生")
# The name column: grading.roster.NAME_HEADERS (one rule for every roster gradcalc reads).


def _norm_header(h: str) -> str:
    return " ".join(h.replace("_", " ").replace("-", " ").split()).casefold()


@dataclass
class Roster:
    """An LMS roster export: every column kept, the id and name columns detected."""

    file: str
    columns: list[str]
    id_column: str
    name_column: str | None
    rows: list[dict]                       # column -> cell text, in file order
    lines: list[int]                       # line of each row
    skipped: list[str] = field(default_factory=list)   # why rows were skipped

    def ids(self) -> list[str]:
        return [normalize_id(r[self.id_column]) for r in self.rows]

    def name(self, row: dict) -> str:
        return row.get(self.name_column, "") if self.name_column else ""


def _decode_roster(raw: bytes, file: str) -> str:
    from gradcalc.grading.roster import decode_roster     # one rule for every roster gradcalc reads
    try:
        return decode_roster(raw)
    except ValueError as exc:
        raise UsageError(str(exc), file=file) from None


def read_roster(path, id_column: str | None = None) -> Roster:
    """Read a roster CSV (comma, semicolon or tab separated; UTF-8 with or without BOM)."""
    from gradcalc.grading.roster import read_roster_bytes   # capped; never a FIFO or device
    file = str(path)
    raw = read_roster_bytes(file)
    return parse_roster(_decode_roster(raw, file), file, id_column)


def parse_roster(text: str, file: str = "<roster>", id_column: str | None = None) -> Roster:
    from gradcalc.grading.csvanswers import sniff_delimiter
    from gradcalc.grading.roster import read_csv_rows   # strict: an unclosed quote is an error
    text = text[1:] if text.startswith("\ufeff") else text
    delim = sniff_delimiter(text.split("\n", 1)[0])
    all_rows = read_csv_rows(text, delim, file, UsageError)
    if not all_rows:
        raise UsageError("the roster is empty", file=file)
    header, reader = all_rows[0][1], all_rows[1:]
    header = [h.strip() for h in header]
    if not any(header):
        raise UsageError("the roster's first line must name the columns", file=file, line=1)
    seen = set()
    for h in header:
        if h and h in seen:
            raise UsageError(f"column '{h}' appears twice in the header", file=file, line=1)
        seen.add(h)
    id_col = _pick_id_column(header, id_column, file)
    normed = {_norm_header(h): h for h in reversed(header)}
    from gradcalc.grading.roster import NAME_HEADERS
    name_col = next((normed[n] for n in NAME_HEADERS if n in normed and normed[n] != id_col), None)
    rows, lines, skipped = [], [], []
    where: dict[str, int] = {}
    for line, cells in reader:
        if not any(c.strip() for c in cells):
            continue
        row = {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header)}
        sid = normalize_id(row[id_col])
        if not sid:
            label = next((c.strip() for c in cells if c.strip()), "")
            skipped.append(f"line {line}: no {id_col} ({label})")
            continue
        if sid in where:
            raise UsageError(f"student id '{sid}' appears twice (lines {where[sid]} and {line})",
                             file=file, line=line, field=id_col)
        where[sid] = line
        rows.append(row)
        lines.append(line)
    if not rows:
        raise UsageError(f"the roster has no students (no row with a {id_col})", file=file)
    return Roster(file, header, id_col, name_col, rows, lines, skipped)


def _pick_id_column(header: list[str], wanted: str | None, file: str) -> str:
    if wanted is not None:
        for h in header:
            if h == wanted.strip() or _norm_header(h) == _norm_header(wanted):
                return h
        raise UsageError(f"no column '{wanted}' in the roster; columns: {', '.join(header)}",
                         file=file, line=1)
    normed = {}
    for h in header:
        normed.setdefault(_norm_header(h), h)
    for cand in ID_HEADERS:
        if cand in normed:
            return normed[cand]
    raise UsageError("cannot tell which column holds the student id (looked for "
                     f"{', '.join(repr(c) for c in ID_HEADERS[:6])}, 'ID' …); name it with "
                     f"--id-column; columns: {', '.join(header)}", file=file, line=1)
