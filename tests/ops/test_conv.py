"""Convolution, pooling and flatten: hand-computed examples, central differences, SymPy, problems."""
import json
from pathlib import Path

import numpy as np
import pytest

from gradcalc import ops
from gradcalc.api import solve
from gradcalc.derive.autograd import run
from gradcalc.errors import ProblemError
from gradcalc.graph.network import forward_names, leaf_values
from gradcalc.problem.load import load_problem, parse_problem

PROBLEMS = Path(__file__).resolve().parents[2] / "problems"
H = 1e-6


def fwd(name, *xs, **attrs):
    return np.asarray(ops.get(name).forward(*[np.asarray(x, dtype=float) for x in xs], **attrs))


def vjp(name, g, *xs, **attrs):
    xs = [np.asarray(x, dtype=float) for x in xs]
    out = ops.get(name).forward(*xs, **attrs)
    return ops.get(name).vjp(np.asarray(g, dtype=float), out, *xs, **attrs)


def central(name, xs, attrs, g):
    """∂/∂xs of Σ g · forward(xs) by central differences of the forward alone."""
    op = ops.get(name)
    xs = [np.asarray(x, dtype=float) for x in xs]
    grads = []
    for i, x in enumerate(xs):
        grad = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            plus = [v.copy() for v in xs]
            minus = [v.copy() for v in xs]
            plus[i][idx] += H
            minus[i][idx] -= H
            grad[idx] = (np.sum(g * op.forward(*plus, **attrs))
                         - np.sum(g * op.forward(*minus, **attrs))) / (2 * H)
        grads.append(grad)
    return grads


# ---------------------------------------------------------------- conv2d by hand
X3 = [[1, 2, 0], [0, 1, 3], [2, 1, 0]]
K2 = [[1, 0], [-1, 2]]


def test_conv2d_plain_kernel_by_hand():
    # z[i,j] = Σ_kl W[k,l] x[i+k, j+l] + b, worked out entry by entry:
    # z00 = 1·1 + 2·0 + 0·(−1) + 1·2 + .5 = 3.5;  z01 = 2 + 0 − 1 + 6 + .5 = 7.5
    # z10 = 0 + 0 − 2 + 2 + .5 = 0.5;             z11 = 1 + 0 − 1 + 0 + .5 = 0.5
    z = fwd("conv2d", K2, X3, 0.5)
    np.testing.assert_allclose(z, [[3.5, 7.5], [0.5, 0.5]])
    dW, dx, db = vjp("conv2d", [[1, 2], [-1, 0]], K2, X3, 0.5)
    # ∂L/∂W[k,l] = Σ_ij g[i,j] x[i+k, j+l]:  W00: 1 + 4 + 0 + 0 = 5, W01: 2 + 0 − 1 + 0 = 1,
    # W10: 0 + 2 − 2 + 0 = 0, W11: 1 + 6 − 1 + 0 = 6
    np.testing.assert_allclose(dW, [[5, 1], [0, 6]])
    # ∂L/∂x[a,b] = Σ_ij g[i,j] W[a−i, b−j] (the full convolution of g with W)
    np.testing.assert_allclose(dx, [[1, 2, 0], [-2, 0, 4], [1, -2, 0]])
    assert float(db) == 2.0
    assert np.shape(dW) == (2, 2) and np.shape(db) == ()


