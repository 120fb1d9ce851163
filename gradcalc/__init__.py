"""gradcalc: backpropagation homework solver and gradient checker (the Python API)."""
from __future__ import annotations

from gradcalc.errors import GradcalcError, ProblemError  # light: no numpy
from gradcalc.version import __version__  # noqa: F401

__all__ = ["load_problem", "parse_problem", "solve", "check", "grade", "GradcalcError", "ProblemError"]


def __getattr__(name):   # lazy: `import gradcalc` stays cheap
    if name in ("load_problem", "parse_problem", "solve", "check"):
        from gradcalc import api
        return getattr(api, name)
    if name == "grade":
        from gradcalc.grading.report import grade_paths
        return grade_paths
    raise AttributeError(f"module 'gradcalc' has no attribute {name!r}")
