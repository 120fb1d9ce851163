"""`gradcalc check`: autograd against SymPy and central differences, or a student's own layer."""
from __future__ import annotations

import sys

import click

from gradcalc.cli import (EXIT_MISMATCH, EXIT_OK, LANG, PRECISION, cli, handle_errors, is_program,
                          program_settings, without_cyclic_gc)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format; json is for machines.")
@click.option("--symbolic-limit", type=click.IntRange(0), default=None,
              help="Skip SymPy (with a notice) above this many differentiated entries "
                   "[default: 10000; 500 with --exact].")
@click.option("--h", "h", type=float, default=None,
              help="Finite-difference step: entry θ moves by h·max(1, |θ|) [default: 1e-6].")
@click.option("--richardson", is_flag=True,
              help="Richardson extrapolation of the central differences (error O(h⁴)).")
@click.option("--sample", type=click.IntRange(1), default=None,
              help="Check only K random entries per parameter by finite differences.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of --sample, of the random direction and of --layer's inputs.")
@click.option("--exact", is_flag=True,
              help="SymPy reads the problem's decimals as fractions (0.4 = 2/5); exact values "
                   "are printed beside the decimals.")
@click.option("--formulas/--no-formulas", default=True, show_default=True,
              help="Print SymPy's local derivative of every backward step.")
@click.option("--layer", "layer", default=None, metavar="FILE.py[:NAME]",
              help="Check your own layer code: a class with forward/backward, CS231n "
                   "NAME_forward/NAME_backward functions, a loss returning (loss, dx), or a "
                   "torch.autograd.Function; FILE.py alone checks every layer in it. "
                   "This RUNS THE CODE IN FILE.py.")
@click.option("--convention", type=click.Choice(["auto", "class", "pair", "loss", "torch"]),
              default="auto", show_default=True, help="--layer: how the layer is written.")
@click.option("--shape", "shapes", multiple=True, metavar="[NAME=]AxB",
              help="--layer: the input shape, or NAME=AxB for another float array argument "
                   "[default: the course's shapes for the layer's name]. Repeatable.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="--layer: a non-array argument in YAML flow syntax, e.g. "
                   "conv_param='{stride: 1, pad: 1}' or G=2. Repeatable.")
@click.option("--labels", "labels", multiple=True, metavar="NAME=K",
              help="--layer: random integer labels in 0..K-1 for argument NAME (y, t are "
                   "labels by default). Repeatable.")
@click.option("--ints", "ints", multiple=True, metavar="NAME=LOW..HIGH",
              help="--layer: random integer inputs (not differentiated), e.g. x=0..9.")
@click.option("--mode", type=click.Choice(["train", "test"]), default="train", show_default=True,
              help="--layer: the 'mode' of bn_param/dropout_param (and train_flg).")
@LANG
@PRECISION
@handle_errors
def check(paths, fmt, symbolic_limit, h, richardson, sample, seed, exact, formulas, layer,
          convention, shapes, params, labels, ints, mode, lang, precision):
    """Check gradients three ways: autograd, SymPy and central differences.

    PATHS are problem files or folders of them (*.yaml, recursively). For each problem:
    the largest relative error per parameter between autograd and SymPy and between
    autograd and finite differences, a verdict, and every disagreeing entry with the values
    side by side. Entries whose finite difference crosses a kink (relu, max, hinge …) are
    reported as unreliable, not as failures.

    Exit status: 0 all agree, 1 a disagreement, 2 bad input.

    --layer FILE.py:NAME imports FILE.py and runs your layer on random inputs with a random
    upstream gradient, comparing its backward with central differences. It executes your
    code on purpose — only use it on code you trust (grading never does this).

    \b
    Examples:
      gradcalc check problems/hw1.yaml
      gradcalc check problems/ --format json
      gradcalc check problems/hw1.yaml --h 0.1          # a coarse step is caught
      gradcalc check --layer examples/layers.py:Affine --shape 4x3
      gradcalc check --layer examples/layers.py:AffineWrong --shape 4x3
      gradcalc check --layer layers.py        # every layer in the file, one row each
      gradcalc check --layer layers.py:conv_naive --param conv_param='{stride: 2, pad: 1}'
    """
    from gradcalc.errors import UsageError

    if h is not None:
        from gradcalc.derive.numeric.policy import H_MAX, H_MIN
        if not H_MIN <= h <= H_MAX:      # 1e-300: θ ± hθ = θ and the quotient is 0/0
            raise UsageError(f"--h must be between {H_MIN:g} and {H_MAX:g}, got {h:g}")
    if layer:
        if paths:
            raise UsageError("give either problem PATHS or --layer, not both")
        _check_layer(layer, convention, (shapes, params, labels, ints, mode), seed, h, fmt,
                     precision)
        return
    if shapes or params or labels or ints:
        raise UsageError("--shape, --param, --labels and --ints only apply to --layer")
    if not paths:
        raise UsageError("give problem files or folders to check (or --layer FILE.py:NAME)")
    if is_program():
        program_settings()
    with without_cyclic_gc():
        ok = _check_problems(paths, fmt, symbolic_limit, h, richardson, sample, seed, exact,
                             formulas, lang, precision)
    sys.exit(EXIT_OK if ok else EXIT_MISMATCH)


