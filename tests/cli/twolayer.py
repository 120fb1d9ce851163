"""A two-layer network by hand in NumPy (sigmoid hidden layer, linear output, ½Σ(y − t)²), read from a problem's YAML: the reference of the autograder and key tests."""
import numpy as np


def two_layer(doc):
    """Every hw1 answer (z1, h1, y, L and the gradients) from the problem document."""
    x = np.array(doc["input"], float)
    (l1, l2) = doc["layers"]
    W1, b1, W2, b2 = (np.array(l1["W"], float), np.array(l1["b"], float),
                      np.array(l2["W"], float), np.array(l2["b"], float))
    t = np.array(doc["loss"]["target"], float)
    assert l1["activation"] == "sigmoid" and doc["loss"]["scale"] == 0.5
    z1 = W1 @ x + b1
    h1 = 1 / (1 + np.exp(-z1))
    y = W2 @ h1 + b2
    dy = y - t
    dz1 = (W2.T @ dy) * h1 * (1 - h1)
    return {"z1": z1, "h1": h1, "y": y, "L": 0.5 * float(dy @ dy), "dW2": np.outer(dy, h1),
            "db2": dy, "dW1": np.outer(dz1, x), "db1": dz1}
