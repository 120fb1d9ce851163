"""The problem classes' own __init__ (problem/model.py: _init, instead of one generated per
class at import) behaves as a dataclass's generated __init__ does."""
import dataclasses

import numpy as np
import pytest

from gradcalc.problem.model import ExpressionProblem, Layer, Loss, NetworkProblem


def _generated(cls):
    """The same fields in a plain dataclass that generates its __init__ (the reference)."""
    return dataclasses.make_dataclass(
        "Ref" + cls.__name__,
        [(f.name, f.type, dataclasses.field(default=f.default, default_factory=f.default_factory))
         for f in dataclasses.fields(cls)], frozen=True)


CASES = [
    (Layer, (np.eye(2), np.zeros(2)), {"activation": "relu", "stride": 2}),
    (Loss, ("mse",), {"target": np.array([1.0]), "scale": 1.0}),
    (NetworkProblem, ("t", np.ones(2), (), None), {"l2": 0.1, "layout": "in_out"}),
    (ExpressionProblem, ("t", (), {"a": 1.0}), {"file": "f.yaml"}),
]


@pytest.mark.parametrize("cls, args, kwargs", CASES, ids=[c[0].__name__ for c in CASES])
def test_init_sets_every_field_as_a_generated_init_does(cls, args, kwargs):
    ref = _generated(cls)
    for a, k in ((args, kwargs), (args, {}), (args[:1], {f.name: v for f, v in zip(
            dataclasses.fields(cls)[1:], args[1:])})):
        ours, theirs = cls(*a, **k), ref(*a, **k)
        for f in dataclasses.fields(cls):
            assert getattr(ours, f.name) is getattr(theirs, f.name) or \
                getattr(ours, f.name) == getattr(theirs, f.name), f.name


@pytest.mark.parametrize("cls, args, kwargs", CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_arguments_are_type_errors_as_with_a_generated_init(cls, args, kwargs):
    ref = _generated(cls)
    n = len(dataclasses.fields(cls))
    for a, k in ((args[:-1] if len(args) > 1 else (), {}),             # a required one missing
                 (args, {"no_such_field": 1}),                         # unknown
                 (args, {dataclasses.fields(cls)[0].name: args[0]}),   # twice
                 ((None,) * (n + 1), {})):                             # too many
        with pytest.raises(TypeError):
            ref(*a, **k)
        with pytest.raises(TypeError):
            cls(*a, **k)


def test_frozen_fresh_factories_and_replace_still_work():
    a, b = Layer(None, None), Layer(None, None)
    assert a.params == {} and a.params is not b.params          # default_factory: a new dict
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.activation = "relu"
    c = dataclasses.replace(a, residual="x", stride=3)
    assert (c.residual, c.stride, c.activation, c.type) == ("x", 3, "linear", "dense")
    assert a.residual is None and a == a and a != c               # identity, not fields
    p = NetworkProblem("t", np.ones(2), (a,), None)
    assert dataclasses.replace(p, l2=0.5).l2 == 0.5 and p.raw == {} and p.source is None
