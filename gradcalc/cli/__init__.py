"""The command-line interface (click): parse, call the library, render, map errors to exit codes.

Each command lives in its own module of this package; this module owns the group and the
mapping of gradcalc errors to one line on stderr and exit status 2."""
from __future__ import annotations

import contextlib
import functools
import gc
import sys

import click

from gradcalc.completing import CompletingDict
from gradcalc.errors import GradcalcError

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT = 0, 1, 2


def handle_errors(fn):
    """Turn a GradcalcError into one clear line on stderr and exit status 2."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GradcalcError as exc:
            # one line, whatever a message quotes (a value or a file's text may hold newlines)
            click.echo(f"gradcalc: error: {' '.join(str(exc).splitlines())}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("gradcalc: interrupted", err=True)
            sys.exit(130)
        # last lines of defence: the limits of the input should refuse these first, with the
        # field named; a problem that still reaches them gets one line, never a traceback
        except RecursionError:
            click.echo("gradcalc: error: the problem is nested too deeply to work through "
                       "(Python's recursion limit was reached); make it shallower", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except MemoryError:
            click.echo("gradcalc: error: out of memory: the problem needs more memory than this "
                       "machine gave it; make it smaller", err=True)
            sys.exit(EXIT_BAD_INPUT)
    return wrapper


LANG = click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True,
                    help="Language of the tables (zh uses the lecture's words).")
PRECISION = click.option("--precision", type=click.IntRange(1, 17), default=4, show_default=True,
                         help="Significant digits in tables.")


# command -> the module of this package that defines it.  `gradcalc NAME` imports only that
# module (start-up time); a command missing here is still found: every module is imported then.
_HOME = {"schema": "schema", "solve": "solve", "check": "check", "grade": "grade",
         "template": "grade", "grade-code": "gradecode", "train": "train", "graph": "graph",
         "variant": "variants", "variants": "variants", "autograder": "autograder",
         "autograder-run": "autograder", "key": "key"}


class _Commands(CompletingDict):
    """`cli.commands`: complete whenever it is read (every command module is imported then);
    registering a command (`@cli.command()`) does not read it."""

    loaded = False

    def complete(self) -> None:
        if not self.loaded:
            self.loaded = True
            _register()


class _Group(click.Group):
    """A group that imports a command's module only when that command runs."""

    def get_command(self, ctx, cmd_name):
        home = _HOME.get(cmd_name)
        if home is not None and not dict.__contains__(self.commands, cmd_name):
            _import(home)
        return self.commands.get(cmd_name)

    def list_commands(self, ctx):
        return sorted(self.commands)

    def make_context(self, info_name, args, parent=None, **extra):
        with _usage_in_one_line():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx):
        # a command's own options are parsed here (its make_context), inside the group's invoke
        with _usage_in_one_line():
            return super().invoke(ctx)

    def __call__(self, *args, **kwargs):
        # Only the program itself comes here (the console script and `python -m gradcalc`);
        # callers of the library and click's test runner call main() instead.
        global _PROGRAM
        _PROGRAM = True
        return super().__call__(*args, **kwargs)


_PROGRAM = False


@contextlib.contextmanager
def _usage_in_one_line():
    """A click usage error (bad option value, unknown option or command, missing argument) as
    the one `gradcalc: error:` line every other error uses, a hint line, and exit status 2."""
    try:
        yield
    except click.exceptions.NoArgsIsHelpError:
        raise                   # bare `gradcalc`: click prints the help
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "gradcalc"
        message = " ".join(exc.format_message().splitlines())
        click.echo(f"gradcalc: error: {message}", err=True)
        click.echo(f"gradcalc: hint: see '{where} --help'", err=True)
        sys.exit(EXIT_BAD_INPUT)


def is_program() -> bool:
    """Is this process the gradcalc program (so that a command may choose process-wide
    settings), rather than a library caller or a test runner?"""
    return _PROGRAM


def program_settings(collector_off: bool = False) -> None:
    """Settings of a gradcalc process (solve, check) (most of a short check is start-up time):

    * NumPy's OpenBLAS runs one thread unless the user chose otherwise: the matrices of a
      problem are small, and the idle threads of the pool spin at import (≈ 50 ms of CPU time
      taken from the other core);
    * at exit the cyclic garbage collector skips the objects that exist then (gc.freeze in an
      atexit hook, which runs before the interpreter's final collection): they are freed with
      the process, and rescanning SymPy's ≈ 10⁶ objects costs ≈ 50 ms;
    * collector_off (solve): the cyclic garbage collector is off for the rest of the command,
      its imports, loading and printing too, not only the work (without_cyclic_gc): a short
      solve makes mostly long-lived objects (modules, NumPy's) that its 30-odd young
      collections only rescan (≈ 3 ms of a hw1 solve); reference counting frees the rest."""
    import atexit
    import os
    if "numpy" not in sys.modules and not any(
            v in os.environ for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                      "GOTO_NUM_THREADS")):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
    atexit.register(gc.freeze)
    if collector_off:
        gc.disable()


@contextlib.contextmanager
def without_cyclic_gc():
    """The cyclic garbage collector is off while problems are checked: the work makes mostly
    long-lived objects (NumPy, SymPy and its caches: SymPy's import alone makes ≈ 10⁶) and
    little cyclic garbage, so the collector would only rescan them (≈ 25 ms of a hw1 check);
    the work per problem is bounded (the symbolic limit).  Reference counting still frees
    everything else at once.  In the gradcalc program the objects made meanwhile are frozen
    before the collector is back on: they all sit in the youngest generation, and the first
    allocation after gc.enable() would rescan them (≈ 50–100 ms after a 200×20 expression
    check) just before the process exits (the atexit hook freezes them anyway)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if _PROGRAM:
                gc.freeze()
            gc.enable()


def _max_memory(ctx, param, value):
    """--max-memory SIZE: the memory budget that problems are estimated against."""
    from gradcalc.problem.budget import parse_size, set_budget
    if value is None:
        set_budget(None)
        return None
    try:
        set_budget(parse_size(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    return value


@click.group(cls=_Group,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="gradcalc")
@click.option("--max-memory", metavar="SIZE", envvar="GRADCALC_MAX_MEMORY", callback=_max_memory,
              expose_value=False, is_eager=True,
              help="Refuse, before allocating, work estimated above SIZE (e.g. 2G, 500M, 25%) "
                   "[default: half of this machine's memory; env GRADCALC_MAX_MEMORY].")
def cli():
    """gradcalc: solve backprop homework step by step and check gradients three ways.

    \b
    Example:
      gradcalc solve problems/hw1.yaml
    """


cli.commands = _Commands(cli.commands)


def _import(name: str) -> None:
    """Import the command module `name` (each module adds its commands to `cli`); optional
    modules that do not exist are skipped."""
    try:
        __import__(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}" or name in ("schema", "solve"):
            raise


def _register():
    """Import every command module."""
    for name in ("schema", "solve", "check", "grade", "gradecode", "train", "graph", "variants",
                 "autograder", "key"):
        _import(name)
