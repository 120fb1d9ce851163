"""Fuzzing the CLI: seeded mutations of the shipped problems and of answer files never give a
traceback, an exit status other than 0/1/2, or a multi-line error (exit 2 = one stderr line).

Exploratory run (not part of the suite):  python tests/test_fuzz.py 5000 [first_seed]"""
from __future__ import annotations

import copy
import csv
import io
import json
import math
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gradcalc.cli import cli
from gradcalc.problem.yamlio import load_yaml_file

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = sorted((ROOT / "problems").glob("*.yaml"))
# Spelled in the YAML text as written (yaml.safe_dump cannot write 1e400 itself).
_LITERALS = {"@NAN@": ".nan", "@INF@": ".inf", "@NINF@": "-.inf", "@HUGE@": "1e400",
             "@NHUGE@": "-1e400", "@TINY@": "1e-400", "@BIGINT@": "123456789012345678901234567890"}
_JUNK = ["", " ", "∂L/∂W", "é\u0301", "\u202e", "\x00", "😀", "中文", "nan", "inf", "-", "[", "{",
         "'", '"', "\\", "%", "&a", "*a", "!!python/object:os.system", "null", "~", "yes", "0x1F",
         "1_000", "1e", ".", "1/0", "exp(", "x +", "__import__('os')", "1,5", "3/5"]
_TOKENS = ["x", "y", "z", "q", "w0", "+", "-", "*", "/", "^", "**", "(", ")", ",", "exp", "log",
           "sigmoid", "max", "tanh", "relu", "sqrt", "abs", "0", "1", "2.5", "1e308", "1e-308",
           "nan", "inf", "f", "=", "@", "#", "lambda", "__class__", ".", "e", "pi", "λ", "x0",
           "-1e400", "0.0", "abs(", "max(x,", "))", "q*q", "x^x^x", "9" * 40]
_SIZE_KEYS = {"size", "stride", "padding", "width", "n", "classes", "label", "labels", "shape",
              "decimals", "max_draws", "saturation", "milestones", "seed", "points", "sigfigs"}


