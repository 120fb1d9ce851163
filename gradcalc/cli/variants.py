"""`gradcalc variant` and `gradcalc variants`: per-student problems, handouts and answer keys."""
from __future__ import annotations

from pathlib import Path

import click

from gradcalc.fileio import write_all_atomic
from gradcalc.cli import LANG, PRECISION, cli, handle_errors


@cli.command()
@click.argument("template", type=click.Path(dir_okay=False))
@click.option("--student", "student", required=True, metavar="ID",
              help="The student id the variant is drawn for.")
@handle_errors
def variant(template, student):
    """Print the concrete problem (YAML) that TEMPLATE gives student ID.

    The variant is a pure function of the template's variants.seed and the student id: the
    same on every machine and every run. Draws that are not well-posed (a relu input near
    its kink, a saturated sigmoid, a probability near 0 or 1, an answer that rounds to 0)
    are redrawn; the header comment says how many draws it took.

    \b
    Examples:
      gradcalc variant problems/hw1_template.yaml --student 2026001
      gradcalc variant problems/hw1_template.yaml --student 2026001 > p.yaml && gradcalc solve p.yaml
    """
    from gradcalc.variants.maker import VariantMaker
    from gradcalc.variants.template import load_template
    from gradcalc.variants.yamlout import variant_yaml

    tmpl = load_template(template)
    v = VariantMaker(tmpl).make(student)
    click.echo(variant_yaml(v, tmpl), nl=False)


@cli.command()
@click.argument("template", type=click.Path(dir_okay=False))
@click.option("--roster", required=True, type=click.Path(dir_okay=False),
              help="Roster CSV as exported by the LMS (UTF-8, with or without BOM).")
@click.option("-o", "--output", "outdir", default="variants", show_default=True,
              type=click.Path(file_okay=False), help="Folder to write into.")
@click.option("--id-column", default=None, metavar="NAME",
              help="Roster column holding the student id (default: detected).")
@LANG
@PRECISION
@click.option("--quiet", is_flag=True, help="No summary line.")
@click.option("--wait", is_flag=True, help="When another run is writing to the output folder, "
              "wait for it to finish [default: stop with exit status 2].")
@handle_errors
def variants(template, roster, outdir, id_column, lang, precision, quiet, wait):
    """Write a variant of TEMPLATE for every student of the roster.

    \b
    Writes into the output folder:
      problems/<id>.yaml   the concrete problem of each student
      handouts/<id>.md     the handout (numbers and questions), and handouts/<id>.html
      keys/<id>.md         the answer key with accepted intervals and the worked solution
      answer_key.csv       a row per student, a column per answer entry (dW1[1,2], 1-based)
      variants.csv         the roster's columns as they were, plus draws and file names
    Nothing is written unless every student's variant could be made and every file written.
    One run at a time writes to the folder (a lock); the files of students no longer on the
    roster are removed (a manifest lists what each run wrote). A safe id is its own file
    name; any other id gets a short hash of the id (<cleaned id>~1a2b3c4d).

    The id column is the first of: Student ID, Student Number, 学号, SIS User ID,
    SIS Login ID, Login ID, User ID, ID, Username, Student (case, spaces, '_' ignored);
    or name it with --id-column.

    \b
    Examples:
      gradcalc variants problems/hw1_template.yaml --roster roster.csv -o hw1
      gradcalc variants problems/hw1_template.yaml --roster canvas.csv --lang zh -o hw1
    """
    from gradcalc.render import answerkey as K
    from gradcalc.render import handout as H
    from gradcalc.variants.maker import VariantMaker, reference_answers
    from gradcalc.grading.outfolder import (MANIFEST, FolderLock, manifest_json, read_manifest,
                                            remove_stale, stable_stems)
    from gradcalc.variants.roster import read_roster
    from gradcalc.variants.template import load_template
    from gradcalc.variants.yamlout import variant_yaml

    tmpl = load_template(template)
    ros = read_roster(roster, id_column)
    if not tmpl.is_random:     # issue 16: every student would get the same numbers
        click.echo(f"warning: {template} has no random numbers (no {{uniform: …}} or "
                   "{choice: …} values): every student gets the same variant and the same "
                   "numbers", err=True)
    out = Path(outdir)
    files: dict[Path, str] = {}
    records, draws = [], []
    stems = stable_stems(ros.ids())       # a pure function of each id: always the same file
    maker = VariantMaker(tmpl)
    yaml_cache: dict = {}
    rejections: dict[str, int] = {}
    for row, sid, stem in zip(ros.rows, ros.ids(), stems):
        v = maker.make(sid)
        questions = maker.questions
        name = ros.name(row).strip()
        refs = reference_answers(v, questions)
        sol = v.solution()
        draws.append(v.draws)
        for c, n in v.rejections.items():
            rejections[c] = rejections.get(c, 0) + n
        files[out / "problems" / f"{stem}.yaml"] = variant_yaml(v, tmpl, yaml_cache)
        blocks = H.handout_blocks(v, questions, refs, sol.output, lang, name, sol,
                                  personal=tmpl.is_random)
        files[out / "handouts" / f"{stem}.md"] = H.blocks_markdown(blocks)
        files[out / "handouts" / f"{stem}.html"] = H.blocks_html(blocks, lang, f"{v.problem.title} · {sid}")
        files[out / "keys" / f"{stem}.md"] = K.key_markdown(v, questions, refs, sol.output, lang, name,
                                                           precision, sol)
        records.append((sid, name, [(q.name, refs[q.name]) for q in questions if q.name in refs]))
    files[out / "answer_key.csv"] = K.answer_key_csv(records)
    files[out / "variants.csv"] = K.manifest_csv(
        ros.columns, ros.rows, [("variant_file", [f"problems/{st}.yaml" for st in stems]), ("draws", [str(d) for d in draws])])
    from gradcalc.errors import UsageError
    made = []                              # folders this run created: removed again on failure
    for folder in (out, out / "problems", out / "handouts", out / "keys"):
        if not folder.is_dir():
            try:
                folder.mkdir(parents=True)
                made.append(folder)
            except OSError as exc:
                _remove_empty(made)
                raise UsageError(f"cannot create the folder: {exc.strerror or exc}",
                                 file=str(folder)) from None
    try:
        with FolderLock(str(out), wait):
            written = {p.relative_to(out).as_posix() for p in files}
            previous = read_manifest(str(out), "variants")
            write_all_atomic(files)        # every file, or none
            remove_stale(str(out), previous, written)
            write_all_atomic({out / MANIFEST: manifest_json("variants", written)})
    except UsageError:
        _remove_empty(made)
        raise
    if not quiet:
        n = len(records)
        red = ", ".join(f"{c} ×{k}" for c, k in sorted(rejections.items(), key=lambda kv: -kv[1]))
        click.echo(f"wrote {n} variant{'s' if n != 1 else ''} to {out}/ "
                   f"(draws per variant: mean {sum(draws) / n:.2f}, max {max(draws)}"
                   + (f"; redrawn for: {red}" if red else "") + ")", err=True)
        for why in ros.skipped:
            click.echo(f"gradcalc: skipped roster {why}", err=True)


def _remove_empty(folders) -> None:
    """Remove the folders a failed run created (deepest first), if they are still empty."""
    import os
    for folder in reversed(folders):
        try:
            leftovers = [n for n in os.listdir(folder) if n != ".gradcalc.lock"]
            if not leftovers:
                for n in os.listdir(folder):
                    os.unlink(os.path.join(folder, n))
                os.rmdir(folder)
        except OSError:
            pass
