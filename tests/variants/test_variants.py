"""Per-student variants: random specs, stable seeding, well-posedness redraws, handouts and keys."""
import csv
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gradcalc.cli import cli
from gradcalc.errors import ProblemError
from gradcalc.problem.load import parse_problem
from gradcalc.variants.maker import VariantMaker
from gradcalc.variants.template import load_template, parse_template
from gradcalc.variants.wellposed import check_well_posed
from gradcalc.variants.yamlout import variant_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "problems" / "hw1_template.yaml"


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"COLUMNS": "200", **(env or {})})


def make(text, student="s1"):
    return VariantMaker(parse_template(text, "t.yaml")).make(student)


def many(text, n=40):
    maker = VariantMaker(parse_template(text, "t.yaml"))
    return [maker.make(f"student-{i}") for i in range(n)]


def rejected(variants, constraint):
    return sum(v.rejections.get(constraint, 0) for v in variants)


# ---------------------------------------------------------------- specs
SPECS = """\
title: specs
expression: "a * b + c + d"
values:
  a: {uniform: [-1, 1], decimals: 1}
  b: {integers: [-3, 3]}
  c: {choice: [0.25, 0.5, 1.0]}
  d: 2.5
variants: {seed: "specs", max_draws: 50}
"""


def test_specs_draw_within_their_ranges():
    for v in many(SPECS, 60):
        a, b, c, d = (v.problem.values[k] for k in "abcd")
        assert -1 <= a <= 1 and round(a, 1) == a
        assert b in (-3, -2, -1, 0, 1, 2, 3)
        assert c in (0.25, 0.5, 1.0)
        assert d == 2.5


def test_specs_cover_their_ranges():
    vs = many(SPECS, 150)
    # b = 0 would make the answer df/da = b exactly 0 by chance: such draws are redrawn
    assert {v.problem.values["b"] for v in vs} == {-3.0, -2.0, -1.0, 1.0, 2.0, 3.0}
    assert rejected(vs, "answer") > 0
    assert {v.problem.values["c"] for v in vs} == {0.25, 0.5, 1.0}


def test_shape_makes_whole_arrays_and_entries_may_be_specs():
    v = make("""\
input: {uniform: [1, 2], decimals: 2, shape: [3]}
layers:
  - W: {integers: [1, 4], shape: [2, 3]}
    b: [{choice: [0.5, 0.75]}, 0.0]
    activation: sigmoid
  - W: [[1, -1]]
loss: {type: mse, target: [0.1]}
variants: {seed: 7, saturation: 100}
""")
    p = v.problem
    assert p.x.shape == (3,) and np.all((p.x >= 1) & (p.x <= 2))
    W = p.layers[0].W
    assert W.shape == (2, 3) and np.all(W == np.round(W)) and np.all((W >= 1) & (W <= 4))
    assert p.layers[0].b[0] in (0.5, 0.75) and p.layers[0].b[1] == 0.0


def test_variant_matches_the_documented_derivation():
    # the documented rule: SHA-256 of "gradcalc-variant-v1\0seed\0student\0draw" -> PCG64;
    # u = (raw64 >> 11) / 2^53; uniform value a + (b - a)·u rounded to the decimals
    digest = hashlib.sha256("\x00".join(["gradcalc-variant-v1", "fixed", "2026001", "1"])
                            .encode()).digest()
    raw = np.random.PCG64(int.from_bytes(digest, "big")).random_raw(2)
    u = [int(r) >> 11 for r in raw]
    expected = [round(-5 + 10 * (k / 2 ** 53), 3) for k in u]
    v = make("""\
expression: "x + y"
values:
  x: {uniform: [-5, 5], decimals: 3}
  y: {uniform: [-5, 5], decimals: 3}
variants: {seed: fixed}
""", "2026001")
    assert [v.problem.values["x"], v.problem.values["y"]] == expected


def test_same_student_same_variant_other_student_other_variant():
    t = load_template(TEMPLATE)
    a = VariantMaker(t).make("2026001")
    b = VariantMaker(load_template(TEMPLATE)).make(" 2026001 ")   # spaces do not count
    c = VariantMaker(t).make("2026002")
    assert variant_yaml(a, t) == variant_yaml(b, t)
    assert a.data != c.data


