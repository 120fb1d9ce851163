"""Autograd's one-errstate forward pass and the ops' saved forward context.

`Graph.forward_pass()` checks the forward values once at its end instead of after every step;
these tests hold it to the per-step behaviour: the first non-finite step is refused, with the
message a per-step check gives, also when a later step would fail (or hide the inf) first.
`Op.forward_saving` / `Op.vjp_saved` must give exactly `forward` / `vjp`: checked here on
every op that has them, against the plain pair (which the three-way op tests check)."""
import numpy as np
import pytest

from gradcalc import ops
from gradcalc.derive import autograd
from gradcalc.errors import DomainError
from gradcalc.graph.network import build
from gradcalc.problem.load import parse_problem


def _message(problem, in_pass: bool) -> str:
    graph = autograd.Graph(problem.file, source=getattr(problem, "source", None))
    with pytest.raises(DomainError) as info:
        if in_pass:
            with graph.forward_pass():
                build(problem, graph)
        else:                                   # every step checked as it is made
            build(problem, graph)
    return str(info.value)


@pytest.mark.parametrize("text,step", [
    # the overflow is the last step
    ('expression: "exp(x)"\nvalues: {x: 1000}\n', "step f: exp gives a non-finite value"),
    # a later step's domain check would fail on the inf (log of −inf) before the pass ends
    ("expression:\n  a: exp(x)\n  f: log(0 - a)\nvalues: {x: 1000}\n",
     "step a: exp gives a non-finite value"),
    # the −inf disappears downstream (relu(−inf) = 0): the output alone is finite
    ("expression:\n  a: 0 - exp(x)\n  f: relu(a) + y\nvalues: {x: 1000, y: 1}\n",
     "exp gives a non-finite value"),
])
def test_forward_pass_refuses_the_first_non_finite_step(text, step):
    problem = parse_problem(text, "p.yaml")
    in_pass, each = _message(problem, True), _message(problem, False)
    assert in_pass == each
    assert step in in_pass


def test_run_refuses_an_overflow_with_the_per_step_message():
    problem = parse_problem("expression:\n  a: exp(x)\n  f: log(0 - a)\nvalues: {x: 1000}\n",
                            "p.yaml")
    with pytest.raises(DomainError) as info:
        autograd.run(problem)
    assert str(info.value) == _message(problem, False)


def test_forward_pass_leaves_errstate_as_it_was():
    before = np.geterr()
    graph = autograd.Graph("p.yaml")
    with graph.forward_pass():
        assert np.geterr()["over"] == "ignore"
    assert np.geterr() == before


SAVING = [op for op in ops.REGISTRY.values() if op.forward_saving is not None]


def test_saving_ops_come_in_pairs_and_exist():
    assert SAVING, "no op saves a forward context (conv2d and conv1d should)"
    for op in ops.REGISTRY.values():
        assert (op.forward_saving is None) == (op.vjp_saved is None), op.name


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    assert a.tobytes() == b.tobytes()            # bit for bit (−0.0 and NaN included)


@pytest.mark.parametrize("op", SAVING, ids=lambda op: op.name)
@pytest.mark.parametrize("with_attrs", [False, True])
def test_saved_pair_equals_the_plain_pair_bit_for_bit(op, with_attrs):
    rng = np.random.default_rng(7)
    attrs = dict(op.attrs_sample) if with_attrs else {}
    for _ in range(3):
        xs = op.sample(rng)
        out = op.forward(*xs, **attrs)
        value, saved = op.forward_saving(*xs, **attrs)
        _same(value, out)
        g = rng.normal(size=np.shape(out))
        for got, want in zip(op.vjp_saved(g, out, saved, *xs, **attrs),
                             op.vjp(g, out, *xs, **attrs)):
            _same(got, want)


