"""The class summary of a grading run: summary.md, the terminal table of questions and the progress bar."""
from __future__ import annotations

import re
import statistics
import sys
from contextlib import contextmanager

from gradcalc.render.gradetext import md_text, percent, points, words
from gradcalc.render.tables import Table


def _mistake_label(key: str, lang: str) -> str:
    from gradcalc.grading.mistakes import MISTAKES
    text = MISTAKES[key][1 if lang == "zh" else 0]
    # the generic form of a catalogue entry, without the place names
    return re.sub(r"\{(\w+)\}", lambda m: {"act": "σ", "n": "N", "Q": "dW"}.get(m.group(1), m.group(1)), text)


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
        note = w["class_note"].format(n=len(totals), mean=points(statistics.fmean(totals)),
                                      max=points(report.rubric.max_points),
                                      median=points(statistics.median(totals)))
    return Table(report.title, [w["question"], w["points"], w["mean"], w["short_correct"],
                                w["short_ft"], w["short_mistake"], w["top_mistakes"]], rows, note=note,
                 kinds=["text", "num", "num", "num", "num", "num", "text"])


def warnings(report, lang: str = "en", display=lambda n: n) -> list[str]:
    """The batch's sanity: nothing matched (exit 1), questions with a low class mean."""
    w = words(lang)
    out = [w["nothing_matched"]] if report.nothing_matched() else []
    pct = points(100 * report.rubric.warn_below)
    out += [w["low_mean"].format(q=display(st.name), mean=points(st.mean), pts=points(st.points),
                                 pct=pct) for st in report.low_questions()]
    return out


def _item_rows(report, lang: str, display) -> list[str]:
    """Item analysis: per question mean, share correct, discrimination (correlation with the
    rest of the total), the most common wrong answer and its diagnosis."""
    w = words(lang)
    lines = [f"## {w['items']}", "",
             f"| {w['question']} | {w['mean']} | {w['pct_correct']} | {w['discrimination']} | "
             f"{w['common_wrong']} | {w['students']} | {w['diagnosis']} |",
             "|---|---:|---:|---:|---|---:|---|"]
    for st in report.stats:
        d = "—" if st.discrimination is None else f"{st.discrimination:.2f}"
        cw = st.common_wrong()
        if cw is None:
            value, n, diag = "—", "", ""
        else:
            value = cw[0].partition(":")[2]
            value = value if len(value) <= 60 else value[:59] + "…"
            n = str(cw[1])
            diag = f"`{cw[2]}` {md_text(_mistake_label(cw[2], lang))}" if cw[2] \
                else md_text(w["no_diagnosis"])
        lines.append(f"| {md_text(display(st.name))} | {points(st.mean)} | "
                     f"{percent(st.share('correct'))} | {d} | {md_text(value)} | {n} | "
                     f"{diag} |")
    return lines + [""]


def excluded_rows(report, lang: str = "en", set_aside=()) -> list[str]:
    """The submissions left out of the statistics, with their files, reasons and grades."""
    w = words(lang)
    ex = report.excluded
    lines = []
    if ex:
        lines += [f"## {w['excluded']} ({len(ex)})", "", w["excluded_note"], "",
                  f"| {w['student']} | {w['file']} | {w['reason']} | {w['grade_given']} |",
                  "|---|---|---|---:|"]
        for r in ex[:5000]:
            lines.append(f"| {md_text(r.student)} | {md_text(r.source)} | {md_text(r.excluded)}"
                         f"{': ' + md_text(r.unreadable) if r.unreadable else ''} | "
                         f"{points(r.total)} |")
        lines.append("")
    if set_aside:
        lines += [f"### {w['set_aside']} ({len(set_aside)})", ""]
        lines += [f"- {md_text(s)} — {md_text(src)}: {md_text(why)}" for s, src, why in set_aside]
        lines.append("")
    return lines


