"""The class-wide answer key (`gradcalc key`): every student's answers in one table, then each key with its worked solution.

One document, markdown or a self-contained HTML page. A problem without random numbers has one
key (the class shares it); a variant template with a roster has a key per student, built by the
same key_blocks / key_markdown as the `variants` command's keys/<id>.md.
"""
from __future__ import annotations

import re

import numpy as np

from gradcalc.csvsafe import printable
from gradcalc.render import fmt
from gradcalc.render.answerkey import key_blocks, key_markdown
from gradcalc.render.gradetext import md_text
from gradcalc.render.handout import blocks_html, blocks_markdown, question_label, words

_WORDS = {"en": {"all": "All answers", "class": "{n} students, each with their own numbers "
                 "(drawn from the template's seed and the student id); each student's key "
                 "and worked solution follow the table."},
          "zh": {"all": "全部答案", "class": "共 {n} 名学生，每人一套数字（由模板的种子和学号生成）；"
                 "表后是每名学生的答案与完整解答。"}}


def value_text(a, precision: int = 6) -> str:
    """A value as plain text: 0.5, [0.5, -1], [[1, 2], [3, 4]]."""
    a = np.asarray(a, dtype=float)
    if a.ndim == 0:
        return fmt.num(float(a), precision)
    return "[" + ", ".join(value_text(x, precision) for x in a) + "]"


def _shift(markdown: str) -> str:
    """Every heading one level deeper (a student's key inside the class document)."""
    return re.sub(r"(?m)^(#{1,5}) ", r"#\1 ", markdown)


def _md_cell_text(text: str) -> str:
    """Roster text for a markdown table cell: md_text's escapes, but the pipe left to the
    table writer (which escapes it once)."""
    return md_text(text).replace("\\|", "|")


def _table(entries, questions, output: str, lang: str, text=lambda t: t) -> tuple:
    """Student, name and every answer; `text` escapes roster text (markdown)."""
    w = words(lang)
    cols = [w["student"], w["name"]] + [question_label(q.name, output) for q in questions]
    rows = [[text(printable(v.student, 200)), text(printable(name, 200))] + [value_text(refs[q.name]) if q.name in refs else "—"
                                      for q in questions]
            for v, name, refs, _ in entries]
    return ("table", cols, rows, ["text", "text"] + ["num"] * len(questions))


def class_key_markdown(entries, questions, output: str, lang: str = "en",
                       precision: int = 4) -> str:
    """entries: (variant, name, refs, solution) per student; a single entry whose variant's
    student is None is the one key of a problem without random numbers."""
    if len(entries) == 1 and entries[0][0].student is None:
        v, name, refs, sol = entries[0]
        return key_markdown(v, questions, refs, output, lang, name, precision, sol)
    w, cw = words(lang), _WORDS.get(lang, _WORDS["en"])
    title = entries[0][0].problem.title if entries else ""
    head = [("h1", f"{w['key']}: {title}"), ("p", cw["class"].format(n=len(entries))),
            ("h2", cw["all"]), _table(entries, questions, output, lang, _md_cell_text)]
    parts = [blocks_markdown(head)]
    for v, name, refs, sol in entries:
        parts.append(_shift(key_markdown(v, questions, refs, output, lang, name, precision, sol)))
    return "\n".join(parts)


def _solution_blocks(sol, lang: str, precision: int, level: int) -> list:
    from gradcalc.render.solvetables import solve_tables
    w = words(lang)
    blocks: list = [(f"h{level}", w["solution"])]
    for t in solve_tables(sol, lang, precision):
        blocks.append(("p", t.title))
        blocks.append(("table", t.columns, t.rows, t.kinds or ["text"] * len(t.columns)))
        if t.note:
            blocks.append(("note", t.note))
    return blocks


def class_key_html(entries, questions, output: str, lang: str = "en",
                   precision: int = 4) -> str:
    """The same document as one self-contained HTML page (given arrays in MathML)."""
    w, cw = words(lang), _WORDS.get(lang, _WORDS["en"])
    title = entries[0][0].problem.title if entries else ""
    single = len(entries) == 1 and entries[0][0].student is None
    blocks: list = []
    if not single:
        blocks += [("h1", f"{w['key']}: {title}"), ("p", cw["class"].format(n=len(entries))),
                   ("h2", cw["all"]), _table(entries, questions, output, lang)]
    deeper = {"h1": "h2", "h2": "h3"}
    for v, name, refs, sol in entries:
        own = key_blocks(v, questions, refs, output, lang, name, sol, math=value_text)
        if not single:
            own = [((deeper.get(b[0], b[0]),) + tuple(b[1:])) for b in own]
        blocks += own
        if sol is not None:
            blocks += _solution_blocks(sol, lang, precision, 2 if single else 3)
    return blocks_html(blocks, lang, f"{w['key']}: {title}")
