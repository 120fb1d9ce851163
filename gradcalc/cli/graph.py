"""`gradcalc graph`: draw a problem's computational graph with forward values and gradients."""
from __future__ import annotations

import click

from gradcalc.cli import LANG, PRECISION, cli, handle_errors


@cli.command()
@click.argument("problem", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="Picture to write: .svg, .png, .pdf, or .dot (Graphviz source).")
@LANG
@PRECISION
@handle_errors
def graph(problem, out, lang, precision):
    """Draw PROBLEM's computational graph, left to right, as the lecture does.

    One box per input and per operation; each wire shows its forward value above
    (green) and its gradient below (red). Small vectors and matrices are shown in
    full, large ones by shape. No Graphviz needed; .dot is for those who have it.

    \b
    Examples:
      gradcalc graph problems/lecture_sigmoid.yaml -o sigmoid.svg
      gradcalc graph problems/hw1.yaml -o hw1.png --lang zh
      gradcalc graph problems/hw1.yaml -o hw1.dot && dot -Tpdf hw1.dot -o hw1.pdf
    """
    from gradcalc.api import load_problem, solve as solve_problem
    from gradcalc.render.graph import check_target, write_graph

    check_target(out)                 # a wrong name fails before any work
    sol = solve_problem(load_problem(problem))
    for notice in write_graph(sol, out, lang, precision):
        click.echo(f"gradcalc: note: {notice}", err=True)
