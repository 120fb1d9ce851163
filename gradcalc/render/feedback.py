"""Per-student feedback pages: the score, and per question the given answer, the accepted interval and why."""
from __future__ import annotations

import functools
import math

import numpy as np

from gradcalc.csvsafe import printable
from gradcalc.render import fmt
from gradcalc.render.gradetext import md_text, percent, points, words


def _code(text: str) -> str:
    # a student's text: one line, no control character, clipped (issue 17)
    return "`" + printable(text, 200, lines=False).replace("`", "'") + "`"


def _num(x: float, precision: int) -> str:
    return "_" if math.isnan(x) else fmt.num(x, precision)


def _value(a, precision: int) -> str:
    a = np.asarray(a, dtype=float)
    if a.ndim == 0:
        return _num(float(a), precision)
    return _nested(a.tolist(), precision)   # Python floats: no NumPy scalar per entry


def _nested(v, precision: int) -> str:
    if isinstance(v, list):
        return "[" + ", ".join([_nested(t, precision) for t in v]) + "]"
    return _num(v, precision)


def _shape(shape: tuple, w: dict) -> str:
    return w["number"] if not shape else "×".join(map(str, shape))


def _entry(name: str, idx: tuple) -> str:
    return name if not idx else f"{name}[{','.join(str(i + 1) for i in idx)}]"


def _round_out(x: float, precision: int, up: bool) -> str:
    """Round an interval end outwards at `precision` significant digits (never narrower)."""
    if x == 0 or not math.isfinite(x):
        return _num(x, precision)
    step = 10.0 ** (math.floor(math.log10(abs(x))) - precision + 1)
    units = x / step
    if abs(units - round(units)) < 1e-6:     # already on the grid up to float noise
        units = round(units)
    y = (math.ceil(units) if up else math.floor(units)) * step
    return fmt.num(y, precision + 1)


_INTERVALS: dict = {}


def interval_text(name: str, lo, hi, precision: int) -> str:
    """"[lo, hi]" for a number, "z1[1] ∈ [lo, hi]; …" per entry otherwise (cached: the
    interval arrays are shared by every student of a question)."""
    key = (id(lo), id(hi), name, precision)
    hit = _INTERVALS.get(key)
    if hit is not None and hit[0] is lo and hit[1] is hi:
        return hit[2]
    text = _interval_text(name, lo, hi, precision)
    if len(_INTERVALS) > 4096:
        _INTERVALS.clear()
    _INTERVALS[key] = (lo, hi, text)
    return text


def _interval_text(name: str, lo, hi, precision: int) -> str:
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    if lo.size == 1:
        return f"[{_round_out(float(lo.ravel()[0]), precision, False)}, " \
               f"{_round_out(float(hi.ravel()[0]), precision, True)}]"
    # entries in np.ndindex order (= ravel order), as Python floats
    return "; ".join(f"{label} ∈ [{_round_out(a, precision, False)}, {_round_out(b, precision, True)}]"
                     for label, a, b in zip(_entry_labels(name, lo.shape), lo.ravel().tolist(),
                                            hi.ravel().tolist()))


@functools.lru_cache(maxsize=256)
def _entry_labels(name: str, shape: tuple) -> tuple:
    return tuple(_entry(name, idx) for idx in np.ndindex(shape))


# ---------------------------------------------------------------- per question "why"
def why(q, lang: str, display=lambda n: n) -> str:
    """The reason for a question's credit, in words (and a staff override, when one applies)."""
    text = _why(q, lang, display)
    if q.override:
        text += ("；" if lang == "zh" else "; ") + words(lang)["overridden"].format(
            pct=points(100 * q.credit), note=q.override)
    return text


def _why(q, lang: str, display=lambda n: n) -> str:
    from gradcalc.grading.mistakes import mistake_text   # (a cached import: a dict look-up after the first)
    w = words(lang)
    pct = points(100 * q.credit)
    if q.kind == "correct":
        return w["rounding"] if q.rounding else w["correct"]
    if q.kind == "blank":
        return w["blank"]
    if q.kind == "unreadable":
        return w["unreadable"].format(error=q.error)
    if q.kind == "follow_through":
        sep = "、" if lang == "zh" else ", "
        return w["follow_through"].format(names=sep.join(q.upstream), pct=pct)
    if q.kind == "mistake":
        return w["mistake"].format(text=mistake_text(q.mistake[0], q.mistake[1], lang), pct=pct)
    if q.kind == "shape":
        got = q.given.shape if q.given is not None else ()
        return w["shape"].format(expected=_shape(q.expected_shape, w), got=_shape(got, w))
    if q.kind == "partial":
        n = int(np.prod(q.expected_shape)) if q.expected_shape else 1
        entries = ", ".join(_entry(display(q.name), i) for i in q.wrong_entries[:12])
        if len(q.wrong_entries) > 12:
            entries += " …"
        text = w["partial"].format(k=n - len(q.wrong_entries), n=n, entries=entries)
    else:
        n = int(np.prod(q.expected_shape)) if q.expected_shape else 1
        text = w["all_wrong"] if n > 1 else w["wrong"]
    if q.mistake:
        text += ("；" if lang == "zh" else "; ") + w["also_mistake"].format(
            text=mistake_text(q.mistake[0], q.mistake[1], lang))
    return text


