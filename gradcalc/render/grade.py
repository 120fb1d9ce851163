"""Grading outputs: grades.csv, the LMS upload, feedback and summary markdown, tables, histogram, progress."""
from __future__ import annotations

import csv
import functools
import io
import math
import re
import statistics
import sys
from contextlib import contextmanager

import numpy as np

from gradcalc.csvsafe import escape_cell
from gradcalc.render.i18n import pick
from gradcalc.render import fmt
from gradcalc.render.tables import Table

WORDS = {
    "en": {
        "feedback": "Feedback", "student": "Student", "score": "Score", "status": "Status",
        "question": "question", "points": "points", "result": "result", "given": "given",
        "accepted": "accepted", "why": "why", "ungraded": "Also answered (not graded)",
        "correct": "correct",
        "rounding": "correct (consistent with your rounded earlier answers)",
        "partial": "{k} of {n} entries correct; wrong: {entries}",
        "wrong": "wrong",
        "all_wrong": "wrong (no entry within the accepted interval)",
        "follow_through": "consistent with your {names} (follow-through, {pct}% credit)",
        "mistake": "{text} (a classic mistake; {pct}% credit)",
        "also_mistake": "it matches a classic mistake: {text}",
        "shape": "wrong shape: expected {expected}, got {got}",
        "blank": "not answered",
        "unreadable": "could not be read: {error}",
        "number": "a number", "blank_entry": "_",
        "hidden": "(hidden)",
        "summary": "Grading summary", "submissions": "submissions",
        "graded": "graded", "unreadable_files": "unreadable",
        "total": "total", "mean": "mean", "median": "median", "min": "min", "max": "max",
        "pct_correct": "% correct", "pct_ft": "% follow-through", "pct_mistake": "% mistake",
        "top_mistakes": "top mistakes", "mistakes": "Mistakes per question",
        "short_correct": "ok %", "short_ft": "f-t %", "short_mistake": "mistake %",
        "clusters": "Identical wrong answers (a copying signal; listed, never scored)",
        "pairs": "Students sharing several identical wrong answers",
        "copy_signals": "Answers that match another student's variant (see copy_signals.csv)",
        "answer": "answer", "students": "students", "none": "none",
        "attention": "Needs attention", "duplicates": "duplicate student ids",
        "missing_id": "missing student ids", "unreadable_list": "unreadable files",
        "histogram": "Totals", "count": "students",
        "rubric_note": "Accepted: |answer − reference| ≤ atol + rtol·|reference| per entry "
                       "(or half a unit in the last asked significant figure).",
        "tolerance": "tolerance", "per_student": "students",
        "not_on_roster": "submissions not on the roster",
        "roster_unmatched": "roster rows without a submission",
    },
    "zh": {
        "feedback": "作业反馈", "student": "学生", "score": "得分", "status": "状态",
        "question": "题目", "points": "分值", "result": "结果", "given": "你的答案",
        "accepted": "可接受范围", "why": "说明", "ungraded": "另外作答（不计分）",
        "correct": "正确",
        "rounding": "正确（与你前面四舍五入后的答案一致）",
        "partial": "{n} 个分量中 {k} 个正确；错误的分量：{entries}",
        "wrong": "错误",
        "all_wrong": "错误（没有分量在可接受范围内）",
        "follow_through": "与你的 {names} 一致（误差传递，给 {pct}% 的分）",
        "mistake": "{text}（常见错误，给 {pct}% 的分）",
        "also_mistake": "与一个常见错误吻合：{text}",
        "shape": "形状错误：应为 {expected}，实际为 {got}",
        "blank": "未作答",
        "unreadable": "无法读取：{error}",
        "number": "一个数", "blank_entry": "_",
        "hidden": "（隐藏）",
        "summary": "评分汇总", "submissions": "提交数",
        "graded": "已评分", "unreadable_files": "无法读取",
        "total": "总分", "mean": "平均", "median": "中位数", "min": "最低", "max": "最高",
        "pct_correct": "正确率", "pct_ft": "误差传递", "pct_mistake": "常见错误",
        "top_mistakes": "最常见的错误", "mistakes": "各题的常见错误",
        "short_correct": "正确 %", "short_ft": "传递 %", "short_mistake": "常见错误 %",
        "clusters": "完全相同的错误答案（抄袭线索，仅列出，不影响分数）",
        "pairs": "多处错误答案完全相同的学生",
        "copy_signals": "与其他同学的题目变体吻合的答案（见 copy_signals.csv）",
        "answer": "答案", "students": "学生", "none": "无",
        "attention": "需要注意", "duplicates": "重复的学号",
        "missing_id": "缺少学号", "unreadable_list": "无法读取的文件",
        "histogram": "总分分布", "count": "人数",
        "rubric_note": "判定标准：每个分量 |答案 − 参考值| ≤ atol + rtol·|参考值|"
                       "（或按要求的有效数字，误差不超过末位的一半）。",
        "tolerance": "容差", "per_student": "人",
        "not_on_roster": "不在名单中的提交",
        "roster_unmatched": "名单中没有提交的学生",
    },
}