def test_conv2d_stride_2_padding_1_two_channels_by_hand():
    # padded 4×4 input, 2×2 kernel, stride 2: each window holds exactly one real pixel, so
    # z[o,i,j] = Σ_c W[o,c,1−i,1−j] x[c,i,j] + b[o]
    x = np.array([[[1, 2], [3, 4]], [[-1, 0], [2, 1]]], dtype=float)
    W = np.array([[[[1, 2], [3, 4]], [[0, 1], [-1, 1]]],
                  [[[2, 0], [0, -1]], [[1, 1], [1, 1]]]], dtype=float)
    b = np.array([0.5, -1.0])
    attrs = {"stride": 2, "padding": 1}
    z = fwd("conv2d", W, x, b, **attrs)
    # z000 = 4·1 + 1·(−1) + .5 = 3.5, z001 = 3·2 + (−1)·0 + .5 = 6.5, z010 = 2·3 + 1·2 + .5 = 8.5,
    # z011 = 1·4 + 0·1 + .5 = 4.5, z100 = −1 − 1 − 1 = −3, z101 = 0 + 0 − 1 = −1,
    # z110 = 0 + 2 − 1 = 1, z111 = 8 + 1 − 1 = 8
    np.testing.assert_allclose(z, [[[3.5, 6.5], [8.5, 4.5]], [[-3, -1], [1, 8]]])
    dW, dx, db = vjp("conv2d", np.ones((2, 2, 2)), W, x, b, **attrs)
    # with g = 1: ∂L/∂W[o,c] = rot180(x[c]) for both o; ∂L/∂x[c] = Σ_o rot180(W[o,c])
    for o in range(2):
        np.testing.assert_allclose(dW[o, 0], [[4, 3], [2, 1]])
        np.testing.assert_allclose(dW[o, 1], [[1, 2], [0, -1]])
    np.testing.assert_allclose(dx[0], [[3, 3], [2, 3]])
    np.testing.assert_allclose(dx[1], [[2, 0], [2, 1]])
    np.testing.assert_allclose(db, [4, 4])


def test_conv2d_matches_the_definition_written_as_loops():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 7, 6))
    W = rng.normal(size=(4, 3, 3, 2))
    b = rng.normal(size=4)
    for stride, padding in ((1, 0), (2, 1), (3, 2)):
        xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
        Ho = (7 + 2 * padding - 3) // stride + 1
        Wo = (6 + 2 * padding - 2) // stride + 1
        want = np.zeros((4, Ho, Wo))
        for o in range(4):
            for i in range(Ho):
                for j in range(Wo):
                    want[o, i, j] = b[o] + sum(
                        W[o, c, k, l] * xp[c, i * stride + k, j * stride + l]
                        for c in range(3) for k in range(3) for l in range(2))
        got = fwd("conv2d", W, x, b, stride=stride, padding=padding)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- flip: the lecture's formula
def lecture_convolution_valid(A, B):
    """(A∗B)ᵢⱼ = Σₖ Σₗ Aₖₗ B₍ᵢ₋ₖ₎₍ⱼ₋ₗ₎, keeping the region where B lies inside A."""
    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
    (m, n), (p, q) = A.shape, B.shape
    full = np.zeros((m + p - 1, n + q - 1))
    for i in range(m + p - 1):
        for j in range(n + q - 1):
            for k in range(m):
                for l in range(n):
                    if 0 <= i - k < p and 0 <= j - l < q:
                        full[i, j] += A[k, l] * B[i - k, j - l]
    return full[p - 1:m, q - 1:n]


def test_flip_is_the_lecture_convolution_by_hand():
    # (A∗B)_11 = A00 B11 + A01 B10 + A10 B01 + A11 B00 = 2 − 2 + 0 + 1 = 1
    # (A∗B)_12 = A01 B11 + A02 B10 + A11 B01 + A12 B00 = 4 + 0 + 0 + 3 = 7
    # (A∗B)_21 = A10 B11 + A11 B10 + A20 B01 + A21 B00 = 0 − 1 + 0 + 1 = 0
    # (A∗B)_22 = A11 B11 + A12 B10 + A21 B01 + A22 B00 = 2 − 3 + 0 + 0 = −1
    z = fwd("conv2d", K2, X3, 0.0, flip=True)
    np.testing.assert_allclose(z, [[1, 7], [0, -1]])
    np.testing.assert_allclose(lecture_convolution_valid(X3, K2), [[1, 7], [0, -1]])
    # without flip it is the cross-correlation (PyTorch's Conv2d), a different answer
    assert not np.allclose(fwd("conv2d", K2, X3, 0.0), z)


