"""Markdown of `gradcalc grade-code`: one feedback file per student, summary.md for the class."""
from __future__ import annotations

from collections import Counter

from gradcalc.render.gradetext import md_text, percent, points

STATUS_ORDER = ("pass", "fail", "not found", "error", "time limit", "memory limit", "crashed",
                "not run")


def _fence(text: str) -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}text\n{text}\n{ticks}"


def _sci(x) -> str:
    if x is None:
        return "—"
    x = float(x)
    return "0" if x == 0 else ("inf" if x == float("inf") else f"{x:.1e}")


def _what(q) -> str:
    """The gradients that failed (by name), or why nothing was compared."""
    if q.status == "pass":
        rep = q.report or {}
        return "all gradients agree: " + ", ".join("d" + r["name"] for r in rep.get("results", []))
    if q.report and q.report.get("results") and not q.report.get("error"):
        bad = [r for r in q.report["results"] if not r["ok"]]
        return "; ".join(f"d{r['name']} missing (backward did not return it)" if r.get("missing")
                         else f"d{r['name']} wrong (max rel. error {_sci(r['max_rel_error'])})"
                         + (f": {r['note']}" if r.get("note") else "") for r in bad)
    return q.message or q.status


def feedback_markdown(result, title: str, precision: int = 6) -> str:
    who = result.student + (f" ({md_text(result.name)})" if result.name else "")
    lines = [f"# {title}: feedback for {who}", "",
             f"**Score: {points(result.total)} / {points(result.max_points)}** "
             f"({percent(result.percent)}%) · file: `{result.file.rsplit('/', 1)[-1] or '—'}` · "
             f"status: {result.status}", ""]
    lines += ["| layer | points | status | what the check found |", "|---|---:|---|---|"]
    for q in result.questions:
        lines.append(f"| {md_text(q.name)} | {points(q.score)} / {points(q.points)} | {q.status} | "
                     f"{md_text(_what(q))} |")
    for q in result.questions:
        rep = q.report or {}
        bad = [r for r in rep.get("results", []) if not r["ok"] and r.get("worst")]
        if not bad:
            continue
        lines += ["", f"## {q.name}: your backward against central differences of your forward",
                  "", f"Convention: {rep.get('convention', '?')}; inputs are random (seed "
                  f"{rep.get('seed', 0)}), and so is the upstream gradient. Worst entries "
                  f"(0-based index):", "",
                  "| entry | your backward | central difference | rel. error |",
                  "|---|---:|---:|---:|"]
        for r in bad:
            for e in r["worst"]:
                idx = ", ".join(str(i) for i in e["index"])
                lines.append(f"| d{md_text(r['name'])}[{idx}] | {e['analytic']:.{precision}g} | "
                             f"{e['numeric']:.{precision}g} | {_sci(e['rel_error'])} |")
        for note in rep.get("notes", []):
            lines.append(f"\nNote: {note}")
    if result.output.strip():
        lines += ["", "## What your code printed (the beginning)", "", _fence(result.output)]
    return "\n".join(lines) + "\n"


def summary_markdown(report, rates, isolation: list[str], roster_info=None,
                     not_written=()) -> str:
    results = report.results
    n = len(results)
    top = report.rubric.max_points
    mean = sum(r.total for r in results) / n if n else 0.0
    lines = [f"# {report.title}: code grading summary", "",
             f"{n} submissions · mean {points(mean)} / {points(top)} · "
             f"full marks: {sum(1 for r in results if r.total == top and top)} · "
             f"graded: {sum(1 for r in results if r.status == 'graded')}", "",
             "## Per layer", "",
             "| layer | points | pass rate | " + " | ".join(STATUS_ORDER) + " |",
             "|---|---:|---:|" + "---:|" * len(STATUS_ORDER)]
    for i, (q, (name, passed, total)) in enumerate(zip(report.rubric.questions, rates)):
        counts = Counter(r.questions[i].status for r in results)
        rate = 100.0 * passed / total if total else 0.0
        lines.append(f"| {md_text(name)} | {points(q.points)} | {percent(rate)}% | "
                     + " | ".join(str(counts.get(s, 0)) for s in STATUS_ORDER) + " |")
    wrong = Counter()
    for r in results:
        for q in r.questions:
            for g in (q.report or {}).get("results", []):
                if not g["ok"]:
                    wrong[(q.name, "d" + g["name"], "missing" if g.get("missing") else "wrong")] += 1
    if wrong:
        lines += ["", "## Gradients most often wrong", "", "| layer | gradient | how | students |",
                  "|---|---|---|---:|"]
        for (layer, grad, how), k in wrong.most_common(20):
            lines.append(f"| {md_text(layer)} | {md_text(grad)} | {how} | {k} |")
    stuck = [r for r in results if r.status != "graded"]
    if stuck:
        lines += ["", "## Submissions that could not be checked", "", "| student | status |",
                  "|---|---|"]
        lines += [f"| {md_text(r.student)} | {md_text(r.status)} |" for r in stuck]
    if roster_info and roster_info.get("not_on_roster"):
        lines += ["", f"Not on the roster (matched on '{roster_info['key']}'): "
                  + ", ".join(md_text(s) for s in roster_info["not_on_roster"])]
    if roster_info and roster_info.get("unmatched"):
        lines += ["", "On the roster without a submission (their upload.csv cell is blank): "
                  + ", ".join(md_text(s) for s in roster_info["unmatched"])]
    if not_written:
        lines += ["", "## Not written", ""] + [f"- {md_text(t)}" for t in not_written]
    lines += ["", "## How the code was run", ""] + [f"- {s}" for s in isolation]
    return "\n".join(lines) + "\n"
