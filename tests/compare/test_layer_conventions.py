"""`gradcalc check --layer` over the conventions students write in (class, CS231n pairs, losses,
Deep Learning from Scratch classes, torch.autograd.Function): right layers agree, each classic
bug is caught and the wrong gradient is named.  The layers in tests/compare/layers/ are our own
NumPy code; which gradient each bug breaks is stated by hand below (the reason beside it)."""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gradcalc.cli import cli
from gradcalc.compare.layer import _at_kink, _compare
from gradcalc.compare.layerargs import parse_ints, parse_labels, parse_param
from gradcalc.errors import UsageError

LAYERS = Path(__file__).resolve().parent / "layers"
RIGHT = str(LAYERS / "cs231n_right.py")
BUGGY = str(LAYERS / "cs231n_buggy.py")
SCRATCH = str(LAYERS / "scratch_layers.py")
TORCH = str(LAYERS / "torch_layers.py")


def run(*args):
    return CliRunner().invoke(cli, ["check", *map(str, args)], env={"COLUMNS": "200"})


def as_json(*args):
    r = run(*args, "--format", "json")
    return r.exit_code, json.loads(r.stdout)


def wrong(rep: dict) -> set:
    return {x["name"] for x in rep["results"] if not x["ok"]}


def test_a_whole_cs231n_file_with_no_option_checks_every_layer():
    code, d = as_json("--layer", RIGHT)
    assert code == 0 and d["ok"]
    names = [rep["name"] for rep in d["layers"]]
    assert names == ["affine", "relu", "sigmoid", "conv_naive", "max_pool_naive", "batchnorm",
                     "layernorm", "spatial_groupnorm", "dropout", "rnn_step", "lstm_step",
                     "word_embedding", "softmax_loss", "svm_loss", "temporal_softmax_loss"]
    conv = {rep["name"]: rep["convention"] for rep in d["layers"]}
    assert conv["lstm_step"] == "pair" and conv["softmax_loss"] == "loss"
    # lstm_step: six float inputs, two outputs (next_h, next_c) and two upstream gradients
    lstm = next(rep for rep in d["layers"] if rep["name"] == "lstm_step")
    assert [x["name"] for x in lstm["results"]] == ["x", "prev_h", "prev_c", "Wx", "Wh", "b"]
    assert lstm["out_shape"] == [[3, 5], [3, 5]]
    # word ids are integers: only dW is expected (the backward returns only dW)
    emb = next(rep for rep in d["layers"] if rep["name"] == "word_embedding")
    assert [x["name"] for x in emb["results"]] == ["W"]


def test_the_text_output_has_one_verdict_row_per_layer():
    r = run("--layer", RIGHT)
    assert r.exit_code == 0, r.output
    rows = [ln for ln in r.stdout.splitlines() if ln.strip().endswith("agree")]
    assert len(rows) == 15
    assert "15 of 15 layers agree." in r.stdout


@pytest.mark.parametrize("layer, expected, why", [
    ("affine_mean", {"b"}, "db averaged over the batch"),
    ("affine_divn", {"w"}, "dw divided by N"),
    ("affine_nodb", {"b"}, "db never returned"),
    ("relu", {"x"}, "relu multiplies by the output"),
    ("sigmoid", {"x"}, "σ instead of σ′"),
    ("rnn_step", {"x", "prev_h", "Wx", "Wh", "b"}, "tanh′ forgotten: every gradient goes through it"),
    ("conv_naive", {"w"}, "dw from the first example only"),
    # the forget gate's gradient uses next_c instead of prev_c: da is wrong, so is every
    # gradient computed from da; dprev_c = dc·f does not use it
    ("lstm_step", {"x", "prev_h", "Wx", "Wh", "b"}, "forget gate with the wrong c"),
    ("softmax_loss", {"x"}, "dx without the 1/N of the mean"),
])
def test_each_classic_bug_fails_and_names_the_gradient(layer, expected, why):
    code, rep = as_json("--layer", f"{BUGGY}:{layer}")
    assert code == 1, why
    assert wrong(rep) == expected, why
    r = run("--layer", f"{BUGGY}:{layer}")
    assert r.exit_code == 1 and ("DISAGREE" in r.stdout or "MISSING" in r.stdout)


