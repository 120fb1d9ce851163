"""Vanishing and exploding gradients of recurrent layers: ‖∂L/∂h_t‖ per time step and a verdict."""
from __future__ import annotations

from typing import Any

import numpy as np

from . import ops

# ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ below VANISHING or above EXPLODING gives that verdict; between them the
# gradient reaching the first step is within a factor of 100 of the last one ("stable")
VANISHING = 1e-2
EXPLODING = 1e2


def rnn_layers(problem) -> list[int]:
    """1-based indexes of the rnn layers of a network problem (none for other problems)."""
    if getattr(problem, "kind", "") != "network":
        return []
    return [i for i, layer in enumerate(problem.layers, 1) if layer.type == "rnn"]


def bptt(problem, forward: dict, direct: dict, i: int) -> dict[str, Any]:
    """Backpropagation through time of rnn layer i, step by step.

    `direct` holds the autograd gradient of the T×H states h{i}: what reaches each h_t from the
    layers above, not through later time steps.  Returns (rows in time order, batch axis first
    when the problem is a batch): h, direct, from_next (= Whhᵀ δ_(t+1)), total ∂L/∂h_t,
    deriv (act′(z_t)) and delta (δ_t = ∂L/∂z_t)."""
    from .network import rnn_state_name
    layer = problem.layers[i - 1]
    batch = problem.batch
    Z = np.asarray(forward[f"z{i}"], dtype=float)
    G = np.asarray(direct[rnn_state_name(problem, i)], dtype=float)
    if not batch:
        Z, G = Z[None], G[None]
    act = ops.get(layer.activation)
    a = layer.attrs
    Hs = act.forward(Z, **a)
    D = np.asarray(act.vjp(np.ones_like(Z), Hs, Z, **a)[0], dtype=float)
    Whh = np.asarray(layer.Whh, dtype=float)
    delta = ops.rnn_bptt(D * G, D, Whh)
    from_next = np.zeros_like(G)
    from_next[:, :-1] = delta[:, 1:] @ Whh       # ∂L/∂h_t through z_(t+1) = Whhᵀ δ_(t+1)
    total = G + from_next
    out = {"h": Hs, "direct": G, "from_next": from_next, "total": total, "deriv": D,
           "delta": delta}
    return out if batch else {k: v[0] for k, v in out.items()}


def verdict(norms: list[float]) -> tuple[str, float, float]:
    """(vanishing | exploding | stable | undefined, ratio first/last, factor per step back)."""
    first, last = norms[0], norms[-1]
    steps = len(norms) - 1
    if last == 0.0:
        return ("undefined", float("nan"), float("nan")) if first == 0.0 else \
               ("exploding", float("inf"), float("inf"))
    ratio = first / last
    factor = ratio ** (1.0 / steps) if steps else 1.0
    if ratio < VANISHING:
        return "vanishing", ratio, factor
    if ratio > EXPLODING:
        return "exploding", ratio, factor
    return "stable", ratio, factor


def _explain(kind: str, ratio: float, factor: float, T: int, sigma: float, act: str) -> str:
    bound = {"tanh": "tanh′ ≤ 1", "sigmoid": "σ′ ≤ 1/4", "relu": "relu′ ∈ {0, 1}",
             "linear": "the linear activation passes it unchanged"}.get(act, "")
    why = f"‖Whh‖₂ = {sigma:.3g}" + (f" and {bound}" if bound else "")
    if kind == "vanishing":
        return (f"‖∂L/∂h_1‖ is {ratio:.3g} × ‖∂L/∂h_{T}‖: going back one step multiplies the "
                f"gradient by about {factor:.3g}, so the early inputs barely change the loss's "
                f"gradient (vanishing gradients; {why}).")
    if kind == "exploding":
        return (f"‖∂L/∂h_1‖ is {ratio:.3g} × ‖∂L/∂h_{T}‖: going back one step multiplies the "
                f"gradient by about {factor:.3g}, so it blows up over time (exploding gradients; "
                f"{why}; gradient clipping caps it).")
    if kind == "stable":
        return (f"‖∂L/∂h_1‖ / ‖∂L/∂h_{T}‖ = {ratio:.3g}: over these {T} steps the gradient "
                f"stays within a factor of 100 of its size at the last step (stable; {why}).")
    return "∂L/∂h_T is zero, so the ratio is undefined."


def diagnose(problem, forward: dict, direct: dict) -> tuple[list[dict], dict[int, dict]]:
    """Per rnn layer: the JSON-ready summary, and the BPTT arrays for the tables."""
    summaries, details = [], {}
    for i in rnn_layers(problem):
        layer = problem.layers[i - 1]
        d = bptt(problem, forward, direct, i)
        total = d["total"] if problem.batch else d["total"][None]
        norms = [float(np.linalg.norm(total[:, t])) for t in range(total.shape[1])]
        kind, ratio, factor = verdict(norms)
        sigma = float(np.linalg.norm(np.asarray(layer.Whh, dtype=float), 2))
        summaries.append({
            "layer": i, "states": f"h{i}", "T": len(norms), "activation": layer.activation,
            "grad_norms": norms, "ratio_first_last": ratio, "factor_per_step": factor,
            "whh_spectral_norm": sigma, "verdict": kind,
            "explanation": _explain(kind, ratio, factor, len(norms), sigma, layer.activation)})
        details[i] = d
    return summaries, details


def attach(sol) -> None:
    """Add the rnn diagnostics and the conv/pool/rnn tables to a Solution (no-op otherwise).

    For rnn layers the reported gradients of z{i} and h{i} become the BPTT totals
    ∂L/∂z_t and ∂L/∂h_t (through every later time step), as the lecture defines them."""
    problem = sol.problem
    if getattr(problem, "kind", "") != "network" or \
            all(layer.type == "dense" for layer in problem.layers):
        return
    from .network import rnn_state_name
    summaries, details = diagnose(problem, sol.forward, dict(sol.gradients))
    for i, d in details.items():
        sol.gradients[f"z{i}"] = d["delta"]
        sol.gradients[rnn_state_name(problem, i)] = d["total"]
    if summaries:
        sol.extras["diagnostics"] = {"rnn": summaries}
        sol.extras["table_bptt"] = details          # "table_" keys stay out of the JSON

    def tables(sol, lang="en", precision=4):
        from .render.conv import layer_tables       # plain table data; no rich
        return layer_tables(sol, lang, precision)

    sol.extras.setdefault("table_builders", []).append(tables)
