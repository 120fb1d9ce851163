"""`gradcalc solve`: forward pass, backward steps and gradients of one problem."""
from __future__ import annotations

import click

from . import LANG, PRECISION, cli, handle_errors


@cli.command()
@click.argument("problem", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="Output format; json is the stable machine contract.")
@LANG
@PRECISION
@handle_errors
def solve(problem, fmt, lang, precision):
    """Solve PROBLEM (a YAML file): forward values, backward steps, gradients.

    Every backward step shows upstream gradient × local gradient = downstream gradient.

    \b
    Examples:
      gradcalc solve problems/hw1.yaml
      gradcalc solve problems/lecture_sigmoid.yaml --lang zh
      gradcalc solve problems/hw1.yaml --format json > hw1.json
    """
    from ..api import load_problem, solve as solve_problem

    sol = solve_problem(load_problem(problem))
    if fmt == "json":
        from ..render.jsonout import dumps
        click.echo(dumps(sol.to_dict()))
    elif fmt == "markdown":
        from ..render.markdown import solution_markdown
        click.echo(solution_markdown(sol, lang, precision), nl=False)
    else:
        from ..render.console import print_tables
        from ..render.tables import solve_tables
        print_tables(solve_tables(sol, lang, precision), title=sol.title)
