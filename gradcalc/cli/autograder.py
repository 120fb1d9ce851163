"""`gradcalc autograder` (a Gradescope autograder.zip for a problem) and `gradcalc autograder-run` (what it runs)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from gradcalc.cli import LANG, PRECISION, cli, handle_errors
from gradcalc.errors import GradcalcError, UsageError
from gradcalc.fileio import write_atomic

_VISIBILITY = click.Choice(["visible", "hidden", "after_due_date", "after_published"])


@cli.command()
@click.argument("problem", type=click.Path(dir_okay=False))
@click.option("-o", "--output", default="autograder.zip", show_default=True,
              type=click.Path(dir_okay=False), help="The zip to upload to Gradescope.")
@click.option("--visibility", type=_VISIBILITY, default="visible", show_default=True,
              help="When students see the per-question results (Gradescope's visibility).")
@click.option("--stdout-visibility", type=_VISIBILITY, default="hidden", show_default=True,
              help="When students see the autograder's own output.")
@click.option("--hide-answers", is_flag=True,
              help="Leave the accepted intervals out of what students see.")
@click.option("--student-id", type=click.Choice(["sid", "email"]), default="sid",
              show_default=True, help="Which of Gradescope's user fields is the student id "
              "(the id a variant template draws each student's numbers from).")
@click.option("--wheel", type=click.Path(dir_okay=False, exists=True),
              help="Ship this gradcalc wheel in the zip; setup.sh installs it.")
@click.option("--build-wheel", is_flag=True,
              help="Build gradcalc's wheel from its source tree (pip wheel --no-deps, offline) "
                   "and ship it [default: setup.sh installs gradcalc from PyPI].")
@LANG
@PRECISION
@handle_errors
def autograder(problem, output, visibility, stdout_visibility, hide_answers, student_id, wheel,
               build_wheel, lang, precision):
    """Write a Gradescope autograder bundle for PROBLEM (a problem file or a variant template).

    The zip holds setup.sh (installs gradcalc: the wheel in the zip, or the release from PyPI),
    run_autograder (grades /autograder/submission into /autograder/results/results.json, one
    test per question, with the visibility chosen here), the problem and the settings. With a
    variant template each submission is graded against the submitter's own variant, drawn from
    the student id in /autograder/submission_metadata.json.

    \b
    Examples:
      gradcalc autograder problems/hw1_rubric.yaml -o autograder.zip
      gradcalc autograder problems/hw1_template.yaml --build-wheel --visibility after_due_date
    """
    from gradcalc.render.autograder import bundle_zip, settings_json
    from gradcalc.version import __version__
    if wheel and build_wheel:
        raise UsageError("give --wheel FILE or --build-wheel, not both")
    variants = _validate(problem)            # an unusable problem or rubric: exit 2 here
    try:
        raw = Path(problem).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the file: {exc.strerror or exc}", file=problem) from None
    extra = _data_files(problem, raw)
    shipped = None
    if wheel:
        shipped = (Path(wheel).name, Path(wheel).read_bytes())
    elif build_wheel:
        shipped = _build_wheel()
    settings = settings_json(Path(problem).name, visibility, stdout_visibility, hide_answers,
                             lang, precision, student_id, variants)
    write_atomic(output, bundle_zip(raw, settings, __version__, shipped, extra))
    how = (f"the wheel {shipped[0]} in the zip" if shipped
           else f"PyPI (gradcalc=={__version__}; this project has not published gradcalc "
                "there: use --build-wheel, or --wheel FILE, unless your copy is on PyPI)")
    click.echo(f"wrote {output}: setup.sh installs gradcalc from {how}; upload it as the "
               "assignment's autograder (Configure Autograder → Zip file upload)", err=True)


def _validate(problem: str) -> bool:
    """Load the problem (or template) and its rubric as the run will; True for a template with
    random numbers (graded per student)."""
    from gradcalc.variants.template import load_template
    tmpl = load_template(problem)
    if tmpl.is_random:
        from gradcalc.variants.grader import VariantGrader
        VariantGrader(tmpl)
        return True
    from gradcalc.api import load_problem
    from gradcalc.grading.key import AnswerKey
    AnswerKey(load_problem(problem), lazy=True)
    return False


def _data_files(problem: str, raw: bytes) -> list[tuple[str, bytes]]:
    """The data file a problem reads (`data: {file: NAME}`), shipped beside it under the same
    relative name; a name outside the problem's folder cannot be, and is refused."""
    from gradcalc.problem.yamlio import load_yaml_text
    doc = load_yaml_text(raw, file=problem).data
    data = doc.get("data") if isinstance(doc, dict) else None
    name = data.get("file") if isinstance(data, dict) else None
    if not isinstance(name, str):
        return []
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts or rel.as_posix() in (
            "setup.sh", "run_autograder", "problem.yaml", "gradcalc_autograder.json"):
        raise UsageError(f"data.file '{name}' is outside the problem's folder: the bundle ships "
                         "it beside the problem, so name it relative to the problem file "
                         "(a file in the same folder or below)", file=problem)
    path = Path(problem).parent / rel
    try:
        return [(rel.as_posix(), path.read_bytes())]
    except OSError as exc:
        raise UsageError(f"cannot read the data file: {exc.strerror or exc}", file=str(path)) \
            from None


