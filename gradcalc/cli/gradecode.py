"""`gradcalc grade-code`: a class's layer code checked submission by submission, in separate,
limited processes; grades.csv, the roster upload, feedback files and summary.md."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from gradcalc.cli import cli, handle_errors
from gradcalc.cli.grade import _prepare_dir, feedback_names
from gradcalc.errors import UsageError
from gradcalc.grading.outfolder import FolderLock


@cli.command("grade-code")
@click.argument("rubric", type=click.Path(dir_okay=False))
@click.argument("submissions", type=click.Path(file_okay=False))
@click.option("-o", "--output", "out_dir", default="grades", show_default=True,
              type=click.Path(file_okay=False),
              help="Folder for grades.csv, summary.md, upload.csv and feedback/.")
@click.option("--roster", type=click.Path(dir_okay=False),
              help="An LMS roster export (CSV); writes upload.csv with the grade column.")
@click.option("--roster-key", metavar="COLUMN", help="Roster column holding the student ids.")
@click.option("--assignment", metavar="NAME",
              help="Header of the grade column in upload.csv [default: the rubric's file name].")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=None,
              help="Submissions checked at the same time [default: the number of CPUs].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the random inputs (the same for every student).")
@click.option("-q", "--quiet", is_flag=True, help="No progress line; files only.")
@click.option("--wait", is_flag=True, help="When another run is writing to the output folder, "
              "wait for it to finish [default: stop with exit status 2].")
@handle_errors
def grade_code(rubric, submissions, out_dir, roster, roster_key, assignment, jobs, seed, quiet,
               wait):
    """Grade the layer code of a class: RUBRIC.yaml names the layers (functions or classes),
    their convention and points; SUBMISSIONS/ holds one .py per student or one folder per
    student.

    Each submission is imported and checked in its own process with a time limit per layer,
    a memory limit, a scratch working folder, an environment without the grader's variables
    and its output captured: a crash, a hang, sys.exit, a fork bomb or a huge allocation costs
    that submission its points and never stops the batch.  This limits damage from broken
    code; it is NOT a security sandbox (run untrusted code in a container).

    \b
    Examples:
      gradcalc grade-code rubric.yaml submissions/ -o grades
      gradcalc grade-code rubric.yaml submissions/ --roster canvas.csv -j 2
    """
    from gradcalc.grading.coderubric import load_code_rubric

    rub = load_code_rubric(rubric)
    roster_data = None
    if roster:
        from gradcalc.grading.roster import parse_roster, read_roster_bytes
        roster_data = parse_roster(read_roster_bytes(roster), roster)
    if not os.path.isdir(submissions):
        raise UsageError("expected a folder of submissions", file=submissions)
    out_path = Path(out_dir)
    _prepare_dir(out_path)
    with FolderLock(str(out_path), wait):
        _grade(rub, rubric, submissions, out_path, roster_data, roster_key, assignment, jobs,
               seed, quiet)


def _grade(rub, rubric, submissions, out_path, roster_data, roster_key, assignment, jobs, seed,
           quiet):
    from gradcalc.cli.grade import _write
    from gradcalc.fileio import write_atomic
    from gradcalc.grading.codegrade import grade_code as run, layer_pass_rates
    from gradcalc.grading.outfolder import MANIFEST, manifest_json, read_manifest, remove_stale
    from gradcalc.render.codegrade import feedback_markdown, summary_markdown
    from gradcalc.render.exports import grades_csv, roster_csv

    done = [0]
    show = not quiet and sys.stderr.isatty()

    def progress(k):
        done[0] += k
        if show:
            click.echo(f"\rchecked {done[0]} submissions", nl=False, err=True)

    report = run(rub, submissions, jobs=jobs, seed=seed, progress=progress, exclude=[out_path])
    if show and done[0]:
        click.echo("", err=True)
    if roster_data is not None:        # grades.csv's name column, as `gradcalc grade` fills it
        from gradcalc.grading.roster import fill_names
        fill_names(report.results, roster_data, roster_key)
    names = feedback_names(report.results)
    written, failed = {"grades.csv", "summary.md"}, []
    for r in report.results:
        try:            # one student's file that cannot be written never stops the class
            write_atomic(out_path / "feedback" / names[id(r)],
                         feedback_markdown(r, rub.title).encode("utf-8"), skip_unchanged=True)
            written.add("feedback/" + names[id(r)])
        except UsageError as exc:
            failed.append(f"{exc.file}: feedback not written ({exc.message})")
    _write(out_path / "grades.csv", grades_csv(report).encode("utf-8"))
    roster_info = None
    if roster_data is not None:
        text, roster_info = roster_csv(roster_data, report.results,
                                       assignment or Path(rubric).stem, rub.max_points,
                                       roster_key)
        _write(out_path / "upload.csv", text.encode("utf-8"))
        written.add("upload.csv")
    _write(out_path / "summary.md",
           summary_markdown(report, layer_pass_rates(report), _isolation(rub), roster_info,
                            failed).encode("utf-8"))
    remove_stale(str(out_path), read_manifest(str(out_path), "grade-code"), written)
    _write(out_path / MANIFEST, manifest_json("grade-code", written).encode("utf-8"))
    if not quiet:
        for name, passed, total in layer_pass_rates(report):
            click.echo(f"{name}: {passed}/{total} passed")
        stuck = sum(1 for r in report.results if r.status != "graded")
        click.echo(f"wrote {out_path / 'grades.csv'}, {out_path / 'summary.md'}"
                   + (f", {out_path / 'upload.csv'}" if roster_data is not None else "")
                   + f" and {len(written) - 2 - (roster_data is not None)} feedback files"
                   + (f"; {stuck} submission(s) could not be checked (see summary.md)"
                      if stuck else ""))


def _isolation(rub) -> list[str]:
    from gradcalc.grading.codeworker import can_drop_root
    root = os.geteuid() == 0
    lines = ["each submission in its own process, in a fresh scratch folder (deleted "
             "afterwards), with an environment holding only PATH, LANG, HOME/TMPDIR (the "
             "scratch folder) and Python's settings",
             f"time limit {rub.time_limit:g} s for the import and for each layer; memory limit "
             f"{rub.memory_mb} MB above the warm worker; CPU time, file size, core files and "
             f"processes limited (setrlimit); output captured (the feedback shows its start)",
             "starting processes from Python refused; the whole process group killed at the end"]
    if root:
        lines.append("run as root: the submissions ran as 'nobody'" if can_drop_root() else
                     "run as root, and the submissions ALSO ran as root (this Python is not "
                     "readable by 'nobody'): the scratch folder and the limits are all that "
                     "stood between them and the machine")
    lines.append("not a security sandbox: a determined attacker can escape it; run untrusted "
                 "code in a container or a VM")
    return lines