def attention(report) -> dict[str, list[str]]:
    dup = sorted({r.student for r in report.results if r.duplicate})
    missing = sorted(r.source for r in report.results
                     if not r.unreadable and any(p.startswith("missing student id") for p in r.problems))
    unread = sorted(f"{r.source}: {r.unreadable}" for r in report.results if r.unreadable)
    return {"duplicates": dup, "missing_id": missing, "unreadable_list": unread}


def summary_markdown(report, lang: str = "en", display=lambda n: n, histogram: str | None = None,
                     roster_info: dict | None = None, copy_signals: list[str] | None = None,
                     skipped: list[str] | None = None, set_aside=()) -> str:
    w = words(lang)
    res = report.results
    totals = report.totals
    lines = [f"# {w['summary']}: {md_text(report.title)}", ""]
    n_unread = sum(1 for r in res if r.unreadable)
    n_ex = len(res) - len(totals)
    lines.append(f"- {w['submissions']}: {len(res)} ({w['graded']} {len(res) - n_unread}, "
                 f"{w['unreadable_files']} {n_unread}; {w['excluded'].lower()} {n_ex})")
    warn = warnings(report, lang, display)
    if warn:
        lines += [f"- **{w['warnings']}**:"] + [f"  - **{md_text(t)}**" for t in warn]
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
            w["sigfigs"].format(n=q.sigfigs, atol=f"{q.atol:g}")
        lines.append(f"| {md_text(display(st.name))} | {points(st.points)} | {tol} | {points(st.mean)} | "
                     f"{percent(st.share('correct'))} | {percent(st.share('follow_through'))} | "
                     f"{percent(st.share('mistake'))} | {md_text(_top(st, lang))} |")
    lines += [""] + _item_rows(report, lang, display)
    # mistakes
    lines += [f"## {w['mistakes']}", ""]
    any_mistake = False
    for st in report.stats:
        if not st.mistakes:
            continue
        any_mistake = True
        lines.append(f"### {md_text(display(st.name))}")
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
            lines.append(f"| {md_text(display(qname))} | {md_text(shown)} | "
                         f"{md_text(', '.join(members[:30]))}{' …' if len(members) > 30 else ''} |")
        if len(report.clusters) > 100:
            lines.append(f"| … | {len(report.clusters) - 100} more | |")
        lines.append("")
        if report.pairs:
            lines += [f"### {w['pairs']}", ""]
            for a, b, k in report.pairs[:50]:
                lines.append(f"- {md_text(a)} & {md_text(b)}: {k}")
            lines.append("")
    else:
        lines += [w["none"], ""]
    if copy_signals:
        lines += [f"### {w['signals']}", ""]
        lines += [f"- {md_text(t)}" for t in sorted(copy_signals)] + [""]
    lines += excluded_rows(report, lang, set_aside)
    att = attention(report)
    if roster_info:
        att["not_on_roster"] = roster_info.get("not_on_roster", [])
        att["roster_unmatched"] = roster_info.get("unmatched", [])
        att["roster_duplicates"] = roster_info.get("duplicates", [])
    if any(att.values()):
        lines += [f"## {w['attention']}", ""]
        for k, items in att.items():
            if items:
                shown = ", ".join(md_text(i) for i in items[:50]) + (" …" if len(items) > 50 else "")
                lines.append(f"- {w[k]} ({len(items)}): {shown}")
        lines.append("")
    if skipped:    # every path given or found is graded or listed here, with its reason
        lines += [f"## {w['skipped']} ({len(skipped)})", ""]
        if lang == "zh":
            from gradcalc.render.i18n import zh_text
            skipped = [zh_text(t) for t in skipped[:5000]] + skipped[5000:]
        lines += [f"- {md_text(t)}" for t in skipped[:5000]]
        lines += ([f"- … {len(skipped) - 5000}"] if len(skipped) > 5000 else []) + [""]
    if histogram:
        lines += [f"![{w['histogram']}]({histogram})", ""]
    return "\n".join(lines)


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