def test_flip_matches_the_lecture_formula_on_random_matrices():
    rng = np.random.default_rng(11)
    for shape, kshape in (((5, 6), (3, 2)), ((4, 4), (4, 1)), ((3, 5), (1, 1))):
        A, B = rng.normal(size=shape), rng.normal(size=kshape)
        np.testing.assert_allclose(fwd("conv2d", B, A, 0.0, flip=True),
                                   lecture_convolution_valid(A, B), rtol=1e-12, atol=1e-12)


def test_conv1d_by_hand():
    # z[i] = Σ_k W[k] x[i+k]: [1 − 4, 2 + 2, −1 − 6]
    np.testing.assert_allclose(fwd("conv1d", [1, -2], [1, 2, -1, 3], 0.0), [-3, 4, -7])
    # padding 1, stride 2 on [0, 1, 2, −1, 3, 0]: windows [0,1], [2,−1], [3,0]
    np.testing.assert_allclose(fwd("conv1d", [1, -2], [1, 2, -1, 3], 0.0, stride=2, padding=1),
                               [-2, 4, 3])
    # flip: the 1-D lecture convolution (a∗b)_i = Σ_k a_k b_(i−k), valid part: [2·1 − 1·2 …]
    a, b = np.array([1.0, 2, -1, 3]), np.array([1.0, -2])
    full = np.convolve(a, b)          # NumPy's convolve is the mathematical convolution
    np.testing.assert_allclose(fwd("conv1d", b, a, 0.0, flip=True), full[1:4])


# ---------------------------------------------------------------- pooling by hand
P4 = [[1, 3, 2, 0], [4, 2, 1, 5], [0, 1, 7, 7], [2, 2, 3, 1]]


def test_maxpool2d_by_hand_with_ties_to_the_first_maximum():
    assert "first maximum" in ops.KINK_CONVENTION
    out = fwd("maxpool2d", P4, size=2, stride=2)
    np.testing.assert_allclose(out, [[4, 5], [2, 7]])
    (dx,) = vjp("maxpool2d", [[1, 2], [3, 4]], P4, size=2, stride=2)
    want = np.zeros((4, 4))
    want[1, 0], want[1, 3] = 1, 2
    want[3, 0] = 3        # window [0, 1; 2, 2]: the tie goes to the first 2 (row-major)
    want[2, 2] = 4        # window [7, 7; 3, 1]: the first 7
    np.testing.assert_allclose(dx, want)
    side = ops.get("maxpool2d").branch(np.asarray(P4, dtype=float), tol=0.0, size=2, stride=2)
    assert side[3, 0] == side[3, 1] == side[2, 2] == side[2, 3] == 0     # tied: at a kink
    assert side[1, 0] == side[1, 3] == 1 and side[0, 0] == -1


def test_maxpool2d_overlapping_windows_accumulate():
    x = [[1, 5, 2], [3, 4, 0], [6, 1, 2]]
    np.testing.assert_allclose(fwd("maxpool2d", x, size=2, stride=1), [[5, 5], [6, 4]])
    (dx,) = vjp("maxpool2d", np.ones((2, 2)), x, size=2, stride=1)
    np.testing.assert_allclose(dx, [[0, 2, 0], [0, 1, 0], [1, 0, 0]])   # 5 wins two windows


def test_avgpool2d_by_hand():
    np.testing.assert_allclose(fwd("avgpool2d", P4, size=2), [[2.5, 2], [1.25, 4.5]])
    (dx,) = vjp("avgpool2d", [[4, 8], [-4, 0]], P4, size=2)
    np.testing.assert_allclose(dx, [[1, 1, 2, 2], [1, 1, 2, 2], [-1, -1, 0, 0], [-1, -1, 0, 0]])


def test_pool1d_by_hand():
    x = [3, 1, 4, 1, 5, 9, 2, 6]
    np.testing.assert_allclose(fwd("maxpool1d", x, size=3, stride=2), [4, 5, 9])
    (dx,) = vjp("maxpool1d", [1, 2, 3], x, size=3, stride=2)
    np.testing.assert_allclose(dx, [0, 0, 1, 0, 2, 3, 0, 0])
    np.testing.assert_allclose(fwd("avgpool1d", [1, 2, 3], size=2, stride=1), [1.5, 2.5])
    (dx,) = vjp("avgpool1d", [2, 4], [1, 2, 3], size=2, stride=1)
    np.testing.assert_allclose(dx, [1, 3, 2])