def test_seed_changes_every_variant():
    text = TEMPLATE.read_text(encoding="utf-8")
    t1 = parse_template(text)
    t2 = parse_template(text.replace('seed: "hw1-2026"', 'seed: "hw1-2027"'))
    assert VariantMaker(t1).make("s").data != VariantMaker(t2).make("s").data


def test_determinism_across_processes_and_hash_seeds():
    outs = []
    for hashseed in ("0", "1", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        r = subprocess.run([sys.executable, "-m", "gradcalc", "variant", str(TEMPLATE),
                            "--student", "张三-2026001"], capture_output=True, text=True,
                           env=env, encoding="utf-8", timeout=120)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout)
    assert outs[0] == outs[1] == outs[2]
    t = load_template(TEMPLATE)
    assert outs[0] == variant_yaml(VariantMaker(t).make("张三-2026001"), t)


def test_template_without_random_numbers_is_just_the_problem():
    hw1 = ROOT / "problems" / "hw1.yaml"
    r = run("variant", hw1, "--student", "anyone")
    assert r.exit_code == 0, r.output
    p, ref = parse_problem(r.stdout), parse_problem(hw1.read_bytes())
    assert np.array_equal(p.x, ref.x)
    assert all(np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b)
               for a, b in zip(p.layers, ref.layers))
    assert not r.stdout.startswith("#")


# ---------------------------------------------------------------- YAML output
def test_variant_yaml_is_readable_and_round_trips():
    r = run("variant", TEMPLATE, "--student", "2026001")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert out.startswith("# Variant of hw1_template.yaml for student 2026001 (seed 'hw1-2026', draw ")
    assert "variants:" not in out and "uniform" not in out
    assert "input: [" in out and "W: [[" in out            # numbers as flow lists
    assert "0000000" not in out                            # shortest float text (0.3, not 0.30000000000000004)
    p = parse_problem(out)
    t = load_template(TEMPLATE)
    v = VariantMaker(t).make("2026001")
    assert np.array_equal(p.x, v.problem.x)
    assert np.array_equal(p.layers[0].W, v.problem.layers[0].W)


# ---------------------------------------------------------------- well-posedness: each constraint redraws
def _all_pass(vs, check):
    assert vs and all(check(v) for v in vs)


@pytest.mark.parametrize("expr,choices,ok", [
    ("relu(x)", "[0, 0.03, 1]", lambda x: x == 1),              # relu input at / near 0
    ("abs(x)", "[0, -0.04, 0.5]", lambda x: x == 0.5),          # abs kink
    ("max(x, 1)", "[1, 1.02, 2]", lambda x: x == 2),            # max tie within the margin
    ("min(x, 1)", "[1, 0.99, -1]", lambda x: x == -1),          # min tie
])
def test_kink_of_an_expression_forces_a_redraw(expr, choices, ok):
    vs = many(f"""\
expression: "{expr}"
values: {{x: {{choice: {choices}}}}}
variants: {{seed: kinks, margin: 0.05}}
""", 30)
    _all_pass(vs, lambda v: ok(v.problem.values["x"]))
    assert rejected(vs, "kink") > 0


def test_leaky_relu_kink_in_a_network_forces_a_redraw():
    # z1 = 1·x + 0 = x; a draw x = 0.01 sits within the margin 0.05 of the kink
    vs = many("""\
input: [{choice: [0.01, 0.8, -0.9]}]
layers:
  - W: [[1.0]]
    b: [0.0]
    activation: leaky_relu
    alpha: 0.1
variants: {seed: leaky}
""", 30)
    _all_pass(vs, lambda v: v.problem.x[0] in (0.8, -0.9))
    assert rejected(vs, "kink") > 0


def test_hinge_margin_term_at_zero_forces_a_redraw():
    # scores y = x (identity layer), label 1, margin 1: the class-0 term is y0 − y1 + 1 = a − 1 + 1 = a
    vs = many("""\
input: [{choice: [0.0, 0.5]}, 1.0]
layers:
  - W: [[1.0, 0.0], [0.0, 1.0]]
loss: {type: hinge, label: 1, margin: 1}
variants: {seed: hinge}
""", 30)
    _all_pass(vs, lambda v: v.problem.x[0] == 0.5)
    assert rejected(vs, "kink") > 0


