"""`gradcalc key`: one class-wide answer key (markdown or HTML) with every answer and the worked solution."""
from __future__ import annotations

from pathlib import Path

import click

from gradcalc.cli import LANG, PRECISION, cli, handle_errors
from gradcalc.errors import UsageError
from gradcalc.fileio import write_atomic


@cli.command()
@click.argument("problem", type=click.Path(dir_okay=False))
@click.option("--roster", type=click.Path(dir_okay=False),
              help="With a variant template: the roster whose students get a key each.")
@click.option("--id-column", default=None, metavar="NAME",
              help="Roster column holding the student id (default: detected as by `variants`).")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write to FILE (.md or .html) [default: markdown on standard output].")
@click.option("--format", "fmt", type=click.Choice(["markdown", "html"]), default=None,
              help="[default: html for an .html/.htm FILE, else markdown]")
@LANG
@PRECISION
@handle_errors
def key(problem, roster, id_column, output, fmt, lang, precision):
    """One answer key for the whole class: every question's answer with its accepted interval
    and points, the given numbers, and the worked solution (forward and backward tables).

    PROBLEM without random numbers: one key, which the class shares. A variant TEMPLATE with
    --roster: a table of every student's answers, then each student's key and worked solution
    (the same keys `variants` writes to keys/<id>.md, in one document).

    \b
    Examples:
      gradcalc key problems/hw1_rubric.yaml > key.md
      gradcalc key problems/hw1_template.yaml --roster roster.csv -o key.html
    """
    from gradcalc.render.classkey import class_key_html, class_key_markdown
    from gradcalc.variants.maker import VariantMaker, reference_answers
    from gradcalc.variants.template import load_template

    tmpl = load_template(problem)
    maker = VariantMaker(tmpl)
    entries = []
    if tmpl.is_random:
        if not roster:
            raise UsageError("a template with random numbers has a key per student: give "
                             "--roster ROSTER.csv", file=problem)
        from gradcalc.variants.roster import read_roster
        ros = read_roster(roster, id_column)
        for row, sid in zip(ros.rows, ros.ids()):
            v = maker.make(sid)
            entries.append((v, ros.name(row).strip(), reference_answers(v, maker.questions),
                            v.solution()))
        if not entries:
            raise UsageError("the roster lists no student", file=roster)
    else:
        if roster:
            click.echo("gradcalc: note: the problem has no random numbers: one key for the "
                       "whole class (the roster is not needed)", err=True)
        v = maker.make("key")
        v.student = None                      # the class's key: no student line
        entries.append((v, "", reference_answers(v, maker.questions), v.solution()))
    out_name = entries[0][3].output
    if fmt is None:
        fmt = "html" if output and Path(output).suffix.lower() in (".html", ".htm") else "markdown"
    render = class_key_html if fmt == "html" else class_key_markdown
    text = render(entries, maker.questions, out_name, lang, precision)
    if output:
        write_atomic(output, text.encode("utf-8"))
        click.echo(f"wrote {output} ({len(entries)} key{'s' if len(entries) != 1 else ''})",
                   err=True)
    else:
        click.echo(text, nl=False)