def test_pooling_keeps_leading_axes_channels_and_batch():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 4, 4))           # N×C×H×W
    out = fwd("maxpool2d", x, size=2)
    for n in range(2):
        for c in range(3):
            np.testing.assert_allclose(out[n, c], fwd("maxpool2d", x[n, c], size=2))


def test_flatten_is_row_major_like_pytorch():
    x = np.arange(12.0).reshape(3, 2, 2)
    np.testing.assert_allclose(fwd("flatten", x), np.arange(12.0))
    xb = np.arange(24.0).reshape(2, 3, 2, 2)
    np.testing.assert_allclose(fwd("flatten", xb, batch=True), np.arange(24.0).reshape(2, 12))


# ---------------------------------------------------------------- every op, many attributes
CASES = [
    ("conv2d", [(2, 3, 3, 2), (3, 5, 4), (2,)], {}),
    ("conv2d", [(2, 3, 2, 2), (3, 5, 5), (2,)], {"stride": 2, "padding": 1}),
    ("conv2d", [(2, 1, 3, 3), (1, 5, 5), (2,)], {"padding": 1, "flip": True}),
    ("conv2d", [(3, 3), (5, 4), ()], {"stride": 2, "flip": True}),
    ("conv2d", [(2, 2, 2, 2), (3, 2, 4, 4), (2,)], {"stride": 2, "padding": 1, "batch": True}),
    ("conv2d", [(2, 2), (2, 4, 3), (1,)], {"batch": True}),
    ("conv1d", [(2, 3, 3), (3, 7), (2,)], {}),
    ("conv1d", [(3,), (6,), ()], {"padding": 2, "stride": 3}),
    ("conv1d", [(2, 1, 2), (2, 1, 5), (2,)], {"batch": True, "flip": True, "padding": 1}),
    ("maxpool2d", [(2, 5, 5)], {"size": 2}),
    ("maxpool2d", [(2, 2, 4, 4)], {"size": 3, "stride": 1}),
    ("avgpool2d", [(2, 5, 4)], {"size": 2, "stride": 1}),
    ("maxpool1d", [(3, 2, 6)], {"size": 2}),
    ("avgpool1d", [(7,)], {"size": 3, "stride": 2}),
    ("flatten", [(2, 3, 4)], {"batch": True}),
]


@pytest.mark.parametrize("name,shapes,attrs", CASES)
def test_vjp_matches_central_differences(name, shapes, attrs):
    rng = np.random.default_rng(len(name) + len(shapes[0]))
    xs = [rng.uniform(-1, 1, s) for s in shapes]
    out = fwd(name, *xs, **attrs)
    g = rng.normal(size=out.shape)
    got = vjp(name, g, *xs, **attrs)
    want = central(name, xs, attrs, g)
    for a, b, x in zip(got, want, xs):
        assert np.shape(a) == x.shape
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name,shapes,attrs", [c for c in CASES if np.prod(c[1][0]) <= 40])
def test_vjp_matches_sympy_diff_of_the_symbolic_form(name, shapes, attrs):
    sp = pytest.importorskip("sympy")
    rng = np.random.default_rng(3)
    xs = [rng.uniform(-1, 1, s) for s in shapes]
    syms = [np.array(sp.symbols(f"a{i}_0:{max(int(np.prod(s)), 1)}"), dtype=object).reshape(s)
            for i, s in enumerate(shapes)]
    out_sym = np.asarray(ops.get(name).sym(*syms, **attrs), dtype=object)
    out = fwd(name, *xs, **attrs)
    assert out_sym.shape == out.shape
    g = rng.normal(size=out.shape)
    total = sum(gi * e for gi, e in zip(g.ravel(), out_sym.ravel()))
    subs = {s: float(v) for S, x in zip(syms, xs) for s, v in zip(np.ravel(S), np.ravel(x))}
    got = vjp(name, g, *xs, **attrs)
    for S, grad in zip(syms, got):
        want = [float(sp.diff(total, s).subs(subs)) for s in np.ravel(S)]
        np.testing.assert_allclose(np.ravel(grad), want, rtol=1e-9, atol=1e-12)


