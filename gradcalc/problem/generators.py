"""Built-in 2-D classification data sets (spiral, xor, circles, blobs) and random initial weights."""
from __future__ import annotations

import math

import numpy as np


def spiral(n: int, k: int, noise: float, rng: np.random.Generator):
    """The CS231n spiral: class j has n points at radius r ∈ linspace(0, 1) and angle
    t ∈ linspace(4j, 4(j+1)) + N(0, noise²); the point is (r sin t, r cos t)."""
    X = np.zeros((n * k, 2))
    y = np.zeros(n * k, dtype=int)
    for j in range(k):
        r = np.linspace(0.0, 1.0, n)
        t = np.linspace(j * 4.0, (j + 1) * 4.0, n) + rng.standard_normal(n) * noise
        X[n * j:n * (j + 1)] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[n * j:n * (j + 1)] = j
    return X, y


def xor(n: int, k: int, noise: float, rng: np.random.Generator):
    """XOR: class 0 in the quadrants where x1·x2 > 0, class 1 where x1·x2 < 0; coordinates
    uniform in (0, 1] in magnitude, plus N(0, noise²) on each coordinate."""
    X = np.zeros((2 * n, 2))
    for j in range(2):
        s1 = rng.choice([-1.0, 1.0], n)
        s2 = s1 if j == 0 else -s1
        mag = 1.0 - rng.uniform(0.0, 1.0, (n, 2))          # (0, 1]
        X[n * j:n * (j + 1)] = np.c_[s1 * mag[:, 0], s2 * mag[:, 1]]
    X += rng.standard_normal(X.shape) * noise
    return X, np.repeat(np.arange(2), n)


def circles(n: int, k: int, noise: float, rng: np.random.Generator):
    """Concentric circles: class j lies on radius (j + 1)/k at uniform angles, plus
    N(0, noise²) on each coordinate (k = 2 is scikit-learn's make_circles with factor 0.5)."""
    X = np.zeros((n * k, 2))
    for j in range(k):
        t = rng.uniform(0.0, 2 * math.pi, n)
        r = (j + 1) / k
        X[n * j:n * (j + 1)] = np.c_[r * np.cos(t), r * np.sin(t)]
    X += rng.standard_normal(X.shape) * noise
    return X, np.repeat(np.arange(k), n)


def blobs(n: int, k: int, noise: float, rng: np.random.Generator):
    """Gaussian blobs: class j around the centre (cos 2πj/k, sin 2πj/k) with std `noise`."""
    X = np.zeros((n * k, 2))
    for j in range(k):
        c = np.array([math.cos(2 * math.pi * j / k), math.sin(2 * math.pi * j / k)])
        X[n * j:n * (j + 1)] = c + rng.standard_normal((n, 2)) * noise
    return X, np.repeat(np.arange(k), n)


GENERATOR_FUNCS = {"spiral": spiral, "xor": xor, "circles": circles, "blobs": blobs}


def init_weights(kind: str, n_out: int, n_in: int, rng: np.random.Generator,
                 std: float | None = None) -> np.ndarray:
    """W (n_out × n_in) ~ N(0, s²) with s = sqrt(2/n_in) (he), sqrt(2/(n_in + n_out)) (xavier,
    Glorot normal) or `std` (normal, default 0.01 as in the CS231n notes)."""
    if kind == "he":
        s = math.sqrt(2.0 / n_in)
    elif kind == "xavier":
        s = math.sqrt(2.0 / (n_in + n_out))
    else:
        s = 0.01 if std is None else std
    return rng.standard_normal((n_out, n_in)) * s
