"""Tests of gradcalc.problem: validation of problem files and every bad input, with exact messages."""
import textwrap
import time
import tracemalloc

import numpy as np
import pytest

from gradcalc.api import solve
from gradcalc.errors import DomainError, ExpressionError, ProblemError
from gradcalc.problem.load import load_problem, parse_problem
from gradcalc.problem.model import ExpressionProblem, NetworkProblem

NET = """\
input: [0.5, -1.5]
layers:
  - W: [[0.4, -0.2],
        [-0.1, 0.3]]
    activation: sigmoid
  - W: [[0.2, -0.5]]
loss: {type: mse, target: [0.3]}
"""


def parse(text, file="p.yaml"):
    return parse_problem(textwrap.dedent(text), file=file)


def error(text, file="p.yaml", kind=ProblemError):
    """The one-line message of the error that `text` raises, loading and solving it."""
    with pytest.raises(kind) as info:
        solve(parse(text, file))
    return str(info.value)


# ---------------------------------------------------------------- valid problems
def test_network_defaults():
    p = parse(NET)
    assert isinstance(p, NetworkProblem) and p.kind == "network"
    assert p.title == "p"                            # the file stem when there is no title
    assert p.x.dtype == np.float64 and p.x.shape == (2,)
    assert [layer.activation for layer in p.layers] == ["sigmoid", "linear"]
    np.testing.assert_array_equal(p.layers[0].b, [0.0, 0.0])   # b defaults to zeros
    assert p.loss.type == "mse" and p.loss.scale == 0.5       # the lecture's 1/2
    assert p.l2 == 0.0 and not p.batch
    assert list(p.parameters()) == ["W1", "b1", "W2", "b2"]


def test_arrays_are_frozen():
    p = parse(NET)
    with pytest.raises(ValueError):
        p.layers[0].W[0, 0] = 1.0


def test_identity_is_linear_and_leaky_alpha_defaults():
    p = parse("""\
        input: [1.0]
        layers:
          - {W: [[1.0]], activation: leaky_relu}
          - {W: [[2.0]], activation: identity}
        """)
    assert p.layers[0].alpha == 0.01 and p.layers[0].attrs == {"alpha": 0.01}
    assert p.layers[1].activation == "linear"


def test_exponent_numbers_and_numeric_text_are_numbers():
    # YAML 1.1 reads 1e-3 as text; the format accepts it as a number
    p = parse("""\
        input: [1e-3, "2.5", -1.5E+2]
        layers:
          - W: [[1, 2, 3]]
        regularization: {l2: 1e-4}
        """)
    np.testing.assert_array_equal(p.x, [0.001, 2.5, -150.0])
    assert p.l2 == 1e-4


def test_batch_targets_as_plain_list_become_one_column():
    p = parse("""\
        data:
          X: [[1, 2], [3, 4], [5, 6]]
          targets: [0.5, 1.5, 2.5]
        layers:
          - W: [[1, 0]]
        loss: mse
        """)
    assert p.batch and p.loss.target.shape == (3, 1)


def test_batch_labels_and_hinge_margin():
    p = parse("""\
        data:
          X: [[1, 2], [3, 4]]
          labels: [1, 0]
        layers:
          - W: [[1, 0], [0, 1], [1, 1]]
        loss: {type: hinge, margin: 0.5}
        """)
    np.testing.assert_array_equal(p.loss.label, [1, 0])
    assert p.loss.margin == 0.5


def test_expression_single_and_steps():
    p = parse('expression: "(x + y) * z"\nvalues: {x: -2, y: 5, z: -4}\n')
    assert isinstance(p, ExpressionProblem) and p.output == "f"
    p = parse("expression:\n  q: x + y\n  g: q * z\nvalues: {x: -2, y: 5, z: -4}\n")
    assert [name for name, _ in p.steps] == ["q", "g"] and p.output == "g"
    assert p.values == {"x": -2.0, "y": 5.0, "z": -4.0}