def test_max_pooling_tie_forces_a_redraw():
    # a 2×2 window [[a, 1], [0, 0]]: a = 1 ties with the 1, a = 1.01 is within the margin
    vs = many("""\
input: [[{choice: [1.0, 1.01, 2.0]}, 1.0], [0.0, 0.0]]
layers:
  - type: maxpool2d
    size: 2
  - type: flatten
  - W: [[1.0]]
variants: {seed: pool}
""", 30)
    _all_pass(vs, lambda v: v.problem.x[0][0] == 2.0)
    assert rejected(vs, "kink") > 0


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_saturated_activation_forces_a_redraw(act):
    vs = many(f"""\
expression: "{act}(x)"
values: {{x: {{choice: [4.5, -6, 1.5]}}}}
variants: {{seed: sat, saturation: 4}}
""", 30)
    _all_pass(vs, lambda v: v.problem.values["x"] == 1.5)
    assert rejected(vs, "saturation") > 0


def test_softmax_cross_entropy_probability_near_1_forces_a_redraw():
    # scores [s, 0, 0]: p0 = e^s / (e^s + 2); s = 8 gives 0.99933 (> 1 − 1e-3), s = 1 gives 0.576
    vs = many("""\
input: [{choice: [8.0, 1.0]}, 0.0, 0.0]
layers:
  - W: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
loss: {type: cross_entropy, label: 0}
variants: {seed: ce}
""", 30)
    _all_pass(vs, lambda v: v.problem.x[0] == 1.0)
    assert rejected(vs, "probability") > 0


def test_softmax_activation_probability_near_0_forces_a_redraw():
    # softmax([s, 0]) with s = −8: p0 = 1 / (1 + e^8) = 0.000335 (< 1e-3)
    vs = many("""\
input: [{choice: [-8.0, 0.5]}, 0.0]
layers:
  - W: [[1.0, 0.0], [0.0, 1.0]]
    activation: softmax
loss: {type: mse, target: [0.5, 0.5]}
variants: {seed: sm}
""", 30)
    _all_pass(vs, lambda v: v.problem.x[0] == 0.5)
    assert rejected(vs, "probability") > 0


def test_bce_probability_near_1_forces_a_redraw():
    # σ(7.5) = 0.99945: within 1e-3 of 1 (the saturation bound is raised so that it is not the cause)
    vs = many("""\
input: [{choice: [7.5, 0.5]}]
layers:
  - W: [[1.0]]
    activation: sigmoid
loss: {type: bce, target: [1]}
variants: {seed: bce, saturation: 10}
""", 30)
    _all_pass(vs, lambda v: v.problem.x[0] == 0.5)
    assert rejected(vs, "probability") > 0


def test_answer_that_rounds_to_zero_forces_a_redraw():
    # f = x·y with x = 1: y = 0.00005 makes f (and df/dx = y) 5e-5, below atol 1e-4
    vs = many("""\
expression: "x * y"
values: {x: 1, y: {choice: [0.00005, 0.5]}}
grading: {atol: 1.0e-4, rtol: 0.01}
variants: {seed: zero}
""", 30)
    _all_pass(vs, lambda v: v.problem.values["y"] == 0.5)
    assert rejected(vs, "answer") > 0


def test_only_asked_answers_must_not_round_to_zero():
    # the same numbers, but only df/dy (= x = 1) is asked: nothing needs a redraw
    vs = many("""\
expression: "x * y"
values: {x: 1, y: {choice: [0.00005, 0.5]}}
grading: {atol: 1.0e-4, rtol: 0.01, questions: {dy: 1}}
variants: {seed: zero}
""", 30)
    assert rejected(vs, "answer") == 0
    assert {v.problem.values["y"] for v in vs} == {0.00005, 0.5}


def test_exact_structural_zero_is_allowed():
    # max(x, y) routes no gradient to the smaller input: dy = 0 exactly is a well-defined answer
    vs = many("""\
expression: "max(x, y)"
values: {x: 2, y: {choice: [0.5, -1]}}
variants: {seed: route}
""", 10)
    assert all(v.draws == 1 for v in vs)


def test_relu_that_is_off_gives_a_structural_zero_which_is_allowed():
    # relu(x) with x < 0 is exactly 0, and so is df/dx: well-defined, no redraw
    vs = many("""\
expression: "relu(x) + y"
values: {x: {choice: [-1, -2]}, y: 3}
variants: {seed: relu-off}
""", 10)
    assert all(v.draws == 1 for v in vs)


