"""`gradcalc grade`'s course policies on one run: duplicates, lateness, overrides, who counts in the
statistics, integrity signals (signals.csv) and the batch's sanity warnings."""
from __future__ import annotations

import click


class ClassPolicy:
    """What the rubric and --overrides ask of one grading run, applied to each result."""

    def __init__(self, rubric, schema, overrides_path: str | None):
        self.rubric = rubric
        self.overrides: dict = {}
        self.unused: set = set()
        if overrides_path:
            from gradcalc.grading.overrides import load_overrides
            for o in load_overrides(overrides_path, rubric, schema):
                self.overrides[(o.student.casefold(), o.question)] = o
            self.unused = {k[0] for k in self.overrides}

    def select(self, subs: list, key_for) -> tuple[list, list]:
        """The duplicates policy: (submissions to grade, [(student, file, why)] set aside)."""
        from gradcalc.grading.policy import resolve_duplicates

        def total(sub):
            return key_for(sub).grade(sub).total
        kept, aside = resolve_duplicates(subs, self.rubric.duplicates, total)
        return kept, [(s.student, s.source, why) for s, why in aside]

    def finish(self, result, sub) -> None:
        """The policy's grade for one result (before its feedback is written)."""
        from gradcalc.grading.policy import exclusion, late_penalty
        result.submitted = sub.submitted
        if sub.not_graded:        # grade none: every question 0, the status says why
            for q in result.questions:
                q.credit = 0.0
        else:
            late_penalty(result, self.rubric)
        if self.overrides:
            from gradcalc.grading.overrides import apply_overrides
            apply_overrides(result, self.overrides)
            self.unused.discard(result.student.strip().casefold())
        result.excluded = exclusion(result)

    def roster(self, results, roster_data, roster_key) -> None:
        """Submissions whose id is not on the roster are left out of the statistics."""
        from gradcalc.render.exports import match_roster
        col, _ = match_roster(roster_data, results, roster_key)
        ids = {row[col].strip().casefold() for row in roster_data.rows if col < len(row)}
        for r in results:
            if not r.excluded and r.student.strip().casefold() not in ids:
                r.excluded = "not on the roster"


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