def test_extension_sections_are_kept_in_raw():
    p = parse(NET + "grading: {tolerance: 0.01}\noptimizer: {lr: 0.1}\nvariants: {count: 3}\n")
    assert p.raw["grading"] == {"tolerance": 0.01}
    assert p.raw["optimizer"] == {"lr": 0.1}


def test_load_problem_from_file(tmp_path):
    f = tmp_path / "net.yaml"
    f.write_text(NET)
    p = load_problem(f)
    assert p.file == str(f) and p.title == "net"


# ---------------------------------------------------------------- bad input: YAML level
def test_yaml_syntax_error():
    assert error("input: [1, 2\nlayers: []\n") == \
        "p.yaml:2: YAML syntax error: expected ',' or ']', but got ':'"


def test_empty_file():
    assert error("") == "p.yaml: file is empty"
    assert error("# only a comment\n") == "p.yaml: file is empty"


def test_binary_file():
    with pytest.raises(ProblemError) as info:
        parse_problem(b"\x00\x01\x02binary", file="b.yaml")
    assert str(info.value) == "b.yaml: not a text file (binary or not UTF-8)"
    with pytest.raises(ProblemError) as info:
        parse_problem(b"\xff\xfe\xfa", file="b.yaml")
    assert str(info.value) == "b.yaml: not a text file (binary or not UTF-8)"


def test_binary_file_from_disk(tmp_path):
    f = tmp_path / "img.yaml"
    f.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ProblemError) as info:
        load_problem(f)
    assert str(info.value) == f"{f}: not a text file (binary or not UTF-8)"


def test_missing_file(tmp_path):
    with pytest.raises(ProblemError) as info:
        load_problem(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: cannot read file: No such file or directory"


def test_top_level_must_be_a_mapping():
    assert error("- 1\n- 2\n") == "p.yaml:1: expected a mapping of sections at the top, got a list"


def test_duplicate_key():
    assert error("expression: x + 1\nvalues: {x: 1, x: 2}\n") == "p.yaml:2: values: duplicate key 'x'"


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system [echo hi]",
                                 "!!python/name:os.system", "!!python/object/new:dict {}"])
def test_python_tags_are_refused(tag):
    msg = error(f"input: [1.0, 2.0]\nlayers:\n  - W: {tag}\n")
    assert msg.startswith("p.yaml:3: YAML tags that build Python objects are not allowed (!!python/")


def test_alias_bomb_is_fast_and_small():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for c in "bcdefghijkl":    # 9^12 ≈ 2.8e11 values if expanded
        lines.append(f"{c}: &{c} [" + ",".join(["*" + prev] * 9) + "]")
        prev = c
    text = "\n".join(lines) + "\n"
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ProblemError) as info:
            parse_problem(text, file="bomb.yaml")
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "too many aliases" in str(info.value)
    assert str(info.value).startswith("bomb.yaml:")
    assert peak < 100 * 1024 * 1024            # bytes; the expanded document would need terabytes
    assert elapsed < 10.0                      # generous: it takes well under a second


# ---------------------------------------------------------------- unknown names, with suggestions
def test_unknown_top_key_suggests():
    assert error("input: [1.0]\nlayer:\n  - W: [[1.0]]\n") == \
        "p.yaml:2: layer: unknown key 'layer' in a problem (did you mean 'layers'?)"


def test_unknown_layer_key_lists_the_keys():
    assert error("input: [1.0, 2.0]\nlayers:\n  - W: [[1.0, 2.0]]\n    bias: [1]\n") == \
        ("p.yaml:4: layers[0].bias: unknown key 'bias' in layer 0 "
         "(expected one of: W, b, activation, alpha, name, residual)")


def test_unknown_activation_suggests():
    assert error("input: [1.0]\nlayers:\n  - W: [[1.0]]\n    activation: sigmod\n") == \
        ("p.yaml:4: layers[0].activation: unknown activation 'sigmod' (did you mean 'sigmoid'?); "
         "expected one of: identity, leaky_relu, linear, relu, sigmoid, softmax, tanh")


def test_unknown_loss_suggests():
    assert error("input: [1.0]\nlayers:\n  - W: [[1.0]]\nloss: {type: crossentropy, label: 0}\n") == \
        ("p.yaml:4: loss.type: unknown loss 'crossentropy' (did you mean 'cross_entropy'?); "
         "expected one of: bce, cross_entropy, hinge, mse")


