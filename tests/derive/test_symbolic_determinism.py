"""The symbolic method gives the same floats whatever ran before it in the process.

`lambdify` writes every argument whose name is not a Python identifier (our places @0, @1 …)
as a fresh `Dummy`, named from SymPy's process-wide counter (_Dummy_52 …), and prints a sum in
the order of those names: the summation order of a group's bulk evaluation, hence the last
digit of a value, used to depend on how many Dummies earlier work had made (`gradcalc check`
printing formulas before a JSON check of the same problem in one process changed the JSON).
"""
from pathlib import Path

import numpy as np
import sympy

from gradcalc.derive import symbolic
from gradcalc.derive.symbolic import groups
from gradcalc.problem.load import load_problem

ROOT = Path(__file__).resolve().parents[2]

# SymPy's Dummy counter is moved on by these many Dummies between two runs: together they take it
# across 100 and 1,000, where the printed names change their lexicographic order
_BUMPS = (0, 1, 9, 40, 150, 900)


def _bump(n: int) -> None:
    for _ in range(n):
        sympy.Dummy()


def _counter() -> int:
    """SymPy's Dummy counter, as lambdify's names show it (a new Dummy is named Dummy_<count>)."""
    return int(sympy.Dummy().name.rsplit("_", 1)[1])


def _bits(arrays: dict) -> dict:
    return {k: np.asarray(v, dtype=float).tobytes() for k, v in arrays.items()}


def test_cnn_gradients_do_not_depend_on_sympys_dummy_counter():
    problem = load_problem(ROOT / "problems" / "cnn_tiny.yaml")
    seen = []
    for n in _BUMPS:
        _bump(n)
        res = symbolic.run(problem)
        seen.append((_bits(res.gradients), _bits(res.forward)))
    assert all(s == seen[0] for s in seen[1:])


def test_a_groups_bulk_sum_has_one_summation_order():
    # 12 products per row whose float sum depends on the order of addition (1,000 rows)
    rng = np.random.default_rng(3)
    places = [sympy.Symbol(f"@{p}", real=True) for p in range(24)]
    template = sympy.Add(*[places[2 * i] * places[2 * i + 1] for i in range(12)])
    columns = rng.normal(size=(1000, 24))
    orders = set()
    values = []
    top = 10 ** len(str(_counter() + 100))       # a power of ten the counter has not reached
    # lambdify names the 24 places from the counter on: wholly below `top`, across it (_Dummy_1000
    # sorts before _Dummy_988), wholly above it
    for start in (top - 30, top - 12, top + 20):
        _bump(start - _counter() - 1)
        g = groups.Group(template, places, list(range(1000)), [places] * 1000, frozenset())
        values.append(g.numbers("forward", [template], columns)[:, 0].tobytes())
    # the inputs are such that the order matters: two orders give different sums somewhere
    terms = columns[:, 0::2] * columns[:, 1::2]
    for perm in (range(12), range(11, -1, -1)):
        total = np.zeros(1000)
        for i in perm:
            total = total + terms[:, i]
        orders.add(total.tobytes())
    assert len(orders) == 2
    assert all(v == values[0] for v in values[1:])


def test_check_json_after_the_text_check_is_the_snapshot():
    # the reported repro: `check` (text, formulas printed) then `check --format json` in one
    # process changed the last digit of symbolic values in the JSON (before the fix it failed
    # when run on its own; whether it did after other tests depended on the counter, so the
    # two tests above are the guards that always fail without the fix)
    import os
    from click.testing import CliRunner
    from gradcalc.cli import cli
    snapshot = (ROOT / "tests" / "snapshots" / "cnn_tiny.check_json.txt").read_text(encoding="utf-8")
    expected = snapshot.split("--- stdout\n", 1)[1].split("--- stderr\n", 1)[0]
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        for n in (0, 40, 900):       # SymPy's Dummy counter moved on between the rounds
            _bump(n)
            text = CliRunner().invoke(cli, ["check", "problems/cnn_tiny.yaml"],
                                      env={"COLUMNS": "120"})
            assert text.exit_code == 0, text.output
            r = CliRunner().invoke(cli, ["check", "problems/cnn_tiny.yaml", "--format", "json"],
                                   env={"COLUMNS": "120"})
            assert r.stdout == expected
    finally:
        os.chdir(cwd)
