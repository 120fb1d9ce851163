"""`gradcalc grade` (a class of answer files -> grades, feedback, summary) and `gradcalc template`."""
from __future__ import annotations

import functools
import gc
import os
from contextlib import contextmanager
from pathlib import Path

import click

from gradcalc.cli import LANG, PRECISION, cli, handle_errors, is_program, program_settings
from gradcalc.errors import GradcalcError, UsageError
from gradcalc.fileio import write_atomic
from gradcalc.cli.histhelper import Histogram as _Histogram

# class outputs: a re-run that changes nothing touches no file
_write = functools.partial(write_atomic, skip_unchanged=True)

def feedback_names(results) -> dict[int, str]:
    """A safe file name per result, a pure function of the student id (grading.outfolder:
    a safe id is its own name, any other gets a short hash of the id; a second copy of one
    id gets ~2, ~3 …, in sorted order)."""
    from gradcalc.grading.outfolder import stable_stems
    from gradcalc.grading.report import sort_key
    ordered = sorted(results, key=sort_key)
    return {id(r): stem + ".md" for r, stem in zip(ordered, stable_stems([r.student for r in ordered]))}


# Classes at least this large get histogram.png from a helper process (see _Histogram).
HISTOGRAM_HELPER_MIN = 100


@contextmanager
def _few_collections():
    """Fewer runs of Python's cycle collector while a batch builds up its results.

    Submissions and results hold no reference cycles, so memory is freed as usual (by
    reference counts); but each collection walks every object still alive, and a class of
    10,000 keeps many alive: with the default thresholds that costs about 10% of the run.
    Everything alive before the batch (modules, the answer key) is frozen out of the walks."""
    gc.freeze()
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], 50_000), max(old[1], 20), max(old[2], 20))
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def _prepare_dir(out: Path) -> None:
    for folder in (out, out / "feedback"):
        if folder.is_symlink() and not folder.exists():
            raise UsageError(f"a symlink to a missing folder ({os.readlink(folder)}); remove it "
                             "or create its target", file=str(folder))
        if folder.exists() and not folder.is_dir():
            raise UsageError("exists and is not a folder", file=str(folder))
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create the output folder: {exc.strerror or exc}",
                             file=str(folder)) from None


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
@click.option("--wait", is_flag=True, help="When another run is writing to the output folder, "
              "wait for it to finish [default: stop with exit status 2].")
@click.option("--export", "exports", multiple=True, metavar="PLATFORM",
              type=click.Choice(["gradescope", "prairielearn", "moodle", "blackboard", "canvas"]),
              help="Also write what PLATFORM imports (repeatable): gradescope/<student>.json, "
                   "prairielearn/<student>.json, moodle.csv, blackboard.csv; canvas is "
                   "upload.csv (needs --roster).")
@click.option("--overrides", type=click.Path(dir_okay=False), metavar="FILE",
              help="Manual regrades (YAML: student, question, points or credit, comment, who), "
                   "applied on every run and shown in the feedback and grades.csv.")
@handle_errors
def grade(problem, submissions, out_dir, roster, roster_key, assignment, hide_answers, variants,
          lang, precision, quiet, wait, exports=(), overrides=None):
    """Grade a class: PROBLEM (with an optional `grading:` rubric) against SUBMISSIONS (answer
    files or folders of them: YAML/JSON, one per student, or CSV, a row per student).

    Wrong answers get follow-through credit when they are consistent with the student's own
    earlier answers, and are matched against a catalogue of classic backprop mistakes.
    Writes grades.csv, feedback/<student>.md, summary.md and histogram.png to the output folder
    (each file atomically). Exit 0 when grading ran, 1 when no answer of any submission matched
    (a wrong problem file?), 2 when the problem, rubric or overrides file is unusable.
    The output folder is never read as submissions; one run at a time writes to it (a lock),
    and the feedback of students no longer in the class is removed (a manifest lists what
    each run wrote). Paths that were not graded are listed in summary.md with the reason.

    \b
    Examples:
      gradcalc template problems/hw1.yaml > answers/s001.yaml
      gradcalc grade problems/hw1.yaml answers/ -o grades
      gradcalc grade problems/hw1_rubric.yaml quiz.csv --roster canvas.csv --lang zh
    """
    if is_program():
        program_settings()      # before NumPy is imported (its thread count)
    from gradcalc.grading.answerfiles import find_answer_files
    from gradcalc.grading.outfolder import FolderLock
    from gradcalc.grading.roster import parse_roster, read_roster_bytes
    from gradcalc.api import load_problem
    from gradcalc.grading.key import AnswerKey

    grader = None
    if variants:   # per-student numbers (the variants issue): one answer key per variant
        from gradcalc.variants.grader import VariantGrader
        from gradcalc.variants.template import load_template
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
    from gradcalc.grading.classpolicy import ClassPolicy
    roster_data = None
    if roster:
        roster_data = parse_roster(read_roster_bytes(roster), roster)
    # an unusable overrides file: exit 2
    policy = ClassPolicy(rubric, schema, overrides, roster_data, roster_key)
    out_path = Path(out_dir)
    for p in submissions:               # a typo is an error before any folder is created
        if not os.path.lexists(p):
            raise UsageError("no such file or folder", file=p)
    _prepare_dir(out_path)
    with FolderLock(str(out_path), wait):
        from gradcalc.cli.gradeexports import Exports
        export = Exports(exports, out_path, lang, hide_answers, precision, bool(roster))
        files, skipped = find_answer_files(submissions, exclude=[out_path], inputs=dict(
            [(roster, "the roster")] if roster else [], **{problem: "the problem file"},
            **({overrides: "the overrides file"} if overrides else {})))
        if not files:
            raise UsageError("no answer files (.yaml .yml .json .csv .tsv) found in "
                             + ", ".join(submissions)
                             + (f" ({len(skipped)} skipped: {skipped[0][0]}: {skipped[0][1]}"
                                + (" …)" if len(skipped) > 1 else ")") if skipped else ""))
        histogram = _Histogram(len(files) >= HISTOGRAM_HELPER_MIN)
        try:
            _grade_class(problem, prob, rubric, key_for, grader, files, schema, out_path,
                         roster, roster_data, roster_key, assignment, hide_answers, lang,
                         precision, quiet, histogram, skipped, export, policy)
        finally:
            histogram.close()


