"""Bounded work of the matrix forms (issue 15 follow-up): a subterm shared by many parts of a
form (a chain's σ) is walked once, not once per path to it."""
import numpy as np

from gradcalc.ops import matrix as mx
from gradcalc.solution import matrixforms


def test_the_where_walk_visits_a_shared_subterm_once():
    # a + a, 40 times over: a DAG of 40 nodes whose tree has 2^40 paths; the named δ at the
    # bottom is found, once (walking the tree would not finish)
    inner = mx.Leaf("x", np.ones(2))
    ref = mx.Ref("∂L/∂z", "", mx.Bin("had", inner, inner))
    t = ref
    for _ in range(40):
        t = mx.Bin("add", t, t)
    assert list(matrixforms._refs(t).values()) == [ref]


def test_nested_definitions_come_in_the_order_met():
    x = mx.Leaf("x", np.ones(2))
    r2 = mx.Ref("b", "", x)
    r1 = mx.Ref("a", "", mx.Bin("add", r2, x))
    assert [r.name for r in matrixforms._refs(mx.Bin("had", r1, r1)).values()] == ["a", "b"]


# ---------------------------------------------------------------- where-names (item 3)
import re  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from gradcalc.api import parse_problem, solve  # noqa: E402
from gradcalc.solution import matrixinline  # noqa: E402

PROBLEMS = Path(__file__).resolve().parents[2] / "problems"
TEMP = re.compile(r"\bt\d+\b|t_\{\d+\}")


def test_occurrences_count_printed_copies_and_a_definition_once():
    x, y = mx.Leaf("x", np.ones(1)), mx.Leaf("y", np.ones(1))
    s = mx.Bin("add", x, y)                           # x + y, one node used twice
    q = mx.Ref("q", "", mx.Bin("had", s, x))          # q = (x + y)·x, used three times
    t = mx.Bin("had", mx.Bin("had", s, s), mx.Bin("add", q, mx.Bin("add", q, q)))
    n = matrixinline.occurrences(t)
    assert n["x + y"] == 3 and n["(x + y) ⊙ x"] == 1 and n["q + q + q"] == 1


def test_the_lecture_sigmoid_names_its_repeated_exponential():
    sol = solve(PROBLEMS / "lecture_sigmoid.yaml")
    v = {k: float(x) for k, x in sol.problem.values.items()}
    f = sol.matrix.forms["w0"]
    assert f.text == "∂f/∂w0 = (u·x0) ⊘ (1 + u)²; where u = exp(−(w0·x0 + w1·x1 + w2))"
    assert f.verified and not TEMP.search(f.text) and not TEMP.search(f.latex)
    z = v["w0"] * v["x0"] + v["w1"] * v["x1"] + v["w2"]
    s = 1 / (1 + np.exp(-z))
    assert float(f.parts[1].compute()) == pytest.approx(s * (1 - s) * v["x0"], rel=1e-12)


def test_a_where_name_avoids_the_problems_names():
    sol = solve(parse_problem('expression: "1 / (1 + exp(-(u*x + v)))"\n'
                              "values: {u: 0.5, x: -1.5, v: 0.25}\n"))
    f = sol.matrix.forms["u"]
    assert "where s = exp(−(u·x + v))" in f.text and f.verified


def test_a_short_repeat_stays_inline():
    sol = solve(PROBLEMS / "lecture_scalar.yaml")
    assert [f.text for f in sol.matrix.forms.values()] == [
        "∂f/∂x = z", "∂f/∂y = z", "∂f/∂z = q; where q = x + y"]


def test_a_wrong_definition_is_refused_and_the_inline_form_shown(monkeypatch):
    # a where-name bound to the wrong subterm (its first operand): the named form does not
    # verify, so the verified form without names is shown
    real = matrixinline._find
    monkeypatch.setattr(matrixinline, "_find", lambda term, key: _children(real(term, key))[0])
    f = solve(PROBLEMS / "lecture_sigmoid.yaml").matrix.forms["w0"]
    assert f.verified and "where" not in f.text and f.text.count("exp(") == 2


def _children(t):
    return matrixinline._children(t)


def test_a_chain_of_60_sigmoids_reads_in_bounded_length():
    e = "x"
    for _ in range(60):
        e = f"sigmoid({e})"
    f = solve(parse_problem(f'expression: "{e}"\nvalues: {{x: 0.3}}\n')).matrix.forms["x"]
    assert f.verified and "; where " in f.text and len(f.text) < 4000   # 11,587 inlined
    assert not TEMP.search(f.text)
    # each name is defined before a definition that uses it
    where = f.text.split("; where ", 1)[1].split("; ")
    defined = []
    for d in where:
        name, body = d.split(" = ", 1)
        used = set(re.findall(r"\b[a-z]\b", body)) - {"x"}
        assert used <= set(defined), (name, used, defined)
        defined.append(name)
    s, d = 0.3, 1.0
    for _ in range(60):                               # the chain rule by hand
        s = 1 / (1 + np.exp(-s))
        d *= s * (1 - s)
    assert float(f.parts[1].compute()) == pytest.approx(d, rel=1e-10)
