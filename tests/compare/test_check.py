"""Tests of gradcalc.compare and `gradcalc check` / `gradcalc solve --method`: the checker must be
able to fail (a wrong VJP, a coarse step), and report it by parameter and entry."""
import dataclasses
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gradcalc import ops
from gradcalc.compare.methods import band, check_problem, compare, relative_error
from gradcalc.cli import cli
from gradcalc.problem.load import load_problem

ROOT = Path(__file__).resolve().parents[2]
HW1 = str(ROOT / "problems" / "hw1.yaml")
SCALAR = str(ROOT / "problems" / "lecture_scalar.yaml")
LAYERS = str(ROOT / "examples" / "layers.py")


def run(*args):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})


# ---------------------------------------------------------------- comparison arithmetic
def test_relative_error_and_both_zero_agrees():
    assert relative_error(0.0, 0.0) == 0.0                 # explicit: two zeros agree
    assert relative_error(1.0, 0.0) == 1.0
    assert relative_error(2.0, 1.0) == pytest.approx(0.5)  # |a − b| / max(|a|, |b|)
    assert relative_error(1.0, 2.0) == pytest.approx(0.5)  # symmetric
    np.testing.assert_allclose(relative_error([1e-3, -1.0], [1e-3, 1.0]), [0.0, 2.0])


@pytest.mark.parametrize("rel, name", [(0, "good"), (1e-7, "good"), (2e-7, "ok at kinks"),
                                       (1e-4, "ok at kinks"), (1e-3, "suspicious"),
                                       (1e-2, "suspicious"), (0.5, "wrong"), (np.nan, "wrong")])
def test_cs231n_bands(rel, name):
    assert band(rel) == name


def test_verdict_is_atol_plus_rtol_times_b():
    a = {"p": np.array([1.0 + 0.9e-6, 1.0 + 1.2e-6, 1e-9])}
    b = {"p": np.array([1.0, 1.0, 0.0])}
    rep = compare(a, b, atol=1e-8, rtol=1e-6)
    # entry 0: 0.9e-6 ≤ 1e-8 + 1e-6; entry 1: 1.2e-6 > 1.01e-6; entry 2: 1e-9 ≤ 1e-8 (atol)
    assert [e.index for e in rep.failures] == [(1,)]
    assert rep.failures[0].param == "p"
    # the tiny entry (rel. error 1, abs. error 1e-9) is judged by atol, not counted in max_rel
    assert not rep.ok and rep.params["p"].worst == (1,)
    assert rep.params["p"].max_rel == pytest.approx(1.2e-6 / (1 + 1.2e-6))


# ---------------------------------------------------------------- the checker can fail
def _wrong_sigmoid_vjp(monkeypatch):
    """A test-only registry: a copy of sigmoid whose VJP forgets the (1 − σ) factor."""
    op = ops.REGISTRY["sigmoid"]
    monkeypatch.setitem(ops.REGISTRY, "sigmoid",
                        dataclasses.replace(op, vjp=lambda g, out, x: (g * out,)))


def test_a_wrong_vjp_is_caught_by_both_independent_methods(monkeypatch):
    _wrong_sigmoid_vjp(monkeypatch)
    rep = check_problem(load_problem(HW1))
    assert not rep.ok
    for key in ("symbolic", "numeric"):
        pair = rep.pairs[key]
        assert not pair.ok
        failed = {(e.param, e.index) for e in pair.failures}
        # everything upstream of the sigmoid is wrong, everything after it is right
        assert ("W1", (0, 1)) in failed and ("b1", (1,)) in failed and ("x", (0,)) in failed
        assert not any(p in ("W2", "b2") for p, _ in failed)
        assert pair.params["W2"].ok
    assert rep.forward.ok                       # the forward pass was never wrong


def test_a_wrong_vjp_fails_the_cli_with_exit_1_naming_the_entry(monkeypatch):
    _wrong_sigmoid_vjp(monkeypatch)
    r = run("check", HW1, "--no-formulas")
    assert r.exit_code == 1
    assert "DISAGREE" in r.stdout
    assert "W⁽¹⁾₁₂  [W1[0, 1]]" in r.stdout       # the entry, by lecture name and index
    r = run("check", HW1, "--format", "json")
    d = json.loads(r.stdout)
    assert r.exit_code == 1 and d["ok"] is False
    fails = d["problems"][0]["agreement"]["pairs"]["autograd~symbolic"]["failures"]
    assert any(f["parameter"] == "W1" and f["index"] == [0, 1] for f in fails)


