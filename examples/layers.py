"""Layers in the lecture's modular style for `gradcalc check --layer`: right and subtly wrong.

    gradcalc check --layer examples/layers.py:Affine --shape 4x3         # agrees
    gradcalc check --layer examples/layers.py:AffineWrong --shape 4x3    # db is wrong
    gradcalc check --layer examples/layers.py:sigmoid --shape 5          # a function pair
    gradcalc check --layer examples/layers.py:affine_forward,affine_backward \\
        --shape 4x3 --shape w=3x2 --shape b=2
"""
import numpy as np


class Affine:
    """out = x·W + b for a batch x (N × 3): rows are examples, W is 3 × 2."""

    def __init__(self):
        rng = np.random.default_rng(1)
        self.params = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
        self.grads = {}

    def forward(self, x):
        self.x = x                                   # cache what backward needs
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dout):
        self.grads["W"] = self.x.T @ dout            # upstream × local (x), summed over rows
        self.grads["b"] = dout.sum(axis=0)           # the adjoint of broadcasting is summing
        return dout @ self.params["W"].T


class AffineWrong(Affine):
    """Subtly wrong: the bias gradient averages over the batch instead of summing.

    With one example it is right, so a test with N = 1 cannot see the mistake."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["b"] = dout.mean(axis=0)          # should be dout.sum(axis=0)
        return dx


def sigmoid_forward(x):
    out = 1.0 / (1.0 + np.exp(-x))
    return out, out                                  # cache the output: σ' = σ(1 − σ)


def sigmoid_backward(dout, cache):
    s = cache
    return dout * s * (1.0 - s)


def affine_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)
