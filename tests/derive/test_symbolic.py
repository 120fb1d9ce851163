"""Tests of gradcalc.symbolic: SymPy forward forms, sympy.diff gradients, exact mode, formulas."""
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import sympy

from gradcalc import ops
from gradcalc.derive import symbolic
from gradcalc.derive.symbolic import backend, names, patterns
from gradcalc.compare.methods import check_problem
from gradcalc.problem.load import load_problem, parse_problem

ROOT = Path(__file__).resolve().parents[2]
HW1 = ROOT / "problems" / "hw1.yaml"


def sig(u):
    return 1.0 / (1.0 + math.exp(-u))


def hw1_by_hand():
    """The homework worked out with the chain rule, written here from scratch."""
    x = [0.5, -1.5]
    W1 = [[0.4, -0.2], [-0.1, 0.3]]
    b1 = [0.1, -0.3]
    W2 = [0.2, -0.5]
    z1 = [W1[i][0] * x[0] + W1[i][1] * x[1] + b1[i] for i in range(2)]
    h = [sig(z) for z in z1]
    y = W2[0] * h[0] + W2[1] * h[1] + 0.05
    L = 0.5 * (y - 0.3) ** 2
    dy = y - 0.3
    dh = [dy * W2[i] for i in range(2)]
    dz1 = [dh[i] * h[i] * (1 - h[i]) for i in range(2)]
    return {
        "forward": {"z1": z1, "h1": h, "y": [y], "L": L},
        "grads": {"W2": [[dy * h[0], dy * h[1]]], "b2": [dy],
                  "W1": [[dz1[i] * x[j] for j in range(2)] for i in range(2)], "b1": dz1,
                  "x": [W1[0][j] * dz1[0] + W1[1][j] * dz1[1] for j in range(2)]},
    }


def test_hw1_forward_and_gradients_match_the_hand_derivation():
    res = symbolic.run(load_problem(HW1))
    ref = hw1_by_hand()
    for name, v in ref["forward"].items():
        np.testing.assert_allclose(res.forward[name], v, rtol=1e-13, atol=1e-15)
    for name, g in ref["grads"].items():
        np.testing.assert_allclose(res.gradients[name], g, rtol=1e-12, atol=1e-15)
    # the lecture's stated answer to question 1: z⁽¹⁾ = [0.6, −0.8]
    np.testing.assert_allclose(res.forward["z1"], [0.6, -0.8], rtol=1e-15)


def _hw1_exact_by_hand():
    """Exact values with SymPy written from scratch: 0.4 = 2/5 and so on."""
    R, exp = sympy.Rational, sympy.exp
    x = [R(1, 2), R(-3, 2)]
    W1 = [[R(2, 5), R(-1, 5)], [R(-1, 10), R(3, 10)]]
    b1 = [R(1, 10), R(-3, 10)]
    W2 = [R(1, 5), R(-1, 2)]
    z1 = [W1[i][0] * x[0] + W1[i][1] * x[1] + b1[i] for i in range(2)]
    h = [1 / (1 + exp(-z)) for z in z1]
    y = W2[0] * h[0] + W2[1] * h[1] + R(1, 20)
    dy = y - R(3, 10)
    dz1 = [dy * W2[i] * h[i] * (1 - h[i]) for i in range(2)]
    return z1, {"W2": [[dy * h[0], dy * h[1]]], "b2": [dy],
                "W1": [[dz1[i] * x[j] for j in range(2)] for i in range(2)], "b1": dz1,
                "x": [W1[0][j] * dz1[0] + W1[1][j] * dz1[1] for j in range(2)]}


def test_exact_mode_on_hw1_against_hand_derived_exact_values():
    res = symbolic.run(load_problem(HW1), exact=True)
    z1, grads = _hw1_exact_by_hand()
    assert z1 == [sympy.Rational(3, 5), sympy.Rational(-4, 5)]
    assert list(res.exact_forward["z1"]) == z1          # exactly 3/5 and −4/5, not 0.6000…01
    assert res.exact_forward["W1"][0, 0] == sympy.Rational(2, 5)
    for name, want in grads.items():
        got = res.exact_gradients[name]
        want = np.asarray(want, dtype=object)
        assert got.shape == want.shape
        for idx in np.ndindex(want.shape):
            diff = sympy.sympify(got[idx] - want[idx])
            assert abs(diff.evalf(60)) < sympy.Float("1e-50"), (name, idx)
            assert not diff.atoms(sympy.Float)             # exact: no decimals inside
    # the decimals agree with the float run
    np.testing.assert_allclose(res.gradients["W1"], symbolic.run(load_problem(HW1)).gradients["W1"],
                               rtol=1e-13)


