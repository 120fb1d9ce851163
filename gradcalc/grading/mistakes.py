"""The catalogue of classic backprop mistakes: their texts, and per graph the variants of the derivation."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gradcalc import ops

if TYPE_CHECKING:
    from gradcalc.grading.tape import Tape

# The catalogue of classic backprop mistakes: key -> (English, Chinese). Each is a variant of
# the reference derivation recomputed through the graph; {h} {z} {act} {W} {b} … name the place.
MISTAKES: dict[str, tuple[str, str]] = {
    "no_activation_derivative": (
        "forgot the derivative of the activation: d{z} = d{h}, without the factor {act}′({z})",
        "漏掉了激活函数的导数：d{z} 直接取了 d{h}，没有乘 {act}′({z})"),
    "activation_for_derivative": (
        "used {act}({z}) where the derivative {act}′({z}) belongs",
        "把 {act}({z}) 当成了导数 {act}′({z})"),
    "derivative_at_output": (
        "evaluated {act}′ at {h} instead of at {z}",
        "在 {h} 处而不是 {z} 处求了 {act}′"),
    "derivative_of_preactivation": (
        "used the pre-activation {z} where {h} belongs in the derivative (e.g. z(1 − z) for σ′)",
        "求导时把预激活值 {z} 当成了 {h}（例如把 σ′ 写成 z(1 − z)）"),
    "no_chain_rule": (
        "forgot to multiply by the upstream gradient d{h} (chain rule): d{z} = {act}′({z})",
        "漏乘上游梯度 d{h}（链式法则）：d{z} 只取了局部梯度 {act}′({z})"),
    "no_activation_forward": (
        "skipped the activation in the forward pass: {h} = {z}",
        "前向计算漏掉了激活函数：{h} = {z}"),
    "preactivation_in_dW": (
        "used the pre-activation {zprev} where the activation {hprev} belongs in d{W} = d{z}·{hprev}ᵀ",
        "计算 d{W} = d{z}·{hprev}ᵀ 时把预激活值 {zprev} 当成了激活值 {hprev}"),
    "no_bias_forward": (
        "forgot the bias {b} in {z}",
        "计算 {z} 时漏加了偏置 {b}"),
    "transposed_W_forward": (
        "multiplied by {W}ᵀ instead of {W} in {z}",
        "计算 {z} 时用了 {W}ᵀ 而不是 {W}"),
    "dx_not_transposed": (
        "used {W} instead of {W}ᵀ in d{x} = {W}ᵀ·d{z}",
        "计算 d{x} = {W}ᵀ·d{z} 时用了 {W} 而不是 {W}ᵀ"),
    "sign_flip": (
        "the sign of the gradient is flipped",
        "梯度的符号反了"),
    "transposed": (
        "transposed: {Q} must have the shape of {W}",
        "转置了：{Q} 应与 {W} 形状相同"),
    "mse_no_half": (
        "dropped the ½ of the MSE: the loss and every gradient doubled",
        "漏掉了均方误差的 ½：损失和所有梯度都变成了两倍"),
    "mse_no_two": (
        "forgot the factor 2 from differentiating the square (dL/d{y} halved)",
        "对平方求导时漏掉了系数 2（dL/d{y} 少了一半）"),
    "no_batch_mean": (
        "forgot the 1/N average over the batch (N = {n})",
        "漏掉了对批量取平均的 1/N（N = {n}）"),
    "bias_not_summed": (
        "did not sum d{b} over the batch (one row per example)",
        "d{b} 没有对批量求和（每个样本一行）"),
    "bias_mean": (
        "averaged d{b} over the batch instead of summing",
        "d{b} 对批量取了平均，而应求和"),
    "l2_lambda": (
        "took the L2 gradient as λW instead of 2λW",
        "正则化项的梯度写成了 λW，应为 2λW"),
    "l2_missing": (
        "left out the gradient 2λW of the L2 term",
        "漏掉了正则化项的梯度 2λW"),
    "softmax_no_onehot": (
        "did not subtract the one-hot label from the softmax (dL/d{y} = p − onehot)",
        "softmax 的梯度没有减去 one-hot 标签（dL/d{y} = p − onehot）"),
    "hinge_no_count": (
        "left out −(number of violated margins) at the true class of the hinge gradient",
        "hinge 损失的梯度在正确类别处漏掉了 −（违反间隔的类别数）"),
}


def mistake_text(key: str, params: dict, lang: str = "en") -> str:
    en, zh = MISTAKES[key]
    return (zh if lang == "zh" else en).format(**params)


# ---------------------------------------------------------------- mistake variants
@dataclass
class MistakeVariant:
    key: str
    params: dict
    fwd: dict = field(default_factory=dict)   # node index -> fn(xs, vals) -> value
    vjp: dict = field(default_factory=dict)   # node index -> fn(g, out, xs, vals) -> grads


def _activation_ops() -> set:
    return {v for v in ops.ACTIVATIONS.values() if v != "linear"}


def catalogue(tape: Tape, problem) -> list[MistakeVariant]:
    """Every catalogued mistake that applies to this graph, as a variant of the derivation."""
    out: list[MistakeVariant] = []
    names = tape.names
    acts = _activation_ops()
    batch = getattr(problem, "batch", False)
    for i, op in enumerate(tape.ops):
        if op is None or i > tape.out:
            continue
        attrs = tape.attrs[i]
        ins = tape.inputs[i]
        if op.name in acts:
            p = {"h": names[i], "z": names[ins[0]], "act": op.label}
            vjp = op.vjp
            fwd = op.forward
            out += [
                MistakeVariant("no_activation_derivative", p, vjp={i: lambda g, o, xs, v: (g,)}),
                MistakeVariant("activation_for_derivative", p, vjp={i: lambda g, o, xs, v: (g * o,)}),
                MistakeVariant("derivative_at_output", p, vjp={
                    i: lambda g, o, xs, v, f=fwd, d=vjp, a=attrs: d(g, f(o, **a), o, **a)}),
                MistakeVariant("derivative_of_preactivation", p, vjp={
                    i: lambda g, o, xs, v, d=vjp, a=attrs: d(g, xs[0], xs[0], **a)}),
                MistakeVariant("no_chain_rule", p, vjp={
                    i: lambda g, o, xs, v, d=vjp, a=attrs: d(np.ones_like(g), o, *xs, **a)}),
                # a student who skips σ in the forward pass treats it as the identity backwards too
                MistakeVariant("no_activation_forward", p, fwd={i: lambda xs, v: np.array(xs[0], dtype=float)},
                               vjp={i: lambda g, o, xs, v: (g,)}),
            ]
        elif op.name == "affine":
            iW, ix, ib = ins
            W = tape.ref_values[iW]
            p = {"W": names[iW], "x": names[ix], "b": names[ib], "z": names[i]}
            # (ops are bound as default arguments: a closure would see the loop's last op)
            out.append(MistakeVariant("no_bias_forward", p, fwd={
                i: lambda xs, v, f=op.forward: f(xs[0], xs[1], np.zeros_like(xs[2]))}))
            if W.ndim == 2 and W.shape[0] == W.shape[1]:
                out.append(MistakeVariant("transposed_W_forward", p, fwd={
                    i: lambda xs, v, f=op.forward: f(np.transpose(xs[0]), xs[1], xs[2])}))
                if tape.ops[ix] is not None:   # dx of an input that is not a leaf
                    def dx_plain(g, o, xs, v, f=op.vjp):
                        dW, dx, db = f(g, o, *xs)
                        dx = (xs[0] @ g) if np.ndim(g) == 1 else g @ np.transpose(xs[0])
                        return dW, dx, db
                    out.append(MistakeVariant("dx_not_transposed", p, vjp={i: dx_plain}))
            prod = tape.ops[ix]
            if prod is not None and prod.name in acts:
                izprev = tape.inputs[ix][0]
                q = dict(p, hprev=names[ix], zprev=names[izprev])

                def pre_dW(g, o, xs, v, f=op.vjp, iz=izprev):
                    dW = f(g, o, xs[0], v[iz], xs[2])[0]
                    _, dx, db = f(g, o, *xs)
                    return dW, dx, db
                out.append(MistakeVariant("preactivation_in_dW", q, vjp={i: pre_dW}))
        elif op.name in ops.LOSSES.values():
            y = tape.ref_values[ins[0]]
            p = {"y": names[ins[0]]}
            if op.name == "mse":
                if attrs.get("scale") == 0.5:
                    out.append(MistakeVariant("mse_no_half", p,
                                              fwd={i: lambda xs, v, f=op.forward, a=attrs: 2.0 * f(*xs, **a)},
                                              vjp={i: lambda g, o, xs, v, f=op.vjp, a=attrs:
                                                   tuple(2.0 * t for t in f(g, o, *xs, **a))}))
                out.append(MistakeVariant("mse_no_two", p, vjp={
                    i: lambda g, o, xs, v, f=op.vjp, a=attrs: tuple(0.5 * t for t in f(g, o, *xs, **a))}))
            if op.name == "cross_entropy":
                def no_onehot(g, o, xs, v):
                    Y = np.asarray(xs[0], dtype=float)
                    n = 1 if Y.ndim == 1 else Y.shape[0]
                    e = np.exp(Y - Y.max(axis=-1, keepdims=True))
                    return (g * e / e.sum(axis=-1, keepdims=True) / n,)
                out.append(MistakeVariant("softmax_no_onehot", p, vjp={i: no_onehot}))
            if op.name == "hinge":
                def no_count(g, o, xs, v, a=attrs):
                    Y = np.asarray(xs[0], dtype=float)
                    Y2 = Y[None, :] if Y.ndim == 1 else Y
                    n = Y2.shape[0]
                    k = np.reshape(np.asarray(a["label"], dtype=int), (n,))
                    M = Y2 - Y2[np.arange(n), k][:, None] + a.get("margin", 1.0)
                    act = (M > 0).astype(float)
                    act[np.arange(n), k] = 0.0
                    return (g * act.reshape(Y.shape) / n,)
                out.append(MistakeVariant("hinge_no_count", p, vjp={i: no_count}))
            if batch and y.ndim == 2 and y.shape[0] > 1:
                n = y.shape[0]
                out.append(MistakeVariant("no_batch_mean", dict(p, n=n),
                                          fwd={i: lambda xs, v, f=op.forward, a=attrs, n=n: n * f(*xs, **a)},
                                          vjp={i: lambda g, o, xs, v, f=op.vjp, a=attrs, n=n:
                                               tuple(n * t for t in f(g, o, *xs, **a))}))
        elif op.name == "l2":
            out.append(MistakeVariant("l2_lambda", {}, vjp={
                i: lambda g, o, xs, v, f=op.vjp, a=attrs: tuple(0.5 * t for t in f(g, o, *xs, **a))}))
            out.append(MistakeVariant("l2_missing", {}, vjp={
                i: lambda g, o, xs, v: tuple(np.zeros_like(x) for x in xs)}))
    return out