def test_key_of_another_loss():
    assert error("input: [1.0]\nlayers:\n  - W: [[1.0]]\nloss: {type: mse, target: [1], label: 2}\n") \
        == "p.yaml:4: loss.label: unknown key 'label' in a mse loss (expected one of: type, target, scale, reduction)"


def test_unknown_function_suggests():
    assert error('expression: "sigmod(x) + 1"\nvalues: {x: 1}\n') == \
        "p.yaml:1: expression: unknown function 'sigmod' (did you mean 'sigmoid'?) at column 1"


def test_alpha_on_a_layer_that_is_not_leaky():
    assert error("input: [1.0]\nlayers:\n  - W: [[1.0]]\n    activation: relu\n    alpha: 0.2\n") == \
        "p.yaml:5: layers[0].alpha: alpha is the slope of leaky_relu; this layer uses relu"


# ---------------------------------------------------------------- numbers
def test_non_numeric_entry():
    assert error("input: [1.0, abc]\nlayers:\n  - W: [[1.0, 2.0]]\n") == \
        "p.yaml:1: input[1]: expected a number, got 'abc'"


def test_boolean_is_not_a_number():
    assert error("input: [1.0, true]\nlayers:\n  - W: [[1.0, 2.0]]\n") == \
        "p.yaml:1: input[1]: expected a number, got a boolean (true)"


@pytest.mark.parametrize("bad,shown", [(".inf", "inf"), ("-.inf", "-inf"), (".nan", "nan"),
                                       ("1e400", "inf"), ('"nan"', "nan")])
def test_non_finite_numbers(bad, shown):
    assert error(f"input: [1.0, 2.0]\nlayers:\n  - W: [[1.0,\n          {bad}]]\n") == \
        f"p.yaml:4: layers[0].W[0][1]: expected a finite number, got {shown}"


def test_non_finite_value_of_an_expression_variable():
    assert error('expression: "x + y"\nvalues: {x: 1, y: "1e400"}\n') == \
        "p.yaml:2: values.y: expected a finite number, got inf"


# ---------------------------------------------------------------- shapes
def test_ragged_matrix():
    assert error("input: [1.0, 2.0]\nlayers:\n  - W: [[1.0, 2.0],\n        [3.0]]\n") == \
        "p.yaml:4: layers[0].W[1]: ragged array: expected 2 entries like the first row, got 1"


def test_matrix_where_a_vector_is_expected():
    assert error("input: [[1.0, 2.0]]\nlayers:\n  - W: [[1.0, 2.0]]\n") == \
        "p.yaml:1: input: expected a list for the input x, got shape 1×2"


def test_first_layer_does_not_match_the_input():
    assert error("input: [1.0, 2.0]\nlayers:\n  - W: [[1.0, 2.0, 3.0]]\n") == \
        "p.yaml:3: layers[0].W: expected 2 columns to match 2 inputs, got 3"


def test_layer_does_not_match_the_previous_layer():
    assert error("input: [1.0, 2.0]\nlayers:\n  - W: [[1.0, 2.0],\n        [3.0, 4.0]]\n"
                 "  - W: [[1.0, 2.0, 3.0]]\n") == \
        "p.yaml:5: layers[1].W: expected 2 columns to match 2 outputs of layer 0, got 3"


def test_bias_does_not_match_w():
    assert error("input: [1.0, 2.0]\nlayers:\n  - W: [[1.0, 2.0], [1, 1]]\n    b: [1.0]\n") == \
        "p.yaml:4: layers[0].b: expected 2 entries to match the 2 rows of W, got 1"


def test_target_does_not_match_the_output():
    assert error("input: [1.0, 2.0]\nlayers:\n  - W: [[1.0, 2.0]]\nloss: {type: mse, target: [1, 2]}\n") \
        == ("p.yaml:4: loss.target: expected 1 entries to match the 1 outputs of the last layer, "
            "got 2")


