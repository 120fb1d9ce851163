"""The Python API: functions stay callable however often and in whatever order they are used."""
import os
import stat
from pathlib import Path

import gradcalc

ROOT = Path(__file__).resolve().parent.parent
HW1 = ROOT / "problems" / "hw1.yaml"


def test_api_functions_survive_repeated_calls_and_submodule_imports(tmp_path):
    p = gradcalc.load_problem(HW1)
    sol = gradcalc.solve(p, method="all")          # imports the comparison module
    assert sol.extras["agreement"]["ok"] is True
    assert gradcalc.check(p).ok and gradcalc.check(p).ok
    (tmp_path / "a.yaml").write_text("student: a\nanswers: {y: 0.02412}\n", encoding="utf-8")
    first = gradcalc.grade(p, [tmp_path])
    second = gradcalc.grade(p, [tmp_path])
    assert len(first.results) == len(second.results) == 1
    assert callable(gradcalc.check) and callable(gradcalc.grade)


def test_written_files_get_the_ordinary_mode(tmp_path):
    from gradcalc.fileio import write_atomic
    old = os.umask(0o022)
    try:
        target = tmp_path / "out.txt"
        assert write_atomic(target, "x") is True
        assert stat.S_IMODE(target.stat().st_mode) == 0o644       # not mkstemp's private 0600
        assert write_atomic(target, "x", skip_unchanged=True) is False
    finally:
        os.umask(old)
