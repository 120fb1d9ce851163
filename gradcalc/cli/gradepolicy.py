"""`gradcalc grade`'s side of a run's policies: integrity signals (signals.csv), what the console
says about who is left out, and the batch's sanity warnings.  The policies themselves
(duplicates, lateness, overrides, the roster) are gradcalc.grading.classpolicy, shared with the
API."""
from __future__ import annotations

import click


def signal_rows(signals, report) -> list[tuple[str, str, str, str, str]]:
    """(kind, student, file, other student, detail) of every integrity signal: a submission
    matching another student's variant (--variants), and students sharing several identical
    wrong answers. Both sides are named."""
    rows = [("variant-match", s.student, s.source, s.other,
             f"{s.matched} vs {s.own} of {s.entries} entries that differ between the two")
            for s in sorted(signals, key=lambda s: (s.student, s.source))]
    rows += [("shared-wrong-answers", a, "", b, f"{k} identical wrong answers")
             for a, b, k in (report.pairs if report is not None else [])]
    return rows


def signals_csv(rows) -> str:
    from gradcalc.csvsafe import csv_text   # THE CSV writer: formula escaping, CR quoted
    return csv_text([["signal", "student", "source", "other_student", "detail"]]
                    + [list(r) for r in rows], newline="\n")


def signal_text(row) -> str:
    kind, student, source, other, detail = row
    where = f" ({source})" if source else ""
    if kind == "variant-match":
        return (f"copy-signal: {student}{where}: the answers match the variant of student "
                f"{other} better than their own ({detail}, or a mistyped id)")
    return f"shared wrong answers: {student} and {other}: {detail}"


def report_console(report, gw, warnings: list[str], set_aside, unused_overrides) -> None:
    """The console's part: what is left out of the statistics, and the warnings (stderr)."""
    ex = report.excluded
    if ex:
        click.echo(f"{gw['excluded']} ({len(ex)}):", err=True)
        for r in ex[:20]:
            click.echo(f"  {r.student}  {r.source}  {r.excluded}"
                       + (f": {r.unreadable}" if r.unreadable else ""), err=True)
        if len(ex) > 20:
            click.echo(f"  … {len(ex) - 20} more (summary.md)", err=True)
    if set_aside:
        click.echo(f"{gw['set_aside']} ({len(set_aside)}):", err=True)
    for student, source, why in set_aside[:20]:
        click.echo(f"  {student}  {source}  {why}", err=True)
    if unused_overrides:
        click.echo("warning: overrides for students without a submission: "
                   + ", ".join(sorted(unused_overrides)[:10]), err=True)
    for t in warnings:
        click.echo(f"warning: {t}", err=True)


def nothing_matched_exit(text: str) -> None:
    """Exit 1 (the files are written): no submission matched any question."""
    click.echo(f"gradcalc: {text}", err=True)
    raise SystemExit(1)