def _paths(node, path=()):
    """Every (path, value) in the tree, the root included."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, path + (i,))


def _get(node, path):
    for p in path:
        node = node[p]
    return node


def _set(root, path, value):
    if not path:
        return value
    _get(root, path[:-1])[path[-1]] = value
    return root


def _delete(root, path):
    if path:
        del _get(root, path[:-1])[path[-1]]
    return root


def _scalar(rng: random.Random, key=None):
    """A replacement value: any type, special numbers, junk, sizes."""
    kind = rng.randrange(14)
    if kind == 0:
        return rng.choice(list(_LITERALS))
    if kind == 1:
        return rng.choice([0, -1, -3, 1, 2, 7, 10 ** 6, 2 ** 31, -(2 ** 63)])
    if kind == 2:
        return rng.choice([0.0, -0.0, 0.5, -2.5, 1.5, 1e-300, 1e300, 3.7])
    if kind == 3:
        return rng.choice(_JUNK)
    if kind == 4:
        return rng.choice(["a", "x", "W", "é"]) * rng.choice([1, 300, 20000])
    if kind == 5:
        return None
    if kind == 6:
        return rng.choice([True, False])
    if kind == 7:
        return []
    if kind == 8:
        return {}
    if kind == 9:
        return [rng.choice([0, 1, -1, 2.5, "a", None, [], {}]) for _ in range(rng.randrange(1, 4))]
    if kind == 10:
        return {rng.choice(["W", "b", "type", "a", "", "1"]): rng.choice([1, "x", None, [1]])}
    if kind == 11:
        return " ".join(rng.choice(_TOKENS) for _ in range(rng.randrange(1, 9)))
    if kind == 12:
        return rng.choice(["relu", "sigmoid", "tanh", "linear", "leaky_relu", "softmax", "mse",
                           "cross_entropy", "hinge", "conv2d", "conv1d", "maxpool2d", "avgpool1d",
                           "maxpool1d", "avgpool2d", "flatten", "rnn", "dense", "last", "all",
                           "spiral", "blobs", "he", "xavier", "step", "sgd", "adam"])
    return rng.choice([[[1, 2], [3]], [[[[]]]], [[1, 2], [3, 4]], [1e400, 2], [[0.5]]])


_ENUMS = ["relu", "sigmoid", "tanh", "linear", "leaky_relu", "softmax", "identity", "mse",
          "cross_entropy", "hinge", "bce", "conv2d", "conv1d", "maxpool2d", "avgpool1d",
          "maxpool1d", "avgpool2d", "flatten", "rnn", "dense", "last", "all", "spiral", "blobs",
          "xor", "circles", "he", "xavier", "step", "sgd"]


def _subtle(data, rng: random.Random):
    """A mutation that keeps the document's shape, so that it gets past the first checks:
    a number made extreme or zero, a size or label out of range, a valid word swapped for
    another, a row dropped, an expression with random tokens."""
    paths = [(p, v) for p, v in _paths(data) if p]
    path, value = rng.choice(paths)
    key = next((k for k in reversed(path) if isinstance(k, str)), None)
    if isinstance(value, bool):
        return _set(data, path, not value)
    if key in _SIZE_KEYS and not isinstance(value, (dict, list)):
        return _set(data, path, rng.choice([0, -1, -2, 1, 2, 3, 5, 9, 50, 10 ** 7, 1.5, -0.5]))
    if isinstance(value, (int, float)):
        return _set(data, path, rng.choice([0, 0.0, -1, 1, 3, 1e6, -1e6, 1e300, -1e300, 1e-320,
                                            700, -745, 0.5, 2, 1e-12]))
    if isinstance(value, str) and key in ("expression",) or (
            len(path) >= 2 and path[-2] == "expression"):
        toks = value.split() if isinstance(value, str) else []
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(toks) + 1)
            toks[i:i + rng.randrange(2)] = [rng.choice(_TOKENS)]
        return _set(data, path, " ".join(toks))
    if isinstance(value, str):
        return _set(data, path, rng.choice(_ENUMS))
    if isinstance(value, list) and value:
        if rng.random() < 0.5:
            value.pop(rng.randrange(len(value)))
        else:
            value.append(copy.deepcopy(rng.choice(value)))
        return data
    if isinstance(value, dict) and value:
        del value[rng.choice(list(value))]
    return data


def mutate_data(data, rng: random.Random, n: int | None = None):
    """Apply 1–3 random structural or value mutations to a copy of data."""
    data = copy.deepcopy(data)
    for _ in range(n or rng.randrange(1, 4)):
        if isinstance(data, (dict, list)) and data and rng.random() < 0.6:
            data = _subtle(data, rng)
            continue
        paths = list(_paths(data))
        path, value = rng.choice(paths)
        key = path[-1] if path else None
        op = rng.randrange(10)
        if op == 0 and path:                       # delete a key / an item
            data = _delete(data, path)
        elif op == 1:                              # deeper nesting
            data = _set(data, path, [value])
        elif op == 2 and isinstance(value, list) and value:   # shallower nesting
            data = _set(data, path, value[0])
        elif op == 3 and isinstance(value, list):            # empty / longer list
            data = _set(data, path, [] if rng.random() < 0.5 else value + value[:1])
        elif op == 4 and (isinstance(value, (int, float)) or key in _SIZE_KEYS):
            data = _set(data, path, rng.choice([0, -1, -2, 1, 60, 10 ** 7, 2.5, -0.5, "2",
                                                "@NAN@", "@INF@", "@HUGE@", None, True, [2]]))
        elif op == 5 and isinstance(value, dict):            # add a junk key
            value[rng.choice(["zzz", "W", "type", "activation", "", "label", "size", 3])] = \
                _scalar(rng)
        else:                                      # swap the type
            data = _set(data, path, _scalar(rng, key))
    return data


def to_text(data, rng: random.Random) -> str:
    """YAML text of data, with the special literals, and sometimes damaged as text."""
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10 ** 6)
    for k, v in _LITERALS.items():
        text = text.replace(f"'{k}'", v).replace(k, v)
    r = rng.random()
    if r < 0.04:
        text = text[: rng.randrange(len(text) + 1)]               # truncated
    elif r < 0.07:
        i = rng.randrange(len(text) + 1)
        text = text[:i] + rng.choice(["\t", ": :", "- [", "&x", "*x", "\ufeff", "}", "\x07"]) + text[i:]
    return text


def _answers_for(problem: Path):
    """The answer template of a problem (questions and shapes), or None."""
    r = CliRunner().invoke(cli, ["template", str(problem)])
    if r.exit_code != 0:
        return None
    return load_yaml_file_text(r.stdout)


def load_yaml_file_text(text: str):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, encoding="utf-8") as f:
        f.write(text)
    try:
        return load_yaml_file(f.name).data
    finally:
        Path(f.name).unlink()


def _fill(node, rng):
    if isinstance(node, list):
        return [_fill(v, rng) for v in node]
    if node is None:
        return round(rng.uniform(-2, 2), 3)
    return node


def answer_files(template, rng: random.Random, folder: Path):
    """One to three answer files (YAML, JSON or CSV), mutated."""
    files = []
    for i in range(rng.randrange(1, 4)):
        doc = copy.deepcopy(template)
        doc["student"] = f"s{i}"
        doc["answers"] = {k: _fill(v, rng) for k, v in (doc.get("answers") or {}).items()}
        if rng.random() < 0.8:
            doc = mutate_data(doc, rng)
        kind = rng.choice(["yaml", "yaml", "json", "csv"])
        path = folder / f"a{i}.{kind}"
        if kind == "yaml":
            path.write_text(to_text(doc, rng), encoding="utf-8")
        elif kind == "json":
            try:
                text = json.dumps(doc, allow_nan=True)
            except (TypeError, ValueError):
                text = "{"
            if rng.random() < 0.1:
                text = text[: rng.randrange(len(text) + 1)]
            path.write_text(text, encoding="utf-8")
        else:
            path.write_text(_csv_text(template, rng), encoding="utf-8")
        files.append(path)
    return files


def _csv_text(template, rng):
    """A CSV export: a header with a column per entry, mutated rows."""
    header = ["student", "name"]
    for k, v in (template.get("answers") or {}).items():
        if isinstance(v, list) and v and isinstance(v[0], list):
            header += [f"{k}[{i + 1},{j + 1}]" for i in range(len(v)) for j in range(len(v[i]))]
        elif isinstance(v, list):
            header += [f"{k}[{i + 1}]" for i in range(len(v))]
        else:
            header.append(k)
    rows = [header]
    for s in range(rng.randrange(0, 4)):
        rows.append([f"s{s}", "N"] + [str(round(rng.uniform(-2, 2), 3)) for _ in header[2:]])
    for _ in range(rng.randrange(0, 4)):
        if not rows:
            break
        row = rng.choice(rows)
        op = rng.randrange(6)
        if op == 0 and row:
            row.pop(rng.randrange(len(row)))
        elif op == 1:
            row.append(rng.choice(_JUNK))
        elif op == 2 and row:
            row[rng.randrange(len(row))] = str(rng.choice(_JUNK + ["nan", "1e400", "-inf", "1/0"]))
        elif op == 3:
            rows.insert(rng.randrange(len(rows) + 1), [])
        elif op == 4 and row:
            row[rng.randrange(len(row))] = " ".join(rng.choice(_TOKENS) for _ in range(4))
        else:
            rows.remove(row)
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    text = out.getvalue()
    if rng.random() < 0.1:
        text = "\ufeff" + text
    if rng.random() < 0.05:
        text = text.replace(",", ";")
    if rng.random() < 0.05:
        text = text + '"unterminated'
    return text


_DOCS = {p.name: load_yaml_file(p).data for p in PROBLEMS}
_TEMPLATES = {}


def _template(name):
    if name not in _TEMPLATES:
        _TEMPLATES[name] = _answers_for(ROOT / "problems" / name)
    return _TEMPLATES[name]


def _commands(name, doc):
    """The commands a problem is run through (the mutated file replaces PROBLEM)."""
    cmds = [["solve", "--method", "autograd", "P"],
            ["solve", "--symbolic-limit", "6", "P"],
            ["check", "--symbolic-limit", "6", "P"],
            ["solve", "--symbolic-limit", "6", "--format", "json", "P"],
            ["graph", "P", "-o", "OUT/x.dot"],
            ["grade", "P", "ANSWERS", "-o", "OUT/grades", "-q"]]
    if "variants" in doc:
        cmds.append(["variant", "--student", "s1", "P"])
    if "data" in doc:
        cmds.append(["train", "--epochs", "2", "--quiet", "P"])
    if "optimizer" in doc:
        cmds.append(["solve", "--method", "autograd", "--steps", "2", "P"])
    return cmds


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def make_case(seed: int, root: Path):
    """Case `seed`: (name, argv, files written) in folder root."""
    rng = random.Random(seed)
    name = rng.choice(sorted(_DOCS))
    doc = _DOCS[name]
    cmd = rng.choice(_commands(name, doc))
    mutated = mutate_data(doc, rng) if "grade" not in cmd or rng.random() < 0.3 else doc
    p = root / "p.yaml"
    p.write_text(to_text(mutated, rng), encoding="utf-8")
    (root / "out").mkdir(exist_ok=True)
    argv = []
    for a in cmd:
        if a == "P":
            argv.append(str(p))
        elif a == "ANSWERS":
            folder = root / "answers"
            folder.mkdir(exist_ok=True)
            template = _template(name) or {"answers": {"L": None}}
            answer_files(template, rng, folder)
            argv.append(str(folder))
        else:
            argv.append(a.replace("OUT", str(root / "out")))
    return name, argv


def problems_with(r) -> list[str]:
    """What is wrong with a CliRunner result (empty: fine)."""
    bad = []
    if r.exit_code not in (0, 1, 2):
        bad.append(f"exit status {r.exit_code}")
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        bad.append(f"exception {type(r.exception).__name__}: {r.exception}")
    if "Traceback" in r.stdout + r.stderr:
        bad.append("a traceback in the output")
    if "Warning:" in r.stderr:
        bad.append(f"a Python warning on stderr: {r.stderr[:300]!r}")
    if r.exit_code == 2:
        lines = r.stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith("gradcalc: error: "):
            bad.append(f"exit 2 without exactly one error line: {r.stderr[:400]!r}")
    return bad


def run_case(seed: int, timeout: int = 10):
    """Run case `seed`; returns (name, argv, result or None, faults, seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        name, argv = make_case(seed, Path(tmp))
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(timeout)
        t0 = time.perf_counter()
        try:
            r = CliRunner().invoke(cli, argv, env={"COLUMNS": "120"})
            faults = problems_with(r)
        except _Timeout:
            r, faults = None, [f"hang > {timeout} s"]
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
        dt = time.perf_counter() - t0
        if r is not None and r.exception is not None and not isinstance(r.exception, SystemExit):
            if isinstance(r.exception, _Timeout):
                faults = [f"hang > {timeout} s"]
        text = (Path(tmp) / "p.yaml").read_text(encoding="utf-8")
    return name, argv, r, faults, dt, text


N_CASES = 1200


@pytest.mark.parametrize("chunk", range(6))
def test_fuzzed_inputs_never_give_a_traceback(chunk):
    per = N_CASES // 6
    failures = []
    for seed in range(chunk * per, (chunk + 1) * per):
        name, argv, r, faults, dt, text = run_case(seed)
        if faults:
            failures.append(f"seed {seed} ({name}, {argv[0]}): {'; '.join(faults)}")
    assert not failures, "\n".join(failures[:10])


def test_the_generator_is_deterministic():
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        for seed in (1, 17, 123):
            make_case(seed, Path(a))
            make_case(seed, Path(b))
            assert (Path(a) / "p.yaml").read_bytes() == (Path(b) / "p.yaml").read_bytes()


def test_the_generator_reaches_every_outcome():
    """The mutations are not all rejected at the door: some cases run, some are rejected."""
    codes = set()
    for seed in range(40):
        _, _, r, _, _, _ = run_case(seed)
        if r is not None:
            codes.add(r.exit_code)
    assert {0, 2} <= codes


# ---------------------------------------------------------------- regressions the fuzzer found
def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"COLUMNS": "120"})