def _build_wheel() -> tuple[str, bytes]:
    src = Path(__file__).resolve().parents[2]          # gradcalc/cli/autograder.py -> the tree
    if not (src / "pyproject.toml").is_file():
        raise UsageError("gradcalc is not installed from a source tree; give --wheel FILE or "
                         "leave --build-wheel out (setup.sh then installs from PyPI)")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
               "--no-index", "-q", "-w", tmp, str(src)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("gradcalc-*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise UsageError(f"pip wheel failed: {last}; give --wheel FILE or leave "
                             "--build-wheel out (setup.sh then installs from PyPI)", file=str(src))
        return wheels[0].name, wheels[0].read_bytes()


# ---------------------------------------------------------------- inside Gradescope
@cli.command("autograder-run", hidden=True)
@click.option("--root", default=None, type=click.Path(file_okay=False),
              help="The autograder folder [default: $GRADCALC_AUTOGRADER_ROOT or /autograder].")
def autograder_run(root):
    """Grade <root>/submission into <root>/results/results.json (run by run_autograder).

    Always writes results.json: a submission that cannot be graded scores 0 with the reason.

    \b
    Examples (a rehearsal outside Gradescope, the bundle unpacked into ag/source):
      gradcalc autograder-run --root ag
      GRADCALC_AUTOGRADER_ROOT=ag ag/source/run_autograder     # the same, as Gradescope runs it
    """
    from gradcalc.render.autograder import SETTINGS
    from gradcalc.render.exports_lms import results_json
    root = Path(root or os.environ.get("GRADCALC_AUTOGRADER_ROOT") or "/autograder")
    settings = {}
    try:
        settings = json.loads((root / "source" / SETTINGS).read_text(encoding="utf-8"))
        data = _grade_one(root, settings)
    except Exception as exc:    # results.json is written whatever happens (Gradescope needs it)
        if not isinstance(exc, (GradcalcError, OSError, ValueError)):
            import traceback    # a fault of gradcalc's: the trace for the instructor's stdout
            traceback.print_exc(file=sys.stdout)
        why = str(exc)          # GradcalcError: "<file>:<line>: <field>: <what>"
        settings = settings if isinstance(settings, dict) else {}
        data = {"score": 0.0, "output": f"gradcalc could not grade this submission: {why}",
                "visibility": settings.get("visibility", "visible"),
                "stdout_visibility": settings.get("stdout_visibility", "hidden"), "tests": []}
    out = root / "results"
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "results.json", results_json(data).encode("utf-8"))
    click.echo(f"gradcalc: score {data['score']}; {len(data['tests'])} questions; "
               f"wrote {out / 'results.json'}")


def _metadata_id(root: Path, field: str) -> str:
    """The submitter's id from Gradescope's submission_metadata.json ('' when there is none)."""
    try:
        meta = json.loads((root / "submission_metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    users = meta.get("users") if isinstance(meta, dict) else None
    if not isinstance(users, list) or not users or not isinstance(users[0], dict):
        return ""
    user = users[0]
    for key in (field, "sid", "email"):
        value = user.get(key)
        if isinstance(value, (str, int)) and str(value).strip():
            return str(value).strip()
    return ""


def _grade_one(root: Path, settings: dict) -> dict:
    from gradcalc.grading.answerfiles import find_answer_files, read_file
    from gradcalc.grading.submissions import broken_submission
    from gradcalc.render.exports_lms import gradescope_results
    from gradcalc.variants.template import load_template
    problem = str(root / "source" / settings.get("problem", "problem.yaml"))
    tmpl = load_template(problem)
    grader = key = None
    if tmpl.is_random:
        from gradcalc.variants.grader import VariantGrader
        grader = VariantGrader(tmpl)
        schema = grader.schema
    else:
        from gradcalc.api import load_problem
        from gradcalc.grading.key import AnswerKey
        key = AnswerKey(load_problem(problem))
        schema = key.schema
    who = _metadata_id(root, settings.get("student_id", "sid"))
    notes = []
    files, skipped = find_answer_files([str(root / "submission")])
    subs = []
    for path, base in files:
        subs.extend(read_file(path, schema, base))
    if not subs:
        why = "no answer file (.yaml .yml .json .csv) in the submission"
        if skipped:
            why += f" ({skipped[0][0]}: {skipped[0][1]})"
        sub = broken_submission(None, "submission", why, who or "submission")
    else:
        mine = [s for s in subs if who and s.student.strip() == who]
        sub = (mine or subs)[0]
        if len(subs) > 1:
            notes.append(f"{len(subs)} answer files or rows were submitted; graded {sub.source}")
    if who and sub.student.strip() != who:
        if not sub.id_missing and sub.student.strip():
            notes.append(f"the answer file says student {sub.student}; graded as {who} "
                         "(Gradescope's submitter)")
        sub.student = who
    if grader is not None:
        if not who and sub.id_missing:
            raise UsageError("no student id: neither submission_metadata.json nor the answer "
                             "file names one, so the variant to grade against is unknown")
        key = grader.key_for(sub)
    result = key.grade(sub)
    data = gradescope_results(result, settings.get("lang", "en"),
                              bool(settings.get("hide_answers")),
                              int(settings.get("precision", 4)),
                              settings.get("visibility", "visible"),
                              settings.get("stdout_visibility", "hidden"))
    if notes:
        data["output"] += "\n" + "\n".join(notes)
    return data