def test_the_bugs_are_wrong_by_the_factor_they_should_be():
    # mean instead of sum over N = 4 rows, and dw / N: a quarter of the truth; a loss's dx
    # without the 1/N of its mean: 4 times the truth (x is 4×5 for a loss)
    for layer, name, factor in (("affine_mean", "b", 0.25), ("affine_divn", "w", 0.25),
                                ("softmax_loss", "x", 4.0)):
        _, rep = as_json("--layer", f"{BUGGY}:{layer}")
        res = next(x for x in rep["results"] if x["name"] == name)
        for e in res["worst"]:
            assert e["analytic"] == pytest.approx(e["numeric"] * factor, rel=1e-5)


def test_a_missing_gradient_is_a_failure_not_a_note():
    code, rep = as_json("--layer", f"{BUGGY}:affine_nodb")
    assert code == 1 and not rep["ok"]
    b = next(x for x in rep["results"] if x["name"] == "b")
    assert b["missing"] and not b["ok"]
    r = run("--layer", f"{BUGGY}:affine_nodb")
    assert "MISSING: backward gave no db" in r.stdout


def test_a_class_that_forgets_a_parameter_gradient_fails(tmp_path):
    f = tmp_path / "lin.py"
    f.write_text("import numpy as np\n"
                 "class Lin:\n"
                 "    def __init__(self, W, b):\n        self.W, self.b = W, b\n"
                 "    def forward(self, x):\n        self.x = x\n        return x @ self.W + self.b\n"
                 "    def backward(self, dout):\n        self.dW = self.x.T @ dout\n"
                 "        return dout @ self.W.T\n")
    code, rep = as_json("--layer", f"{f}:Lin")
    assert code == 1 and wrong(rep) == {"b"}


def test_a_squeezable_extra_axis_is_compared_after_squeezing_with_a_note():
    code, rep = as_json("--layer", f"{RIGHT}:batchnorm")
    assert code == 0
    assert any("dgamma: backward gave shape (1, 3) for (3,); compared after squeezing" in n
               for n in rep["notes"])


def test_a_real_shape_mismatch_still_fails(tmp_path):
    f = tmp_path / "bad.py"
    f.write_text("import numpy as np\n"
                 "def scale_forward(x, gamma):\n    return x * gamma, (x, gamma)\n"
                 "def scale_backward(dout, cache):\n    x, gamma = cache\n"
                 "    return dout * gamma, (dout * x)\n")       # (N, D) instead of (D,)
    code, rep = as_json("--layer", f"{f}:scale")
    assert code == 1 and wrong(rep) == {"gamma"}
    assert "expected (3,)" in next(x for x in rep["results"] if x["name"] == "gamma")["note"]


def test_smooth_layers_are_never_labelled_at_kinks():
    r = run("--layer", f"{RIGHT}:lstm_step")
    assert r.exit_code == 0
    assert "kink" not in r.stdout and "suspicious" not in r.stdout
    assert r.stdout.count(" good ") == 6


def test_a_kink_is_recognised_only_where_the_one_sided_slopes_differ():
    x = np.array([0.0, 0.5])

    def f():
        return float(np.sum(np.abs(x)))          # |x|: slopes −1 and +1 at 0, smooth at 0.5
    # the backward says +1 at 0 (a valid one-sided slope); the central difference says 0
    assert _at_kink(f, x, (0,), 1e-6, 1.0, 1e-6, 1e-5)
    assert not _at_kink(f, x, (1,), 1e-6, 0.3, 1e-6, 1e-5)     # smooth: a wrong value is wrong
    assert not _at_kink(f, x, (0,), 1e-6, 5.0, 1e-6, 1e-5)     # outside both slopes: wrong
    analytic, numeric = np.array([1.0, 1.0]), np.array([0.0, 1.0])
    res = _compare("x", x, analytic, numeric, 1e-6, 1e-5, 3,
                   lambda idx: _at_kink(f, x, idx, 1e-6, analytic[idx], 1e-6, 1e-5))
    assert res.ok and res.kinks == 1


def test_param_labels_ints_and_mode_options():
    code, rep = as_json("--layer", f"{RIGHT}:conv_naive", "--param",
                        "conv_param={stride: 2, pad: 1}")
    # x 2×2×4×4, w 3×2×3×3: (4 + 2·1 − 3) // 2 + 1 = 2
    assert code == 0 and rep["out_shape"] == [2, 3, 2, 2]
    code, rep = as_json("--layer", f"{RIGHT}:word_embedding", "--ints", "x=0..4",
                        "--shape", "W=5x2")
    assert code == 0 and rep["out_shape"] == [2, 3, 2]
    code, rep = as_json("--layer", f"{RIGHT}:softmax_loss", "--labels", "y=3")
    assert code == 0 and rep["out_shape"] == []
    assert run("--layer", f"{RIGHT}:dropout", "--mode", "test").exit_code == 0
    assert run("--layer", f"{RIGHT}:batchnorm", "--mode", "test").exit_code == 0