def test_coincidental_exact_zero_forces_a_redraw():
    # q = x + y is exactly 0 when y = −x: that zero comes from the numbers, not the graph
    vs = many("""\
expression:
  q: x + y
  f: q * z
values: {x: 2, y: {choice: [-2, 1]}, z: 3}
variants: {seed: coincidence}
""", 30)
    _all_pass(vs, lambda v: v.problem.values["y"] == 1)
    assert rejected(vs, "answer") > 0


def test_domain_error_forces_a_redraw():
    vs = many("""\
expression: "log(x)"
values: {x: {choice: [-1, 2]}}
variants: {seed: dom}
""", 30)
    _all_pass(vs, lambda v: v.problem.values["x"] == 2)
    assert rejected(vs, "domain") > 0


def test_draws_are_counted_and_reported():
    vs = many("""\
expression: "relu(x)"
values: {x: {choice: [0, 1]}}
variants: {seed: count}
""", 30)
    # each draw is rejected with probability 1/2: the count is 1 + the kink rejections
    assert all(v.draws == 1 + v.rejections.get("kink", 0) for v in vs)
    assert max(v.draws for v in vs) > 1
    yaml_text = variant_yaml(next(v for v in vs if v.draws > 1), parse_template("""\
expression: "relu(x)"
values: {x: {choice: [0, 1]}}
variants: {seed: count}
"""))
    assert "# redrawn: kink ×" in yaml_text


def test_check_well_posed_accepts_the_lecture_problem():
    from gradcalc.variants.template import Options
    p = parse_problem((ROOT / "problems" / "hw1.yaml").read_bytes())
    assert check_well_posed(p, Options()) is None


# ---------------------------------------------------------------- failures
UNSAT = """\
title: impossible
expression: "relu(x)"
values:
  x: {choice: [0, 0.01]}
variants: {seed: never, max_draws: 25}
"""


def test_unsatisfiable_template_names_the_constraint():
    with pytest.raises(ProblemError) as info:
        make(UNSAT, "2026001")
    msg = str(info.value)
    assert msg.startswith("t.yaml:5: variants.max_draws: no well-posed draw for student 2026001 in 25 draws")
    assert "the kink constraint failed most often" in msg
    assert "relu input x = 0 lies within 0.05 of its kink" in msg or \
        "relu input x = 0.01 lies within 0.05 of its kink" in msg
    assert "variants.margin" in msg


def test_unsatisfiable_template_cli_one_line_and_nothing_written(tmp_path):
    tpl = tmp_path / "t.yaml"
    tpl.write_text(UNSAT, encoding="utf-8")
    roster = tmp_path / "roster.csv"
    roster.write_text("student,name\n1,A\n2,B\n", encoding="utf-8")
    out = tmp_path / "out"
    r = run("variants", tpl, "--roster", roster, "-o", out)
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "kink" in lines[0] and "Traceback" not in r.output
    assert not out.exists()
    r = run("variant", tpl, "--student", "1")
    assert r.exit_code == 2 and r.stdout == ""


@pytest.mark.parametrize("text,where,msg", [
    ("values: {x: {uniform: [1, -1]}}", "t.yaml:3: values.x.uniform", "expected low < high"),
    ("values: {x: {uniform: [0, 1], decimal: 2}}", "t.yaml:3: values.x.decimal",
     "unknown key 'decimal' in a random spec (did you mean 'decimals'?)"),
    ("values: {x: {integers: [0.5, 2]}}", "t.yaml:3: values.x.integers", "expected whole numbers"),
    ("values: {x: {choice: []}}", "t.yaml:3: values.x.choice", "non-empty list"),
    ("values: {x: {uniform: [0, 1], integers: [0, 1]}}", "t.yaml:3: values.x", "one of"),
    ("values: {x: {uniform: [0.01, 0.02], decimals: 1}}", "t.yaml:3: values.x.uniform",
     "no number with 1 decimals"),
    ("values: {x: {uniform: [0, 1], shape: [0]}}", "t.yaml:3: values.x.shape", "expected a shape"),
])
def test_bad_specs_point_at_the_template_line(text, where, msg):
    doc = f"title: bad\nexpression: \"x + 1\"\n{text}\nvariants: {{seed: s}}\n"
    with pytest.raises(ProblemError) as info:
        parse_template(doc, "t.yaml")
    assert str(info.value).startswith(where + ": "), str(info.value)
    assert msg in str(info.value)


