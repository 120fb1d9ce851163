"""`gradcalc grade` (a class of answer files -> grades, feedback, summary) and `gradcalc template`."""
from __future__ import annotations

import os
import re
from pathlib import Path

import click

from . import LANG, PRECISION, cli, handle_errors
from ..errors import UsageError

_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}


def write_atomic(path: Path, data: bytes) -> bool:
    """Write to a temporary file in the same folder, then rename over the target: a reader
    never sees a half-written file, and an interrupted run leaves the old file intact.
    A file that already holds exactly these bytes is left alone (a re-run touches nothing).
    Returns whether the file was written."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except OSError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return True
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def feedback_names(results) -> dict[int, str]:
    """A safe, unique file name per result (student ids may hold any character; two copies of
    one id, or ids differing only in case, get -2, -3 …). Deterministic: sorted order."""
    from ..grade import sort_key
    names: dict[int, str] = {}
    taken: set[str] = set()
    for r in sorted(results, key=sort_key):
        base = re.sub(r"[^\w.\-]", "_", r.student).strip("._")[:100] or "student"
        if base.casefold() in _WINDOWS_RESERVED:
            base = "_" + base
        name, k = base, 1
        while name.casefold() in taken:
            k += 1
            name = f"{base}-{k}"
        taken.add(name.casefold())
        names[id(r)] = name + ".md"
    return names


def _prepare_dir(out: Path) -> None:
    try:
        (out / "feedback").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder: {exc.strerror or exc}",
                         file=str(out)) from None


@cli.command()
@click.argument("problem", type=click.Path(dir_okay=False))
@click.argument("submissions", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", "out_dir", default="grades", show_default=True,
              type=click.Path(file_okay=False), help="Folder for grades.csv, summary.md, "
              "histogram.png and feedback/.")
@click.option("--roster", type=click.Path(dir_okay=False),
              help="An LMS roster export (CSV); writes upload.csv with its identity columns and "
                   "the grade column.")
@click.option("--roster-key", metavar="COLUMN",
              help="Roster column holding the student ids [default: the identity column that "
                   "matches the most ids].")
@click.option("--assignment", metavar="NAME",
              help="Header of the grade column in upload.csv [default: the problem file's name].")
@click.option("--hide-answers", is_flag=True,
              help="Leave the accepted intervals out of the feedback files.")
@click.option("--variants", is_flag=True,
              help="PROBLEM is a template with random numbers: grade each student against their "
                   "own variant (regenerated from the student id) and flag copying signals.")
@LANG
@PRECISION
@click.option("-q", "--quiet", is_flag=True, help="No table and no progress bar; files only.")
@handle_errors
def grade(problem, submissions, out_dir, roster, roster_key, assignment, hide_answers, variants,
          lang, precision, quiet):
    """Grade a class: PROBLEM (with an optional `grading:` rubric) against SUBMISSIONS (answer
    files or folders of them: YAML/JSON, one per student, or CSV, a row per student).

    Wrong answers get follow-through credit when they are consistent with the student's own
    earlier answers, and are matched against a catalogue of classic backprop mistakes.
    Writes grades.csv, feedback/<student>.md, summary.md and histogram.png to the output folder
    (each file atomically). Exit 0 when grading ran, 2 when the problem or rubric is unusable.

    \b
    Examples:
      gradcalc template problems/hw1.yaml > answers/s001.yaml
      gradcalc grade problems/hw1.yaml answers/ -o grades
      gradcalc grade problems/hw1_rubric.yaml quiz.csv --roster canvas.csv --lang zh
    """
    from ..answers import iter_answer_files, parse_roster, read_file, flag_duplicates
    from ..api import load_problem
    from ..grade import AnswerKey, summarize
    from ..render import grade as out

    grader = None
    if variants:   # per-student numbers (the variants issue): one answer key per variant
        from ..variants import VariantGrader, load_template
        grader = VariantGrader(load_template(problem))
        prob, schema, rubric = grader.problem, grader.schema, grader.rubric

        def key_for(sub):   # an unreadable file has no real id: no variant to make for it
            return grader.probe if sub.unreadable else grader.key_for(sub)
    else:
        prob = load_problem(problem)
        key = AnswerKey(prob)                   # the rubric is validated here: exit 2 if unusable
        schema, rubric = key.schema, key.rubric

        def key_for(sub):
            return key
    roster_data = None
    if roster:
        try:
            raw = Path(roster).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read the roster: {exc.strerror or exc}", file=roster) from None
        roster_data = parse_roster(raw, roster)
    files = iter_answer_files(submissions)
    if not files:
        raise UsageError("no answer files (.yaml .yml .json .csv .tsv) found in "
                         + ", ".join(submissions))
    out_path = Path(out_dir)
    _prepare_dir(out_path)
    show = not quiet

    subs = []
    with out.progress(len(files), "reading", show and len(files) >= 200) as advance:
        for path, base in files:
            subs.extend(read_file(path, schema, base))
            advance(1)
    flag_duplicates(subs)

    feedback_dir = out_path / "feedback"
    file_of = feedback_names(subs)             # decided from ids before grading: deterministic
    results = []
    with out.progress(len(subs), "grading", show and len(subs) >= 200) as advance:
        for sub in subs:
            result = key_for(sub).grade(sub)
            text = out.feedback_markdown(result, prob.title, lang, hide_answers, precision)
            write_atomic(feedback_dir / file_of[id(sub)], text.encode("utf-8"))
            for q in result.questions:
                q.release()                    # keep only the scores for the summary
            results.append(result)
            advance(1)
    signals = grader.copy_signals(subs) if grader is not None else []
    del subs
    report = summarize(prob.title, rubric, results)

    write_atomic(out_path / "grades.csv", out.grades_csv(report).encode("utf-8"))
    roster_info = None
    if roster_data is not None:
        name = assignment or Path(problem).stem
        text, roster_info = out.roster_csv(roster_data, report.results, name,
                                           rubric.max_points, roster_key)
        write_atomic(out_path / "upload.csv", text.encode("utf-8"))
    write_atomic(out_path / "histogram.png",
                 out.histogram_png(report.totals, rubric.max_points, prob.title))
    if grader is not None:
        from ..variants import copy_signals_csv
        write_atomic(out_path / "copy_signals.csv", copy_signals_csv(signals).encode("utf-8"))
    write_atomic(out_path / "summary.md",
                 out.summary_markdown(report, lang, histogram="histogram.png",
                                      roster_info=roster_info,
                                      copy_signals=[s.text() for s in signals]).encode("utf-8"))
    if show:
        out.print_summary(report, lang)
        click.echo(f"wrote {out_path / 'grades.csv'}, {out_path / 'summary.md'}, "
                   f"{out_path / 'histogram.png'}"
                   + (f", {out_path / 'upload.csv'}" if roster_data is not None else "")
                   + f" and {len(results)} feedback files in {feedback_dir}")
        att = out.attention(report)
        if roster_info and (roster_info["not_on_roster"]):
            click.echo(f"note: {len(roster_info['not_on_roster'])} submission(s) not on the "
                       f"roster (matched on '{roster_info['key']}'); see summary.md", err=True)
        n_att = sum(len(v) for v in att.values())
        if n_att:
            click.echo(f"note: {n_att} submission(s) need attention (duplicate or missing ids, "
                       "unreadable files); see summary.md", err=True)


@cli.command()
@click.argument("problem", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["yaml", "csv"]), default="yaml",
              show_default=True, help="yaml: one student's file; csv: a header with a column "
                                      "per entry (for quiz exports).")
@handle_errors
def template(problem, fmt):
    """Print a blank answer file for PROBLEM with every question's name and shape.

    \b
    Examples:
      gradcalc template problems/hw1.yaml > answers/s001.yaml
      gradcalc template problems/hw1.yaml --format csv > quiz_header.csv
    """
    from ..api import load_problem
    from ..grade import AnswerKey

    prob = load_problem(problem)
    key = AnswerKey(prob)
    if fmt == "csv":
        cols = ["student", "name"]
        for q in key.rubric.questions:
            shape = key.reference[q.name].shape
            if len(shape) == 0 or (len(shape) == 1 and shape[0] == 1):
                cols.append(q.name)
            else:
                import numpy as np
                for idx in np.ndindex(shape):
                    cols.append(f"{q.name}[{','.join(str(i + 1) for i in idx)}]")
        import csv
        import io
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cols)   # "dW1[1,2]" needs quotes
        click.echo(buf.getvalue(), nl=False)
        return
    click.echo(template_yaml(prob, key), nl=False)


def template_yaml(prob, key) -> str:
    title = str(prob.title).replace("\n", " ")
    lines = [f"# Answers for: {title}",
             "# Replace every ~ by a value: 0.5, 1e-3, 3/5, 0,5 or an expression such as "
             "1/(1+exp(-0.6)).",
             "# Vectors as [a, b]; matrices as rows [[a, b], [c, d]] in the shape of the "
             "parameter (W is out × in).",
             f"# Gradients: dW1 stands for d{key.schema.output}/dW1 (writing "
             f"d{key.schema.output}/dW1 or ∂{key.schema.output}/∂W1 works too).",
             'student: ""', 'name: ""', "answers:"]
    width = max(len(q.name) for q in key.rubric.questions) + 1
    for q in key.rubric.questions:
        shape = key.reference[q.name].shape
        blank = _blank(shape)
        what = "a number" if len(shape) == 0 else (
            "a number (1 entry)" if shape == (1,) else
            f"{shape[0]} entries" if len(shape) == 1 else "×".join(map(str, shape)))
        pts = f"{q.points:g} point" + ("" if q.points == 1 else "s")
        lines.append(f"  {(q.name + ':').ljust(width)} {blank}   # {what}, {pts}")
    return "\n".join(lines) + "\n"


def _blank(shape: tuple) -> str:
    if len(shape) == 0 or shape == (1,):
        return "~"
    if len(shape) == 1:
        return "[" + ", ".join("~" for _ in range(shape[0])) + "]"
    return "[" + ", ".join(_blank(shape[1:]) if len(shape) > 2 else
                           "[" + ", ".join("~" for _ in range(shape[1])) + "]"
                           for _ in range(shape[0])) + "]"
