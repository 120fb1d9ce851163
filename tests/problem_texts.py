"""Problem texts shared by the top-level tests (a test module is not imported by another)."""


def rnn_yaml(T: int) -> str:
    """An rnn over T steps (D = 2, H = 2) with a linear read-out of h_T and squared error."""
    rows = "\n".join(f"  - [{0.01 * (t % 7) - 0.03:.2f}, {0.5 - 0.01 * (t % 5):.2f}]"
                     for t in range(T))
    return (f"title: rnn T={T}\ninput:\n{rows}\nlayers:\n  - type: rnn\n"
            "    Wxh: [[0.5, -0.2], [0.1, 0.3]]\n    Whh: [[0.9, 0.1], [-0.2, 0.8]]\n"
            "    b: [0.0, 0.1]\n    h0: [0.1, -0.1]\n    activation: tanh\n    return: last\n"
            "  - W: [[1.0, -1.0]]\n    b: [0.0]\nloss:\n  type: mse\n  target: [0.5]\n")