def test_random_template_needs_a_seed():
    with pytest.raises(ProblemError, match="needs a seed"):
        parse_template("expression: \"x\"\nvalues: {x: {uniform: [0, 1]}}\n", "t.yaml")


def test_unknown_variants_option():
    with pytest.raises(ProblemError) as info:
        parse_template("expression: x\nvalues: {x: 1}\nvariants: {seed: a, margn: 0.1}\n", "t.yaml")
    assert str(info.value) == ("t.yaml:3: variants.margn: unknown key 'margn' in variants "
                               "(did you mean 'margin'?)")


def test_invalid_draw_points_at_the_template_line():
    # label drawn out of range for 2 classes: the error names the template's line of the spec
    text = """\
input: [1.0, 2.0]
layers:
  - W: [[1.0, 0.0], [0.0, 1.0]]
loss:
  type: cross_entropy
  label: {integers: [5, 6]}
variants: {seed: lab}
"""
    with pytest.raises(ProblemError) as info:
        make(text, "s9")
    msg = str(info.value)
    assert msg.startswith("t.yaml:6: loss.label: label 5 is out of range") or \
        msg.startswith("t.yaml:6: loss.label: label 6 is out of range"), msg
    assert "(in the variant drawn for student s9)" in msg


# ---------------------------------------------------------------- outputs: handouts, keys, CSV
def _hw1_by_hand(p):
    """The lecture's hand derivation for a sigmoid hidden layer, linear output, ½ squared error."""
    W1, b1, W2, b2 = p.layers[0].W, p.layers[0].b, p.layers[1].W, p.layers[1].b
    x, t = p.x, p.loss.target
    z1 = W1 @ x + b1
    h1 = 1 / (1 + np.exp(-z1))
    y = W2 @ h1 + b2
    L = 0.5 * np.sum((y - t) ** 2)
    dy = y - t
    dz1 = (W2.T @ dy) * h1 * (1 - h1)
    return {"z1": z1, "h1": h1, "y": y, "L": L, "dW2": np.outer(dy, h1), "db2": dy,
            "dW1": np.outer(dz1, x), "db1": dz1}


def _write_roster(path, rows, header="student,name,section"):
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")


def test_variants_command_writes_everything(tmp_path):
    roster = tmp_path / "roster.csv"
    _write_roster(roster, [("2026001", "张三", "A"), ("2026002", "李四", "B"), ("a/b", "Eve", "B")])
    out = tmp_path / "hw1"
    r = run("variants", TEMPLATE, "--roster", roster, "-o", out)
    assert r.exit_code == 0, r.output
    assert r.stderr.startswith("wrote 3 variants to ")
    import hashlib
    ab = "a_b~" + hashlib.sha256(b"a/b").hexdigest()[:8]     # an unsafe id: its own hash
    for sid, stem in (("2026001", "2026001"), ("2026002", "2026002"), ("a/b", ab)):
        for rel in (f"problems/{stem}.yaml", f"handouts/{stem}.md", f"handouts/{stem}.html",
                    f"keys/{stem}.md"):
            assert (out / rel).is_file(), rel
    assert not list(out.rglob("*.tmp"))
    # the answer key: a row per student, a column per entry (1-based), hand-derived values
    rows = list(csv.DictReader(io.StringIO((out / "answer_key.csv").read_text(encoding="utf-8"))))
    assert [r["student"] for r in rows] == ["2026001", "2026002", "a/b"]
    assert list(rows[0])[:6] == ["student", "name", "z1[1]", "z1[2]", "h1[1]", "h1[2]"]
    assert "dW1[2,1]" in rows[0] and "L" in rows[0]
    t = load_template(TEMPLATE)
    for row in rows:
        stem = ab if row["student"] == "a/b" else row["student"]
        p = parse_problem((out / "problems" / f"{stem}.yaml").read_bytes())
        assert np.array_equal(p.x, VariantMaker(t).make(row["student"]).problem.x)
        ref = _hw1_by_hand(p)
        assert float(row["L"]) == pytest.approx(float(ref["L"]), rel=1e-12)
        assert float(row["dW1[2,1]"]) == pytest.approx(ref["dW1"][1, 0], rel=1e-12, abs=1e-15)
        assert float(row["db1[2]"]) == pytest.approx(ref["db1"][1], rel=1e-12, abs=1e-15)
        assert float(row["dW2[1,2]"]) == pytest.approx(ref["dW2"][0, 1], rel=1e-12, abs=1e-15)
    # the manifest keeps the roster's columns and says how many draws each needed
    man = list(csv.DictReader(io.StringIO((out / "variants.csv").read_text(encoding="utf-8"))))
    assert list(man[0]) == ["student", "name", "section", "variant_file", "draws"]
    assert man[2]["variant_file"] == f"problems/{ab}.yaml" and man[0]["section"] == "A"
    assert all(int(m["draws"]) >= 1 for m in man)