def test_params_are_read_as_yaml_never_evaluated():
    assert parse_param("conv_param={stride: 1, pad: 1}") == ("conv_param", {"stride": 1, "pad": 1})
    assert parse_param("G=2") == ("G", 2)
    assert parse_param("G=__import__('os').system('x')") == ("G", "__import__('os').system('x')")
    assert parse_labels("y=5") == ("y", 5)
    assert parse_ints("x=0..9") == ("x", (0, 9))
    for bad in (lambda: parse_ints("x=9..0"), lambda: parse_labels("y=0"),
                lambda: parse_param("conv_param")):
        with pytest.raises(UsageError):
            bad()


def test_an_unknown_argument_asks_for_an_option(tmp_path):
    f = tmp_path / "odd.py"
    f.write_text("def odd_forward(x, frob):\n    return x, None\n"
                 "def odd_backward(dout, cache):\n    return dout\n")
    r = run("--layer", f"{f}:odd")
    assert r.exit_code == 2 and r.stdout == ""
    assert "give the value of 'frob' with --shape frob=AxB" in r.stderr


@pytest.mark.parametrize("layer, code, expected", [
    ("Affine", 0, set()), ("AffineDivN", 1, {"W"}), ("Relu", 0, set()), ("Tanh", 1, {"x"}),
    ("BatchNormalization", 0, set()), ("SoftmaxWithLoss", 0, set()),
    ("SoftmaxWithLossNoMean", 1, {"x"}),
])
def test_deep_learning_from_scratch_classes(layer, code, expected):
    got, rep = as_json("--layer", f"{SCRATCH}:{layer}")
    assert got == code and wrong(rep) == expected
    assert rep["convention"] == "class"


def test_softmax_with_loss_gets_integer_labels_and_dout_1():
    # SoftmaxWithLossNoMean forgot the 1/N of the mean: N = 4 times too large
    _, rep = as_json("--layer", f"{SCRATCH}:SoftmaxWithLossNoMean")
    for e in rep["results"][0]["worst"]:
        assert e["analytic"] == pytest.approx(4 * e["numeric"], rel=1e-5)


def test_torch_autograd_function():
    pytest.importorskip("torch")
    code, rep = as_json("--layer", f"{TORCH}:TanhFn")
    assert code == 0 and rep["convention"] == "torch"
    code, rep = as_json("--layer", f"{TORCH}:TanhNoDerivative")
    assert code == 1 and wrong(rep) == {"x"}
    code, rep = as_json("--layer", f"{TORCH}:LinearFn")
    assert code == 1 and wrong(rep) == {"b"}


def test_torch_not_installed_is_one_line(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "torch", None)       # `import torch` fails as if absent
    r = run("--layer", f"{TORCH}:TanhFn")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "PyTorch is not installed" in r.stderr


def test_a_layer_that_crashes_in_a_whole_file_is_a_failure_row(tmp_path):
    f = tmp_path / "two.py"
    f.write_text("import numpy as np\n"
                 "def relu_forward(x):\n    return np.maximum(0, x), x\n"
                 "def relu_backward(dout, cache):\n    return dout * (cache > 0)\n"
                 "def boom_forward(x):\n    raise ValueError('nope')\n"
                 "def boom_backward(dout, cache):\n    return dout\n")
    code, d = as_json("--layer", str(f))
    assert code == 1
    assert [(x["name"], x["ok"]) for x in d["layers"]] == [("relu", True), ("boom", False)]
    assert "forward raised ValueError: nope" in d["layers"][1]["error"]


def test_a_layer_needing_an_unknown_argument_is_not_checked_and_not_passed(tmp_path):
    f = tmp_path / "two.py"
    f.write_text("import numpy as np\n"
                 "def relu_forward(x):\n    return np.maximum(0, x), x\n"
                 "def relu_backward(dout, cache):\n    return dout * (cache > 0)\n"
                 "def odd_forward(x, frob):\n    return x, None\n"
                 "def odd_backward(dout, cache):\n    return dout\n")
    r = run("--layer", str(f))
    assert r.exit_code == 1
    assert "NOT CHECKED: " in r.stdout and "1 of 2 layers agree." in r.stdout
    r = run("--layer", str(f), "--shape", "frob=4x3")
    assert r.exit_code == 1                      # frob is now made, and backward gives no dfrob
    assert "dfrob missing" in r.stdout
