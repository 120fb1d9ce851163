"""CSV quiz exports (a row per student, a column per quantity or entry), delimiter sniffing, header keys."""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from pathlib import Path

import numpy as np

from gradcalc.csvsafe import printable
from gradcalc.errors import AnswerError
from gradcalc.grading.quantities import QuantitySchema
from gradcalc.grading.rubric import parse_time
from gradcalc.grading.submissions import (Submission, add_answer, broken_submission, decode_text,
                                          set_entry, unknown_quantities_text)
from gradcalc.grading.values import shorten

# CSV headers that hold the student id / name (compared case- and space-insensitively)
CSV_ID_HEADERS = ("student", "id", "studentid", "student_id", "sisuserid", "username", "login",
                  "学号")
CSV_NAME_HEADERS = ("name", "studentname", "fullname", "姓名")
# the LMS export's submission time (Canvas "submitted", Moodle "Completed", Google Forms "Timestamp")
CSV_TIME_HEADERS = ("submitted", "submittedat", "timestamp", "completed", "提交时间")


def sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def header_key(h: str) -> str:
    return re.sub(r"[\s_\-]", "", unicodedata.normalize("NFKC", h)).casefold()


def read_csv_bytes(raw: bytes, schema: QuantitySchema, source: str, stem: str = "") -> list[Submission]:
    """A quiz export: a row per student; `student`, optional `name`, then one column per
    quantity (a whole vector in one cell) or per entry (`dW1[1,2]`, 1-based)."""
    stem = stem or Path(source).stem
    try:
        text = decode_text(raw)
    except AnswerError as exc:
        return [broken_submission(None, source, exc.message, stem)]
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(first))
    try:
        rows = list(reader)
    except csv.Error as exc:
        return [broken_submission(None, source, f"CSV error: {exc}", stem)]
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        return [broken_submission(None, source, "the file is empty", stem)]
    header = [h.strip() for h in rows[0]]
    keys = [header_key(h) for h in header]
    id_col = next((keys.index(k) for k in CSV_ID_HEADERS if k in keys), None)
    name_col = next((keys.index(k) for k in CSV_NAME_HEADERS if k in keys), None)
    time_col = next((keys.index(k) for k in CSV_TIME_HEADERS if k in keys), None)
    columns: list[tuple[int, str, tuple | None, str]] = []
    unknown, repeated = [], []
    taken: set = set()
    for i, h in enumerate(header):
        if i in (id_col, name_col, time_col) or not h:
            continue
        resolved = schema.resolve(h)
        if resolved is None:
            unknown.append(h)
            continue
        if resolved in taken:
            repeated.append(h)
            continue
        taken.add(resolved)
        columns.append((i, resolved[0], resolved[1], h))
    file_notes = []
    if id_col is None:
        file_notes.append("no 'student' column")
    if unknown:
        file_notes.append(unknown_quantities_text(unknown).replace("quantit", "column quantit", 1))
    if repeated:
        file_notes.append("repeated column" + ("s " if len(repeated) > 1 else " ")
                          + ", ".join(f"'{shorten(r, 20)}'" for r in repeated[:5]) + " ignored")
    out = []
    for rownum, row in enumerate(rows[1:], 2):
        where = f"{source}:{rownum}"
        sub = Submission(student="", name="", source=where, problems=list(file_notes))
        sid = row[id_col].strip() if id_col is not None and id_col < len(row) else ""
        if sid:
            sub.student = printable(sid, 200, lines=False)
        else:
            sub.student = f"{stem}-row{rownum}"
            sub.id_missing = True
            sub.problems.append(f"missing student id (used '{sub.student}')")
        if name_col is not None and name_col < len(row):
            sub.name = printable(row[name_col].strip(), 200, lines=False)
        if time_col is not None and time_col < len(row) and row[time_col].strip():
            sub.submitted = parse_time(row[time_col])
            if sub.submitted is None:
                sub.problems.append(f"'{shorten(header[time_col], 20)}': not a date and time "
                                    f"(ignored)")
        if len(row) > len(header):
            sub.problems.append(f"{len(row) - len(header)} cell(s) beyond the header ignored")
        for i, qname, index, written in columns:
            cell = row[i] if i < len(row) else ""
            if index is None:
                add_answer(sub, qname, written, cell, rownum, cell.strip())
            else:
                set_entry(sub, schema, qname, index, written, cell, rownum)
        for qname in list(sub.answers):   # entry columns all left blank
            ans = sub.answers[qname]
            if ans.value is not None and np.all(np.isnan(ans.value)):
                del sub.answers[qname]
        out.append(sub)
    if not out:
        return [broken_submission(None, source, "the CSV has a header but no rows", stem)]
    return out
