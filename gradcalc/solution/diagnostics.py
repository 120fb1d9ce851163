"""Vanishing and exploding gradients of recurrent layers: ‖∂L/∂h_t‖ per time step and a verdict."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradcalc import ops
from gradcalc.graph.network import rnn_state_name, step_name, time_steps
from gradcalc.records import init
from gradcalc.solution.model import RnnDiagnostics

# ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ below VANISHING or above EXPLODING gives that verdict; between them the
# gradient reaching the first step is within a factor of 100 of the last one ("stable")
VANISHING = 1e-2
EXPLODING = 1e2


def rnn_layers(problem) -> list[int]:
    """1-based indexes of the rnn layers of a network problem (none for other problems)."""
    if getattr(problem, "kind", "") != "network":
        return []
    return [i for i, layer in enumerate(problem.layers, 1) if layer.type == "rnn"]


@dataclass(eq=False, init=False)  # compared by identity; records.init (start-up time)
class Bptt:
    """Backpropagation through time of one rnn layer: arrays with rows in time order."""

    __init__ = init

    h: np.ndarray            # the states h_t
    total: np.ndarray        # ∂L/∂h_t, all paths
    from_next: np.ndarray    # Whhᵀ δ_(t+1), through the next step
    direct: np.ndarray       # what the layers above send (direct + from_next = total)
    deriv: np.ndarray        # act′(z_t)
    delta: np.ndarray        # δ_t = ∂L/∂z_t = act′(z_t) ⊙ ∂L/∂h_t


def bptt(problem, graph, i: int) -> Bptt:
    """Backpropagation through time of rnn layer i, read from the autograd graph.

    Each h_t is its own node, so its gradient is the total ∂L/∂h_t (from the layers above and
    from step t+1); rows are in time order (batch: examples first)."""
    layer = problem.layers[i - 1]
    T = time_steps(problem, i)
    nodes = [graph.by_name[step_name(problem, i, t, T)] for t in range(1, T + 1)]
    axis = 1 if problem.batch else 0
    h = np.stack([n.value for n in nodes], axis=axis)
    total = np.stack([n.grad if n.grad is not None else np.zeros_like(n.value) for n in nodes],
                     axis=axis)
    Z = np.asarray(graph.by_name[f"z{i}"].value, dtype=float)
    act = ops.get(layer.activation)
    deriv = np.asarray(act.vjp(np.ones_like(Z), h, Z, **layer.attrs)[0], dtype=float)  # h = act(Z)
    delta = deriv * total
    from_next = np.zeros_like(total)
    Whh = np.asarray(layer.Whh, dtype=float)
    if problem.batch:
        from_next[:, :-1] = delta[:, 1:] @ Whh
    else:
        from_next[:-1] = delta[1:] @ Whh
    # what the layers above send: through the T×H stack (return: all) or to h_T (return: last)
    stack = graph.by_name[rnn_state_name(problem, i)]
    direct = np.zeros_like(total) if stack.grad is None else np.array(stack.grad, dtype=float)
    if layer.return_ == "last":
        direct[..., -1, :] += total[..., -1, :]
    return Bptt(h, total, from_next, direct, deriv, delta)


def verdict(norms: list[float]) -> tuple[str, float | None, float | None]:
    """(vanishing | exploding | stable | undefined, ratio first/last, factor per step back).

    When ‖∂L/∂h_T‖ = 0 there is no ratio (None, which JSON writes as null)."""
    first, last = norms[0], norms[-1]
    steps = len(norms) - 1
    if last == 0.0:
        return ("undefined" if first == 0.0 else "exploding"), None, None
    ratio = first / last
    factor = ratio ** (1.0 / steps) if steps else 1.0
    if ratio < VANISHING:
        return "vanishing", ratio, factor
    if ratio > EXPLODING:
        return "exploding", ratio, factor
    return "stable", ratio, factor


def _explain(kind: str, ratio: float, factor: float, T: int, sigma: float, act: str) -> str:
    bound = {"tanh": "tanh′ ≤ 1", "sigmoid": "σ′ ≤ 1/4", "relu": "relu′ is 0 or 1",
             "linear": "the linear activation passes it unchanged"}.get(act, "")
    why = f"‖Whh‖₂ = {sigma:.3g}" + (f" and {bound}" if bound else "")
    if kind == "vanishing":
        return (f"‖∂L/∂h_1‖ is {ratio:.3g} × ‖∂L/∂h_{T}‖: going back one step multiplies the "
                f"gradient by about {factor:.3g}, so the early inputs barely change the loss's "
                f"gradient (vanishing gradients; {why}).")
    if kind == "exploding" and ratio is not None:
        return (f"‖∂L/∂h_1‖ is {ratio:.3g} × ‖∂L/∂h_{T}‖: going back one step multiplies the "
                f"gradient by about {factor:.3g}, so it blows up over time (exploding gradients; "
                f"{why}; gradient clipping caps it).")
    if kind == "stable":
        return (f"‖∂L/∂h_1‖ / ‖∂L/∂h_{T}‖ = {ratio:.3g}: over these {T} steps the gradient "
                f"stays within a factor of 100 of its size at the last step (stable; {why}).")
    if kind == "exploding":
        return (f"∂L/∂h_{T} is zero but ∂L/∂h_1 is not: the gradient grows going back in time "
                f"(exploding gradients; {why}).")
    return f"∂L/∂h_1 and ∂L/∂h_{T} are both zero, so there is no ratio."


def diagnose(problem, graph) -> tuple[list[dict], dict[int, Bptt]]:
    """Per rnn layer: the JSON-ready summary, and the BPTT arrays for the tables."""
    summaries, details = [], {}
    for i in rnn_layers(problem):
        layer = problem.layers[i - 1]
        d = bptt(problem, graph, i)
        total = d.total if problem.batch else d.total[None]
        with np.errstate(over="ignore"):    # a norm above 1e308 is inf (the verdict copes)
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


def _norms(graph, names: list[str], batch: bool) -> tuple[np.ndarray, list[float]]:
    nodes = [graph.by_name[n] for n in names]
    total = np.stack([n.grad if n.grad is not None else np.zeros_like(n.value) for n in nodes],
                     axis=1 if batch else 0)
    rows = total if batch else total[None]
    with np.errstate(over="ignore"):
        return total, [float(np.linalg.norm(rows[:, t])) for t in range(rows.shape[1])]


def gated(problem, graph) -> tuple[list[dict], dict[str, np.ndarray]]:
    """lstm and gru layers: ‖∂L/∂h_t‖ per step and, for an lstm, ‖∂L/∂c_t‖ along the cell path
    (the path an lstm adds: c_(t−1) → c_t multiplies the gradient by the forget gate f_t).
    Returns the JSON-ready summaries and the T×H gradients of h{i} and c{i}."""
    summaries, grads = [], {}
    if getattr(problem, "kind", "") != "network":
        return summaries, grads
    for i, layer in enumerate(problem.layers, 1):
        if layer.type not in ("lstm", "gru"):
            continue
        T = time_steps(problem, i)
        total, norms = _norms(graph, [step_name(problem, i, t, T) for t in range(1, T + 1)],
                              problem.batch)
        kind, ratio, factor = verdict(norms)
        grads[rnn_state_name(problem, i)] = total
        summary = {"layer": i, "type": layer.type, "states": f"h{i}", "T": T,
                   "grad_norms": norms, "ratio_first_last": ratio, "factor_per_step": factor,
                   "verdict": kind}
        words = f"along the states h_t: ‖∂L/∂h_1‖ / ‖∂L/∂h_{T}‖ = {_g(ratio)} ({kind})"
        if layer.type == "lstm":
            cells, cnorms = _norms(graph, [f"c{i}[{t}]" for t in range(1, T + 1)], problem.batch)
            ckind, cratio, cfactor = verdict(cnorms)
            grads[f"c{i}"] = cells
            summary.update({"cells": f"c{i}", "cell_grad_norms": cnorms,
                            "cell_ratio_first_last": cratio, "cell_factor_per_step": cfactor,
                            "cell_verdict": ckind})
            order = layer.opts.get("gate_order", "ifgo")
            H = layer.params["Whh"].shape[1]
            p = order.index("f")
            f = float(np.mean([np.asarray(graph.by_name[f"a{i}[{t}]"].value)[..., p * H:(p + 1) * H]
                               for t in range(1, T + 1)]))
            summary["forget_gate_mean"] = f
            words += (f"; along the cells c_t: ‖∂L/∂c_1‖ / ‖∂L/∂c_{T}‖ = {_g(cratio)} ({ckind}, "
                      f"about {_g(cfactor)} per step back: the path c_(t−1) → c_t multiplies "
                      f"∂L/∂c_t by the forget gate f_t, {_g(f)} on average here, with no Whh "
                      f"and no tanh′ on it)")
        summary["explanation"] = words[0].upper() + words[1:] + "."
        summaries.append(summary)
    return summaries, grads


def _g(v) -> str:
    return "undefined" if v is None else f"{v:.3g}"


def attach(sol, graph) -> None:
    """Add the rnn diagnostics to a Solution of a network with rnn layers (no-op otherwise).

    For rnn layers the reported gradients of z{i} and h{i} (T×H) are ∂L/∂z_t and ∂L/∂h_t of
    every step, as backpropagation through time defines them (the T×H arrays themselves are
    read-outs of the steps, so the graph gives them no gradient of their own)."""
    problem = sol.problem
    more, grads = gated(problem, graph)
    sol.gradients.update(grads)
    if not rnn_layers(problem) and not more:
        return
    summaries, details = diagnose(problem, graph)
    summaries += more
    for i, d in details.items():
        sol.gradients[f"z{i}"] = d.delta
        sol.gradients[rnn_state_name(problem, i)] = d.total
    sol.diagnostics = RnnDiagnostics(summaries, details)
