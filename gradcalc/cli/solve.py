"""`gradcalc solve`: forward pass, backward steps and gradients of one problem."""
from __future__ import annotations

import click

from gradcalc.cli import (LANG, PRECISION, cli, handle_errors, is_program, program_settings,
                          without_cyclic_gc)


# the one line that says so when Chinese was asked for (README: "Languages")
LATEX_ENGLISH_ZH = ("gradcalc: 提示：LaTeX 输出为英文（为了用 pdflatex + amsmath 直接编译）；"
                    "--lang zh 作用于文本、markdown 与 HTML 输出")


@cli.command()
@click.argument("problem", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "latex"]),
              default="text", show_default=True,
              help="Output format; json is the stable machine contract; latex is a derivation "
                   "that compiles with LaTeX + amsmath; markdown uses $…$ math.")
@click.option("--method", type=click.Choice(["autograd", "symbolic", "numeric", "all"]),
              default="all", show_default=True,
              help="Derivations to show beside autograd: SymPy (skipped above --symbolic-limit), "
                   "central differences, or all; autograd alone never imports SymPy.")
@click.option("--exact", is_flag=True,
              help="SymPy reads the decimals as fractions (0.4 = 2/5) and prints exact values.")
@click.option("--symbolic-limit", type=click.IntRange(0), default=None,
              help="Skip SymPy above this many differentiated entries [default: 10000; 500 with --exact].")
@click.option("--h", "h", type=float, default=None,
              help="Finite-difference step: θ moves by h·max(1, |θ|) [default: 1e-6].")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="Also write a self-contained HTML report (graph, tables, formulas) to this file.")
@click.option("--steps", type=click.IntRange(1, 10_000), default=None,
              help="With an optimizer section: K successive full-batch SGD steps (default 1).")
@LANG
@PRECISION
@handle_errors
def solve(problem, fmt, method, exact, symbolic_limit, h, lang, precision, html_path, steps):
    """Solve PROBLEM (a YAML file): forward values, backward steps, gradients.

    Every backward step shows upstream gradient × local gradient = downstream gradient.

    \b
    Examples:
      gradcalc solve problems/hw1.yaml
      gradcalc solve problems/lecture_sigmoid.yaml --lang zh
      gradcalc solve problems/hw1.yaml --format json > hw1.json
      gradcalc solve problems/hw1.yaml --exact --format latex > hw1.tex
      gradcalc solve problems/hw1.yaml --method autograd
      gradcalc solve problems/hw1.yaml --html hw1.html
      gradcalc solve problems/hw1_sgd.yaml --steps 3
    """
    if is_program():
        program_settings(collector_off=True)    # before NumPy is imported (its threads)
    from gradcalc.api import load_problem, solve as solve_problem
    from gradcalc.errors import UsageError

    if h is not None:
        from gradcalc.derive.numeric.policy import H_MAX, H_MIN
        if not H_MIN <= h <= H_MAX:      # 1e-300: θ ± hθ = θ and the quotient is 0/0
            raise UsageError(f"--h must be between {H_MIN:g} and {H_MAX:g}, got {h:g}")
    if exact and method not in ("symbolic", "all"):
        raise UsageError("--exact needs the symbolic method (--method symbolic or all)")
    if html_path:
        from gradcalc.render.graph import check_target
        check_target(html_path, (".html", ".htm"))   # a wrong name fails before any work
    prob = load_problem(problem)
    if steps and "optimizer" not in (prob.raw or {}):
        raise UsageError("--steps needs an 'optimizer' section in the problem "
                         "(e.g. optimizer: {type: sgd, lr: 0.1})")
    with without_cyclic_gc():
        sol = solve_problem(prob, method, symbolic_limit=symbolic_limit, exact=exact, h=h,
                            update_steps=steps)
    methods = sol.comparison is not None   # the three methods side by side, SymPy's formulas
    if html_path:
        from gradcalc.render.html import write_html
        write_html(sol, html_path, lang, precision, methods)
    if fmt == "json":
        from gradcalc.render.jsonout import dumps
        click.echo(dumps(sol.to_dict()))
    elif fmt == "markdown":
        from gradcalc.render.latex import derivation_markdown
        from gradcalc.render.markdown import solution_markdown
        click.echo(solution_markdown(sol, lang, precision, methods), nl=False)
        click.echo("\n" + derivation_markdown(sol, precision, lang), nl=False)
    elif fmt == "latex":
        from gradcalc.render.latex import latex_document
        if lang == "zh":    # the document compiles with plain LaTeX + amsmath: no CJK fonts
            click.echo(LATEX_ENGLISH_ZH, err=True)
        click.echo(latex_document(sol, precision), nl=False)
    else:
        from gradcalc.render.console import print_tables
        from gradcalc.render.solvetables import solve_tables
        print_tables(solve_tables(sol, lang, precision, methods), title=sol.title)
