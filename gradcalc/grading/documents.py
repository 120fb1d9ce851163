"""YAML and JSON answer files: {student: ID, name: …, answers: {quantity: value}} -> a Submission."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gradcalc.csvsafe import printable
from gradcalc.errors import GradcalcError
from gradcalc.grading.quantities import QuantitySchema
from gradcalc.grading.rubric import parse_time
from gradcalc.grading.submissions import (Submission, add_answer, broken_submission, decode_text,
                                          set_entry, unknown_quantities_text, written_numbers)
from gradcalc.grading.values import answer_kind, shorten

ID_KEYS = ("student", "id", "student_id")
NAME_KEYS = ("name",)
TIME_KEYS = ("submitted",)     # when it was handed in (duplicates: latest; late penalties)
ID_LIMIT = 200           # characters of an id or a name (control characters replaced)


class _DuplicateKey(Exception):
    pass


_DUPLICATE = re.compile(r"duplicate key '(.*)'", re.S)


def _duplicate(key: str, schema: QuantitySchema) -> str:
    """'duplicate key' naming the key only when it is an answer file's own (an id key or a
    quantity): a file that is not an answer file is never quoted."""
    if key in ID_KEYS + NAME_KEYS + ("answers",) or schema.resolve(key) is not None:
        return f"duplicate key '{shorten(key, 20)}'"
    return "duplicate key"


def _no_duplicate_keys(pairs: list) -> dict:
    out = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def read_document_bytes(raw: bytes, schema: QuantitySchema, source: str,
                        stem: str = "") -> Submission:
    """A YAML or JSON answer file: {student: ID, name: …, answers: {quantity: value}}."""
    stem = stem or Path(source).stem
    try:
        text = decode_text(raw)
        located = None
        if text.lstrip()[:1] == "{":
            try:
                data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
            except _DuplicateKey as exc:     # as YAML does: which of the two is meant?
                return broken_submission(None, source, _duplicate(str(exc), schema), stem)
            except (ValueError, RecursionError):
                data = None       # not JSON after all: YAML flow mappings look alike
        else:
            data = None
        if data is None:
            from gradcalc.problem.yamlio import load_yaml_text
            located = load_yaml_text(text, file=source, fast=True)   # libyaml when installed
            data = located.data
    except GradcalcError as exc:
        why = exc.message
        dup = _DUPLICATE.fullmatch(why)
        if dup:
            why = _duplicate(dup.group(1), schema)
        why += f" (line {exc.line})" if exc.line else ""
        return broken_submission(None, source, why, stem)
    return _from_mapping(data, schema, source, stem, located)


def _from_mapping(data: Any, schema: QuantitySchema, source: str, stem: str,
                  located=None) -> Submission:
    if not isinstance(data, dict):
        return broken_submission(None, source, f"expected a mapping with 'student' and 'answers', got "
                                               f"{answer_kind(data)}", stem)
    sub = Submission(student="", name="", source=source)
    student = next((data[k] for k in ID_KEYS if k in data), None)
    if isinstance(student, (int, str)) and not isinstance(student, bool) and str(student).strip():
        sub.student = printable(str(student).strip(), ID_LIMIT, lines=False)
    else:
        sub.student = stem
        sub.id_missing = True
        sub.problems.append(f"missing student id (used the file name '{stem}')")
    name = next((data[k] for k in NAME_KEYS if k in data), "")
    sub.name = printable(str(name).strip(), ID_LIMIT, lines=False) \
        if isinstance(name, (str, int, float)) and name is not None else ""
    when = next((data[k] for k in TIME_KEYS if k in data), None)
    if when is not None:
        sub.submitted = parse_time(when)
        if sub.submitted is None:
            sub.problems.append("'submitted' is not a date and time such as 2026-10-01T23:59 "
                                "(ignored)")
    if "answers" in data:
        answers, prefix = data["answers"], ("answers",)
        extra = [k for k in data if k not in ID_KEYS + NAME_KEYS + TIME_KEYS + ("answers",)]
        if extra:
            sub.problems.append("ignored key" + ("s" if len(extra) > 1 else "") + " "
                                + ", ".join(f"'{shorten(k, 20)}'" for k in extra[:5]))
        if answers is None:
            answers = {}
        if not isinstance(answers, dict):
            sub.problems.append(f"'answers' should be a mapping of quantity: value, got "
                                f"{answer_kind(answers)}")
            answers = {}
    else:   # a flat file: every other top-level key is a quantity
        answers = {k: v for k, v in data.items() if k not in ID_KEYS + NAME_KEYS + TIME_KEYS}
        prefix = ()
    unknown = []
    for key, value in answers.items():
        line = located.line(prefix + (key,)) if located is not None else None
        resolved = schema.resolve(key)
        if resolved is None:
            unknown.append(str(key))
            continue
        qname, index = resolved
        if index is not None:
            set_entry(sub, schema, qname, index, str(key), value, line)
        else:
            texts = getattr(located, "texts", None)
            add_answer(sub, qname, str(key), value, line,
                       written_numbers(value, texts, prefix + (key,)) if texts else "")
    if unknown and sub.id_missing and not sub.answers and not sub.name:
        # no id, no name, nothing it names is a quantity: not an answer file (a config file,
        # a password file …) whose keys are never echoed into grades.csv or feedback
        return broken_submission(None, source, "not an answer file (no student id and no "
                                               "known quantity)", stem)
    if unknown:
        sub.problems.append(unknown_quantities_text(unknown))
    return sub