def test_batch_targets_rows_do_not_match_x():
    assert error("data:\n  X: [[1.0, 2.0], [3.0, 4.0]]\n  targets: [[1.0], [2.0], [3.0]]\n"
                 "layers:\n  - W: [[1.0, 2.0]]\nloss: mse\n") == \
        "p.yaml:3: data.targets: expected 2 rows to match the 2 examples of X, got 3"


def test_batch_targets_columns_do_not_match_outputs():
    assert error("data:\n  X: [[1.0, 2.0], [3.0, 4.0]]\n  targets: [[1.0, 2.0], [2.0, 1.0]]\n"
                 "layers:\n  - W: [[1.0, 2.0]]\nloss: {type: mse}\n") == \
        "p.yaml:3: data.targets: expected 1 columns to match the 1 outputs, got 2"


def test_batch_labels_count_does_not_match_x():
    assert error("data:\n  X: [[1.0, 2.0], [3.0, 4.0]]\n  labels: [0, 1, 1]\n"
                 "layers:\n  - W: [[1.0, 2.0], [1, 1]]\nloss: cross_entropy\n") == \
        "p.yaml:3: data.labels: expected 2 labels to match the 2 examples, got 3"


def test_scalar_output_needed_without_loss():
    assert error("input: [1.0, 2.0]\nlayers:\n  - W: [[1.0, 2.0], [1, 1]]\n") == \
        ("p.yaml:3: layers[0].W: without a 'loss' the output itself is differentiated, so it must "
         "be a scalar (one example, one output unit); got 2 outputs")


def test_input_and_data_together():
    assert error("input: [1.0, 2.0]\ndata: {X: [[1.0, 2.0]]}\nlayers:\n  - W: [[1.0, 2.0]]\n") == \
        "p.yaml:1: a network problem needs exactly one of 'input' (one example) or 'data' (a batch)"


# ---------------------------------------------------------------- labels
@pytest.mark.parametrize("label,shown", [(2, "2"), (-1, "-1")])
def test_label_out_of_range(label, shown):
    assert error(f"input: [1.0, 2.0]\nlayers:\n  - W: [[1.0, 2.0], [1, 1]]\n"
                 f"loss: {{type: cross_entropy, label: {label}}}\n") == \
        f"p.yaml:4: loss.label: label {shown} is out of range: expected 0 … 1 (0-based, 2 classes)"


def test_batch_label_out_of_range():
    assert error("data:\n  X: [[1.0, 2.0], [3.0, 4.0]]\n  labels: [0, 3]\n"
                 "layers:\n  - W: [[1.0, 2.0], [1, 1]]\nloss: hinge\n") == \
        "p.yaml:3: data.labels: label 3 is out of range: expected 0 … 1 (0-based, 2 classes)"


def test_fractional_label():
    assert error("input: [1.0, 2.0]\nlayers:\n  - W: [[1.0, 2.0], [1, 1]]\n"
                 "loss: {type: hinge, label: 1.5}\n") == \
        "p.yaml:4: loss.label: expected whole-number class labels (0-based)"


def test_softmax_before_cross_entropy_is_refused_with_the_reason():
    assert error("input: [1.0, 2.0]\nlayers:\n  - W: [[1.0, 2.0], [1, 1]]\n    activation: softmax\n"
                 "loss: {type: cross_entropy, label: 1}\n") == \
        ("p.yaml:4: layers[0].activation: cross_entropy applies softmax to the raw scores itself; "
         "use activation: linear on the last layer (softmax twice is wrong)")


# ---------------------------------------------------------------- expressions
def test_undefined_variable_suggests():
    assert error('expression: "x * yy"\nvalues: {x: 1, y: 2}\n') == \
        "p.yaml:1: expression: variable 'yy' is not defined; give it under 'values' (did you mean 'y'?)"


def test_step_used_before_it_is_defined():
    assert error("expression:\n  a: b + 1\n  b: x * 2\nvalues: {x: 1}\n") == \
        "p.yaml:2: expression.a: variable 'b' is used before its step is defined; give it under 'values'"


