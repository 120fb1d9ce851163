"""The command line through click's CliRunner and real processes; layering rules checked with ast."""
import ast
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import gradcalc
from gradcalc.cli import cli

ROOT = Path(__file__).resolve().parents[2]
PROBLEMS = ROOT / "problems"
HW1 = str(PROBLEMS / "hw1.yaml")
SIGMOID = str(PROBLEMS / "lecture_sigmoid.yaml")
SCALAR = str(PROBLEMS / "lecture_scalar.yaml")


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "200", **(env or {})})


# ---------------------------------------------------------------- solve: the three formats
def test_solve_text():
    r = run("solve", HW1)
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert r.stderr == ""
    assert out.startswith("HW1: two-layer network, sigmoid hidden layer, MSE loss\n")
    for heading in ("Forward pass", "Backward pass (reverse topological order)", "Gradients",
                    "upstream gradient", "local gradient", "downstream gradient",
                    "upstream × local = downstream"):
        assert heading in out
    for name in ("∂L/∂W1", "∂L/∂b1", "∂L/∂W2", "∂L/∂b2", "∂L/∂x"):
        assert name in out
    assert "\x1b[" not in out                     # plain text when not on a terminal
    # z1 = W1 x + b1 = [0.6, -0.8] (by hand: 0.2 + 0.3 + 0.1, −0.05 − 0.45 − 0.3)
    assert "[0.60, -0.80]" in out


