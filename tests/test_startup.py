"""Start-up work of the short commands (issue 18, target 2): what `gradcalc solve` imports, and
the op registry that imports its families only when they are needed."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAZY_FAMILIES = ("conv", "pool", "recurrent", "normalization", "embedding", "gates", "attention",
                 "inout", "exprarray")


def _run(code: str) -> str:
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env={**os.environ, "COLUMNS": "100"})
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_solve_of_a_dense_network_imports_only_what_it_uses():
    code = ("import sys, io, contextlib\nfrom gradcalc.cli import cli\nout = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    try:\n        cli.main(['solve', 'problems/hw1.yaml', '--method', 'autograd'])\n"
            "    except SystemExit:\n        pass\n"
            "assert 'Backward pass' in out.getvalue(), out.getvalue()\n"
            "import json; print(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(_run(code))
    unwanted = {"sympy", "matplotlib", "torch", "rich", "difflib", "fractions", "decimal",
                "encodings.utf_8_sig", "gradcalc.problem.expression", "gradcalc.compare",
                "gradcalc.train", "gradcalc.grading", "gradcalc.variants"}
    unwanted |= {f"gradcalc.ops.{f}" for f in LAZY_FAMILIES}
    assert not unwanted & set(loaded), unwanted & set(loaded)
    assert {"gradcalc.ops.elementwise", "gradcalc.ops.linear", "gradcalc.ops.losses"} <= set(loaded)


def test_the_registry_is_in_family_order_whatever_was_imported_first():
    walk = ("import json; from gradcalc import ops; "
            "print(json.dumps([(n, ops.registry.FAMILY[n]) for n in ops.REGISTRY]))")
    plain = json.loads(_run(walk))
    # exprarray is imported on its own by expression problems, attention out of turn here
    early = json.loads(_run("import gradcalc.ops.exprarray, gradcalc.ops.attention\n" + walk))
    assert early == plain
    families = ["elementwise", "linear", "losses", *LAZY_FAMILIES]
    ranks = [families.index(module.rsplit(".", 1)[1]) for _, module in plain]
    assert ranks == sorted(ranks) and set(ranks) == set(range(len(families)))


def test_an_op_of_a_family_not_imported_yet_is_found():
    out = _run("import sys\nfrom gradcalc import ops\n"
               "before = 'gradcalc.ops.conv' in sys.modules\n"
               "op = ops.get('conv2d')\n"
               "try:\n    ops.get('no_such_op')\nexcept KeyError as e:\n    missing = str(e)\n"
               "print(before, op.name, 'gradcalc.ops.conv' in sys.modules, 'lstm' in ops.REGISTRY"
               " or any(n.startswith('lstm') for n in ops.REGISTRY), missing)")
    assert out.split(" ", 4)[:4] == ["False", "conv2d", "True", "True"]
    assert "no operation named 'no_such_op'" in out


def test_expression_functions_include_the_lazy_families():
    # exprarray adds syntax to ops of the first families (softmax): walking completes first
    out = _run("from gradcalc import ops; f = ops.expression_functions(); "
               "print('softmax' in f, len(f) > 10)")
    assert out.split() == ["True", "True"]


def test_check_of_a_dense_network_imports_only_the_families_it_uses():
    code = ("import sys, io, contextlib, json\nfrom gradcalc.cli import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        cli.main(['check', 'problems/hw1.yaml'])\n"
            "    except SystemExit as e:\n        assert e.code == 0, e.code\n"
            "print(json.dumps(sorted(sys.modules)))")
    loaded = set(json.loads(_run(code)))
    assert "sympy" in loaded and "gradcalc.derive.symbolic" in loaded    # it did check
    assert not {f"gradcalc.ops.{f}" for f in LAZY_FAMILIES} & loaded


def test_the_solve_program_runs_without_the_cyclic_collector_and_a_library_call_keeps_it():
    # program_settings(collector_off=True): only the gradcalc program (cli.__call__), not a
    # caller of cli.main (a test runner, a library user)
    code = ("import gc, io, contextlib\nfrom gradcalc.cli import cli\nseen = []\n"
            "for call in (cli.main, cli):\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        try:\n            call(['solve', 'problems/hw1.yaml', '--method', 'autograd'])\n"
            "        except SystemExit:\n            pass\n"
            "    seen.append(gc.isenabled())\n"
            "print(seen)")
    assert _run(code).strip() == "[True, False]"