@pytest.mark.parametrize("text,message", [
    ('__import__("os").system("echo hi")', "names starting with '__' are not allowed at column 1"),
    ("x.__class__", "'.' attribute access is not allowed ('.__class__'; only .T, the transpose) "
                    "at column 2"),
    ("x.real", "'.' attribute access is not allowed ('.real'; only .T, the transpose) at column 2"),
    ("x[0]", "subscripts are not allowed at column 2"),
    ("lambda: 1", "'lambda' is not allowed at column 1"),
    ("(lambda q: q)(x)", "'lambda' is not allowed at column 2"),
    ("x + 'a'", "strings are not allowed at column 5"),
])
def test_expressions_cannot_reach_python(text, message):
    quoted = text.replace("'", "''")
    assert error(f"expression: '{quoted}'\nvalues: {{x: 1}}\n") == f"p.yaml:1: expression: {message}"


def test_python_builtins_are_unknown_functions():
    # the suggestion after the name depends on the registry, so only the refusal is pinned
    msg = error("expression: 'open(x)'\nvalues: {x: 1}\n")
    assert msg.startswith("p.yaml:1: expression: unknown function 'open' (")
    assert msg.endswith(") at column 1")


def test_expression_error_is_an_expression_error_subclass():
    with pytest.raises(ProblemError):
        parse('expression: "x +"\nvalues: {x: 1}\n')
    assert issubclass(ExpressionError, ProblemError)


def test_step_named_like_a_function():
    assert error("expression:\n  exp: x * 2\nvalues: {x: 1}\n") == \
        "p.yaml:2: expression.exp: 'exp' is a function name; choose another step name"


def test_expression_and_layers_together():
    assert error('expression: "x + y"\nvalues: {x: 1, y: 1}\nlayers: []\n') == \
        ("p.yaml:3: layers: unknown key 'layers' in an expression problem (expected one of: title, "
         "description, expression, values, grading, optimizer, variants)")


# ---------------------------------------------------------------- domain errors name the step
def test_log_of_zero_names_the_step():
    assert error("expression:\n  a: x - 1\n  f: log(a)\nvalues: {x: 1}\n", kind=DomainError) == \
        "p.yaml:3: expression.f: step f: log needs a positive input (got 0)"


def test_log_of_negative_names_the_step():
    assert error("expression:\n  g: log(x)\nvalues: {x: -2}\n", kind=DomainError) == \
        "p.yaml:2: expression.g: step g: log needs a positive input (got -2)"


def test_sqrt_of_negative_names_the_step():
    assert error('expression: "sqrt(x)"\nvalues: {x: -1}\n', kind=DomainError) == \
        "p.yaml:1: expression: step f: sqrt needs a non-negative input (got -1)"


def test_division_by_zero_names_the_step():
    assert error("expression:\n  d: x - y\n  f: 1 / d\nvalues: {x: 2, y: 2}\n", kind=DomainError) == \
        "p.yaml:3: expression.f: step f: division by zero (got 1, 0)"


def test_overflow_is_a_domain_error():
    assert error('expression: "exp(x)"\nvalues: {x: 1000}\n', kind=DomainError) == \
        "p.yaml:1: expression: step f: exp gives a non-finite value (got 1000)"


def test_bce_outside_zero_one_names_the_loss():
    msg = error("input: [1, 2]\nlayers:\n  - W: [[1, 2]]\nloss: {type: bce, target: [1]}\n",
                kind=DomainError)
    assert msg == "p.yaml:4: loss: step L: bce needs outputs strictly between 0 and 1 (got [5.])"


def test_a_variant_template_points_to_gradcalc_variant(tmp_path):
    from gradcalc.api import load_problem
    from gradcalc.errors import ProblemError
    f = tmp_path / "t.yaml"
    f.write_text("input: {uniform: [-1, 1], shape: [2]}\nlayers:\n  - W: [[1, 2]]\n",
                 encoding="utf-8")
    with pytest.raises(ProblemError) as info:
        load_problem(f)
    assert str(info.value) == (f"{f}:1: input: this is a random spec of a variant template; make "
                               "a concrete problem first: gradcalc variant TEMPLATE --student ID")