def _one_line(r, *parts):
    assert r.exit_code == 2
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("gradcalc: error: "), r.stderr
    for part in parts:
        assert part in r.stderr, r.stderr


def test_a_value_name_that_is_a_number(tmp_path):
    # was: TypeError in difflib (the unknown-key hint compared an int key with names)
    p = tmp_path / "p.yaml"
    p.write_text("expression: x + 1\nvalues: {1: 2, x: 3}\n")
    _one_line(_run("solve", p), f"{p}:2: values[1]: '1' is not a valid variable name")
    p.write_text("expression: x + 1\nvalues: 3\n")
    _one_line(_run("solve", p), "values: expected a mapping (values), got a number (3)")


def test_unknown_top_key_lists_each_section_once(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("zzzzzz: 1\n")
    r = _run("solve", p)
    _one_line(r, "unknown key 'zzzzzz'")
    assert r.stderr.count("title") == 1


def test_negative_base_to_a_variable_power(tmp_path):
    # d(a^b)/db = a^b log a has no real value for a = −2: was a TypeError from SymPy's complex
    # value (solve, check), then a ValueError writing NaN into JSON and a TypeError in the HTML.
    p = tmp_path / "p.yaml"
    p.write_text("expression: x1 ^ w2\nvalues: {x1: -2, w2: -3}\n")
    for args in (["solve"], ["solve", "--exact"], ["check"], ["graph", "-o", tmp_path / "g.dot"],
                 ["solve", "--html", tmp_path / "r.html"]):
        r = _run(*args, p)
        assert r.exit_code in (0, 1) and "Traceback" not in r.stdout + r.stderr, (args, r.stderr)
        assert r.exception is None or isinstance(r.exception, SystemExit), args
    r = _run("solve", "--format", "json", p)
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    # ∂f/∂x1 = w2·x1^(w2−1) = −3·(−2)^−4 = −3/16; ∂f/∂w2 is undefined: null
    assert doc["gradients"]["x1"] == -0.1875
    assert doc["gradients"]["w2"] is None


def test_huge_label_is_out_of_range_not_a_cast_warning(tmp_path):
    # was: "RuntimeWarning: invalid value encountered in cast" before the error line
    p = tmp_path / "p.yaml"
    p.write_text("input: [1.0, 2.0]\nlayers:\n  - W: [[1, 0], [0, 1], [1, 1]]\n"
                 "    b: [0, 0, 0]\nloss:\n  type: cross_entropy\n  label: -1e300\n")
    _one_line(_run("solve", p), f"{p}:7: loss.label: label -1e+300 is out of range")


def test_overflow_after_an_update_step_is_one_line(tmp_path):
    # hw1 with lr 1e300: the step overflows. Was: a RuntimeWarning from NumPy on stderr
    # before the error, and the quoted array broke the error over several lines.
    text = (ROOT / "problems" / "hw1_sgd.yaml").read_text().replace("lr: 0.5", "lr: 1e300")
    p = tmp_path / "p.yaml"
    p.write_text(text)
    _one_line(_run("solve", "--method", "autograd", "--steps", "2", p), "after update step 1")


def test_a_non_finite_value_quoting_a_matrix_is_one_line(tmp_path):
    # conv of a 3×3 image with entries 1e308: the sum 2e308 overflows; the message quotes the
    # 3×3 image, which NumPy prints over three lines.
    p = tmp_path / "p.yaml"
    p.write_text("input: [[1e308, 1e308, 0], [0, 1e308, 1], [1, 0, 1e308]]\n"
                 "layers:\n  - type: conv2d\n    W: [[1, 1], [1, 1]]\n    b: 0\n"
                 "  - type: flatten\nloss:\n  type: mse\n  target: [0, 0, 0, 0]\n")
    _one_line(_run("solve", "--method", "autograd", p), "layers[0].W: step z1: conv2d gives a "
              "non-finite value (got [[1. 1.] [1. 1.]], [[1.e+308 1.e+308 0.e+000] [0.e+000")


# ---------------------------------------------------------------- hostile sizes and depths
# Issue 17 items 11–18 as fuzz classes: each case draws a size or a depth from the ranges that
# used to crash or hang (nesting past the printer's or NumPy's limits, integer literals beyond
# float64, steps below resolution, widths, paddings and shapes over the budget, bad option
# values).  Every case runs in a child under an address-space and CPU limit (tests/test_limits)
# and must end in 0/1 or one error line (plus one hint line for usage errors).
def _hostile_case(seed: int, folder: Path) -> list[str]:
    rng = random.Random(seed)
    kind = rng.choice(["nest_array", "bigint", "h", "width", "padding", "shape", "usage",
                       "uniform"])
    p = folder / f"h{seed}.yaml"
    if kind == "nest_array":
        n = rng.randint(17, 120)
        p.write_text(f"input: {'[' * n}1.0{']' * n}\nlayers:\n  - W: [[1.0]]\n    b: [0.0]\n"
                     "loss: {type: mse, target: [0.5]}\n")
        return ["solve", str(p)]
    if kind == "bigint":
        p.write_text(f"expression: x * 2\nvalues:\n  x: {'9' * rng.randint(310, 4300)}\n")
        return ["solve", str(p)]
    if kind == "h":
        h = rng.choice(["1e-300", "5e-324", "0", "-0.0", "nan", "inf", "1e300", "1e-13"])
        return [rng.choice(["solve", "check"]), str(ROOT / "problems" / "hw1.yaml"), "--h", h]
    if kind == "width":
        w = rng.randint(30_000, 100_000)
        p.write_text(f"data:\n  generate: xor\n  n: 50\nlayers:\n  - {{width: {w}}}\n"
                     f"  - {{width: {w}}}\n  - {{width: 2}}\nloss: cross_entropy\n")
        return ["solve", str(p)]
    if kind == "padding":
        p.write_text("input: [[1, 2], [3, 4]]\nlayers:\n  - type: conv2d\n    W: [[1, 0], [0, 1]]\n"
                     f"    padding: {rng.randint(20_000, 10**6)}\n  - type: flatten\n"
                     "loss: {type: mse, target: 0}\n")
        return ["solve", str(p)]
    if kind == "shape":
        a, b = rng.randint(10**5, 10**7), rng.randint(10**5, 10**7)
        return ["check", "--layer", str(ROOT / "examples" / "layers.py") + ":Affine",
                "--shape", f"{a}x{b}"]
    if kind == "uniform":
        lo = rng.choice(["-1e308", "-1.7e308", "-8.9e307"])
        text = (ROOT / "problems" / "hw1_template.yaml").read_text().replace(
            "input: {uniform: [-2, 2], decimals: 1, shape: [2]}",
            f"input: {{uniform: [{lo}, 1e308], shape: [2]}}")
        p.write_text(text)
        return ["variant", str(p), "--student", str(seed)]
    return rng.choice([["solve", str(ROOT / "problems" / "hw1.yaml"), "--format", "yaml"],
                       ["--max-memory", "lots", "solve", "x.yaml"], ["solv"], ["graph"],
                       ["check", "--sample", "0", str(ROOT / "problems" / "hw1.yaml")]])


@pytest.mark.parametrize("seed", range(16))
def test_hostile_sizes_and_depths_end_in_one_line(seed, tmp_path):
    from test_limits import limited
    argv = _hostile_case(seed, tmp_path)
    r = limited(argv, mem_mb=1500, cpu_s=40)
    assert r.returncode in (0, 1, 2), (argv[:3], r.stderr[-800:])
    assert "Traceback" not in r.stderr, (argv[:3], r.stderr[-800:])
    if r.returncode == 2:
        lines = r.stderr.splitlines()
        assert lines and lines[0].startswith("gradcalc: error: "), (argv[:3], r.stderr[-800:])
        assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("gradcalc: hint: ")), \
            (argv[:3], r.stderr[-800:])


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    seen = {}
    t_all = time.perf_counter()
    slow = []
    codes = {}
    for seed in range(first, first + n):
        name, argv, r, faults, dt, text = run_case(seed)
        if r is not None:
            codes[r.exit_code] = codes.get(r.exit_code, 0) + 1
        if dt > 3:
            slow.append((dt, seed, name, argv[0]))
        for f in faults:
            key = (argv[0], f.split(":")[0] if not f.startswith("exception") else
                   f[:90])
            if key not in seen:
                seen[key] = seed
                print(f"seed {seed} {name} {' '.join(argv[:-1] if argv else argv)}: {f[:300]}",
                      flush=True)
                if r is not None and r.exc_info and not isinstance(r.exception, SystemExit):
                    import traceback
                    print("".join(traceback.format_exception(*r.exc_info)[-4:]), flush=True)
    print(f"{n} cases in {time.perf_counter() - t_all:.1f} s; exit codes {codes}; "
          f"{len(seen)} distinct faults; slow: {sorted(slow, reverse=True)[:5]}")


