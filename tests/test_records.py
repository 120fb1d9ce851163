"""gradcalc.records.init, the __init__ of the dataclasses declared init=False, sets what a
generated __init__ would: every class that uses it, against a dataclass made from the same
fields by `dataclasses.make_dataclass` (which generates its __init__)."""
import dataclasses
import importlib

import pytest

from gradcalc import records

MODULES = ["gradcalc.problem.model", "gradcalc.problem.yamlio", "gradcalc.solution.model",
           "gradcalc.solution.diagnostics", "gradcalc.compare.methods",
           "gradcalc.derive.numeric.central"]


def _classes():
    out = []
    for name in MODULES:
        for obj in vars(importlib.import_module(name)).values():
            if isinstance(obj, type) and obj.__dict__.get("__init__") is records.init:
                out.append(obj)
    return out


CLASSES = _classes()


def test_the_classes_that_should_use_it_do():
    names = {c.__name__ for c in CLASSES}
    assert {"Layer", "Loss", "NetworkProblem", "ExpressionProblem", "Located", "Solution",
            "CheckReport", "NumericResult", "Bptt"} <= names     # Comparison: its own, lazy parts
    for c in CLASSES:
        assert dataclasses.is_dataclass(c) and not hasattr(c, "__post_init__")


def _reference(cls):
    return dataclasses.make_dataclass(
        "Ref" + cls.__name__,
        [(f.name, f.type, dataclasses.field(default=f.default, default_factory=f.default_factory))
         for f in dataclasses.fields(cls)])


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_values_defaults_and_factories_as_a_generated_init(cls):
    ref, fields = _reference(cls), dataclasses.fields(cls)
    required = [f for f in fields if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]
    values = {f.name: object() for f in fields}
    for kwargs in (values, {f.name: values[f.name] for f in required}):
        ours, theirs = cls(**kwargs), ref(**kwargs)
        for f in fields:
            mine, want = getattr(ours, f.name), getattr(theirs, f.name)
            assert mine is want or (mine == want and type(mine) is type(want)), f.name
            if f.default_factory is not dataclasses.MISSING and f.name not in kwargs:
                assert mine is not getattr(cls(**kwargs), f.name)     # a new one each time
    positional = cls(*[values[f.name] for f in fields])
    assert all(getattr(positional, f.name) is values[f.name] for f in fields)
    marker = object()
    changed = dataclasses.replace(positional, **{fields[-1].name: marker})
    assert getattr(changed, fields[-1].name) is marker
    assert all(getattr(changed, f.name) is values[f.name] for f in fields[:-1])


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_bad_arguments_are_type_errors_as_with_a_generated_init(cls):
    ref, fields = _reference(cls), dataclasses.fields(cls)
    values = {f.name: object() for f in fields}
    bad = [({**values, "no_such_field": 1}, ()),                       # unknown
           (values, (values[fields[0].name],)),                         # the first one twice
           ({}, (None,) * (len(fields) + 1))]                           # too many
    if any(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
           for f in fields):
        bad.append(({}, ()))                                            # a required one missing
    for kwargs, args in bad:
        with pytest.raises(TypeError):
            ref(*args, **kwargs)
        with pytest.raises(TypeError):
            cls(*args, **kwargs)