def _grade_class(problem, prob, rubric, key_for, grader, files, schema, out_path, roster,
                 roster_data, roster_key, assignment, hide_answers, lang, precision, quiet,
                 histogram, skipped=(), export=None, policy=None) -> None:
    from gradcalc.grading.answerfiles import read_file
    from gradcalc.grading.outfolder import MANIFEST, manifest_json, read_manifest, remove_stale
    from gradcalc.grading.submissions import flag_duplicates
    from gradcalc.grading.report import summarize
    from gradcalc.render import grade as out
    from gradcalc.render.exports import grades_csv, roster_csv
    from gradcalc.render.feedback import feedback_markdown

    show = not quiet
    subs = []
    with _few_collections(), \
            out.progress(len(files), "reading", show and len(files) >= 200) as advance:
        for path, base in files:
            subs.extend(read_file(path, schema, base))
            advance(1)
    flag_duplicates(subs)
    if policy is None:
        from gradcalc.grading.classpolicy import ClassPolicy
        policy = ClassPolicy(rubric, schema, None, roster_data, roster_key)
    subs, set_aside = policy.select(subs, key_for)    # grading: {duplicates: flag|latest|best}

    feedback_dir = out_path / "feedback"
    file_of = feedback_names(subs)             # decided from ids before grading: deterministic
    folder = str(feedback_dir)
    try:   # one listing instead of a look per file: a new name is written without one
        present = set(os.listdir(folder))
    except OSError:
        present = set()
    results, failed = [], []
    written = {"grades.csv", "summary.md", "histogram.png"}
    with _few_collections(), \
            out.progress(len(subs), "grading", show and len(subs) >= 200) as advance:
        for sub in subs:
            try:
                k = key_for(sub)
            except GradcalcError as exc:   # (--variants) this student's variant cannot be
                sub.unreadable = f"no answer key: {exc.message}"   # made: only this one
                sub.answers = {}
                k = key_for(sub)
            result = k.grade(sub)
            policy.finish(result, sub)             # duplicates, lateness, overrides
            text = feedback_markdown(result, prob.title, lang, hide_answers, precision)
            name = file_of[id(sub)]
            try:        # one student's file that cannot be written never stops the class
                write_atomic(os.path.join(folder, name), text.encode("utf-8"),
                             skip_unchanged=True, exists=name in present)
                written.add("feedback/" + name)
                if export is not None:      # (gradescope/prairielearn: before the release)
                    written.update(export.submission(result, name))
            except UsageError as exc:
                failed.append(exc)
            for q in result.questions:
                q.release()                    # keep only the scores for the summary
            results.append(result)
            advance(1)
    signals = grader.copy_signals(subs) if grader is not None else []
    from gradcalc.cli.gradepolicy import signal_rows, signal_text, signals_csv
    if signals:    # the submitter's status and feedback say so: graded again (a few)
        where = {s.source: i for i, s in enumerate(subs)}
        for row in signal_rows(signals, None):
            i = where.get(row[2])
            if i is None:
                continue
            sub = subs[i]
            sub.problems.append(signal_text(row))
            result = key_for(sub).grade(sub)
            policy.finish(result, sub)
            try:
                write_atomic(os.path.join(folder, file_of[id(sub)]), feedback_markdown(
                    result, prob.title, lang, hide_answers, precision).encode("utf-8"),
                    skip_unchanged=True)
            except UsageError as exc:
                failed.append(exc)
            for q in result.questions:
                q.release()
            results[i] = result
    del subs
    policy.mark_off_roster(results)     # the same steps as grading.classpolicy.grade_class
    report = summarize(prob.title, rubric, results)
    sig_rows = signal_rows(signals, report)
    _write(out_path / "signals.csv", signals_csv(sig_rows).encode("utf-8"))
    written.add("signals.csv")

    _write(out_path / "grades.csv", grades_csv(report).encode("utf-8"))
    skipped = [f"{p}: {why}" for p, why in skipped] \
        + [f"{exc.file}: feedback not written ({exc.message})" for exc in failed]
    roster_info = None
    if roster_data is not None:
        name = assignment or Path(problem).stem
        text, roster_info = roster_csv(roster_data, report.results, name,
                                       rubric.max_points, roster_key)
        _write(out_path / "upload.csv", text.encode("utf-8"))
        written.add("upload.csv")
    if export is not None:
        written.update(export.class_files(report.results, assignment or Path(problem).stem,
                                          rubric.max_points))
    _write(out_path / "histogram.png",
           histogram.png(report.totals, rubric.max_points, prob.title))
    if grader is not None:
        from gradcalc.variants.grader import copy_signals_csv
        _write(out_path / "copy_signals.csv", copy_signals_csv(signals).encode("utf-8"))
        written.add("copy_signals.csv")
    _write(out_path / "summary.md",
           out.summary_markdown(report, lang, histogram="histogram.png", roster_info=roster_info,
                                copy_signals=[signal_text(r) for r in sig_rows
                                              if r[0] == "variant-match"],
                                skipped=skipped, set_aside=set_aside).encode("utf-8"))
    # what the previous run wrote and this one did not (a withdrawn student's page) goes
    removed = remove_stale(str(out_path), read_manifest(str(out_path), "grade"), written)
    _write(out_path / MANIFEST, manifest_json("grade", written).encode("utf-8"))
    if show:
        from gradcalc.render.gradetext import words as grade_words
        gw = grade_words(lang)
        out.print_summary(report, lang)
        files = [out_path / "grades.csv", out_path / "summary.md", out_path / "histogram.png"]
        files += [out_path / "upload.csv"] if roster_data is not None else []
        click.echo(gw["wrote"].format(files=", ".join(map(str, files)), n=len(results),
                                      folder=feedback_dir))
        att = out.attention(report)
        if roster_info and roster_info["duplicates"]:
            click.echo(gw["note_roster_dup"].format(n=len(roster_info["duplicates"])), err=True)
        if roster_info and (roster_info["not_on_roster"]):
            click.echo(gw["note_not_on_roster"].format(n=len(roster_info["not_on_roster"]),
                                                       key=roster_info["key"]), err=True)
        n_att = sum(len(v) for v in att.values())
        if n_att:
            click.echo(gw["note_attention"].format(n=n_att), err=True)
        if skipped:
            click.echo(gw["note_skipped"].format(n=len(skipped)), err=True)
        if export is not None and export.note():
            click.echo(export.note(), err=True)
        if removed:
            click.echo(gw["note_removed"].format(n=len(removed)), err=True)
        from gradcalc.cli.gradepolicy import report_console
        warn = out.warnings(report, lang)
        report_console(report, gw, warn[1:] if report.nothing_matched() else warn, set_aside,
                       policy.unused)
    if failed:
        more = f" (and {len(failed) - 1} more; every other file was written)" if len(failed) > 1 \
            else " (every other file was written)"
        raise UsageError(failed[0].message + more, file=failed[0].file)
    if report.nothing_matched():      # every file is written; the run says so loudly
        from gradcalc.cli.gradepolicy import nothing_matched_exit
        from gradcalc.render.gradetext import words as grade_words
        nothing_matched_exit(grade_words(lang)["nothing_matched"])


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
      gradcalc template problems/hw1_template.yaml   # a variant template: the same shapes
    """
    from gradcalc.grading.key import AnswerKey
    from gradcalc.variants.maker import VariantMaker
    from gradcalc.variants.template import load_template

    tmpl = load_template(problem)
    if tmpl.is_random:     # a variant template: every student's variant has the same shapes
        prob = VariantMaker(tmpl).make("template").problem
    else:
        from gradcalc.api import load_problem
        prob = load_problem(problem)
    key = AnswerKey(prob)
    if fmt == "csv":
        from gradcalc.render.answerkey import entry_names   # the answer key's column names too
        cols = ["student", "name"]
        for q in key.rubric.questions:
            cols += [col for col, _ in entry_names(q.name, key.reference[q.name])]
        from gradcalc.csvsafe import csv_text   # "dW1[1,2]" needs quotes
        click.echo(csv_text([cols], newline="\n"), nl=False)
        return
    click.echo(template_yaml(prob, key), nl=False)


def template_yaml(prob, key) -> str:
    from gradcalc.render.i18n import in_out_words, is_network
    title = str(prob.title).replace("\n", " ")
    shape_rule = (in_out_words(prob, "in the shape of the parameter (W is out × in).")
                  if is_network(prob) else "in the shape of the quantity.")
    lines = [f"# Answers for: {title}",
             "# Replace every ~ by a value: 0.5, 1e-3, 3/5, 0,5 or an expression such as "
             "1/(1+exp(-0.6)).",
             "# Vectors as [a, b]; matrices as rows [[a, b], [c, d]] " + shape_rule,
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
