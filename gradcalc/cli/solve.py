"""`gradcalc solve`: forward pass, backward steps and gradients of one problem."""
from __future__ import annotations

import click

from . import LANG, PRECISION, cli, handle_errors


@cli.command()
@click.argument("problem", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="Output format; json is the stable machine contract.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="Also write a self-contained HTML report (graph, tables, formulas) to this file.")
@click.option("--steps", type=click.IntRange(1, 10_000), default=None,
              help="With an optimizer section: K successive full-batch SGD steps (default 1).")
@LANG
@PRECISION
@handle_errors
def solve(problem, fmt, lang, precision, html_path, steps):
    """Solve PROBLEM (a YAML file): forward values, backward steps, gradients.

    Every backward step shows upstream gradient × local gradient = downstream gradient.

    \b
    Examples:
      gradcalc solve problems/hw1.yaml
      gradcalc solve problems/lecture_sigmoid.yaml --lang zh
      gradcalc solve problems/hw1.yaml --format json > hw1.json
      gradcalc solve problems/hw1.yaml --html hw1.html
      gradcalc solve problems/hw1_sgd.yaml --steps 3
    """
    from ..api import load_problem, solve as solve_problem

    if html_path:
        from ..render.graph import check_target
        check_target(html_path, (".html", ".htm"))   # a wrong name fails before any work
    prob = load_problem(problem)
    if steps and "optimizer" not in (prob.raw or {}):
        from ..errors import UsageError
        raise UsageError("--steps needs an 'optimizer' section in the problem "
                         "(e.g. optimizer: {type: sgd, lr: 0.1})")
    sol = solve_problem(prob, update_steps=steps)
    if html_path:
        from ..render.html import write_html
        write_html(sol, html_path, lang, precision)
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
