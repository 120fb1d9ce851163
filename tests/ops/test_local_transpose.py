"""A local derivative written as an input's transpose ("{1}ᵀ") shows that transpose's values.

The backward tables print `∂t/∂w = Xᵀ = …` beside the values of `local_values`; the values must
be Xᵀ, not X (a 4×3 X printed under the label Xᵀ was a real bug in the matmul row)."""
import numpy as np

from gradcalc.ops.registry import REGISTRY


def test_matmul_local_values_are_the_transposes_by_hand():
    A = np.arange(6.0).reshape(2, 3)
    B = np.arange(12.0).reshape(3, 4) - 5
    op = REGISTRY["matmul"]
    assert op.local_text == ("{1}ᵀ", "{0}ᵀ")
    dA, dB = op.local_values(A @ B, A, B)
    # ∂(A·B)/∂A is written Bᵀ and ∂(A·B)/∂B is written Aᵀ: the values are those transposes
    assert dA.shape == (4, 3) and np.array_equal(dA, [[B[k, j] for k in range(3)] for j in range(4)])
    assert dB.shape == (3, 2) and np.array_equal(dB, [[A[i, k] for i in range(2)] for k in range(3)])


def test_every_transpose_label_shows_the_transposed_input():
    rng = np.random.default_rng(0)
    seen = 0
    for name, op in REGISTRY.items():
        if op.sample is None or op.local is None:
            continue
        xs = op.sample(rng)
        attrs = dict(op.attrs_sample)
        out = op.forward(*xs, **attrs)
        values = op.local_values(out, *xs, **attrs)
        for text, value in zip(op.local_text, values):
            if isinstance(text, str) and len(text) == 4 and text[0] == "{" and text.endswith("}ᵀ"):
                k = int(text[1])
                shown = np.transpose(np.asarray(xs[k], dtype=float))
                assert np.shape(value) == shown.shape and np.allclose(value, shown), (name, text)
                seen += 1
    assert seen >= 2          # matmul's two entries at least