# ---------------------------------------------------------------- issue 17: hostile class folders
_HOSTILE_IDS = ["s1", "s1", "x y", "x_y", "X_Y", "学" * 81, "cop\r=1+1", "a\x00b", "\x1b[2Jz",
                "con", "../etc/passwd", "=HYPERLINK(\"x\")", "ñ" * 300, "a/b", ".hidden", "1" * 80]


def _hostile_class(seed: int, root: Path) -> tuple[Path, Path, int]:
    """A class folder as the issue's adversarial pass built them: hostile ids, encodings,
    duplicate JSON keys, FIFOs, dangling symlinks, symlinks out, the output folder inside.
    Returns (answers, output folder, answer-suffixed paths that must be graded or listed)."""
    import os
    rng = random.Random(seed)
    ans = root / "answers"
    ans.mkdir()
    expected = 0
    for i in range(rng.randrange(1, 7)):
        sid = rng.choice(_HOSTILE_IDS)
        kind = rng.choice(["yaml", "json"])
        if kind == "json":
            body = json.dumps({"student": sid, "answers": {"L": rng.choice([0.0381, 1, "1/0"])}})
            if rng.random() < 0.3:
                body = body.replace('"answers": {', '"answers": {"L": 7, ', 1)   # a duplicate key
        else:
            body = f"student: {json.dumps(sid)}\nanswers:\n  L: {rng.choice(['0.0381', '1e999', '[1, 2]', '~'])}\n"
        enc = rng.choice(["utf-8", "utf-8-sig", "utf-16", "gb18030"])
        try:
            raw = body.encode(enc)
        except UnicodeEncodeError:
            raw = body.encode("utf-8")
        sub = ans / ("sub" if rng.random() < 0.3 else "")
        sub.mkdir(exist_ok=True)
        (sub / f"f{i}.{kind}").write_bytes(raw)
        expected += 1
    outside = root / "outside.txt"
    outside.write_text("precious")
    extras = rng.sample(["fifo", "dangling", "out_link", "dir_link", "device"], rng.randrange(0, 4))
    for e in extras:
        if e == "fifo":
            os.mkfifo(ans / "pipe.yaml")
        elif e == "dangling":
            os.symlink(root / "gone.yaml", ans / "dangling.yaml")
        elif e == "out_link":
            os.symlink(outside, ans / "out.yaml")
        elif e == "dir_link":
            os.symlink(root, ans / "loop.yaml")
        else:
            os.symlink("/dev/null", ans / "null.yaml")
        expected += 1
    inside = rng.random() < 0.5
    out = ans / "grades" if inside else root / "grades"
    return ans, out, expected + inside


