"""Helpers shared by the benchmarks: a committed revision of the package, and the environment
that makes a `python -m gradcalc` process import a given copy of it."""
from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def export(rev: str, into: Path) -> Path:
    """The package as committed at `rev` (git archive: the working tree is not touched)."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, "gradcalc"],
                          check=True, capture_output=True).stdout
    into.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into)
    return into


def tree(argv: list[str]) -> str:
    """--tree DIR, read from argv before gradcalc is imported: the checkout whose gradcalc a
    benchmark times in-process (this one when not given)."""
    for i, arg in enumerate(argv):
        if arg == "--tree" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--tree="):
            return arg.split("=", 1)[1]
    return str(ROOT)


def with_path(src: Path) -> dict:
    """os.environ with `src` first on PYTHONPATH (`python -m` would otherwise import the
    package of the current folder)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(src)] + ([env["PYTHONPATH"]]
                                                       if env.get("PYTHONPATH") else []))
    return env
