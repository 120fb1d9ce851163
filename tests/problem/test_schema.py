"""The JSON Schema of the problem format: a valid draft 2020-12 schema that shipped problems meet."""
import copy
import json
from pathlib import Path

import pytest

from gradcalc import ops
from gradcalc.problem.schema import problem_schema
from gradcalc.problem.yamlio import load_yaml_file, load_yaml_text

jsonschema = pytest.importorskip("jsonschema")

PROBLEMS = Path(__file__).resolve().parents[2] / "problems"
# problems/*_template.yaml are per-student variant templates (random number specs), not problems
SHIPPED = sorted(p for p in PROBLEMS.glob("*.yaml") if not p.stem.endswith("_template"))


@pytest.fixture(scope="module")
def validator():
    schema = problem_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator, doc):
    return [e.message for e in validator.iter_errors(doc)]


def test_schema_is_draft_2020_12_and_plain_json():
    schema = problem_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert json.loads(json.dumps(schema)) == schema          # only JSON types inside


def test_activations_and_losses_come_from_the_registry(monkeypatch):
    schema = problem_schema()
    assert set(schema["$defs"]["activation"]["enum"]) == set(ops.ACTIVATIONS)
    loss = schema["$defs"]["network"]["properties"]["loss"]
    assert set(loss["oneOf"][0]["enum"]) == set(ops.LOSSES)
    # a new activation in the registry appears without editing the schema, and validates
    monkeypatch.setitem(ops.ACTIVATIONS, "swish_test", "sigmoid")
    schema = problem_schema()
    assert "swish_test" in schema["$defs"]["activation"]["enum"]
    doc = load_yaml_text("input: [1]\nlayers:\n  - {W: [[1]], activation: swish_test}\n").data
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(doc)) == []


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_problem_conforms(validator, path):
    assert errors(validator, load_yaml_file(path).data) == []


def test_there_are_shipped_problems_of_each_kind():
    names = {p.name for p in SHIPPED}
    assert {"hw1.yaml", "lecture_scalar.yaml", "lecture_sigmoid.yaml", "softmax_ce.yaml",
            "hinge.yaml", "batch_mse.yaml", "batch_ce.yaml", "leaky_tanh.yaml"} <= names


def _hw1():
    return copy.deepcopy(load_yaml_file(PROBLEMS / "hw1.yaml").data)


@pytest.mark.parametrize("mutate", [
    lambda d: d["layers"][0].__setitem__("activation", "sigmod"),      # unknown activation
    lambda d: d["layers"][0].__setitem__("bias", [0.0, 0.0]),         # unknown layer key
    lambda d: d.__setitem__("layer", d.pop("layers")),                 # unknown top key
    lambda d: d["loss"].__setitem__("type", "crossentropy"),           # unknown loss
    lambda d: d["loss"].__setitem__("label", 1),                       # a key of another loss
    lambda d: d.__setitem__("data", {"X": [[1.0, 2.0]]}),              # both input and data
    lambda d: d.pop("input"),                                          # neither input nor data
    lambda d: d["input"].__setitem__(0, "abc"),                        # not a number
    lambda d: d["input"].__setitem__(0, True),                         # a boolean
    lambda d: d.__setitem__("regularization", {"l2": -1}),             # λ < 0
    lambda d: d.__setitem__("expression", "x + y"),                    # two kinds at once
])
def test_schema_rejects_bad_network_problems(validator, mutate):
    doc = _hw1()
    assert errors(validator, doc) == []
    mutate(doc)
    assert errors(validator, doc) != []


@pytest.mark.parametrize("text", [
    'expression: "x + y"\nvalues: {x: 1, y: [[2], 3]}\n',  # neither a number nor a vector or matrix
    'expression: "x + y"\nvalues: {__x: 1}\n',              # a dunder name
    'expression: {}\n',                                     # no steps
    'expression: "x"\nvariables: {x: 1}\n',                 # unknown key
])
def test_schema_rejects_bad_expression_problems(validator, text):
    assert errors(validator, load_yaml_text(text).data) != []


def test_schema_layer_types(validator):
    ok = load_yaml_text("input: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]\nlayers:\n"
                        "  - {type: conv2d, W: [[1, 0], [0, 1]], stride: 1, activation: relu}\n"
                        "  - {type: maxpool2d, size: 2}\n  - {type: flatten}\n"
                        "  - {W: [[1]], type: dense}\n").data
    assert errors(validator, ok) == []
    bad = copy.deepcopy(ok)
    bad["layers"][1]["activation"] = "relu"          # pooling layers have no activation
    assert errors(validator, bad) != []
    bad = copy.deepcopy(ok)
    bad["layers"][0]["type"] = "conv3d"
    assert errors(validator, bad) != []


def test_schema_accepts_format_variants(validator):
    for text in [
        # exponent numbers, default-free layers, loss as a bare name on a batch
        "data:\n  X: [[1e-3, 2], [3, 4]]\n  labels: [0, 1]\nlayers:\n  - W: [[1, 2], [3, 4]]\n"
        "loss: cross_entropy\nregularization: {l2: 1e-4}\n",
        # extension sections are open objects
        "input: [1]\nlayers:\n  - {W: [[1]], activation: leaky_relu, alpha: 0.2}\n"
        "grading: {rtol: 0.01, anything: [1, 2]}\noptimizer: {lr: 0.1}\nvariants: {seed: s}\n",
        'expression:\n  q: x + y\n  f: q * 2\nvalues: {x: 1, y: 2.5}\ntitle: t\n',
    ]:
        assert errors(validator, load_yaml_text(text).data) == [], text


def test_schema_command_prints_it():
    from click.testing import CliRunner

    from gradcalc.cli import cli
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == problem_schema()


def test_schema_accepts_training_data_extensions(validator):
    pytest.importorskip("gradcalc.problem.datasets")
    doc = load_yaml_text("data: {generate: spiral, n: 50, classes: 3, seed: 0}\n"
                         "layers:\n  - {width: 20, activation: relu, init: he}\n"
                         "  - {width: 3, init: {type: xavier, seed: 1}}\n"
                         "loss: cross_entropy\n").data
    assert errors(validator, doc) == []
    doc["layers"][0]["init"] = "hee"
    assert errors(validator, doc) != []
    doc = load_yaml_text("data: {file: points.csv, features: [x1, x2], labels: label}\n"
                         "layers:\n  - W: [[1, 2]]\nloss: mse\n").data
    assert errors(validator, doc) == []
