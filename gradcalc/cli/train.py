"""`gradcalc train`: mini-batch SGD on a problem's data, with tables, plots and sweeps."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from gradcalc.cli import LANG, PRECISION, cli, handle_errors

EXIT_DIVERGED = 1
EXIT_INTERRUPTED = 130


def _check_target(path: str | None, option: str, suffixes: tuple[str, ...]) -> None:
    """Fail before training when an output name or its directory is wrong."""
    from gradcalc.errors import UsageError
    if path is None:
        return
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise UsageError(f"{option}: expected a {' or '.join(suffixes)} file name, got '{path}'")
    parent = p.resolve().parent
    if not parent.is_dir():
        raise UsageError(f"{option}: the directory {parent} does not exist")


def _check_boundary(problem) -> None:
    from gradcalc.errors import UsageError
    from gradcalc.train.loop import task
    x = problem.x
    features = x.shape[-1] if x.ndim >= 1 else 1
    if x.ndim != 2 or features != 2:
        raise UsageError(f"--boundary needs a batch with two input features (x₁, x₂); this "
                         f"problem has {'one example' if x.ndim == 1 else f'{features} features'}")
    if task(problem) != "classification":
        raise UsageError("--boundary needs a classification problem (cross_entropy, hinge, or bce "
                         "with 0/1 targets)")


@cli.command()
@click.argument("problem", type=click.Path(dir_okay=False))
@click.option("--epochs", type=click.IntRange(0, 10_000_000), default=100, show_default=True,
              help="Passes over the data.")
@click.option("--batch-size", "batch_size", default="32", show_default=True, metavar="N|all",
              help="Examples per mini-batch; 'all' is full-batch gradient descent (no shuffling).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="Seed of the per-epoch shuffling (same seed, same result, bit for bit).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the problem with the trained W and b to this YAML file.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Draw loss, accuracy and learning rate per epoch to this PNG.")
@click.option("--boundary", type=click.Path(dir_okay=False), default=None,
              help="Draw the decision regions and the data (2-D inputs) to this PNG.")
@click.option("--sweep", default=None, metavar="KEY=V1,V2,…",
              help="Train one model per value, e.g. layers[0].width=3,6,20 or "
                   "regularization.l2=0.001,0.01,0.1.")
@click.option("--quiet", is_flag=True, help="No progress bar and no epoch table.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json prints every epoch record and the final parameters.")
@LANG
@PRECISION
@handle_errors
def train(problem, epochs, batch_size, seed, out, plot, boundary, sweep, quiet, fmt, lang,
          precision):
    """Train PROBLEM's network on its data with SGD (its `optimizer:` section).

    Each epoch shuffles the examples (--seed) and takes one step per mini-batch, with the
    step-decay schedule and gradient clipping of the optimizer section. A loss that becomes
    nan or infinite stops training (exit status 1); Ctrl-C stops after the current batch
    (exit status 130). Either way --out receives the last finite parameters.

    \b
    Examples:
      gradcalc train problems/spiral.yaml --epochs 1000 --batch-size all --boundary spiral.png
      gradcalc train problems/hw1_sgd.yaml --epochs 20 --batch-size all --out trained.yaml
      gradcalc train problems/spiral.yaml --sweep 'layers[0].width=3,6,20' --boundary widths.png
    """
    from gradcalc.api import load_problem
    from gradcalc.errors import UsageError
    from gradcalc.train import loop as tr
    from gradcalc.train.fastnet import tune_allocator
    from gradcalc.train.sweep import parse_sweep

    batch = tr.parse_batch_size(batch_size)
    _check_target(out, "--out", (".yaml", ".yml"))
    _check_target(plot, "--plot", (".png",))
    _check_target(boundary, "--boundary", (".png",))
    sweep_spec = parse_sweep(sweep) if sweep else None
    if sweep_spec and out:
        raise UsageError("--out writes one trained problem; it cannot be combined with --sweep")
    prob = load_problem(problem)
    tr.check_trainable(prob)
    if boundary:
        _check_boundary(prob)
    tune_allocator()

    if sweep_spec:
        _run_sweep(prob, sweep_spec, epochs, batch, seed, plot, boundary, quiet, fmt, lang,
                   precision)
        return

    from gradcalc.render.train import TrainProgress
    with TrainProgress(epochs, prob.title, enabled=not quiet and fmt == "text") as bar:
        result = tr.train(prob, epochs=epochs, batch_size=batch, seed=seed, on_epoch=bar.update)
    written = _write_outputs(result, out, plot, boundary)
    if fmt == "json":
        from gradcalc.render.jsonout import dumps
        data = result.to_json()
        data["written"] = written
        click.echo(dumps(data))
    else:
        if not quiet:
            from gradcalc.render.console import print_tables
            from gradcalc.render.train import epoch_table
            print_tables([epoch_table(result, lang, precision)])
        from gradcalc.render.train import run_summary, wrote_line
        click.echo(run_summary(result, lang))
        for path in written:
            click.echo(wrote_line(path, lang))
    _finish(result)


def _write_outputs(result, out, plot, boundary) -> list[str]:
    from gradcalc.train.trained import write_trained
    written = []
    if out:
        write_trained(result, out)
        written.append(out)
    if plot and result.records:
        from gradcalc.render.train import plot_curves
        plot_curves(result, plot)
        written.append(plot)
    if boundary:
        from gradcalc.render.train import plot_boundary
        plot_boundary(result, boundary)
        written.append(boundary)
    return written


def _finish(result) -> None:
    if result.stopped == "nonfinite":
        click.echo(f"gradcalc: training stopped: {result.message}", err=True)
        sys.exit(EXIT_DIVERGED)
    if result.stopped == "interrupted":
        click.echo(f"gradcalc: {result.message}", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _run_sweep(prob, spec, epochs, batch, seed, plot, boundary, quiet, fmt, lang, precision):
    from gradcalc.train import loop as tr
    from gradcalc.train.sweep import variant
    from gradcalc.render.train import TrainProgress, plot_sweep, plot_sweep_curves, sweep_table
    key, path, values = spec
    variants = [(f"{key}={v}", variant(prob, path, v, key)) for v in values]  # validate all first
    if boundary:
        for _, p in variants:
            _check_boundary(p)
    results = []
    for label, p in variants:
        with TrainProgress(epochs, label, enabled=not quiet and fmt == "text") as bar:
            r = tr.train(p, epochs=epochs, batch_size=batch, seed=seed, on_epoch=bar.update,
                         label=label)
        results.append(r)
        if r.stopped == "interrupted":
            break
    written = []
    if plot:
        plot_sweep_curves(results, key, plot)
        written.append(plot)
    if boundary:
        plot_sweep(results, key, boundary)
        written.append(boundary)
    if fmt == "json":
        from gradcalc.render.jsonout import dumps
        click.echo(dumps({"sweep": {"key": key, "runs": [r.to_json() for r in results]},
                          "written": written}))
    else:
        from gradcalc.render.console import print_tables
        from gradcalc.render.train import run_summary, wrote_line
        if not quiet:
            print_tables([sweep_table(results, key, lang, precision)])
        else:
            for r in results:
                click.echo(run_summary(r, lang))
        for path_ in written:
            click.echo(wrote_line(path_, lang))
    for r in results:
        if r.stopped == "nonfinite":
            click.echo(f"gradcalc: {r.label}: training stopped: {r.message}", err=True)
    if any(r.stopped == "interrupted" for r in results):
        sys.exit(EXIT_INTERRUPTED)
    if any(r.stopped == "nonfinite" for r in results):
        sys.exit(EXIT_DIVERGED)
