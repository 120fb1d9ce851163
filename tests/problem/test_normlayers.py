"""Issue 14, bad input of batchnorm, layernorm, dropout, embedding and residual layers: one line
`gradcalc: error: <file>:<line>: <field>: <what was expected>`, exit 2, nothing on stdout."""
from click.testing import CliRunner
import pytest

from gradcalc.cli import cli

EMB = """input: {ids}
layers:
  - type: embedding
    W: [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]
  - type: flatten
  - W: [[1.0, 1.0, 1.0, 1.0]]
"""
DROP = """data:
  X: [[1.0, 2.0], [3.0, 4.0]]
  targets: [[1.0], [0.0]]
layers:
  - type: dropout
{extra}
  - W: [[1.0, 1.0]]
loss: mse
"""
BN_ONE = """input: [1.0, 2.0]
layers:
  - W: [[1.0, 0.0], [0.0, 1.0]]
  - type: batchnorm
  - W: [[1.0, 1.0]]
"""
RES = """input: [1.0, 2.0]
layers:
  - W: [[1.0, 0.0], [0.0, 1.0]]
    residual: {ref}
  - W: [[1.0, 1.0], [0.5, 0.5], [0.2, 0.1]]
  - W: [[1.0, 1.0, 1.0]]
    residual: {ref2}
"""

CASES = [
    (EMB.format(ids="[0, 1.5]"), "1: input: expected integer ids (0-based rows of W), got 1.5"),
    (EMB.format(ids="[0, 3]"), "1: input: id 3 is out of range: expected 0 … 2 (W has 3 rows)"),
    (EMB.format(ids="[-1, 0]"), "1: input: id -1 is out of range: expected 0 … 2 (W has 3 rows)"),
    (DROP.format(extra="    p: 0.5\n    mask: [[1, 0, 1], [1, 1, 0]]"),
     "7: layers[0].mask: expected a mask of shape 2×2 to match the inputs (one row per "
     "example), got 2×3"),
    (DROP.format(extra="    p: 0.5\n    mask: [[1, 0], [0.5, 1]]"),
     "7: layers[0].mask: expected only 0 (dropped) and 1 (kept) in the mask, got 0.5"),
    (DROP.format(extra="    p: 1.0\n    seed: 1"),
     "6: layers[0].p: expected a drop probability p with 0 ≤ p < 1, got 1"),
    (DROP.format(extra="    p: -0.1\n    seed: 1"),
     "6: layers[0].p: expected a drop probability p with 0 ≤ p < 1, got -0.1"),
    (DROP.format(extra="    p: 0.5"),
     "5: layers[0]: a dropout layer in train mode needs a 'mask' (0/1, the shape of its input, "
     "2×2) or a 'seed'"),
    (BN_ONE, "4: layers[1]: batchnorm over a batch of one: the batch variance is zero, so every "
             "x̂ is 0 and no gradient reaches the input; give 'data' with at least 2 examples (or "
             "use layernorm)"),
    (RES.format(ref="h2", ref2="h2"),
     "4: layers[0].residual: h2 is the output of layer 1, which comes later; layer 0 can add x"),
    (RES.format(ref="x", ref2="h1"),
     "7: layers[2].residual: h1 has shape 2 but the output of layer 2 has shape 1; a residual "
     "adds quantities of the same shape"),
    (RES.format(ref="x", ref2="z1"),
     "7: layers[2].residual: expected the name of an earlier layer's output (x, h1, h2), got z1"),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_bad_input_is_one_line_exit_2(tmp_path, case):
    text, expected = CASES[case]
    f = tmp_path / "p.yaml"
    f.write_text(text)
    r = CliRunner().invoke(cli, ["solve", str(f)], env={"COLUMNS": "200"})
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr == f"gradcalc: error: {f}:{expected}\n"


def test_layernorm_of_one_feature_is_refused(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("input: [1.0]\nlayers:\n  - type: layernorm\n")
    r = CliRunner().invoke(cli, ["solve", str(f)])
    assert r.exit_code == 2 and "one feature has zero variance" in r.stderr
    assert r.stderr.count("\n") == 1