def words(lang: str) -> dict:
    return pick(WORDS, lang)


# ---------------------------------------------------------------- small formatting helpers
_POINTS: dict = {}


def points(x: float) -> str:
    """Scores with at most 3 decimals, no trailing zeros: 1, 0.5, 1.667."""
    text = _POINTS.get(x)   # a class has few distinct scores: each is formatted once
    if text is None:
        text = f"{x:.3f}".rstrip("0").rstrip(".")
        text = "0" if text in ("-0", "") else text
        if len(_POINTS) < 100_000:
            _POINTS[x] = text
    return text


def percent(x: float) -> str:
    return f"{x:.1f}"




def _csv(rows: list[list[str]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    for row in rows:
        w.writerow([escape_cell(c) for c in row])
    return buf.getvalue()


@functools.lru_cache(maxsize=4096)
def _md(text) -> str:
    """Text that may come from a student, inside markdown: one line, no table broken, no
    emphasis, HTML, code or link markup ("](" is broken up); brackets like z1[1] stay readable."""
    text = str(text).replace("\r", " ").replace("\n", " ")
    return re.sub(r"([\\`*_<>|])", r"\\\1", text).replace("](", "]\\(")


def _code(text: str) -> str:
    return "`" + str(text).replace("`", "'").replace("\n", " ") + "`"


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
    """The reason for a question's credit, in words."""
    from gradcalc.grading.key import mistake_text   # (a cached import: a dict look-up after the first)
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
    return value


# ---------------------------------------------------------------- feedback/<student>.md
# The status phrases of grading.Result.status, for Chinese feedback (grades.csv stays English).
_STATUS_ZH = (("nothing answered", "全部未作答"), ("not answered: ", "未作答："),
              ("unreadable: ", "无法读取："))


def status_text(status: str, lang: str) -> str:
    """A submission's status in the feedback's language."""
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
    who = _md(r.student) + (f" ({_md(r.name)})" if r.name else "")
    total, top = r.total, r.max_points
    pct = 100.0 * total / top if top else 0.0      # = r.percent, without summing again
    lines = [f"# {w['feedback']}: {_md(title)}", "",
             f"- {w['student']}: {who}",
             f"- {w['score']}: **{points(total)} / {points(top)}** ({percent(pct)}%)",
             f"- {w['status']}: {_md(status_text(r.status, lang))}"]
    if r.ungraded:
        lines.append(f"- {w['ungraded']}: {', '.join(_md(display(n)) for n in r.ungraded)}")
    lines += ["", f"| {w['question']} | {w['points']} | {w['result']} |", "|---|---:|---|"]
    rows = []      # (name, "score / points", reason) of each question, made once
    for q in r.questions:
        rows.append((_md(display(q.name)), f"{points(q.score)} / {points(q.points)}",
                     _md(why(q, lang, display))))
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


# ---------------------------------------------------------------- grades.csv and the upload
def grades_csv(report, display=lambda n: n) -> str:
    """student, name, one column per question, total, max, percent, status; the first row
    after the header ("(points)") gives each question's points."""
    names = [q.name for q in report.rubric.questions]
    rows = [["student", "name"] + [display(n) for n in names] + ["total", "max", "percent", "status"],
            ["(points)", ""] + [points(q.points) for q in report.rubric.questions]
            + [points(report.rubric.max_points), points(report.rubric.max_points), "100.0", ""]]
    for r in report.results:
        total, top = r.total, r.max_points
        pct = 100.0 * total / top if top else 0.0      # = r.percent, without summing again
        rows.append([r.student, r.name] + [points(q.score) for q in r.questions]
                    + [points(total), points(top), percent(pct), r.status])
    return _csv(rows)


def match_roster(roster, results, key_column: str | None = None) -> tuple[int, dict]:
    """Pick the roster column whose values match the most student ids (or `key_column`);
    returns (column index, student id -> result)."""
    by_id: dict[str, list] = {}
    for r in results:
        by_id.setdefault(r.student.strip().casefold(), []).append(r)
    if key_column is not None:
        cols = [i for i, h in enumerate(roster.header) if h.strip() == key_column.strip()]
        if not cols:
            from gradcalc.errors import UsageError
            raise UsageError(f"no column '{key_column}' in the roster", file=roster.file, line=1)
        best = cols[0]
    else:
        def hits(i):
            return sum(1 for row in roster.rows if row[i].strip().casefold() in by_id)
        best = max(roster.identity, key=lambda i: (hits(i), -roster.identity.index(i)))
    return best, by_id


def roster_csv(roster, results, assignment: str, max_points: float,
               key_column: str | None = None) -> tuple[str, dict]:
    """The roster's identity columns verbatim (apart from formula escaping) plus the assignment
    column. A student id submitted twice is left blank for a person to decide.
    Returns (CSV text, {"not_on_roster": [...], "unmatched": [...], "key": column name})."""
    col, by_id = match_roster(roster, results, key_column)
    out = [[roster.header[i] for i in roster.identity] + [assignment]]
    matched = set()
    unmatched = []
    for row in roster.rows:
        ident = [row[i] for i in roster.identity]
        first = row[0].strip() if row else ""
        key = row[col].strip().casefold()
        if first == "Points Possible":
            out.append(ident + [points(max_points)])
            continue
        group = by_id.get(key) if key else None
        if not group:
            out.append(ident + [""])
            if key:
                unmatched.append(row[col].strip())
            continue
        matched.add(key)
        out.append(ident + ([points(group[0].total)] if len(group) == 1 else [""]))
    extra = sorted({r.student for r in results if r.student.strip().casefold() not in matched})
    text = _csv(out, roster.delimiter)
    return ("\ufeff" + text if roster.bom else text), {
        "not_on_roster": extra, "unmatched": unmatched, "key": roster.header[col]}


# ---------------------------------------------------------------- summary
def _mistake_label(key: str, lang: str) -> str:
    from gradcalc.grading.key import MISTAKES
    text = MISTAKES[key][1 if lang == "zh" else 0]
    # the generic form of a catalogue entry, without the place names
    return re.sub(r"\{(\w+)\}", lambda m: {"act": "σ", "n": "N"}.get(m.group(1), m.group(1)), text)


def _students(n: int, lang: str) -> str:
    if lang == "zh":
        return f"{n} 人"
    return f"{n} student" + ("" if n == 1 else "s")


def _top(st, lang, k=2) -> str:
    if not st.mistakes:
        return ""
    items = sorted(st.mistakes.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return "; ".join(f"{key} ({n})" for key, n in items)


def question_table(report, lang: str = "en", display=lambda n: n) -> Table:
    """The terminal table: one row per question (short headers for an 80-column terminal)."""
    w = words(lang)
    rows = []
    for st in report.stats:
        rows.append([display(st.name), points(st.points), points(st.mean), percent(st.share("correct")),
                     percent(st.share("follow_through")), percent(st.share("mistake")),
                     _top(st, lang, 1)])
    totals = report.totals
    note = ""
    if totals:
        note = (f"{len(totals)} {w['submissions']}; {w['mean']} {points(statistics.fmean(totals))} / "
                f"{points(report.rubric.max_points)}, {w['median']} {points(statistics.median(totals))}")
    return Table(report.title, [w["question"], w["points"], w["mean"], w["short_correct"],
                                w["short_ft"], w["short_mistake"], w["top_mistakes"]], rows, note=note,
                 kinds=["text", "num", "num", "num", "num", "num", "text"])


def attention(report) -> dict[str, list[str]]:
    dup = sorted({r.student for r in report.results if r.duplicate})
    missing = sorted(r.source for r in report.results
                     if not r.unreadable and any(p.startswith("missing student id") for p in r.problems))
    unread = sorted(f"{r.source}: {r.unreadable}" for r in report.results if r.unreadable)
    return {"duplicates": dup, "missing_id": missing, "unreadable_list": unread}


def summary_markdown(report, lang: str = "en", display=lambda n: n, histogram: str | None = None,
                     roster_info: dict | None = None, copy_signals: list[str] | None = None) -> str:
    w = words(lang)
    res = report.results
    totals = report.totals
    lines = [f"# {w['summary']}: {_md(report.title)}", ""]
    n_unread = sum(1 for r in res if r.unreadable)
    lines.append(f"- {w['submissions']}: {len(res)} ({w['graded']} {len(res) - n_unread}, "
                 f"{w['unreadable_files']} {n_unread})")
    if totals:
        mx = report.rubric.max_points
        lines.append(f"- {w['total']}: {w['mean']} {points(statistics.fmean(totals))} / {points(mx)} "
                     f"({percent(100 * statistics.fmean(totals) / mx)}%), {w['median']} "
                     f"{points(statistics.median(totals))}, {w['min']} {points(min(totals))}, "
                     f"{w['max']} {points(max(totals))}")
    lines += [f"- {w['rubric_note']}", ""]
    # per question
    lines += [f"| {w['question']} | {w['points']} | {w['tolerance']} | {w['mean']} | "
              f"{w['pct_correct']} | {w['pct_ft']} | {w['pct_mistake']} | {w['top_mistakes']} |",
              "|---|---:|---|---:|---:|---:|---:|---|"]
    for q, st in zip(report.rubric.questions, report.stats):
        tol = f"rtol {q.rtol:g}, atol {q.atol:g}" if q.sigfigs is None else \
            f"{q.sigfigs} sig. fig., atol {q.atol:g}"
        lines.append(f"| {_md(display(st.name))} | {points(st.points)} | {tol} | {points(st.mean)} | "
                     f"{percent(st.share('correct'))} | {percent(st.share('follow_through'))} | "
                     f"{percent(st.share('mistake'))} | {_md(_top(st, lang))} |")
    # mistakes
    lines += ["", f"## {w['mistakes']}", ""]
    any_mistake = False
    for st in report.stats:
        if not st.mistakes:
            continue
        any_mistake = True
        lines.append(f"### {_md(display(st.name))}")
        lines.append("")
        for key, n in sorted(st.mistakes.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"- `{key}` — {_mistake_label(key, lang)}: {_students(n, lang)}")
        lines.append("")
    if not any_mistake:
        lines += [w["none"], ""]
    # clusters
    lines += [f"## {w['clusters']}", ""]
    if report.clusters:
        lines += [f"| {w['question']} | {w['answer']} | {w['students']} |", "|---|---|---|"]
        for key, members in report.clusters[:100]:
            qname, value = key.split("=", 1)
            shape, _, nums = value.partition(":")
            shown = nums if len(nums) <= 80 else nums[:79] + "…"
            lines.append(f"| {_md(display(qname))} | {_md(shown)} | "
                         f"{_md(', '.join(members[:30]))}{' …' if len(members) > 30 else ''} |")
        if len(report.clusters) > 100:
            lines.append(f"| … | {len(report.clusters) - 100} more | |")
        lines.append("")
        if report.pairs:
            lines += [f"### {w['pairs']}", ""]
            for a, b, k in report.pairs[:50]:
                lines.append(f"- {_md(a)} & {_md(b)}: {k}")
            lines.append("")
    else:
        lines += [w["none"], ""]
    if copy_signals:
        lines += [f"### {w['copy_signals']}", ""]
        lines += [f"- {_md(t)}" for t in sorted(copy_signals)] + [""]
    att = attention(report)
    if roster_info:
        att["not_on_roster"] = roster_info.get("not_on_roster", [])
        att["roster_unmatched"] = roster_info.get("unmatched", [])
    if any(att.values()):
        lines += [f"## {w['attention']}", ""]
        for k, items in att.items():
            if items:
                shown = ", ".join(_md(i) for i in items[:50]) + (" …" if len(items) > 50 else "")
                lines.append(f"- {w[k]} ({len(items)}): {shown}")
        lines.append("")
    if histogram:
        lines += [f"![{w['histogram']}]({histogram})", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- histogram.png
def histogram_png(totals: list[float], max_points: float, title: str, lang: str = "en") -> bytes:
    """A histogram of the totals (matplotlib's Agg canvas, no display); deterministic bytes."""
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    top = max_points if max_points > 0 else 1.0
    nbins = int(min(max(math.ceil(top), 5), 40))
    ax.hist(totals, bins=np.linspace(0.0, top, nbins + 1), color="#4c72b0", edgecolor="white")
    ax.set_xlim(0, top)
    # axis words stay English: the default fonts have no CJK glyphs
    ax.set_xlabel(f"total (out of {points(top)})")
    ax.set_ylabel("students")
    ax.set_title(title[:80], fontsize=10)
    ax.yaxis.get_major_locator().set_params(integer=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # missing glyphs of a Chinese title
        fig.subplots_adjust(left=0.1, right=0.97, bottom=0.16, top=0.9)   # fixed: no layout pass
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


# ---------------------------------------------------------------- terminal
def print_summary(report, lang: str = "en", display=lambda n: n, file=None) -> None:
    from gradcalc.render.console import print_tables
    print_tables([question_table(report, lang, display)], file=file)


@contextmanager
def progress(total: int, label: str, enabled: bool = True):
    """A rich progress bar on stderr for large batches; yields advance(n)."""
    if not enabled or total <= 0 or not sys.stderr.isatty():
        yield lambda n=1: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from gradcalc.render.console import make_console
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=make_console(file=sys.stderr),
                  transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n=1: bar.advance(task, n)