def test_new_ops_are_in_the_registry_with_sym_and_sample():
    for name in ("conv2d", "conv1d", "maxpool2d", "avgpool2d", "maxpool1d", "avgpool1d",
                 "flatten", "rnn_step", "stack_steps", "rnn_pre"):
        op = ops.get(name)
        assert op.sym is not None and op.sample is not None and op.label and op.local_text


# ---------------------------------------------------------------- problem files
def _parse(text):
    return parse_problem(text, "p.yaml")


CONV = """input: [[1, 2, 0], [0, 1, 3], [2, 1, 0]]
layers:
  - type: conv2d
    W: [[1, 0], [-1, 2]]
    b: 0.5
  - type: flatten
loss: {type: mse, target: [0, 0, 0, 0]}
"""


def test_problem_conv_names_shapes_and_gradient_by_hand():
    p = _parse(CONV)
    assert p.layers[0].type == "conv2d" and p.layers[0].out_shape == (2, 2)
    assert forward_names(p) == ["x", "W1", "b1", "z1", "h1", "y", "L"]
    assert list(leaf_values(p)) == ["x", "W1", "b1"]
    sol = solve(p)
    np.testing.assert_allclose(sol.forward["z1"], [[3.5, 7.5], [0.5, 0.5]])
    # L = ½ Σ z², so ∂L/∂z = z and ∂L/∂b = Σ z = 12
    assert float(sol.gradients["b1"]) == pytest.approx(12.0)
    # ∂L/∂W[k,l] = Σ_ij z[i,j] x[i+k, j+l]: W00 = 3.5·1 + 7.5·2 + .5·0 + .5·1 = 19
    assert sol.gradients["W1"][0, 0] == pytest.approx(19.0)
    assert sol.gradients["W1"].shape == (2, 2) and sol.gradients["x"].shape == (3, 3)


@pytest.mark.parametrize("text,field,words", [
    ("input: [1, 2]\nlayers:\n  - type: conv3d\n    W: [[1]]\n", "layers[0].type",
     "unknown layer type 'conv3d' (did you mean 'conv2d'?)"),
    ("input: [[[1, 2], [3, 4]], [[1, 2], [3, 4]]]\nlayers:\n  - type: conv2d\n"
     "    W: [[1, 0], [0, 1]]\n", "layers[0].W", "a plain kernel works on one channel"),
    ("input: [[[1, 2, 3], [3, 4, 5]]]\nlayers:\n  - type: conv2d\n"
     "    W: [[[[1]], [[2]]]]\n", "layers[0].W", "expected 1 input channels"),
    ("input: [[1, 2], [3, 4]]\nlayers:\n  - type: conv2d\n    W: [[1, 0, 1], [0, 1, 0], [1, 1, 1]]\n",
     "layers[0].W", "larger than the padded inputs"),
    ("input: [[1, 2], [3, 4]]\nlayers:\n  - type: conv2d\n    W: [[1]]\n    stride: 0\n",
     "layers[0].stride", "expected a whole number ≥ 1"),
    ("input: [[1, 2], [3, 4]]\nlayers:\n  - type: conv2d\n    W: [[1]]\n    flip: 1\n",
     "layers[0].flip", "expected true or false"),
    ("input: [[1, 2], [3, 4]]\nlayers:\n  - type: conv2d\n    W: [[1]]\n  - W: [[1, 2]]\n",
     "layers[1]", "a dense layer needs a vector input, but the outputs of layer 0 have shape 2×2; "
     "add a flatten layer"),
    ("input: [[1, 2], [3, 4]]\nlayers:\n  - type: maxpool2d\n    size: 3\n", "layers[0].size",
     "a window of 3 does not fit"),
    ("input: [[1, 2], [3, 4]]\nlayers:\n  - type: maxpool2d\n    W: [[1]]\n", "layers[0].W",
     "unknown key 'W' in layer 0 (maxpool2d)"),
    ("input: [1, 2]\nlayers:\n  - W: [[1, 2]]\n    stride: 2\n", "layers[0].stride",
     "'stride' belongs to conv2d, conv1d, maxpool2d"),
    ("input: [[1, 2], [3, 4]]\nlayers:\n  - type: conv2d\n    W: [[1]]\n"
     "loss: {type: mse, target: [1]}\n", "layers[0]", "the loss needs one vector per example"),
    ("input: [[1, 2], [3, 4]]\nlayers:\n  - type: conv2d\n    W: [[1]]\n    activation: softmax\n",
     "layers[0].activation", "softmax is for the scores of a dense layer"),
    ("input: [1, 2, 3]\nlayers:\n  - type: conv2d\n    W: [[1]]\n", "input",
     "for the input x: an image (H×W or C×H×W), got shape 3"),
])
def test_problem_errors_name_the_field_and_line(text, field, words):
    with pytest.raises(ProblemError) as info:
        _parse(text)
    err = info.value
    assert err.field == field
    assert words in err.message
    assert err.line is not None and str(err).startswith(f"p.yaml:{err.line}: {field}: ")


