"""CLI output of every shipped problem against a snapshot taken before the package-layout move.

The snapshots in tests/snapshots/ were written by the code as it stood before the move (the flat
package of session 1); the move must not change a byte of what users see.  After an intended
change of output, rewrite them with `python tests/test_snapshots.py --update [SUBSTRING ...]`
(only the snapshots whose name contains one of the substrings, or all) and read the diff.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcalc.cli import cli

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"

# (name, argv): solve in every format and language, check as text and JSON, the SGD steps,
# a drawn variant and an answer template
_PER_PROBLEM = {
    "text": ["solve", "{p}"],
    "zh": ["solve", "{p}", "--lang", "zh", "--method", "autograd"],
    "json": ["solve", "{p}", "--format", "json"],
    "markdown": ["solve", "{p}", "--format", "markdown"],
    "latex": ["solve", "{p}", "--format", "latex"],
    "check": ["check", "{p}"],
    "check_json": ["check", "{p}", "--format", "json"],
    "template": ["template", "{p}"],
}
_EXTRA = {
    "hw1_sgd.steps3": ["solve", "problems/hw1_sgd.yaml", "--steps", "3", "--format", "json"],
    "hw1_template.variant": ["variant", "problems/hw1_template.yaml", "--student", "s001"],
    "check_folder": ["check", "problems/", "--format", "json"],
}


def cases() -> dict[str, list[str]]:
    out = {}
    for path in sorted(PROBLEMS.glob("*.yaml")):
        rel = f"problems/{path.name}"
        for kind, argv in _PER_PROBLEM.items():
            out[f"{path.stem}.{kind}"] = [a.format(p=rel) for a in argv]
    out.update(_EXTRA)
    return out


def render(argv: list[str]) -> str:
    """Exit code, stdout and stderr of one CLI run, as one text (run from the repository root)."""
    import os
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        r = CliRunner().invoke(cli, argv, env={"COLUMNS": "120"})
    finally:
        os.chdir(cwd)
    return (f"$ gradcalc {' '.join(argv)}\n[exit {r.exit_code}]\n"
            f"--- stdout\n{r.stdout}--- stderr\n{r.stderr}")


CASES = cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_cli_output_is_unchanged(name):
    expected = (SNAPSHOTS / f"{name}.txt").read_text(encoding="utf-8")
    assert render(CASES[name]) == expected


def test_every_problem_has_its_snapshots():
    have = {p.name[:-4] for p in SNAPSHOTS.glob("*.txt")}
    assert set(CASES) <= have, sorted(set(CASES) - have)


if __name__ == "__main__":
    if sys.argv[1:2] != ["--update"]:
        sys.exit("usage: python tests/test_snapshots.py --update [SUBSTRING ...]")
    wanted = sys.argv[2:]
    SNAPSHOTS.mkdir(exist_ok=True)
    written = 0
    for name, argv in CASES.items():
        if wanted and not any(w in name for w in wanted):
            continue
        (SNAPSHOTS / f"{name}.txt").write_text(render(argv), encoding="utf-8")
        written += 1
    print(f"wrote {written} snapshots to {SNAPSHOTS}")
