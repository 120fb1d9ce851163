"""Answer keys of the variants: each student's key (markdown), answer_key.csv and the variants.csv manifest."""
from __future__ import annotations

import numpy as np

from gradcalc.render import fmt
from gradcalc.render.handout import (blocks_markdown, given_blocks, question_label, tex_number,
                                     tex_value, words)
from gradcalc.csvsafe import csv_text   # THE CSV writer: formula escaping, CR quoted


def key_blocks(variant, questions, refs: dict, output: str, lang: str = "en", name: str = "",
               solution=None, math=None) -> list:
    """The key's blocks (see handout.blocks_markdown): title, who, the given numbers, and the
    asked answers with their accepted intervals. A variant whose `student` is None (the one
    problem of a whole class) has no who line. `math` writes a value (markdown: $…$ math)."""
    w = words(lang)
    math = math or _math
    p = variant.problem
    blocks: list = [("h1", f"{w['key']}: {p.title}")]
    if variant.student is not None:
        who = f"{w['student']}: {variant.student}" + (f"  ·  {w['name']}: {name}" if name else "")
        blocks.append(("p", who + f"  ·  {w['draws']}: {variant.draws}", "user"))
    blocks += given_blocks(p, lang, solution)
    rows = []
    for i, q in enumerate(questions, 1):
        v = refs.get(q.name)
        if v is None:
            continue
        a = np.asarray(v, dtype=float)
        tol = q.tolerance(a)
        lo, hi = a - tol, a + tol
        rows.append([str(i), question_label(q.name, output), math(a),
                     f"{math(lo)} … {math(hi)}", fmt.num(q.points, 6)])
    blocks.append(("h2", w["questions"]))
    blocks.append(("table", ["#", w["answer"], w["value"], w["interval"], w["points"]], rows,
                   ["num", "text", "num", "num", "num"]))
    return blocks


def key_markdown(variant, questions, refs: dict, output: str, lang: str = "en", name: str = "",
                 precision: int = 4, solution=None) -> str:
    """A teaching assistant's key: the asked answers with the accepted intervals, then the
    worked solution tables."""
    w = words(lang)
    text = blocks_markdown(key_blocks(variant, questions, refs, output, lang, name, solution))
    if solution is not None:
        from gradcalc.render.markdown import tables_markdown
        from gradcalc.render.solvetables import solve_tables
        text += "\n" + tables_markdown(solve_tables(solution, lang, precision), w["solution"])
    return text


def _math(a) -> str:
    """A key's value in a markdown table: a number as is, a vector as a column and a matrix as
    a bmatrix in $…$ math (6 significant digits)."""
    a = np.asarray(a, dtype=float)
    if a.ndim == 0:
        return fmt.num(a, 6)
    return "$" + tex_value(a, lambda x: tex_number(float(fmt.num(x, 6)))) + "$"


# ---------------------------------------------------------------- CSV
def entry_names(name: str, value) -> list[tuple[str, tuple]]:
    """Per-entry column names, 1-based: dW1[1,2]; a scalar or a one-entry vector keeps its name
    (as in `gradcalc template --format csv`)."""
    a = np.asarray(value)
    if a.ndim == 0:
        return [(name, ())]
    if a.shape == (1,):
        return [(name, (0,))]
    return [(f"{name}[{','.join(str(i + 1) for i in idx)}]", idx) for idx in np.ndindex(a.shape)]


def number_text(x: float) -> str:
    """15 significant digits: float noise such as 1.6600000000000001 is dropped, and the text is
    within 1e-15 (relative) of the float, far inside any grading tolerance."""
    x = float(x)
    return "0" if x == 0 else f"{x:.15g}"


def answer_key_csv(records) -> str:
    """records: (student, name, [(question, value)]) -> CSV with a row per student and a
    column per question entry."""
    columns: list[str] = []
    seen = set()
    rows = []
    for student, name, answers in records:
        row = {}
        for q, v in answers:
            a = np.asarray(v, dtype=float)
            for col, idx in entry_names(q, a):
                if col not in seen:
                    seen.add(col)
                    columns.append(col)
                row[col] = number_text(a[idx] if idx else a)
        rows.append([student, name] + [row.get(c, "") for c in columns])
    return csv_text([["student", "name"] + columns]
                    + [r + [""] * (2 + len(columns) - len(r)) for r in rows], newline="\n")


def manifest_csv(columns: list[str], rows: list[dict], extra: list[tuple[str, list[str]]]) -> str:
    """The roster's columns verbatim (formula-escaped), then generated columns."""
    return csv_text([list(columns) + [name for name, _ in extra]]
                    + [[row.get(c, "") for c in columns] + [vals[i] for _, vals in extra]
                       for i, row in enumerate(rows)], newline="\n")