def given_text(q, precision: int) -> str:
    if q.kind == "blank":
        return "—"
    if q.kind == "unreadable":
        return _code(q.text) if q.text else "—"
    value = _value(q.given, precision) if q.given is not None else ""
    if q.text and q.text != value:
        return f"{_code(q.text)} = {value}"
    if q.source:     # quoted exactly as written: 0.53705 stays 0.53705 (never re-rounded)
        return md_text(q.source)
    return value


# ---------------------------------------------------------------- feedback/<student>.md
# The status phrases of grading.key.StudentResult.status, for Chinese feedback (grades.csv stays English).
_STATUS_ZH = (("nothing answered", "全部未作答"), ("not answered: ", "未作答："),
              ("unreadable: ", "无法读取："))


_SIGNAL = {"en": "copy-signal: your answers match another student's variant better than your "
                 "own (reported to the course staff, not scored; or a mistyped id)",
           "zh": "copy-signal：你的答案与另一位同学的题目变体更吻合（已报告给助教，不影响分数；"
                 "也可能是学号填错）"}


def status_text(status: str, lang: str) -> str:
    """A submission's status in the feedback's language. An integrity signal is stated
    without naming the other student (grades.csv and summary.md name both)."""
    if "copy-signal:" in status:
        status = "; ".join(_SIGNAL["zh" if lang == "zh" else "en"] if p.startswith("copy-signal:")
                           else p for p in status.split("; "))
    if lang != "zh":
        return status
    if status == "ok":
        return "正常"
    parts = []
    for part in status.split("; "):
        for en, zh in _STATUS_ZH:
            if part.startswith(en):
                part = zh + part[len(en):]
                break
        parts.append(part)
    return "；".join(parts)


def feedback_markdown(r, title: str, lang: str = "en", hide_answers: bool = False,
                      precision: int = 4, display=lambda n: n) -> str:
    """One student's feedback: score, then per question the given answer, the accepted interval
    (unless hidden), the credit and why."""
    w = words(lang)
    who = md_text(r.student) + (f" ({md_text(r.name)})" if r.name else "")
    total, top = r.total, r.max_points
    pct = 100.0 * total / top if top else 0.0      # = r.percent, without summing again
    lines = [f"# {w['feedback']}: {md_text(title)}", "",
             f"- {w['student']}: {who}",
             f"- {w['score']}: **{points(total)} / {points(top)}** ({percent(pct)}%)",
             f"- {w['status']}: {md_text(status_text(r.status, lang))}"]
    if r.ungraded:
        lines.append(f"- {w['ungraded']}: {', '.join(md_text(display(n)) for n in r.ungraded)}")
    if r.adjustments:     # late penalty, staff overrides: the same text as grades.csv
        lines.append(f"- {w['adjustments']}: {md_text('; '.join(r.adjustments))}")
    lines += ["", f"| {w['question']} | {w['points']} | {w['result']} |", "|---|---:|---|"]
    rows = []      # (name, "score / points", reason) of each question, made once
    for q in r.questions:
        rows.append((md_text(display(q.name)), f"{points(q.score)} / {points(q.points)}",
                     md_text(why(q, lang, display))))
        lines.append(f"| {rows[-1][0]} | {rows[-1][1]} | {rows[-1][2]} |")
    for q, (name, score, reason) in zip(r.questions, rows):
        lines += ["", f"## {name} — {score}", ""]
        lines.append(f"- {w['given']}: {given_text(q, precision)}")
        if q.interval is not None and q.kind != "blank":
            shown = w["hidden"] if hide_answers else interval_text(display(q.name), *q.interval,
                                                                  precision)
            lines.append(f"- {w['accepted']}: {shown}")
        lines.append(f"- {w['why']}: {reason}")
    return "\n".join(lines) + "\n"
