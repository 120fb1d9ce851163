"""Index patterns over entries that are one template renamed: the search and the verification
read the entries as arrays (patterns._Columns); the answers are those of the entry-by-entry
path, and a pattern that does not rebuild every entry is still refused."""
from pathlib import Path

import pytest
import sympy

from gradcalc.derive import symbolic
from gradcalc.derive.symbolic import formulas, patterns
from gradcalc.derive.symbolic.groups import Renamed
from gradcalc.problem.load import load_problem

ROOT = Path(__file__).resolve().parents[2]


def _matmul_entries(rows=5, cols=4, wrong=None):
    """∂t1ᵢ/∂Xᵢⱼ = wⱼ written as the backend writes it: per column j its own template (one
    place) renamed to wⱼ; `wrong` = (i, j): that entry names w₀ instead."""
    w = [sympy.Symbol(f"w_{j}", real=True) for j in range(cols)]
    X = [[sympy.Symbol(f"X_{i}_{j}", real=True) for j in range(cols)] for i in range(rows)]
    info = {s: ("w", (j,)) for j, s in enumerate(w)}
    info.update({X[i][j]: ("X", (i, j)) for i in range(rows) for j in range(cols)})
    places = [sympy.Symbol(f"@{j}", real=True) for j in range(cols)]
    entries = []
    for i in range(rows):
        for j in range(cols):
            sym = w[0] if (i, j) == wrong else w[j]
            entries.append(((i, i, j), Renamed(places[j], {places[j]: sym}, (places[j],))))
    return entries, info


def test_one_template_shape_gives_the_pattern_by_arrays(monkeypatch):
    entries, info = _matmul_entries()
    used = []
    real = patterns._Columns.of.__func__
    monkeypatch.setattr(patterns._Columns, "of", classmethod(
        lambda cls, *a: used.append(real(cls, *a)) or used[-1]))
    expr, letters, gen = patterns.generalize(entries, info)
    assert used and used[0] is not None            # the array path was taken
    assert letters == ("i", "i", "j")              # ∂t1ᵢ/∂Xᵢⱼ
    assert list(gen.values()) == [("w", ("j",))]   # = wⱼ
    assert expr == next(iter(gen))


@pytest.mark.parametrize("wrong", [(0, 0), (2, 3), (4, 1)])
def test_an_entry_the_pattern_does_not_rebuild_is_refused(wrong):
    entries, info = _matmul_entries(wrong=wrong)
    # (0, 0) names w₀ as it should: the pattern stands; elsewhere w₀ is wrong for that entry
    got = patterns.generalize(entries, info)
    assert (got is not None) == (wrong == (0, 0))


def test_renamed_alike_marks_exactly_the_entries_that_differ():
    entries, info = _matmul_entries(wrong=(2, 3))
    ref = entries[-1][1]
    cols = patterns._Columns.of(entries, ref, info)
    g = sympy.Symbol("w_j_pattern", real=True)
    alike = cols.renamed_alike(ref, {ref.mapping[ref.free[0]]: g}, {g: ("w", ("j",))},
                               {"i": 0, "j": 2})
    # by hand: every entry but (2, 3) — flat position 2·4 + 3 — holds wⱼ
    assert [n for n, a in enumerate(alike.tolist()) if not a] == [11]


@pytest.mark.parametrize("name", ["mc_least_squares", "mc_twolayer", "mc_softmax_regression",
                                  "hw1", "lecture_sigmoid", "softmax_ce", "batch_mse"])
def test_array_path_answers_as_the_entry_by_entry_path(name, monkeypatch):
    calls = []
    real = formulas.generalize
    monkeypatch.setattr(formulas, "generalize",
                        lambda *a: calls.append((a, real(*a))) or calls[-1][1])
    symbolic.run(load_problem(ROOT / "problems" / f"{name}.yaml")).formulas()
    monkeypatch.setattr(patterns._Columns, "of", classmethod(lambda cls, *a: None))
    assert calls
    for args, fast in calls:
        slow = patterns.generalize(*args)
        assert (fast is None) == (slow is None)
        if fast is not None:
            assert fast[0] == slow[0] and fast[1] == slow[1] and fast[2] == slow[2]


@pytest.mark.parametrize("seed", range(6))
def test_reference_entry_from_the_key_matrix_is_the_one_max_chooses(seed):
    import numpy as np
    rng = np.random.default_rng(seed)
    keys = [tuple(int(v) for v in row) for row in rng.integers(0, 4, size=(200, 3))]
    # the entry-by-entry rule, written here: rows with distinct values, the first largest
    # when each row is sorted from largest down
    refs = [n for n, k in enumerate(keys) if len(set(k)) == 3]
    want = max(refs, key=lambda n: sorted(keys[n], reverse=True))
    assert patterns._reference(np.array(keys)) == want
    assert patterns._reference(np.zeros((70, 2), dtype=np.int64)) is None   # none distinct