def _check_hostile_run(ans: Path, out: Path, expected: int, root: Path) -> list[str]:
    bad = []
    r = CliRunner().invoke(cli, ["grade", str(ROOT / "problems" / "hw1.yaml"), str(ans), "-o",
                                 str(out), "-q"], env={"COLUMNS": "120"})
    bad += problems_with(r)
    # issue 16: a class of garbage in which nothing matched any question ends with exit 1 and
    # that one line, every file written all the same
    nothing = r.exit_code == 1 and r.stderr.startswith("gradcalc: nothing matched: ") \
        and r.stderr.count("\n") == 1
    if r.exit_code != 0 and not nothing:
        return bad + [f"exit {r.exit_code}: {r.stderr[:200]!r}"]
    grades = (out / "grades.csv").read_bytes().decode("utf-8-sig")
    n_rows = len(list(csv.reader(io.StringIO(grades, newline="")))) - 2
    summary = (out / "summary.md").read_text(encoding="utf-8")
    skipped = summary.split("## paths not graded", 1)[1].split("\n\n", 2)[1].count("\n- ") + 1 \
        if "## paths not graded" in summary else 0
    if n_rows + skipped != expected:
        bad.append(f"{n_rows} graded + {skipped} listed != {expected} paths")
    for p in out.rglob("*"):
        if p.is_file() and p.suffix in (".md", ".csv"):
            text = p.read_bytes().decode("utf-8", "replace")
            if any(c in text for c in "\x00\x1b"):
                bad.append(f"a control character in {p.name}")
        if len(p.name.encode()) > 255 or p.name.endswith(".tmp"):
            bad.append(f"file name {p.name[:40]!r}")
    manifest = json.loads((out / ".gradcalc-manifest.json").read_text(encoding="utf-8"))["files"]
    present = sorted("feedback/" + p.name for p in (out / "feedback").iterdir())
    if sorted(f for f in manifest if f.startswith("feedback/")) != present:
        bad.append("the manifest does not list exactly the feedback files")
    if (root / "outside.txt").read_text() != "precious":
        bad.append("a file outside was written")
    return bad


@pytest.mark.parametrize("chunk", range(2))
def test_hostile_class_folders_lose_nothing_and_leak_nothing(chunk):
    """Every path graded or listed, twice in a row (the second run must not read the first's
    outputs), no control character or overlong name in the outputs, nothing outside touched."""
    failures = []
    for seed in range(chunk * 25, (chunk + 1) * 25):
        with tempfile.TemporaryDirectory() as tmp:
            ans, out, expected = _hostile_class(seed, Path(tmp))
            old = signal.signal(signal.SIGALRM, _alarm)
            signal.alarm(20)
            try:
                first = _check_hostile_run(ans, out, expected, Path(tmp))
                grades = (out / "grades.csv").read_bytes() if out.exists() else b""
                second = _check_hostile_run(ans, out, expected, Path(tmp))
                if out.exists() and (out / "grades.csv").read_bytes() != grades:
                    second.append("the second run graded differently")
            except _Timeout:
                first, second = ["hang > 20 s"], []
            finally:
                signal.alarm(0)
                signal.signal(signal.SIGALRM, old)
            if first or second:
                failures.append(f"seed {seed}: {'; '.join(first + second)}")
    assert not failures, "\n".join(failures[:10])
