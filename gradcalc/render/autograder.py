"""A Gradescope autograder bundle (autograder.zip): setup.sh, run_autograder, the problem and its settings.

Gradescope's specification (https://gradescope-autograders.readthedocs.io/en/latest/specs/): the
zip holds setup.sh and run_autograder at its root; it is unpacked into /autograder/source;
the student's files are in /autograder/submission, who submitted in
/autograder/submission_metadata.json, and run_autograder must leave
/autograder/results/results.json. Here run_autograder runs `gradcalc autograder-run`, which
grades the submission against the bundled problem (a variant template: the submitter's own
variant) and writes that file. The root is $GRADCALC_AUTOGRADER_ROOT when set (for a rehearsal
outside Gradescope) and the Python that runs it $GRADCALC_PYTHON (default python3).
"""
from __future__ import annotations

import io
import json
import shlex
import zipfile

SETTINGS = "gradcalc_autograder.json"
PROBLEM = "problem.yaml"
# a fixed time stamp: the same problem and settings give the same bytes
_EPOCH = (2020, 1, 1, 0, 0, 0)


def setup_sh(wheel: str | None, version: str) -> str:
    """Install Python's pip and gradcalc: the wheel shipped in the zip, or the release from
    PyPI (its dependencies come from PyPI in both cases)."""
    target = (f"/autograder/source/{shlex.quote(wheel)}" if wheel
              else shlex.quote(f"gradcalc=={version}"))
    return ("#!/usr/bin/env bash\n"
            "# Gradescope runs this once, when the autograder image is built.\n"
            "set -euo pipefail\n"
            "apt-get update\n"
            "apt-get install -y --no-install-recommends python3 python3-pip\n"
            f"python3 -m pip install --break-system-packages {target} "
            f"|| python3 -m pip install {target}\n")


def run_autograder_sh() -> str:
    return ("#!/usr/bin/env bash\n"
            "# Gradescope runs this for every submission (working directory /autograder).\n"
            "ROOT=\"${GRADCALC_AUTOGRADER_ROOT:-/autograder}\"\n"
            "exec \"${GRADCALC_PYTHON:-python3}\" -m gradcalc autograder-run --root \"$ROOT\"\n")


def settings_json(problem_name: str, visibility: str, stdout_visibility: str,
                  hide_answers: bool, lang: str, precision: int, student_id: str,
                  variants: bool) -> str:
    return json.dumps({"problem": PROBLEM, "problem_name": problem_name,
                       "visibility": visibility, "stdout_visibility": stdout_visibility,
                       "hide_answers": hide_answers, "lang": lang, "precision": precision,
                       "student_id": student_id, "variants": variants},
                      ensure_ascii=False, indent=2) + "\n"


def bundle_zip(problem: bytes, settings: str, version: str,
               wheel: tuple[str, bytes] | None = None,
               data: list[tuple[str, bytes]] = ()) -> bytes:
    """The zip Gradescope takes: its files at the root, the two scripts executable; `data`
    are files the problem reads, under their names relative to it."""
    buf = io.BytesIO()
    files = [("setup.sh", setup_sh(wheel[0] if wheel else None, version).encode(), 0o755),
             ("run_autograder", run_autograder_sh().encode(), 0o755),
             (PROBLEM, problem, 0o644), (SETTINGS, settings.encode(), 0o644)]
    if wheel:
        files.append((wheel[0], wheel[1], 0o644))
    files += [(name, raw, 0o644) for name, raw in data]
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, mode in files:
            info = zipfile.ZipInfo(name, _EPOCH)
            info.external_attr = (0o100000 | mode) << 16     # a regular file and its mode
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()