def test_solve_json_is_one_object_matching_the_api():
    r = run("solve", SCALAR, "--format", "json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert d == json.loads(json.dumps(gradcalc.solve(SCALAR, "all").to_dict()))  # CLI default
    assert d["gradients"]["x"] == -4.0 and d["gradients"]["z"] == 3.0
    assert {"title", "forward", "gradients", "steps"} <= set(d)


def test_solve_markdown():
    r = run("solve", SCALAR, "--format", "markdown")
    assert r.exit_code == 0
    md = r.stdout
    assert md.startswith("## Lecture: f = (x + y) · z\n")
    assert "| name | formula | value |\n|---|---|---:|\n" in md
    assert "| q | x + y | 3 |" in md
    assert "| node | operation | upstream gradient | local gradient | downstream gradient |" in md
    assert "| ∂f/∂z | 3 |" in md
    assert "<br>" in md                            # several inputs in one cell stay one row
    assert "\x1b[" not in md


def test_solve_chinese_uses_the_lecture_words():
    for fmt in ("text", "markdown"):
        r = run("solve", SIGMOID, "--lang", "zh", "--format", fmt)
        assert r.exit_code == 0
        for word in ("前向计算", "反向传播", "上游梯度", "局部梯度", "下游梯度"):
            assert word in r.stdout, (fmt, word)
        assert "upstream gradient" not in r.stdout


def test_precision():
    up = -1 / (1 + math.exp(-1)) ** 2              # the lecture's −0.53 at the 1/x gate
    r2 = run("solve", SIGMOID, "--precision", "2", "--format", "markdown")
    r6 = run("solve", SIGMOID, "--precision", "6", "--format", "markdown")
    assert r2.exit_code == r6.exit_code == 0
    assert f"| {up:.2g} |" in r2.stdout and f"{up:.6g}" not in r2.stdout
    assert f"| {up:.6g} |" in r6.stdout
    assert f"{up:.6g}" == "-0.534447"


@pytest.mark.parametrize("bad", ["0", "18", "x"])
def test_precision_out_of_range_is_a_usage_error(bad):
    r = run("solve", HW1, "--precision", bad)
    assert r.exit_code == 2 and r.stdout == ""


def test_unknown_format_and_language_are_usage_errors():
    assert run("solve", HW1, "--format", "html").exit_code == 2
    assert run("solve", HW1, "--lang", "fr").exit_code == 2


# ---------------------------------------------------------------- errors: one line, exit 2
def _one_line_error(r, expected):
    assert r.exit_code == 2
    assert r.stdout == ""                          # nothing half-written
    assert r.stderr == f"gradcalc: error: {expected}\n"
    assert "Traceback" not in r.output


def test_bad_problem_is_one_line_on_stderr(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("input: [1.0]\nlayers:\n  - W: [[1.0]]\n    activation: sigmod\n")
    _one_line_error(run("solve", str(f)),
                    f"{f}:4: layers[0].activation: unknown activation 'sigmod' (did you mean "
                    "'sigmoid'?); expected one of: identity, leaky_relu, linear, relu, sigmoid, "
                    "softmax, tanh")


def test_domain_error_is_one_line(tmp_path):
    f = tmp_path / "d.yaml"
    f.write_text("expression:\n  d: x - y\n  f: 1 / d\nvalues: {x: 2, y: 2}\n")
    _one_line_error(run("solve", str(f)), f"{f}:3: expression.f: step f: division by zero (got 1, 0)")


def test_missing_file(tmp_path):
    f = tmp_path / "nope.yaml"
    _one_line_error(run("solve", str(f)), f"{f}: cannot read file: No such file or directory")


def test_empty_and_binary_files(tmp_path):
    empty = tmp_path / "e.yaml"
    empty.write_text("")
    _one_line_error(run("solve", str(empty)), f"{empty}: file is empty")
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    _one_line_error(run("solve", str(binary)), f"{binary}: not a text file (binary or not UTF-8)")


def test_directory_is_a_usage_error(tmp_path):
    r = run("solve", str(tmp_path))
    assert r.exit_code == 2 and r.stdout == "" and "Traceback" not in r.output


def test_missing_argument_is_a_usage_error():
    r = run("solve")
    assert r.exit_code == 2 and "Missing argument" in r.stderr


def test_real_process_error_has_no_traceback(tmp_path):
    f = tmp_path / "tag.yaml"
    f.write_text("input: !!python/object/apply:os.system [echo pwned]\nlayers:\n  - W: [[1.0]]\n")
    p = subprocess.run([sys.executable, "-m", "gradcalc", "solve", str(f)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2
    assert p.stdout == ""
    assert p.stderr == (f"gradcalc: error: {f}:1: YAML tags that build Python objects are not "
                        "allowed (!!python/object/apply:os.system)\n")
    assert "pwned" not in p.stdout + p.stderr


# ---------------------------------------------------------------- the program itself
def test_python_dash_m_gradcalc():
    p = subprocess.run([sys.executable, "-m", "gradcalc", "solve", SCALAR, "--format", "json"],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["forward"]["f"] == -12.0
    p = subprocess.run([sys.executable, "-m", "gradcalc", "--help"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and "Usage: gradcalc" in p.stdout


def test_piped_text_output_is_plain():
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "COLUMNS")}
    env["TERM"] = "xterm-256color"
    p = subprocess.run([sys.executable, "-m", "gradcalc", "solve", HW1], capture_output=True,
                       text=True, timeout=60, env=env)
    assert p.returncode == 0 and "\x1b[" not in p.stdout and "Forward pass" in p.stdout


def test_version():
    r = run("--version")
    assert r.exit_code == 0 and gradcalc.__version__ in r.stdout


def _commands():
    return sorted(cli.commands)


def test_every_command_has_help_with_an_example():
    assert "solve" in _commands() and "schema" in _commands()
    top = run("--help")
    assert top.exit_code == 0 and "Example" in top.stdout
    for name in _commands():
        r = run(name, "--help")
        assert r.exit_code == 0, name
        assert "Example" in r.stdout, f"'gradcalc {name} --help' has no example"
        assert f"gradcalc {name}" in r.stdout.split("Example", 1)[1], name
        assert cli.commands[name].help, name


# ---------------------------------------------------------------- layering, checked with ast
PACKAGE = ROOT / "gradcalc"
FORBIDDEN_CALLS = {"eval", "exec", "compile", "sympify", "parse_expr"}


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def _imports(tree):
    """Top-level names of absolute imports (relative imports are the package itself)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


def test_imports_respect_the_layers():
    problems = []
    for path in _modules():
        rel = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, line in _imports(tree):
            if name == "rich" and not rel.startswith("render/"):
                problems.append(f"{rel}:{line} imports rich (only gradcalc/render may)")
            if name == "click" and not rel.startswith("cli/"):
                problems.append(f"{rel}:{line} imports click (only gradcalc/cli may)")
            if name in ("torch", "jax", "autograd", "tensorflow"):
                problems.append(f"{rel}:{line} imports {name}")
    assert problems == []


def test_no_module_evaluates_text():
    problems = []
    for path in _modules():
        rel = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                if isinstance(f, ast.Name) and f.id in FORBIDDEN_CALLS:
                    problems.append(f"{rel}:{node.lineno} calls {f.id}()")
                if isinstance(f, ast.Attribute) and f.attr in FORBIDDEN_CALLS - {"compile"}:
                    problems.append(f"{rel}:{node.lineno} calls .{f.attr}()")
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name in ("sympify", "parse_expr"):
                        problems.append(f"{rel}:{node.lineno} imports {alias.name}")
    assert problems == []


def test_the_ast_scan_can_fail():
    # the scanners above must notice a violation (a checker that cannot fail proves nothing)
    bad = ast.parse("import rich\nfrom sympy import sympify\nx = eval('1')\nsympy.parse_expr('x')\n")
    assert ("rich", 1) in list(_imports(bad))
    calls = {n.func.id if isinstance(n.func, ast.Name) else n.func.attr
             for n in ast.walk(bad) if isinstance(n, ast.Call)}
    assert {"eval", "parse_expr"} <= calls & FORBIDDEN_CALLS


def test_solving_does_not_import_sympy_or_matplotlib():
    code = ("import sys; from click.testing import CliRunner; from gradcalc.cli import cli; "
            f"r = CliRunner().invoke(cli, ['solve', {HW1!r}, '--method', 'autograd']); "
            "assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('sympy', 'matplotlib', 'torch') if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"
