"""`gradcalc schema`: the JSON Schema of the problem format, for editors."""
from __future__ import annotations

import click

from gradcalc.cli import cli, handle_errors


@cli.command()
@handle_errors
def schema():
    """Print the JSON Schema of problem files (for editor validation and completion).

    \b
    Example:
      gradcalc schema > gradcalc.schema.json
    """
    import json

    from gradcalc.problem.schema import problem_schema
    click.echo(json.dumps(problem_schema(), indent=2, ensure_ascii=False))