def test_a_coarse_step_is_caught():
    rep = check_problem(load_problem(HW1), h=0.1)
    assert not rep.ok
    assert not rep.pairs["numeric"].ok
    assert rep.pairs["symbolic"].ok
    r = run("check", HW1, "--h", "0.1", "--no-formulas")
    assert r.exit_code == 1


def test_default_step_agrees_everywhere_on_the_shipped_problems():
    for name in ("hw1", "lecture_scalar", "lecture_sigmoid", "hinge", "leaky_tanh", "softmax_ce"):
        rep = check_problem(load_problem(ROOT / "problems" / f"{name}.yaml"))
        assert rep.ok, (name, rep.agreement())
        assert rep.pairs["symbolic"].max_rel < 1e-12
        assert rep.pairs["numeric"].max_rel < 1e-7


# ---------------------------------------------------------------- gradcalc check
def test_check_cli_ok_and_formulas():
    r = run("check", HW1)
    assert r.exit_code == 0, r.output
    assert "autograd↔symbolic" in r.stdout and "autograd↔numeric" in r.stdout
    assert "Agreement: agree" in r.stdout
    assert "h⁽¹⁾ᵢ·(1 − h⁽¹⁾ᵢ)" in r.stdout            # the formulas used are printed


def test_check_cli_json():
    r = run("check", HW1, SCALAR, "--format", "json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert d["ok"] and d["summary"] == {"problems": 2, "agree": 2, "disagree": 0}
    p = d["problems"][0]
    assert set(p["methods"]) == {"autograd", "symbolic", "numeric"}
    assert p["parameters"]["W1"]["symbolic"]["max_rel_error"] < 1e-12
    assert p["agreement"]["kinks"] == []


def test_check_folder_skips_templates_and_reports_a_summary(tmp_path):
    for name in ("hw1.yaml", "lecture_scalar.yaml", "hw1_template.yaml"):
        shutil.copy(ROOT / "problems" / name, tmp_path / name)
    r = run("check", str(tmp_path), "--no-formulas")
    assert r.exit_code == 0, r.output
    assert "Summary" in r.stdout and "2 problems: 2 agree, 0 disagree" in r.stdout
    assert "skipped (a variant template" in r.stderr


def test_bad_input_exits_2_with_one_line_and_prints_nothing(tmp_path):
    shutil.copy(ROOT / "problems" / "hw1.yaml", tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("input: [1, 2]\nlayers:\n  - W: [[1, 2, 3]]\n")
    r = run("check", str(tmp_path))
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and "b.yaml:3: layers[0].W" in r.stderr
    r = run("check", str(tmp_path / "missing.yaml"))
    assert r.exit_code == 2 and "no such file" in r.stderr
    r = run("check")
    assert r.exit_code == 2 and r.stdout == ""


def test_check_sample_and_seed():
    r = run("check", HW1, "--sample", "1", "--seed", "4", "--format", "json")
    d = json.loads(r.stdout)
    assert r.exit_code == 0
    W1 = d["problems"][0]["methods"]["numeric"]["W1"]
    assert sum(v is not None for row in W1 for v in row) == 1


# ---------------------------------------------------------------- gradcalc solve --method
def test_solve_json_gains_methods_agreement_and_latex_formulas():
    r = run("solve", HW1, "--format", "json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert set(d["methods"]) == {"autograd", "symbolic", "numeric"}
    assert d["methods"]["autograd"]["W1"] == d["gradients"]["W1"]   # the contract stays
    np.testing.assert_allclose(d["methods"]["symbolic"]["W1"], d["gradients"]["W1"], rtol=1e-12)
    assert d["agreement"]["ok"] is True and d["agreement"]["max_rel_error"] < 1e-7
    assert d["agreement"]["kinks"] == []
    assert d["formulas"]["gradients"]["W2"] == (
        r"\frac{\partial L}{\partial W^{(2)}_{ij}} = h^{(1)}_{j} \left(y_{i} - t_{i}\right)")


def test_solve_method_autograd_has_no_methods_and_one_table_less():
    r = run("solve", HW1, "--method", "autograd", "--format", "json")
    d = json.loads(r.stdout)
    assert "methods" not in d and "agreement" not in d
    r = run("solve", HW1)
    assert "Three derivations" in r.stdout and "Agreement: agree" in r.stdout


def test_solve_method_autograd_does_not_import_sympy():
    code = ("import sys\nfrom gradcalc.cli import cli\n"
            "try:\n    cli(['solve', %r, '--method', 'autograd'], standalone_mode=False)\n"
            "finally:\n    print('SYMPY' if 'sympy' in sys.modules else 'NO-SYMPY')\n" % HW1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.stdout.strip().endswith("NO-SYMPY"), out.stdout + out.stderr


def test_solve_exact_prints_fractions():
    r = run("solve", HW1, "--exact", "--format", "json")
    d = json.loads(r.stdout)
    # ∂L/∂b2 = y − t with y = σ(3/5)/5 − σ(−4/5)/2 + 1/20, t = 3/10
    assert "frac{3}{5}" in d["exact"]["b2"][0] and "e^{" in d["exact"]["b2"][0]
    r = run("solve", HW1, "--exact")
    assert "Exact values" in r.stdout
    r = run("solve", HW1, "--exact", "--method", "numeric")
    assert r.exit_code == 2


def test_solve_markdown_uses_dollar_math():
    r = run("solve", HW1, "--format", "markdown")
    assert r.exit_code == 0
    assert "$$" in r.stdout and r"\frac{\partial L}{\partial W^{(1)}}" in r.stdout


# ---------------------------------------------------------------- gradcalc check --layer
def test_layer_correct_and_subtly_wrong():
    r = run("check", "--layer", f"{LAYERS}:Affine", "--shape", "4x3")
    assert r.exit_code == 0, r.output
    r = run("check", "--layer", f"{LAYERS}:AffineWrong", "--shape", "4x3")
    assert r.exit_code == 1
    assert "DISAGREE" in r.stdout and "db[" in r.stdout
    # with one example the mean equals the sum: the mistake hides (why the shape matters)
    r = run("check", "--layer", f"{LAYERS}:AffineWrong", "--shape", "1x3")
    assert r.exit_code == 0


def test_layer_json_reports_per_input_and_parameter():
    r = run("check", "--layer", f"{LAYERS}:AffineWrong", "--shape", "4x3", "--format", "json")
    d = json.loads(r.stdout)
    res = {x["name"]: x for x in d["results"]}
    assert set(res) == {"x", "W", "b"}
    assert res["x"]["ok"] and res["W"]["ok"] and not res["b"]["ok"]
    # mean instead of sum over 4 rows: the analytic value is a quarter of the truth
    worst = res["b"]["worst"][0]
    assert worst["analytic"] == pytest.approx(worst["numeric"] / 4, rel=1e-6)


def test_layer_function_pair_with_parameter_shapes():
    r = run("check", "--layer", f"{LAYERS}:affine_forward,affine_backward", "--shape", "4x3",
            "--shape", "w=3x2", "--shape", "b=2")
    assert r.exit_code == 0, r.output
    r = run("check", "--layer", f"{LAYERS}:sigmoid", "--shape", "5")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("args, words", [
    (["--layer", "nope.py:X"], "expected an existing .py file"),
    (["--layer", f"{LAYERS}:Missing"], "has no 'Missing'"),
    (["--layer", f"{LAYERS}:affine_forward,affine_backward", "--shape", "w=7x2"],
     "forward raised"),
    (["--layer", f"{LAYERS}:Affine", "--shape", "4xq"], "expected [NAME=]AxB"),
    (["--layer", f"{LAYERS}:Affine", "--shape", "4x5"], "forward raised"),
])
def test_layer_bad_input_exits_2(args, words):
    r = run("check", *args)
    assert r.exit_code == 2 and r.stdout == ""
    assert words in r.stderr


def test_check_help_says_layer_runs_your_code():
    r = run("check", "--help")
    assert "RUNS THE CODE" in r.stdout and "gradcalc check problems/hw1.yaml" in r.stdout


def test_api_check():
    import gradcalc.api as api
    rep = api.check(HW1)
    assert rep.ok and set(rep.methods) == {"autograd", "symbolic", "numeric"}
    sol = api.solve(HW1, "all")
    assert sol.extras["agreement"]["ok"]
    with pytest.raises(ValueError):
        api.solve(HW1, "nope")
    # ∂L/∂b2 by hand: y − t
    s1, s2 = 1 / (1 + math.exp(-0.6)), 1 / (1 + math.exp(0.8))
    assert rep.methods["symbolic"]["b2"][0] == pytest.approx(0.2 * s1 - 0.5 * s2 + 0.05 - 0.3,
                                                              rel=1e-13)


# ---------------------------------------------------------------- start-up work of `gradcalc check`
def test_check_imports_only_what_it_needs():
    # `gradcalc check` imports its own command module only (not grade, train …), never the
    # variants module for a file without random specs, and not rich's console when the output
    # is not a terminal (render/plain.py prints the same text)
    code = ("import sys\nfrom gradcalc.cli import cli\n"
            "try:\n    cli.main(['check', %r], standalone_mode=False)\n"
            "finally:\n    print(sorted(m for m in sys.modules if m.startswith('gradcalc.cli.')),"
            " 'gradcalc.variants' in sys.modules, 'rich.console' in sys.modules, "
            "'numpy.random' in sys.modules)\n" % HW1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.stdout.strip().endswith("['gradcalc.cli.check'] False False False"), (
        out.stdout + out.stderr)


def test_every_command_is_still_registered():
    assert {"check", "solve", "schema"} <= set(cli.commands)
    r = run("--help")
    assert r.exit_code == 0 and "check" in r.stdout and "solve" in r.stdout


def test_a_template_file_is_refused_and_a_broken_non_template_gives_the_problem_error(tmp_path):
    r = run("check", str(ROOT / "problems" / "hw1_template.yaml"))
    assert r.exit_code == 2 and "a variant template with random numbers" in r.stderr
    (tmp_path / "bad.yaml").write_text("input: [1, 2]\nlayers:\n  - W: {uniformly: [0, 1]}\n")
    r = run("check", str(tmp_path / "bad.yaml"))
    assert r.exit_code == 2 and "variant template" not in r.stderr and "layers[0].W" in r.stderr


def test_the_test_runner_leaves_the_garbage_collector_as_it_was():
    import gc
    frozen = gc.get_freeze_count()
    r = run("check", HW1)
    assert r.exit_code == 0
    # process settings (gc.freeze at exit, one BLAS thread) belong to the program only
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_the_program_sets_one_blas_thread_and_skips_the_final_collection():
    import os
    code = ("import atexit, gc, os\n"
            "atexit.register(lambda: print('SETTINGS', gc.get_freeze_count() > 0,\n"
            "                              os.environ.get('OPENBLAS_NUM_THREADS')))\n"
            "from gradcalc.cli import cli\n"
            "cli(['check', %r])\n" % HW1)        # as the console script calls it
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, env=env)
    assert out.returncode == 0 and out.stdout.strip().endswith("SETTINGS True 1"), (
        out.stdout[-300:] + out.stderr)
    env["OMP_NUM_THREADS"] = "2"                 # the user's choice is kept
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, env=env)
    assert out.stdout.strip().endswith("SETTINGS True None")


def test_the_program_freezes_the_checks_objects_before_the_collector_is_back_on():
    # else the first allocation after gc.enable() rescans them all just before the exit
    code = ("import atexit, gc\n"
            "seen = []\n"
            "real = gc.enable\n"
            "def enable():\n"
            "    seen.append(gc.get_freeze_count())\n"
            "    real()\n"
            "gc.enable = enable\n"
            "atexit.register(lambda: print('AT_ENABLE', seen))\n"
            "from gradcalc.cli import cli\n"
            "cli(['check', %r])\n" % HW1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    last = out.stdout.strip().splitlines()[-1]
    assert out.returncode == 0 and last.startswith("AT_ENABLE ["), out.stdout[-300:] + out.stderr
    counts = [int(c) for c in last[len("AT_ENABLE ["):-1].split(",")]
    assert len(counts) == 1 and counts[0] > 10_000, last


def test_the_template_keys_copied_for_start_up_time_match_the_variants_module():
    # cli/check.py keeps its own copy so that checking a folder does not import variants
    from gradcalc.variants import template as variants
    from gradcalc.cli import check as check_cmd
    assert check_cmd._SPEC_KEYS == variants.SPEC_KINDS