def test_dense_messages_are_unchanged():
    with pytest.raises(ProblemError) as info:
        _parse("input: [1, 2]\nlayers:\n  - W: [[1, 2]]\n    activaton: relu\n")
    assert info.value.message == "unknown key 'activaton' in layer 0 (did you mean 'activation'?)"
    with pytest.raises(ProblemError) as info:
        _parse("input: [1, 2]\nlayers:\n  - W: [[1, 2], [3, 4]]\n")
    assert "got 2 outputs" in info.value.message and info.value.field == "layers[0].W"


def _numeric_gradients(problem, names):
    """∂L/∂name by central differences of whole forward passes (autograd's forward only)."""
    base = leaf_values(problem)
    out = {}
    for name in names:
        v = np.asarray(base[name], dtype=float)
        grad = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            vals = []
            for sign in (1, -1):
                w = v.copy()
                w[idx] += sign * H
                graph, node, _ = run(problem, values={name: w}, record=False)
                vals.append(float(node.value))
            grad[idx] = (vals[0] - vals[1]) / (2 * H)
        out[name] = grad
    return out


@pytest.mark.parametrize("file", ["cnn_tiny.yaml", "conv1d.yaml", "conv_flip.yaml"])
def test_shipped_conv_problems_agree_with_central_differences(file):
    p = load_problem(PROBLEMS / file)
    sol = solve(p)
    num = _numeric_gradients(p, sol.leaves)
    for name in sol.leaves:
        np.testing.assert_allclose(sol.gradients[name], num[name], rtol=1e-6, atol=1e-8,
                                   err_msg=name)


def test_cnn_tiny_has_no_kinks_and_the_expected_shapes():
    p = load_problem(PROBLEMS / "cnn_tiny.yaml")
    sol = solve(p)
    assert sol.forward["z1"].shape == (2, 4, 4) and sol.forward["h2"].shape == (2, 2, 2)
    assert sol.forward["h3"].shape == (8,) and sol.forward["y"].shape == (3,)
    assert np.min(np.abs(sol.forward["z1"])) > 0.01         # no relu input at its kink
    side = ops.get("maxpool2d").branch(sol.forward["h1"], tol=0.01, size=2, stride=2)
    assert not np.any(side == 0)                              # no pooling window tied


