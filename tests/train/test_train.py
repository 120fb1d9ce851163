"""`gradcalc train`: fast path = autograd, determinism, spiral capacity, NaN stop, data sets, CLI."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gradcalc.derive import autograd
from gradcalc.api import solve
from gradcalc.cli import cli
from gradcalc.errors import ProblemError, UsageError
from gradcalc.problem.load import load_problem, parse_problem
from gradcalc.train.fastnet import FastNet, GraphNet, fast_gradients
from gradcalc.train.loop import train
from gradcalc.train.sweep import parse_key, parse_sweep, variant

ROOT = Path(__file__).resolve().parents[2]
PROBLEMS = ROOT / "problems"


def spiral_text(width=20, lr=1.0, l2=0.001, extra=""):
    return f"""title: spiral
data: {{generate: spiral, n: 100, classes: 3, noise: 0.2, seed: 0}}
layers:
  - {{width: {width}, activation: relu, init: {{type: he, seed: 0}}}}
  - {{width: 3, activation: linear, init: {{type: xavier, seed: 1}}}}
loss: cross_entropy
regularization: {{l2: {l2}}}
optimizer: {{type: sgd, lr: {lr}{extra}}}
"""


# ---------------------------------------------------------------- the fast path = autograd
GRAD_CASES = {
    "spiral relu + cross-entropy + l2": spiral_text(),
    "xor tanh/sigmoid + bce": """data: {generate: xor, n: 10, seed: 3}
layers:
  - {width: 4, activation: tanh, init: xavier}
  - {width: 1, activation: sigmoid, init: {type: normal, std: 0.5, seed: 2}}
loss: bce
optimizer: {type: sgd, lr: 0.1}
""",
    "blobs leaky relu + hinge": """data: {generate: blobs, n: 7, classes: 4, seed: 1}
layers:
  - {width: 5, activation: leaky_relu, alpha: 0.1}
  - {width: 4}
loss: {type: hinge, margin: 1.0}
regularization: {l2: 0.01}
optimizer: {type: sgd, lr: 0.1}
""",
    "circles sigmoid + mse on one-hot targets": """data: {generate: circles, n: 6, seed: 0}
layers:
  - {width: 3, activation: sigmoid}
  - {width: 2}
loss: {type: mse, scale: 0.5}
optimizer: {type: sgd, lr: 0.1}
""",
    "hw1 single example": (PROBLEMS / "hw1_sgd.yaml").read_text(),
    # three layers: both hidden activations' VJPs are written over the affine VJP's dL/dh
    "spiral relu/tanh/linear + cross-entropy + l2": """data: {generate: spiral, n: 20, classes: 3, seed: 2}
layers:
  - {width: 9, activation: relu, init: {type: he, seed: 0}}
  - {width: 6, activation: tanh, init: {type: xavier, seed: 3}}
  - {width: 3, activation: linear, init: {type: xavier, seed: 1}}