def test_conv_gradients_equal_with_and_without_the_saved_context(monkeypatch):
    """A conv too large to keep its im2col matrix (SAVE_MAX) recomputes it: same gradients."""
    from gradcalc.ops import conv
    rng = np.random.default_rng(3)
    text = ("input: %s\nlayers:\n  - {type: conv2d, W: %s, b: [0.1, -0.2], activation: relu}\n"
            "  - {type: maxpool2d, size: 2}\n  - {type: flatten}\n  - {W: %s, b: [0.0]}\n"
            "loss: {type: mse, target: [0.5]}\n") % (
        rng.uniform(-1, 1, (2, 6, 6)).round(3).tolist(),
        rng.normal(0, 0.5, (2, 2, 3, 3)).round(3).tolist(),
        rng.normal(0, 0.5, (1, 8)).round(3).tolist())
    problem = parse_problem(text, "p.yaml")
    graph, _, _ = autograd.run(problem, record=False)
    assert any(n.saved is not None for n in graph.nodes)
    kept = graph.gradients()
    monkeypatch.setattr(conv, "SAVE_MAX", 0)
    graph2, _, _ = autograd.run(problem, record=False)
    assert all(n.saved is None for n in graph2.nodes)
    for name, g in graph2.gradients().items():
        _same(g, kept[name])


ROUTING = [op for op in ops.REGISTRY.values() if op.routes]


def _attrs_routing(op):
    """The attrs to test an op with, among {} and its sample's, for which it routes."""
    out = []
    for attrs in ({}, dict(op.attrs_sample)):
        if op.routes is True or op.routes(**attrs):
            out.append(attrs)
    return out


def test_routing_ops_are_flagged():
    assert {"relu", "maxpool2d", "maxpool1d", "flatten", "linear"} <= {op.name for op in ROUTING}
    assert not ops.get("avgpool2d").routes          # a mean of huge entries overflows
    pool = ops.get("maxpool2d")                      # overlapping windows add gradients up
    assert pool.routes(size=2) and pool.routes(size=2, stride=3)
    assert not pool.routes(size=3, stride=2)


@pytest.mark.parametrize("op", ROUTING, ids=lambda op: op.name)
def test_routing_ops_keep_finite_values_finite_both_ways(op):
    """What lets autograd skip their checks: at the edge of float64 (entries ±1.7e308, the
    upstream gradient as large), the value and every gradient stay finite."""
    rng = np.random.default_rng(11)
    for attrs in _attrs_routing(op):
        for _ in range(3):
            xs = [np.sign(rng.normal(size=np.shape(x))) * 1.7e308 * rng.uniform(0.5, 1, np.shape(x))
                  for x in op.sample(rng)]
            with np.errstate(all="ignore"):
                out = np.asarray(op.forward(*xs, **attrs), dtype=float)
                g = np.sign(rng.normal(size=out.shape)) * 1.7e308
                grads = op.vjp(g, out, *xs, **attrs)
            assert np.isfinite(out).all()
            for grad in grads:
                assert np.isfinite(np.asarray(grad, dtype=float)).all()


def test_the_routing_test_can_fail():
    """What the test above meets on ops that must not be flagged: an average pool's value, a
    max pool's gradient over overlapping windows, a leaky relu's gradient with a large slope
    overflow."""
    x = 1.7e308 * np.ones((2, 4, 4))
    with np.errstate(all="ignore"):
        assert not np.isfinite(ops.get("avgpool2d").forward(x, size=2)).all()
        pool, peak = ops.get("maxpool2d"), np.zeros((1, 3, 3))
        peak[0, 1, 1] = 1.0                         # the maximum of all four 2×2 windows
        out = pool.forward(peak, size=2, stride=1)
        (dx,) = pool.vjp(np.full(out.shape, 1.7e308), out, peak, size=2, stride=1)
        g = 1.7e308 * np.ones(3)
        (d,) = ops.get("leaky_relu").vjp(g, -g, -g, alpha=10.0)
    assert not np.isfinite(dx).all()
    assert not np.isfinite(d).all()


def test_an_overflow_hidden_by_a_relu_backward_is_still_refused():
    """∂f/∂b overflows where a < 0 (w·exp(b·y)·y = 1e307 · 100) and relu's VJP drops it there:
    every gradient reaching the leaves is finite, yet the step that overflowed is refused,
    with the message of the per-accumulation check."""
    text = ("expression:\n  a: x - 2\n  b: relu(a)\n  f: sum(w * exp(b * y))\n"
            "values: {x: [1, 3], y: 100, w: [1.0e+307, 1]}\n")
    problem = parse_problem(text, "p.yaml")
    with pytest.raises(DomainError) as info:
        autograd.run(problem)
    assert "overflows float64" in str(info.value)
    assert "with respect to b" in str(info.value)