def _check_problems(paths, fmt, symbolic_limit, h, richardson, sample, seed, exact, formulas,
                    lang, precision) -> bool:
    from gradcalc.api import check as check_problem

    problems, skipped = _load(paths)
    # compute everything first: a bad file stops the run before anything is printed
    reports = [check_problem(p, symbolic_limit=symbolic_limit, h=h, richardson=richardson,
                             sample=sample, seed=seed, exact=exact) for p in problems]
    if skipped and lang == "zh":
        from gradcalc.render.i18n import zh_text
        skipped = [zh_text(note) for note in skipped]
    for note in skipped:
        click.echo(f"gradcalc: {note}", err=True)
    if fmt == "json":
        from gradcalc.render.check import check_json
        from gradcalc.render.jsonout import dumps
        click.echo(dumps(check_json(reports)))
    else:
        from gradcalc.render.check import check_tables, summary_table
        from gradcalc.render.console import print_tables
        for rep in reports:
            print_tables(check_tables(rep, lang, max(precision, 6), formulas))
        if len(reports) > 1:
            print_tables([summary_table(reports, lang)])
    return all(r.ok for r in reports)


def _load(paths):
    """Problems from files and folders; in folders, variant templates are skipped."""
    from pathlib import Path

    from gradcalc.compare.methods import collect_paths
    from gradcalc.errors import GradcalcError, UsageError
    from gradcalc.problem.load import problem_from_located
    from gradcalc.problem.yamlio import load_yaml_file

    problems, skipped = [], []
    folders = {Path(p).resolve() for p in paths if Path(p).is_dir()}
    for path in collect_paths(paths):
        loc = load_yaml_file(path)
        # a document with a random spec is a template; one without any is asked of the
        # variants module only when it is not a valid problem (importing it costs start-up time)
        template = _is_template(loc) if _may_be_template(loc.data) else None
        if not template:
            try:
                problems.append(problem_from_located(loc))
                continue
            except GradcalcError:
                if template is not None or not _is_template(loc):
                    raise
        if any(f in path.resolve().parents for f in folders):
            skipped.append(f"{path}: skipped (a variant template with random numbers)")
            continue
        raise UsageError(f"{path}: a variant template with random numbers; check a drawn "
                         f"variant instead (gradcalc variant {path} --student ID)")
    if not problems:
        raise UsageError("no problems to check")
    return problems, skipped


# the keys of a random spec in a template (gradcalc.variants.template.SPEC_KINDS)
_SPEC_KEYS = ("uniform", "integers", "choice")


def _may_be_template(data) -> bool:
    """Is there a mapping with a random-spec key anywhere in the document?"""
    stack = [data]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            if any(k in v for k in _SPEC_KEYS):
                return True
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


def _is_template(loc) -> bool:
    try:
        from gradcalc.variants.template import template_from_located
    except ImportError:
        return False
    try:
        return template_from_located(loc).is_random
    except Exception:     # not a template (the problem loader gives the real message)
        return False


def _check_layer(spec, convention, options, seed, h, fmt, precision):
    from pathlib import Path

    from gradcalc.compare.layer import check_file, check_layer, parse_shapes
    from gradcalc.compare.layerargs import options_from_cli
    from gradcalc.render.console import print_tables
    from gradcalc.render.layercheck import file_table, layer_tables

    shapes, params, labels, ints, mode = options
    x_shape, named = parse_shapes(shapes)
    opts = options_from_cli(x_shape, named, params, labels, ints, mode)
    if spec.endswith(".py") and (Path(spec).is_file() or ":" not in spec):
        reports = check_file(spec, opts=opts, seed=seed, h=h, convention=convention)
        if fmt == "json":
            from gradcalc.render.jsonout import dumps
            click.echo(dumps({"file": spec, "ok": all(r.ok for r in reports),
                              "layers": [r.to_json() for r in reports]}))
        else:
            print_tables([file_table(reports, spec)])
            for rep in reports:
                if not rep.ok and not rep.error:
                    print_tables(layer_tables(rep, max(precision, 6)), title=rep.title)
        sys.exit(EXIT_OK if all(r.ok for r in reports) else EXIT_MISMATCH)
    rep = check_layer(spec, seed=seed, h=h, opts=opts, convention=convention)
    if fmt == "json":
        from gradcalc.render.jsonout import dumps     # writes non-finite errors (inf) as null
        click.echo(dumps(rep.to_json()))
    else:
        print_tables(layer_tables(rep, max(precision, 6)), title=rep.title)
    sys.exit(EXIT_OK if rep.ok else EXIT_MISMATCH)
