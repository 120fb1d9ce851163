"""The command-line interface (click): parse, call the library, render, map errors to exit codes.

Each command lives in its own module of this package; this module owns the group and the
mapping of gradcalc errors to one line on stderr and exit status 2."""
from __future__ import annotations

import functools
import sys

import click

from ..errors import GradcalcError

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT = 0, 1, 2


def handle_errors(fn):
    """Turn a GradcalcError into one clear line on stderr and exit status 2."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GradcalcError as exc:
            click.echo(f"gradcalc: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("gradcalc: interrupted", err=True)
            sys.exit(130)
    return wrapper


LANG = click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True,
                    help="Language of the tables (zh uses the lecture's words).")
PRECISION = click.option("--precision", type=click.IntRange(1, 17), default=4, show_default=True,
                         help="Significant digits in tables.")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="gradcalc")
def cli():
    """gradcalc: solve backprop homework step by step and check gradients three ways.

    \b
    Example:
      gradcalc solve problems/hw1.yaml
    """


def _register():
    from . import schema, solve  # noqa: F401  (each module adds its command to `cli`)
    for name in ("check", "grade", "train", "graph", "variants"):
        try:
            __import__(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise


_register()
