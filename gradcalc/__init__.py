"""gradcalc: backpropagation homework solver and gradient checker (the Python API)."""
from __future__ import annotations

from gradcalc.version import __version__  # noqa: E402,F401
__all__ = ["load_problem", "parse_problem", "solve", "check", "grade", "GradcalcError", "ProblemError"]

from gradcalc.errors import GradcalcError, ProblemError  # noqa: E402  (light: no numpy)


def __getattr__(name):   # lazy: `import gradcalc` stays cheap
    if name in ("load_problem", "parse_problem", "solve", "check"):
        from gradcalc import api
        return getattr(api, name)
    if name == "grade":
        from gradcalc.grading.report import grade_paths
        return grade_paths
    raise AttributeError(f"module 'gradcalc' has no attribute {name!r}")