def test_handout_shows_the_students_numbers_and_the_questions(tmp_path):
    roster = tmp_path / "roster.csv"
    _write_roster(roster, [("2026001", "张三", "A")])
    out = tmp_path / "o"
    assert run("variants", TEMPLATE, "--roster", roster, "-o", out).exit_code == 0
    md = (out / "handouts" / "2026001.md").read_text(encoding="utf-8")
    p = VariantMaker(load_template(TEMPLATE)).make("2026001").problem
    assert "Student: 2026001  ·  Name: 张三" in md
    # vectors as columns (issue 12 item 4)
    assert r"x = \begin{bmatrix} " + r" \\ ".join(f"{v:g}" for v in p.x) + r" \end{bmatrix}" in md
    assert (r"b1 = \begin{bmatrix} " + r" \\ ".join(f"{v:g}" for v in p.layers[0].b)
            + r" \end{bmatrix}") in md
    assert "| 7 | dW1 = ∂L/∂W1 | 2 × 2 matrix | 2 |" in md
    assert 'student: "2026001"' in md and "dW1: [[null, null], [null, null]]" in md
    html = (out / "handouts" / "2026001.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    for external in ("<script", "src=", "href=", "http://", "https://", "@import"):
        assert external not in html
    assert "张三" in html and "dW1 = ∂L/∂W1" in html
    key = (out / "keys" / "2026001.md").read_text(encoding="utf-8")
    ref = _hw1_by_hand(p)
    assert f"| 4 | L | {float(ref['L']):.6g} |" in key
    assert "### Backward pass" in key


def test_handout_in_chinese(tmp_path):
    roster = tmp_path / "roster.csv"
    _write_roster(roster, [("2026001", "张三", "A")])
    out = tmp_path / "o"
    assert run("variants", TEMPLATE, "--roster", roster, "-o", out, "--lang", "zh").exit_code == 0
    md = (out / "handouts" / "2026001.md").read_text(encoding="utf-8")
    for word in ("学号: 2026001", "姓名: 张三", "## 已知", "## 题目", "2 × 2 矩阵", "## 提交方式"):
        assert word in md
    html = (out / "handouts" / "2026001.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html and '<meta charset="utf-8">' in html


def test_rerun_is_byte_identical(tmp_path):
    roster = tmp_path / "roster.csv"
    _write_roster(roster, [(str(i), f"n{i}", "A") for i in range(5)])
    a, b = tmp_path / "a", tmp_path / "b"
    assert run("variants", TEMPLATE, "--roster", roster, "-o", a, "--quiet").exit_code == 0
    assert run("variants", TEMPLATE, "--roster", roster, "-o", b, "--quiet").exit_code == 0
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 5 * 4 + 2 + 2           # + the manifest and the lock file
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_commands_are_documented_with_examples():
    for cmd in ("variant", "variants"):
        r = run(cmd, "--help")
        assert r.exit_code == 0 and "Example" in r.output


# ---------------------------------------------------------------- grading with variants
def _answers_yaml(student, values: dict) -> str:
    lines = [f'student: "{student}"', "answers:"]
    for name, v in values.items():
        lines.append(f"  {name}: {np.asarray(v, dtype=float).tolist()!r}")
    return "\n".join(lines) + "\n"


def _own_problem(student):
    return VariantMaker(load_template(TEMPLATE)).make(student).problem


def test_grading_a_class_where_two_students_swapped_variants(tmp_path):
    ids = ["2026001", "2026002", "2026003", "2026004", "2026005"]
    by_hand = {s: _hw1_by_hand(_own_problem(s)) for s in ids}
    subs = tmp_path / "subs"
    subs.mkdir()
    # 2026002 and 2026003 hand in each other's (correct) answers
    source = {"2026002": "2026003", "2026003": "2026002"}
    for s in ids:
        (subs / f"{s}.yaml").write_text(_answers_yaml(s, by_hand[source.get(s, s)]), encoding="utf-8")
    # 2026004 gets z1 wrong by +0.5 and carries it through consistently (by hand, own numbers)
    p = _own_problem("2026004")
    W1, b1, W2, b2, x, t = (p.layers[0].W, p.layers[0].b, p.layers[1].W, p.layers[1].b, p.x,
                            p.loss.target)
    z1 = W1 @ x + b1 + 0.5
    h1 = 1 / (1 + np.exp(-z1))
    y = W2 @ h1 + b2
    dy = y - t
    dz1 = (W2.T @ dy) * h1 * (1 - h1)
    carried = {"z1": z1, "h1": h1, "y": y, "L": 0.5 * np.sum(dy ** 2), "dW2": np.outer(dy, h1),
               "db2": dy, "dW1": np.outer(dz1, x), "db1": dz1}
    (subs / "2026004.yaml").write_text(_answers_yaml("2026004", carried), encoding="utf-8")
    # 2026005 flips the sign of dW2: a catalogued mistake, recognised in their own variant
    flipped = dict(by_hand["2026005"], dW2=-by_hand["2026005"]["dW2"])
    (subs / "2026005.yaml").write_text(_answers_yaml("2026005", flipped), encoding="utf-8")

    out = tmp_path / "grades"
    r = run("grade", TEMPLATE, subs, "--variants", "-o", out, "--quiet")
    assert r.exit_code == 0, r.output
    grades = {row["student"]: row for row in
              csv.DictReader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8")))}
    assert grades["2026001"]["total"] == "10"
    assert grades["2026004"]["z1"] == "0" and grades["2026004"]["total"] == "9"   # follow-through
    assert grades["2026005"]["dW2"] == "0" and grades["2026005"]["total"] == "8"
    fb = (out / "feedback" / "2026005.md").read_text(encoding="utf-8")
    assert "sign of the gradient is flipped" in fb
    # the swapped pair: answers right for the other variant, wrong (mostly) for their own
    for s in ("2026002", "2026003"):
        assert float(grades[s]["total"]) < 5
        assert grades[s]["dW1"] == "0" and grades[s]["L"] == "0"
    signals = list(csv.DictReader(io.StringIO((out / "copy_signals.csv").read_text(encoding="utf-8"))))
    assert {(s["student"], s["matches_variant_of"]) for s in signals} == {
        ("2026002", "2026003"), ("2026003", "2026002")}
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "the answers match the variant of student 2026003 better than their own" in summary
    # reported to the teaching assistants, never to the student, never scored
    fb = (out / "feedback" / "2026002.md").read_text(encoding="utf-8")
    assert "2026003" not in fb and "copying" not in fb


def test_the_answer_key_grades_full_marks_for_everyone(tmp_path):
    roster = tmp_path / "roster.csv"
    _write_roster(roster, [(f"2026{i:03d}", f"学生{i}", "A") for i in range(12)])
    out = tmp_path / "v"
    assert run("variants", TEMPLATE, "--roster", roster, "-o", out, "--quiet").exit_code == 0
    g = tmp_path / "g"
    r = run("grade", TEMPLATE, out / "answer_key.csv", "--variants", "-o", g, "--quiet")
    assert r.exit_code == 0, r.output
    rows = [row for row in csv.DictReader(io.StringIO((g / "grades.csv").read_text(encoding="utf-8")))
            if row["student"] != "(points)"]
    assert len(rows) == 12 and all(row["percent"] == "100.0" for row in rows)
    assert (g / "copy_signals.csv").read_text(encoding="utf-8").count("\n") == 1   # header only
    # the same key graded against one fixed problem: only by chance would anyone be right
    g2 = tmp_path / "g2"
    r = run("grade", ROOT / "problems" / "hw1.yaml", out / "answer_key.csv", "-o", g2, "--quiet")
    rows = [row for row in csv.DictReader(io.StringIO((g2 / "grades.csv").read_text(encoding="utf-8")))
            if row["student"] != "(points)"]
    assert all(float(row["percent"]) < 50 for row in rows)
