"""Issue 17, item 12: the memory of an rnn solve is linear in T.

Each rnn step's share of ∂L/∂x is a T × D array that is zero except row t; the recorded steps
kept all T of them dense (T²·D numbers: T = 5,000, D = 2 is 400 MB).  derive.autograd keeps such
a gradient as its non-zero slices (`Downstream`) and rebuilds it on reading, bit for bit."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import gradcalc.derive.autograd as autograd
from gradcalc.cli import cli
from gradcalc.derive.autograd import Downstream

from problem_texts import rnn_yaml   # tests/ is on the path (pytest's rootdir insertion)

ROOT = Path(__file__).resolve().parent.parent


def _limited(problem, mem_mb: int, dense: bool):
    """`gradcalc solve PROBLEM --format json --method autograd` in a child process under an
    address-space limit; `dense` keeps every downstream gradient dense (the old behaviour)."""
    code = ("import resource, sys\n"
            f"resource.setrlimit(resource.RLIMIT_AS, ({mem_mb} << 20, {mem_mb} << 20))\n"
            "resource.setrlimit(resource.RLIMIT_CPU, (120, 120))\n"
            "import gradcalc.derive.autograd as ag\n"
            + ("ag.COMPACT_MIN = 10 ** 18\n" if dense else "") +
            "from gradcalc.cli import cli\n"
            "sys.argv = ['gradcalc', 'solve', sys.argv[1], '--format', 'json', "
            "'--method', 'autograd']\n"
            "cli()\n")
    return subprocess.run([sys.executable, "-c", code, str(problem)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_an_rnn_of_5000_steps_fits_where_dense_steps_do_not(tmp_path):
    # measured on the dev machine: the compact steps run under a 350 MB address-space limit,
    # the dense ones need more than 600 MB (and 578 MB RSS); 480 MB separates them
    p = tmp_path / "r5000.yaml"
    p.write_text(rnn_yaml(5000))
    dense = _limited(p, 480, dense=True)
    assert dense.returncode != 0 and "out of memory" in dense.stderr, dense.stderr[-500:]
    r = _limited(p, 480, dense=False)
    assert r.returncode == 0, r.stderr[-1500:]
    assert r.stdout.count('"downstream_slices"') == 5000


@pytest.mark.parametrize("fmt", ["json", "text", "markdown"])
def test_compact_steps_print_exactly_what_dense_steps_print(tmp_path, monkeypatch, fmt):
    p = tmp_path / "r600.yaml"          # x is 600 × 2 = 1,200 entries: above COMPACT_MIN
    p.write_text(rnn_yaml(600))
    args = ["solve", str(p), "--format", fmt, "--method", "autograd"]
    compact = CliRunner().invoke(cli, args, env={"COLUMNS": "120"})
    monkeypatch.setattr(autograd, "COMPACT_MIN", 10 ** 18)
    dense = CliRunner().invoke(cli, args, env={"COLUMNS": "120"})
    assert compact.exit_code == dense.exit_code == 0, compact.output[-500:]
    assert compact.output == dense.output


def test_the_rnn_steps_keep_one_row_of_dx(tmp_path):
    from gradcalc.problem.load import load_problem
    p = tmp_path / "r600.yaml"
    p.write_text(rnn_yaml(600))
    _, _, steps = autograd.run(load_problem(p))
    kept = [s.downstream._data["x"] for s in steps if "x" in s.downstream]
    assert len(kept) == 600
    for k in kept:
        assert isinstance(k, tuple) and k[0] == (600, 2) and k[1] == 0 and k[3].shape == (1, 2)


def test_downstream_rebuilds_bit_for_bit():
    rng = np.random.default_rng(3)
    g = np.zeros((50, 40))
    g[7] = rng.normal(size=40)
    g[31, 5] = -0.0                     # a lone −0.0 row is kept, so its sign survives
    g[44, :] = np.nan
    d = Downstream({"x": g, "small": np.array([0.0, -0.0, 2.0])})
    assert isinstance(d._data["x"], tuple) and list(d._data["x"][2]) == [7, 31, 44]
    back = d["x"]
    assert back.shape == g.shape
    assert back.tobytes() == g.tobytes()      # bytes: NaN and the sign of zero included
    assert d["small"] is not None and np.signbit(d["small"][1])
    assert sorted(d) == ["small", "x"] and len(d) == 2 and d.get("y") is None
    dense = rng.normal(size=(50, 40))         # not mostly zero: kept as it is
    assert Downstream({"x": dense})["x"] is dense


@pytest.mark.parametrize("shape, where", [
    ((3, 50, 40), (slice(None), 7)),          # a batch rnn step: column t of B × T × D
    ((50, 40), (slice(None), 3)),             # one column: written along axis 1
    ((50, 40), (5, slice(0, 2))),             # two entries of row 5: row 5
    ((60, 30), (slice(0, 2), slice(0, 2))),   # rows 0–1
    ((12, 100), (slice(0, 3), 0)),            # kept as rows 0–2, written as column 0 (rebuilt)
])
def test_json_from_kept_slices_is_what_the_dense_array_gives(shape, where):
    from gradcalc.solution.model import to_json_value
    from gradcalc.solution.stepjson import step_downstream
    g = np.zeros(shape)
    g[where] = np.arange(1.0, 1.0 + g[where].size).reshape(g[where].shape)
    assert step_downstream(Downstream({"x": g}), to_json_value) == \
        step_downstream({"x": g}, to_json_value)