def test_conv_flip_problem_by_the_lecture_formula():
    p = load_problem(PROBLEMS / "conv_flip.yaml")
    sol = solve(p)
    A = np.array([[1, 2, 0, 1], [0, 1, 3, 1], [2, 1, 0, 2], [1, 0, 1, 1]], dtype=float)
    B = np.array([[1, 2], [-1, 0]], dtype=float)
    z = lecture_convolution_valid(A, B)
    # two entries by hand: (A∗B)_11 = A00 B11 + A01 B10 + A10 B01 + A11 B00 = 0 − 2 + 0 + 1 = −1
    # (A∗B)_12 = A01 B11 + A02 B10 + A11 B01 + A12 B00 = 0 − 0 + 2 + 3 = 5
    assert z[0, 0] == -1 and z[0, 1] == 5
    np.testing.assert_allclose(sol.forward["z1"], z)
    # L = ½ Σ z²: ∂L/∂z = z, and z = A ∗ B is linear in B with ∂z_ij/∂B_kl = A_(i+1−k)(j+1−l)
    dB = np.zeros((2, 2))
    for i in range(3):
        for j in range(3):
            for k in range(2):
                for l in range(2):
                    dB[k, l] += z[i, j] * A[i + 1 - k, j + 1 - l]
    np.testing.assert_allclose(sol.gradients["W1"], dB)


# ---------------------------------------------------------------- batches
NET = """{head}
layers:
  - type: conv2d
    W: [[[[0.5, -0.2], [0.1, 0.3]]], [[[-0.3, 0.4], [0.2, -0.1]]]]
    b: [0.05, -0.02]
    stride: 1
    padding: 1
    activation: tanh
  - type: avgpool2d
    size: 2
  - type: flatten
  - W: [[0.1, -0.2, 0.3, 0.1, 0.2, -0.1, 0.05, 0.3], [0.2, 0.1, -0.3, 0.2, -0.1, 0.1, 0.2, -0.2]]
loss: {loss}
"""
IMG0 = "[[[0.1, 0.5, -0.3], [0.7, -0.2, 0.4], [0.0, 0.9, -0.6]]]"
IMG1 = "[[[-0.4, 0.2, 0.8], [0.3, 0.6, -0.1], [0.5, -0.7, 0.2]]]"