loss: cross_entropy
regularization: {l2: 0.01}
optimizer: {type: sgd, lr: 0.5}
""",
}


@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_fast_path_gradients_equal_autograd_bit_for_bit(name):
    p = parse_problem(GRAD_CASES[name], "case.yaml")
    graph, out, _ = autograd.run(p, record=False)
    ref = graph.gradients()
    L, grads = fast_gradients(p)
    assert L == float(out.value)
    assert set(grads) == set(p.parameters())
    for k, g in grads.items():
        assert g.shape == ref[k].shape
        assert np.array_equal(g, ref[k]), k


@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_fast_path_into_sgd_buffers_equals_autograd_bit_for_bit(name):
    # as `train` calls it: parameters are views of SGD's flat buffer and the gradients are
    # written into the views of its flat gradient buffer
    from gradcalc.train.optim import SGD, Optimizer
    p = parse_problem(GRAD_CASES[name], "case.yaml")
    names = list(p.parameters())
    sgd = SGD(Optimizer(lr=0.1), [np.array(v, dtype=float) for v in p.parameters().values()],
              packed=True)
    graph, out, _ = autograd.run(p, record=False)
    ref = graph.gradients()
    L, _, _, grads = FastNet(p).loss_and_grads(sgd.params, p.x, p.loss.attrs,
                                               out=list(sgd.grad_views))
    assert float(L) == float(out.value)
    for k, g, view in zip(names, grads, sgd.grad_views):
        assert g is view and np.array_equal(g, ref[k]), k


def test_graph_fallback_trains_identically_to_fast_path():
    p = parse_problem(spiral_text(width=8), "s.yaml")
    fast = train(p, epochs=5, batch_size=64, seed=1, interrupt=False)
    import gradcalc.train.loop as tr
    orig = tr.make_net
    tr.make_net = GraphNet
    try:
        slow = train(p, epochs=5, batch_size=64, seed=1, interrupt=False)
    finally:
        tr.make_net = orig
    assert isinstance(fast.net, FastNet) and isinstance(slow.net, GraphNet)
    for k in fast.params:
        assert np.array_equal(fast.params[k], slow.params[k])


def test_full_batch_training_equals_solve_steps():
    p = load_problem(PROBLEMS / "clip.yaml")
    r = train(p, epochs=4, batch_size="all", interrupt=False)
    steps = solve(p, update_steps=4).extras["update"]["steps"]
    for k, v in r.params.items():
        assert np.array_equal(v, np.asarray(steps[-1]["params"][k]))
    assert [rec.clipped for rec in r.records] == [int(s["clipped"]) for s in steps]


# ---------------------------------------------------------------- determinism, accuracy
def test_same_seed_same_result_bit_for_bit():
    p = parse_problem(spiral_text(width=10, extra=", momentum: 0.5, clip: 1.0"), "s.yaml")
    a = train(p, epochs=8, batch_size=32, seed=7, interrupt=False)
    b = train(p, epochs=8, batch_size=32, seed=7, interrupt=False)
    c = train(p, epochs=8, batch_size=32, seed=8, interrupt=False)
    assert [r.to_json() for r in a.records] == [r.to_json() for r in b.records]
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k])
    assert any(not np.array_equal(a.params[k], c.params[k]) for k in a.params)


def test_spiral_width_20_learns_and_width_3_cannot():
    # 1000 full-batch epochs, lr 1, λ 0.001 (CS231n settings): a 20-unit hidden layer separates
    # the three arms (≥ 93 % in our runs: 95.3 %), 3 units cannot (71.3 %).
    wide = train(parse_problem(spiral_text(width=20), "s.yaml"), epochs=1000, interrupt=False)
    narrow = train(parse_problem(spiral_text(width=3), "s.yaml"), epochs=1000, interrupt=False)
    assert wide.final_accuracy >= 0.93
    assert narrow.final_accuracy <= 0.80
    assert wide.records[-1].loss < wide.records[0].loss


def test_minibatch_records_cover_every_example_once():
    p = parse_problem(spiral_text(width=5), "s.yaml")
    r = train(p, epochs=2, batch_size=64, interrupt=False)    # 300 = 4×64 + 44
    assert [rec.batches for rec in r.records] == [5, 5]


# ---------------------------------------------------------------- faults
def diverging():
    return parse_problem((PROBLEMS / "hw1_sgd.yaml").read_text().replace("lr: 0.5", "lr: 50"),
                         "div.yaml")


def test_nonfinite_loss_stops_with_epoch_and_advice():
    r = train(diverging(), epochs=500, batch_size="all", interrupt=False)
    assert r.stopped == "nonfinite"
    assert r.message.startswith(f"epoch {len(r.records)}: the loss became")
    assert "smaller learning rate" in r.message and "optimizer.clip" in r.message
    assert all(np.all(np.isfinite(v)) for v in r.params.values())
    assert np.isfinite(r.final_loss)


def test_nonfinite_stop_cli_writes_last_finite_params(tmp_path):
    prob = tmp_path / "div.yaml"
    prob.write_text((PROBLEMS / "hw1_sgd.yaml").read_text().replace("lr: 0.5", "lr: 50"))
    out = tmp_path / "trained.yaml"
    res = CliRunner().invoke(cli, ["train", str(prob), "--epochs", "500", "--batch-size", "all",
                                   "--out", str(out), "--quiet"])
    assert res.exit_code == 1
    ref = train(load_problem(prob), epochs=500, batch_size="all", interrupt=False)
    assert f"training stopped: epoch {len(ref.records)}: the loss became" in res.output
    trained = load_problem(out)
    for k, v in trained.parameters().items():
        assert np.array_equal(v, ref.params[k])
    assert [f.name for f in tmp_path.iterdir() if f.name.endswith(".tmp")] == []


def test_ctrl_c_stops_after_current_batch():
    p = parse_problem(spiral_text(width=5), "s.yaml")

    def on_epoch(rec):
        if rec.epoch == 2:
            os.kill(os.getpid(), signal.SIGINT)

    r = train(p, epochs=50, batch_size=100, on_epoch=on_epoch)
    assert r.stopped == "interrupted"
    assert len(r.records) in (3, 4)             # stops within the next batch at the latest
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ---------------------------------------------------------------- trained YAML
def test_out_round_trips_exactly_and_solves(tmp_path):
    out = tmp_path / "t.yaml"
    res = CliRunner().invoke(cli, ["train", str(PROBLEMS / "spiral.yaml"), "--epochs", "20",
                                   "--batch-size", "all", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "width" not in text and "init" not in text and text.startswith("# Trained by")
    trained = load_problem(out)
    r = train(load_problem(PROBLEMS / "spiral.yaml"), epochs=20, interrupt=False)
    for k, v in trained.parameters().items():
        assert np.array_equal(v, r.params[k])
    assert "optimizer" in trained.raw


def test_out_rewrites_relative_data_file(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "pts.csv").write_text("x1,x2,label\n0,1,0\n1,0,1\n1,1,0\n0,0,1\n")
    prob = d / "p.yaml"
    prob.write_text("data: {file: pts.csv, labels: label}\nlayers:\n  - {width: 2}\n"
                    "loss: cross_entropy\noptimizer: {type: sgd, lr: 0.1}\n")
    other = tmp_path / "out"
    other.mkdir()
    res = CliRunner().invoke(cli, ["train", str(prob), "--epochs", "2", "--out",
                                   str(other / "t.yaml"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "file: ../data/pts.csv" in (other / "t.yaml").read_text()
    assert load_problem(other / "t.yaml").x.shape == (4, 2)


# ---------------------------------------------------------------- data sets and init
def test_csv_labels_and_targets(tmp_path):
    (tmp_path / "pts.csv").write_text("a, b, y, t\n1, 2, 0, 0.5\n3, 4, 2, 1.5\n\n5, 6, 1, 2.5\n")
    p = parse_problem("data: {file: pts.csv, labels: y, features: [b, a]}\nlayers:\n"
                      "  - {width: 3}\nloss: cross_entropy\n", str(tmp_path / "p.yaml"))
    np.testing.assert_array_equal(p.x, [[2, 1], [4, 3], [6, 5]])
    np.testing.assert_array_equal(p.loss.label, [0, 2, 1])
    q = parse_problem("data: {file: pts.csv, targets: [t]}\nlayers:\n  - {width: 1}\n"
                      "loss: mse\n", str(tmp_path / "q.yaml"))
    np.testing.assert_array_equal(q.x, [[1, 2, 0], [3, 4, 2], [5, 6, 1]])   # all other columns
    np.testing.assert_array_equal(q.loss.target, [[0.5], [1.5], [2.5]])


def test_npz_data(tmp_path):
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    np.savez(tmp_path / "d.npz", X=X, labels=np.array([1, 0, 1]))
    p = parse_problem("data: {file: d.npz}\nlayers:\n  - {width: 2}\nloss: cross_entropy\n",
                      str(tmp_path / "p.yaml"))
    np.testing.assert_array_equal(p.x, X)
    np.testing.assert_array_equal(p.loss.label, [1, 0, 1])


@pytest.mark.parametrize("text, line, field, words", [
    ("data: {file: missing.csv, labels: y}\n", 1, "data.file", "cannot read"),
    ("data: {file: pts.csv, labels: z}\n", 1, "data.labels", "has no column 'z'"),
    ("data: {file: bad.csv, labels: y}\n", 1, "data.file", "bad.csv:3: column 'a': expected a "
                                                            "number, got 'x'"),
    ("data: {file: pts.csv}\n", 1, "data", "name the label column"),
    ("data:\n  generate: sprial\n", 2, "data.generate", "did you mean 'spiral'"),
    ("data:\n  generate: xor\n  classes: 3\n", 3, "data.classes", "always has 2 classes"),
    ("data:\n  generate: spiral\n  n: 0\n", 3, "data.n", "between 1 and"),
])
def test_data_errors_name_file_field_line(tmp_path, text, line, field, words):
    (tmp_path / "pts.csv").write_text("a,y\n1,0\n")
    (tmp_path / "bad.csv").write_text("a,y\n1,0\nx,1\n")
    doc = text + "layers:\n  - {width: 2}\nloss: cross_entropy\n"
    with pytest.raises(ProblemError) as info:
        parse_problem(doc, str(tmp_path / "p.yaml"))
    err = info.value
    assert (err.line, err.field) == (line, field)
    assert words in err.message


def test_width_and_explicit_W_conflict():
    with pytest.raises(ProblemError, match="either an explicit W or width"):
        parse_problem("input: [1.0, 2.0]\nlayers:\n  - {width: 1, W: [[1, 2]]}\n", "p.yaml")


def test_spiral_generator_is_the_cs231n_spiral():
    p = parse_problem(spiral_text(), "s.yaml")
    X, y = p.x, p.loss.label
    assert X.shape == (300, 2)
    np.testing.assert_array_equal(y, np.repeat([0, 1, 2], 100))
    # radius of the j-th point of every class is linspace(0, 1, 100)[j], whatever the noise
    for c in range(3):
        np.testing.assert_allclose(np.hypot(*X[100 * c:100 * (c + 1)].T), np.linspace(0, 1, 100),
                                   atol=1e-12)


def test_init_scales_and_seeds():
    p = parse_problem("data: {generate: blobs, n: 500, seed: 0}\nlayers:\n"
                      "  - {width: 400, activation: relu, init: {type: he, seed: 5}}\n"
                      "  - {width: 300, init: xavier}\n  - {width: 3}\nloss: cross_entropy\n",
                      "p.yaml")
    W1, W2 = p.layers[0].W, p.layers[1].W
    assert W1.std() == pytest.approx(np.sqrt(2 / 2), rel=0.05)             # he: sqrt(2/fan_in)
    assert W2.std() == pytest.approx(np.sqrt(2 / (400 + 300)), rel=0.05)   # glorot normal
    np.testing.assert_array_equal(p.layers[0].b, np.zeros(400))
    q = parse_problem("data: {generate: blobs, n: 5}\nlayers:\n"
                      "  - {width: 400, activation: relu, init: {type: he, seed: 5}}\n"
                      "  - {width: 3}\nloss: cross_entropy\n", "q.yaml")
    np.testing.assert_array_equal(q.layers[0].W, W1)


# ---------------------------------------------------------------- sweeps
def test_parse_sweep_keys_and_values():
    assert parse_key("layers[0].width") == ("layers", 0, "width")
    assert parse_key("regularization.l2") == ("regularization", "l2")
    assert parse_sweep("regularization.l2=0.001,1e-2, 0.1")[2] == [0.001, 0.01, 0.1]
    assert parse_sweep("layers[0].activation=relu,tanh")[2] == ["relu", "tanh"]
    with pytest.raises(UsageError):
        parse_sweep("layers[0].width")
    with pytest.raises(UsageError):
        parse_key("layers[x]")


def test_variant_changes_only_the_key():
    base = load_problem(PROBLEMS / "spiral.yaml")
    v = variant(base, ("layers", 0, "width"), 6, "layers[0].width")
    assert v.layers[0].W.shape == (6, 2) and v.layers[1].W.shape == (3, 6)
    assert v.l2 == base.l2
    w = variant(base, ("regularization", "l2"), 0.1, "regularization.l2")
    assert w.l2 == 0.1
    np.testing.assert_array_equal(w.layers[0].W, base.layers[0].W)
    with pytest.raises(UsageError, match="no item"):
        variant(base, ("layers", 5, "width"), 3, "layers[5].width")


def test_sweep_cli_json_and_png(tmp_path):
    png = tmp_path / "w.png"
    res = CliRunner().invoke(cli, ["train", str(PROBLEMS / "spiral.yaml"), "--epochs", "5",
                                   "--batch-size", "all", "--sweep", "layers[0].width=3,20",
                                   "--boundary", str(png), "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [r["label"] for r in data["sweep"]["runs"]] == ["layers[0].width=3",
                                                           "layers[0].width=20"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- CLI
def test_train_cli_text_plots_and_summary(tmp_path):
    curves, regions = tmp_path / "c.png", tmp_path / "b.png"
    res = CliRunner().invoke(cli, ["train", str(PROBLEMS / "step_decay.yaml"), "--epochs", "35",
                                   "--batch-size", "10", "--plot", str(curves), "--boundary",
                                   str(regions)], env={"COLUMNS": "120"})
    assert res.exit_code == 0, res.output
    assert "learning rate" in res.output and "accuracy" in res.output
    assert "35 epochs, final loss" in res.output
    for f in (curves, regions):
        assert f.read_bytes()[:4] == b"\x89PNG"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["b.png", "c.png"]


def test_train_cli_json_records_lr_schedule():
    res = CliRunner().invoke(cli, ["train", str(PROBLEMS / "step_decay.yaml"), "--epochs", "32",
                                   "--batch-size", "all", "--format", "json"])
    assert res.exit_code == 0, res.output
    recs = json.loads(res.output)["records"]
    assert recs[29]["lr"] == 0.1 and recs[30]["lr"] == pytest.approx(0.01)


@pytest.mark.parametrize("args, words", [
    (["problems/lecture_scalar.yaml"], "needs a network problem"),
    (["problems/hw1.yaml"], "needs an 'optimizer' section"),
    (["problems/hw1_sgd.yaml", "--boundary", "b.png"], "--boundary needs a batch"),
    (["problems/spiral.yaml", "--batch-size", "zero"], "--batch-size"),
    (["problems/spiral.yaml", "--plot", "c.jpg"], "--plot: expected a .png"),
    (["problems/spiral.yaml", "--out", "nodir/t.yaml"], "does not exist"),
    (["problems/spiral.yaml", "--sweep", "layers[9].width=3,4"], "no item [9]"),
    (["problems/spiral.yaml", "--sweep", "layers[0].width=3", "--out", "t.yaml"],
     "cannot be combined"),
])
def test_train_cli_usage_errors(args, words, monkeypatch):
    monkeypatch.chdir(ROOT)
    res = CliRunner().invoke(cli, ["train"] + args)
    assert res.exit_code == 2, res.output
    assert words in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_typed_layers_train_through_the_graph_fallback(tmp_path):
    # conv2d + maxpool + flatten + dense (another issue's layer types): no fast path, same loop
    prob = tmp_path / "cnn.yaml"
    prob.write_text((PROBLEMS / "cnn_tiny.yaml").read_text()
                    + "optimizer: {type: sgd, lr: 0.1}\n")
    p = load_problem(prob)
    r = train(p, epochs=3, batch_size="all", interrupt=False)
    assert isinstance(r.net, GraphNet)
    assert r.final_loss < r.records[0].loss
    # one epoch = one solve step: W ← W − lr·∂L/∂W with the autograd gradients
    one = train(p, epochs=1, batch_size="all", interrupt=False)
    graph, _, _ = autograd.run(p, record=False)
    g = graph.gradients()
    for k, v in p.parameters().items():
        np.testing.assert_array_equal(one.params[k], v - 0.1 * g[k])
    out = tmp_path / "t.yaml"
    res = CliRunner().invoke(cli, ["train", str(prob), "--epochs", "3", "--out", str(out),
                                   "--quiet"])
    assert res.exit_code == 0, res.output
    for k, v in load_problem(out).parameters().items():
        assert np.array_equal(v, r.params[k])
