"""Issue 14: grading with follow-through over a batchnorm problem.  The student's numbers come
from a NumPy network written here (dense → batchnorm → dense, MSE) with the classic slip of
CS231n's assignment 2: the unbiased variance (÷ (N − 1)) instead of the biased one in x̂."""
import json

import numpy as np

from gradcalc.api import parse_problem
from gradcalc.grading.documents import read_document_bytes
from gradcalc.grading.key import AnswerKey

YAML = """
data:
  X: [[1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [-1.0, 1.5]]
  targets: [[1.0], [0.0], [0.5], [0.2]]
layers:
  - W: [[0.5, -0.3], [0.2, 0.8], [-0.6, 0.1]]
    b: [0.1, 0.0, -0.1]
  - type: batchnorm
    gamma: [1.0, 0.5, 2.0]
    beta: [0.0, 0.1, -0.2]
  - W: [[0.3, -0.2, 0.5]]
    b: [0.1]
loss: mse
"""
X = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [-1.0, 1.5]])
T = np.array([[1.0], [0.0], [0.5], [0.2]])
W1, B1 = np.array([[0.5, -0.3], [0.2, 0.8], [-0.6, 0.1]]), np.array([0.1, 0.0, -0.1])
GAMMA, BETA = np.array([1.0, 0.5, 2.0]), np.array([0.0, 0.1, -0.2])
W3, B3 = np.array([[0.3, -0.2, 0.5]]), np.array([0.1])


def student(ddof):
    """Forward and the gradients after x̂ (those follow from x̂ alone), by hand."""
    N = X.shape[0]
    z1 = X @ W1.T + B1
    xhat = (z1 - z1.mean(0)) / np.sqrt(z1.var(0, ddof=ddof) + 1e-5)
    h2 = GAMMA * xhat + BETA
    y = h2 @ W3.T + B3
    dy = (y - T) / N
    dh2 = dy @ W3
    return {"z1": z1, "h1": z1, "xhat2": xhat, "h2": h2, "y": y,
            "L": 0.5 * np.sum((y - T) ** 2) / N, "dgamma2": (dh2 * xhat).sum(0),
            "dbeta2": dh2.sum(0), "dW3": dy.T @ h2, "db3": dy.sum(0)}


def grade(answers):
    key = AnswerKey(parse_problem(YAML))
    asked = {q.name for q in key.rubric.questions}
    doc = {"student": "s1", "answers": {k: np.asarray(v).tolist() for k, v in answers.items()
                                        if k in asked}}
    result = key.grade(read_document_bytes(json.dumps(doc).encode(), key.schema, "s1.json"))
    return {q.name: q for q in result.questions}


def test_the_correct_answers_are_correct():
    q = grade(student(ddof=0))
    for name in ("z1", "xhat2", "h2", "y", "L", "dgamma2", "dbeta2", "dW3", "db3"):
        assert q[name].kind == "correct", name


def test_unbiased_variance_in_xhat_follows_through():
    q = grade(student(ddof=1))
    assert q["z1"].kind == "correct"
    assert q["xhat2"].kind not in ("correct", "follow_through")
    for name in ("h2", "y", "L", "dgamma2", "dW3"):
        assert q[name].kind == "follow_through", (name, q[name].kind)
        assert "xhat2" in q[name].upstream
    # Σ over the batch of x̂ is 0 with either variance, so Σ y, db3 and dbeta2 = W3ᵀ·Σ(y − t)/N
    # are the right numbers even from the wrong x̂
    assert q["db3"].kind == "correct" and q["dbeta2"].kind == "correct"
