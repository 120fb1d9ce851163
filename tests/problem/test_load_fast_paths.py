"""Loading a problem's arrays: plain decimals of a sequence read in line by the YAML builder,
and a clean nested list of numbers turned into an array at once; the same data, lines, texts,
arrays and error messages as the general paths."""
import random

import numpy as np
import pytest

from gradcalc.errors import ProblemError
from gradcalc.problem import context, yamlio
from gradcalc.problem.context import ValidationContext
from gradcalc.problem.load import parse_problem

TEXTS = [
    "values:\n  X:\n  - - 0.126\n    - -1.5\n  - - 2.\n    - 3.25\n  w: [0.5, -0.0, 1e-3, 7, .5]\n",
    "a: [1.5, 2.5, !!str 3.5, '4.5', 1_000.5, 1:30, .inf, -.nan, null, true, 0x1F]\n",
    "a: &x [0.25, 0.75]\nb: *x\nc: [[0.1, [0.2, 0.3]], {k: 0.4}]\n",
    "m:\n  - 1.0\n  - - 2.0\n    - 3.0\n  - {u: -4.0}\n  - 5.0\n",
]


@pytest.mark.parametrize("text", TEXTS)
def test_the_same_data_lines_and_texts_as_the_python_loader(text, monkeypatch):
    fast = yamlio.load_yaml_text(text)
    monkeypatch.setattr(yamlio, "_FastLoader", None)      # PyYAML's own composer, node by node
    slow = yamlio.load_yaml_text(text)
    assert repr(fast.data) == repr(slow.data)              # -0.0 and nan included
    assert fast.lines == slow.lines and list(fast.lines) == list(slow.lines)
    assert fast.texts == slow.texts


def test_plain_decimals_by_hand():
    loc = yamlio.load_yaml_text("x:\n- 0.125\n- -2.5\n- 3\n")
    assert loc.data == {"x": [0.125, -2.5, 3]}
    assert loc.lines[("x", 0)] == 2 and loc.lines[("x", 2)] == 4
    assert loc.texts[("x", 1)] == "-2.5"


def test_too_many_values_names_the_same_line(monkeypatch):
    # the limit is reached inside a sequence after a nested one: at 3.5 on line 5 (nodes:
    # the mapping, a, the inner list, 0.5, 1.5, 2.5, then 3.5 is the 7th)
    text = "a:\n- - 0.5\n  - 1.5\n  - 2.5\n- 3.5\n"
    node = yamlio._compose(text)
    monkeypatch.setattr(yamlio, "MAX_VALUES", 6)
    lines = []
    for loader in (yamlio._FastLoader, None):        # in line, then item by item
        monkeypatch.setattr(yamlio, "_FastLoader", loader)
        with pytest.raises(ProblemError) as err:
            yamlio._Builder(yamlio._Loader("")).build(node, (), 1)
        lines.append(err.value.line)
    assert lines == [5, 5]


def _nested(rng):
    """A nested list: usually a clean matrix or vector of numbers, sometimes spoiled."""
    shape = [rng.randint(1, 4) for _ in range(rng.choice([1, 2, 2, 3]))]

    def make(dims):
        if not dims:
            return rng.choice([rng.uniform(-5, 5), rng.randint(-9, 9), 0.0, -0.0])
        return [make(dims[1:]) for _ in range(dims[0])]
    v = make(shape)
    if rng.random() < 0.5:
        spoil = rng.choice([True, None, "1.5", " 2 ", "x", float("inf"), float("nan"), 10 ** 400,
                            [], [1.0], {"uniform": [0, 1]}, 2 ** 70 + 1, {"a": 1}])
        row = v
        while isinstance(row[0], list):
            row = row[rng.randrange(len(row))]
        if rng.random() < 0.2 and isinstance(v[0], list):
            v.append([1.0])                                   # ragged
        else:
            row[rng.randrange(len(row))] = spoil
    return v


def _array_or_error(ctx, v, dims):
    try:
        a = ctx.array(v, ("values", "X"), dims, "a vector or a matrix")
        return ("ok", a.dtype, a.shape, a.tobytes(), a.flags.writeable)
    except ProblemError as e:
        return ("error", str(e))


def test_arrays_and_errors_are_those_of_the_entry_by_entry_check(monkeypatch):
    loc = yamlio.load_yaml_text("values: {X: 1}\n", "p.yaml")
    ctx = ValidationContext(loc)
    rng = random.Random(4)
    cases = [_nested(rng) for _ in range(3000)]
    fast = [_array_or_error(ctx, v, dims) for v in cases for dims in ((1, 2), 3)]
    monkeypatch.setattr(context, "_plain_array", lambda value: None)
    slow = [_array_or_error(ctx, v, dims) for v in cases for dims in ((1, 2), 3)]
    assert fast == slow
    assert sum(f[0] == "ok" for f in fast) > 1000 and sum(f[0] == "error" for f in fast) > 1000


def test_a_matrix_by_hand():
    p = parse_problem("expression:\n  L: sum(X @ w)\nvalues: {X: [[1, 2.5], [-3, 0.25]], "
                      "w: [2, -1]}\n")
    np.testing.assert_array_equal(p.values["X"], [[1.0, 2.5], [-3.0, 0.25]])
    assert p.values["X"].dtype == float and not p.values["X"].flags.writeable