def test_batch_is_the_mean_of_single_examples():
    pb = _parse(NET.format(head=f"data:\n  X: [{IMG0}, {IMG1}]\n  labels: [1, 0]",
                           loss="cross_entropy"))
    assert pb.batch and pb.x.shape == (2, 1, 3, 3)
    sb = solve(pb)
    singles = [solve(_parse(NET.format(head=f"input: {img}",
                                       loss=f"{{type: cross_entropy, label: {label}}}")))
               for img, label in ((IMG0, 1), (IMG1, 0))]
    assert not singles[0].problem.batch and singles[0].problem.x.shape == (1, 3, 3)
    assert float(sb.forward["L"]) == pytest.approx(np.mean([float(s.forward["L"]) for s in singles]))
    for name in ("W1", "b1", "W4", "b4"):
        np.testing.assert_allclose(sb.gradients[name],
                                   np.mean([s.gradients[name] for s in singles], axis=0),
                                   rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(sb.gradients["x"][1], singles[1].gradients["x"] / 2, atol=1e-14)
    num = _numeric_gradients(pb, ["W1", "b1"])
    np.testing.assert_allclose(sb.gradients["W1"], num["W1"], rtol=1e-6, atol=1e-9)


def test_batch_of_plain_images_gets_a_channel_axis_only_inside_the_op():
    p = _parse("data:\n  X: [[[1, 2], [3, 4]], [[0, 1], [1, 0]]]\n  targets: [[1], [0]]\n"
               "layers:\n  - type: conv2d\n    W: [[1, -1], [2, 0]]\n    b: 0\n"
               "  - type: flatten\nloss: mse\n")
    sol = solve(p)
    # one output per image: 1 − 2 + 6 + 0 = 5 and 0 − 1 + 2 + 0 = 1
    np.testing.assert_allclose(sol.forward["z1"], [[[5]], [[1]]])     # N × H' × W'
    np.testing.assert_allclose(sol.forward["y"], [[5], [1]])
    assert sol.gradients["x"].shape == (2, 2, 2)


# ---------------------------------------------------------------- reports
def test_tables_show_patches_and_routing():
    from gradcalc.render.solvetables import solve_tables
    sol = solve(load_problem(PROBLEMS / "cnn_tiny.yaml"))
    tables = {t.title: t for t in solve_tables(sol)}
    conv = tables["Convolution z1: the input patch and kernel each output entry used"]
    assert len(conv.rows) == 32
    assert conv.rows[0][:2] == ["z1[1, 1, 1]", "x[1, 1–3, 1–3]"]
    assert conv.rows[0][3] == "W1[1]"
    pool = tables["Max pool h2: where each gradient was routed"]
    assert len(pool.rows) == 8
    # the first window of channel 1 is relu(z1[1, 1–2, 1–2]); its maximum picks the route
    h1 = sol.forward["h1"]
    win = h1[0, :2, :2]
    r, c = np.unravel_index(np.argmax(win), (2, 2))
    assert pool.rows[0][5].startswith(f"h1[1, {r + 1}, {c + 1}]: ")
    assert "Convolution z1: gradients as the lecture writes them" in tables


def test_cli_solve_markdown_and_json(tmp_path):
    from click.testing import CliRunner
    from gradcalc.cli import cli
    r = CliRunner().invoke(cli, ["solve", str(PROBLEMS / "cnn_tiny.yaml"), "--format", "markdown"])
    assert r.exit_code == 0, r.output
    assert "### Max pool h2: where each gradient was routed" in r.output
    r = CliRunner().invoke(cli, ["solve", str(PROBLEMS / "conv1d.yaml"), "--format", "json"])
    assert r.exit_code == 0
    data = json.loads(r.output)
    assert np.shape(data["gradients"]["W1"]) == (2, 2, 3)
    assert "diagnostics" not in data
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [[1, 2], [3, 4]]\nlayers:\n  - type: conv2d\n    W: [[1, 2, 3]]\n")
    r = CliRunner().invoke(cli, ["solve", str(bad)])
    assert r.exit_code == 2
    assert "layers[0].W" in r.output and "Traceback" not in r.output


def test_l2_regularization_covers_conv_and_rnn_weights():
    p = _parse(CONV + "regularization: {l2: 0.1}\n")
    sol = solve(p)
    W = np.array(K2, dtype=float)
    assert float(sol.forward["R"]) == pytest.approx(0.1 * np.sum(W ** 2))     # biases excluded
    assert sol.formulas["R"] == "λ·(‖W1‖²)"
    plain = solve(_parse(CONV))
    np.testing.assert_allclose(sol.gradients["W1"], plain.gradients["W1"] + 2 * 0.1 * W)
    rnn = _parse("input: [[1.0], [0.5]]\nlayers:\n  - {type: rnn, Wxh: [[0.5]], Whh: [[0.3]]}\n"
                 "loss: {type: mse, target: [0.2]}\nregularization: {l2: 0.5}\n")
    s = solve(rnn)
    assert s.formulas["R"] == "λ·(‖Wxh1‖² + ‖Whh1‖²)"
    assert float(s.forward["R"]) == pytest.approx(0.5 * (0.25 + 0.09))


def test_conv_table_names_the_real_input_entries_of_a_padded_patch():
    from gradcalc.render.conv import conv_tables
    sol = solve(load_problem(PROBLEMS / "conv1d.yaml"))
    table = conv_tables(sol, 1, "en", 4)[0]
    # stride 2, padding 1, k = 3: output 1 reads padded positions 0–2, i.e. inputs 1–2
    assert table.rows[0][:2] == ["z1[1, 1]", "x[1–2, 1–2] (zero padding outside the input)"]
    assert table.rows[1][:2] == ["z1[1, 2]", "x[1–2, 2–4]"]
    # the patch values are the zero-padded ones: [0, x11, x12] and [0, x21, x22]
    assert table.rows[0][2] == fmt_value([[0, 0.5, 1.0], [0, -0.2, 0.4]])


def fmt_value(v):
    from gradcalc.render import fmt
    return fmt.value(np.asarray(v, dtype=float), 4)