def test_exact_reads_decimals_as_fractions():
    be = backend.SymBackend(exact=True)
    assert be.number(0.4) == sympy.Rational(2, 5)
    assert be.number(0.1) == sympy.Rational(1, 10)
    assert be.number(-3.0) == sympy.Integer(-3)
    assert be.number(math.pi, "pi") is sympy.pi
    assert backend.SymBackend(exact=False).number(0.4) == sympy.Float(0.4)


def test_symbolic_never_uses_the_hand_written_backward_rules(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a hand-written backward rule was called")
    for name, op in list(ops.REGISTRY.items()):
        monkeypatch.setitem(ops.REGISTRY, name, dataclasses.replace(op, vjp=boom, local=boom))
    res = symbolic.run(load_problem(HW1))
    res.formulas()
    np.testing.assert_allclose(res.gradients["b2"], hw1_by_hand()["grads"]["b2"], rtol=1e-12)


def test_symbols_are_named_like_the_lecture():
    res = symbolic.run(load_problem(HW1))
    W1 = res.backend.leaves["W1"]
    assert W1[0, 1].name == "W1_1_2" and W1[0, 1].is_real
    assert names.pretty_name("W1", (0, 1)) == "W⁽¹⁾₁₂"
    assert names.latex_name("W1", (0, 1)) == "W^{(1)}_{12}"
    assert names.pretty_name("W1", ("i", "j")) == "W⁽¹⁾ᵢⱼ"
    assert names.latex_name("W12", (9, 2)) == "W^{(12)}_{10,3}"
    assert names.latex_name("w0", (), network=False) == "w_{0}"
    assert names.pretty_name("x", (1,)) == "x₂"


def test_local_derivative_formulas_come_from_the_forward_forms():
    F = symbolic.run(load_problem(HW1)).formulas()
    local = {(f.node, f.wrt): f.text for f in F.local}
    # σ′ derived by sympy.diff of 1/(1 + e^(−z)), then written in the output's terms
    assert local[("h1", "z1")].endswith("= h⁽¹⁾ᵢ·(1 − h⁽¹⁾ᵢ) (elementwise)")
    assert "exp(−z⁽¹⁾ᵢ)" in local[("h1", "z1")]
    assert local[("z1", "W1")] == "∂z⁽¹⁾ᵢ/∂W⁽¹⁾ᵢⱼ = xⱼ (other entries 0)"
    assert local[("z1", "x")] == "∂z⁽¹⁾ᵢ/∂xⱼ = W⁽¹⁾ᵢⱼ"
    assert local[("L", "y")] == "∂L/∂yᵢ = yᵢ − tᵢ"
    grads = {f.wrt: f.text for f in F.gradients}
    assert grads["W2"] == "∂L/∂W⁽²⁾ᵢⱼ = h⁽¹⁾ⱼ·(yᵢ − tᵢ)"          # (y − t) h1ᵀ
    assert grads["W1"] == "∂L/∂W⁽¹⁾ᵢⱼ = W⁽²⁾₁ᵢ·h⁽¹⁾ᵢ·xⱼ·(1 − h⁽¹⁾ᵢ)·(y₁ − t₁)"
    latex = {f.wrt: f.latex for f in F.gradients}
    assert latex["W2"] == (r"\frac{\partial L}{\partial W^{(2)}_{ij}} = "
                           r"h^{(1)}_{j} \left(y_{i} - t_{i}\right)")
    assert "shape of its parameter" in F.layout


@pytest.mark.parametrize("act, want", [("tanh", "1 − h⁽¹⁾ᵢ^2"), ("relu", "1[z⁽¹⁾ᵢ > 0]")])
def test_activation_local_derivatives(act, want):
    p = parse_problem(f"""
input: [0.5, -1.5]
layers:
  - W: [[0.4, -0.2], [-0.1, 0.3]]
    activation: {act}
  - W: [[0.2, -0.5]]
loss: {{type: mse, target: [0.3]}}
""")
    F = symbolic.run(p).formulas()
    text = {(f.node, f.wrt): f.text for f in F.local}[("h1", "z1")]
    assert want in text


def test_fan_out_is_summed():
    p = parse_problem("expression: 'x*x + sin(x)'\nvalues: {x: 0.7}")
    res = symbolic.run(p)
    assert res.gradients["x"] == pytest.approx(2 * 0.7 + math.cos(0.7), rel=1e-14)


def test_expression_closed_form_inlines_unnamed_gates():
    p = load_problem(ROOT / "problems" / "lecture_sigmoid.yaml")
    res = symbolic.run(p)
    # the lecture's numbers: ∂f/∂w0 = −0.2, ∂f/∂x0 = 0.39
    s = sig(2 * -1 + -3 * -2 + -3)
    assert res.gradients["w0"] == pytest.approx(s * (1 - s) * -1, rel=1e-14)
    assert res.gradients["x0"] == pytest.approx(s * (1 - s) * 2, rel=1e-14)
    text = {f.wrt: f.text for f in res.formulas().gradients}["w2"]
    assert "t1" not in text and "exp(" in text


def test_no_index_pattern_falls_back_to_listing_entries():
    p = load_problem(ROOT / "problems" / "softmax_ce.yaml")
    F = symbolic.run(p).formulas()
    ce = [f for f in F.local if f.node == "L"][0]
    # softmax minus one-hot differs at the label: no single pattern, entries are listed
    assert ";" in ce.text


def test_generalize_refuses_a_pattern_that_does_not_rebuild_every_entry():
    a, b, c = sympy.symbols("a_1 a_2 c", real=True)
    info = {a: ("a", (0,)), b: ("a", (1,))}
    # entry 0 is a₁, entry 1 is a₂ + c: no single formula in i
    assert patterns.generalize([((0,), a), ((1,), b + c)], info) is None
    pat = patterns.generalize([((0,), 2 * a), ((1,), 2 * b)], info)
    assert pat is not None and pat[1] == ("i",)


def test_symbolic_limit_skips_with_a_notice():
    rep = check_problem(load_problem(HW1), symbolic_limit=3)
    assert "symbolic" not in rep.pairs
    assert any("symbolic method skipped" in n and "11" in n for n in rep.notices)
    assert rep.ok


def test_too_large_forms_are_skipped_not_hung(monkeypatch):
    monkeypatch.setattr(backend, "FORM_LIMIT", 5)
    rep = check_problem(load_problem(HW1))
    assert "symbolic" not in rep.pairs
    assert any("more than 5 terms" in n for n in rep.notices)


def test_sympy_forward_is_independent_of_the_numpy_forward(monkeypatch):
    # a wrong NumPy forward is caught because the SymPy forward is separate
    op = ops.REGISTRY["sigmoid"]
    monkeypatch.setitem(ops.REGISTRY, "sigmoid",
                        dataclasses.replace(op, forward=lambda x: np.tanh(np.asarray(x, float))))
    rep = check_problem(load_problem(HW1), ("symbolic",))
    assert rep.forward is not None and not rep.forward.ok
    assert "h1" in [m[0] for m in rep.forward.mismatches]
    assert not rep.ok


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "leaky_relu"])
def test_elementwise_derivatives_found_once_equal_sympy_diff_of_every_entry(act):
    # an elementwise form is differentiated once over a stand-in symbol and renamed per entry
    # (and its output form found once): every entry must be what sympy.diff gives for it
    p = parse_problem(f"""
input: [0.5, -1.5, 0.25]
layers:
  - W: [[0.4, -0.2, 0.1], [-0.1, 0.3, 0.2], [0.6, 0.1, -0.4]]
    b: [0.1, -0.3, 0.0]
    activation: {act}
  - W: [[0.2, -0.5, 0.3]]
loss: {{type: mse, target: [0.3]}}
""")
    res = symbolic.run(p)
    be = res.backend
    node = next(n for n in be.nodes if n.name == "h1")
    op = ops.get(node.op)
    z = be.by_name["z1"]
    for k in range(node.syms.size):
        form = node.form(k)
        # the form written once and renamed is the one the op builds for this entry itself
        assert form == op.sym(z.flat[k], **node.attrs).item()
        (u,) = form.free_symbols
        assert be.partials(node, k) == [(u, sympy.diff(form, u))]
    local = res.formulas(closed=False).local
    rows = [f.text for f in local if (f.node, f.wrt) == ("h1", "z1")]
    assert len(rows) == 1 and rows[0].endswith("(elementwise)")   # one formula for all entries
