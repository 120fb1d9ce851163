"""Extra solve tables for conv, pooling and rnn layers: patches, routing, BPTT, diagnostics."""
from __future__ import annotations

import numpy as np

from gradcalc.render import fmt
from gradcalc.render.i18n import pick
from gradcalc.render.tables import Table

MAX_ROWS = 36      # a table lists at most this many output entries ("for a small example")

WORDS = {
    "en": {
        "conv": "Convolution {z}: the input patch and kernel each output entry used",
        "conv_grad": "Convolution {z}: gradients as the lecture writes them",
        "maxpool": "Max pool {h}: where each gradient was routed",
        "avgpool": "Average pool {h}: how each gradient was shared",
        "bptt": "Backpropagation through time, rnn layer {i} (t = T … 1)",
        "diag": "Vanishing / exploding gradients, rnn layer {i}",
        "output": "output", "patch": "input patch", "values": "patch values", "kernel": "kernel",
        "value": "value", "upstream": "upstream ∂L/∂{z}", "window": "window", "max": "max",
        "routed": "gradient goes to", "shared": "each entry gets", "gradient": "gradient",
        "rule": "rule", "t": "t", "direct": "∂L/∂h_t from above", "next": "+ Whhᵀ δ_(t+1)",
        "total": "= ∂L/∂h_t", "deriv": "act′(z_t)", "delta": "δ_t = ∂L/∂z_t",
        "norm": "‖∂L/∂h_t‖", "quantity": "quantity",
        "one_based": "Indices are 1-based, as in the lecture; ranges include both ends.",
        "first_example": " Showing the first example of the batch.",
        "more": " Showing {k} of {n} output entries; the others follow the same pattern.",
        "padding": " (zero padding outside the input)",
        "tie": " (tie: the first maximum wins)",
        "conv_note": "z = W {op} x + b: each output is Σ (patch ⊙ kernel) + b{flip}.",
        "flipped": "; flip: true, so the kernel is used rotated by 180° (the mathematical "
                   "convolution)",
        "bptt_note": "∂L/∂h_t = (gradient from the layers above) + Whhᵀ δ_(t+1); "
                     "δ_t = act′(z_t) ⊙ ∂L/∂h_t; then ∂L/∂Wxh = Σ_t δ_t x_tᵀ, "
                     "∂L/∂Whh = Σ_t δ_t h_(t−1)ᵀ, ∂L/∂b = Σ_t δ_t.",
        "norms": "‖∂L/∂h_t‖, t = 1 … T", "ratio": "‖∂L/∂h_1‖ / ‖∂L/∂h_T‖",
        "cell_norms": "‖∂L/∂c_t‖ (cell path)", "cell_ratio": "‖∂L/∂c_1‖ / ‖∂L/∂c_T‖",
        "factor": "factor per step back in time", "sigma": "‖Whh‖₂ (largest singular value)",
        "verdict": "verdict",
        "vanishing": "vanishing", "exploding": "exploding", "stable": "stable",
        "undefined": "undefined",
        "diag_note": "Vanishing below a ratio of 0.01, exploding above 100.",
    },
    "zh": {
        "conv": "卷积 {z}：每个输出用到的输入块与卷积核",
        "conv_grad": "卷积 {z}：课上写法的梯度",
        "maxpool": "最大池化 {h}：梯度传向何处",
        "avgpool": "平均池化 {h}：梯度如何平分",
        "bptt": "随时间反向传播（BPTT），第 {i} 层 rnn（t = T … 1）",
        "diag": "梯度消失与梯度爆炸，第 {i} 层 rnn",
        "output": "输出", "patch": "输入块", "values": "输入块的值", "kernel": "卷积核",
        "value": "值", "upstream": "上游梯度 ∂L/∂{z}", "window": "窗口", "max": "最大值",
        "routed": "梯度传给", "shared": "每个元素得到", "gradient": "梯度", "rule": "规则",
        "t": "t", "direct": "来自上层的 ∂L/∂h_t", "next": "+ Whhᵀ δ_(t+1)",
        "total": "= ∂L/∂h_t", "deriv": "act′(z_t)", "delta": "δ_t = ∂L/∂z_t",
        "norm": "‖∂L/∂h_t‖", "quantity": "量",
        "one_based": "下标从 1 开始（与课上一致），范围包含两端。",
        "first_example": " 只列出批量中的第一个样本。",
        "more": " 只列出 {n} 个输出中的 {k} 个，其余同理。",
        "padding": "（输入之外补零）",
        "tie": "（并列：取第一个最大值）",
        "conv_note": "z = W {op} x + b：每个输出是 Σ(输入块 ⊙ 卷积核) + b{flip}。",
        "flipped": "；flip: true，卷积核旋转 180° 使用（数学上的卷积）",
        "bptt_note": "∂L/∂h_t = 上层传来的梯度 + Whhᵀ δ_(t+1)；δ_t = act′(z_t) ⊙ ∂L/∂h_t；"
                     "∂L/∂Wxh = Σ_t δ_t x_tᵀ，∂L/∂Whh = Σ_t δ_t h_(t−1)ᵀ，∂L/∂b = Σ_t δ_t。",
        "norms": "‖∂L/∂h_t‖，t = 1 … T", "ratio": "‖∂L/∂h_1‖ / ‖∂L/∂h_T‖",
        "cell_norms": "‖∂L/∂c_t‖（细胞状态路径）", "cell_ratio": "‖∂L/∂c_1‖ / ‖∂L/∂c_T‖",
        "factor": "每向前一步的倍数", "sigma": "‖Whh‖₂（最大奇异值）", "verdict": "结论",
        "vanishing": "梯度消失", "exploding": "梯度爆炸", "stable": "稳定",
        "undefined": "无法判断",
        "diag_note": "比值小于 0.01 为梯度消失，大于 100 为梯度爆炸。",
    },
}


def _w(lang: str) -> dict[str, str]:
    return pick(WORDS, lang)


def layer_tables(sol, lang: str = "en", precision: int = 4) -> list[Table]:
    """The extra tables of a network with conv, pooling or rnn layers, layer by layer."""
    p = sol.problem
    diag = sol.diagnostics
    tables: list[Table] = []
    for i, layer in enumerate(p.layers, 1):
        if layer.type in ("conv2d", "conv1d"):
            tables += conv_tables(sol, i, lang, precision)
        elif layer.type in ("maxpool2d", "maxpool1d", "avgpool2d", "avgpool1d"):
            tables.append(pool_table(sol, i, lang, precision))
        elif layer.type == "rnn" and diag is not None and i in diag.bptt:
            tables.append(bptt_table(sol, i, lang, precision))
    for summary in diag.summaries if diag is not None else []:
        tables.append(diagnostics_table(summary, lang, precision))
    return tables


# ---------------------------------------------------------------- index text (1-based)
def _idx(name: str, index) -> str:
    return f"{name}[{', '.join(str(int(k) + 1) for k in index)}]" if len(index) else name


def _span(start: int, size: int) -> str:
    return f"{start + 1}–{start + size}" if size > 1 else f"{start + 1}"


def _limit(n_rows: int, w: dict, batch: bool) -> tuple[int, str]:
    note = w["first_example"] if batch else ""
    if n_rows > MAX_ROWS:
        note += w["more"].format(k=MAX_ROWS, n=n_rows)
    return min(n_rows, MAX_ROWS), note


# ---------------------------------------------------------------- convolution
def conv_tables(sol, i: int, lang: str, precision: int) -> list[Table]:
    from gradcalc.ops.conv import conv_canon
    from gradcalc.graph.network import layer_output_name
    w = _w(lang)
    p = sol.problem
    layer = p.layers[i - 1]
    nd = 2 if layer.type == "conv2d" else 1
    xname, zname = layer_output_name(p, i - 1), f"z{i}"
    x = np.asarray(sol.forward[xname], dtype=float)
    W, b = np.asarray(layer.W, dtype=float), np.asarray(layer.b, dtype=float)
    Wc, xc, bc, plain = conv_canon(W, x, b, nd, p.batch)
    has_channels = xc.ndim == x.ndim + (0 if p.batch else 1)   # x was written with channels
    out_channels = (not plain) or has_channels
    K, S, s, pad = Wc.shape[2:], xc.shape[2:], layer.stride, layer.padding
    So = tuple((n + 2 * pad - k) // s + 1 for n, k in zip(S, K))
    N, O, C = xc.shape[0], Wc.shape[0], xc.shape[1]
    Z = np.asarray(sol.forward[zname], dtype=float).reshape((N, O) + So)
    G = np.asarray(sol.gradients[zname], dtype=float).reshape((N, O) + So)
    xp = np.pad(xc[0], [(0, 0)] + [(pad, pad)] * nd)
    entries = [(o, q) for o in range(O) for q in np.ndindex(*So)]
    count, note = _limit(len(entries), w, p.batch)
    rows = []
    for o, q in entries[:count]:
        starts = [qi * s - pad for qi in q]
        # the input entries inside the patch (1-based); the rest of the patch is zero padding
        spans = [_span(max(st, 0), min(st + k, n) - max(st, 0)) for st, k, n in zip(starts, K, S)]
        chan = [_span(0, C)] if has_channels else []
        where = f"{xname}[{', '.join(chan + spans)}]"
        if any(st < 0 or st + k > n for st, k, n in zip(starts, K, S)):
            where += w["padding"]
        window = tuple(slice(qi * s, qi * s + k) for qi, k in zip(q, K))
        patch = xp[(slice(None),) + window]
        kernel = f"W{i}" if plain else _idx(f"W{i}", (o,))
        out_index = ((o,) if out_channels else ()) + q
        rows.append([_idx(zname, out_index), where,
                     fmt.value(patch[0] if C == 1 else patch, precision),   # one channel: a matrix
                     kernel, fmt.value(Z[0][(o,) + q], precision),
                     fmt.value(G[0][(o,) + q], precision)])
    flip = w["flipped"] if layer.flip else ""
    first = Table(w["conv"].format(z=zname),
                  [w["output"], w["patch"], w["values"], w["kernel"], w["value"],
                   w["upstream"].format(z=zname)], rows,
                  note=w["conv_note"].format(op="∗" if layer.flip else "⋆", flip=flip) + " "
                  + w["one_based"] + note,
                  kinds=["text", "text", "num", "text", "num", "num"])
    texts = _conv_rules(xname, zname, f"W{i}", f"b{i}", nd, layer)
    grads = [[f"∂L/∂{name}", rule, fmt.value(sol.gradients[name], precision, multiline=True)]
             for name, rule in texts if name in sol.gradients]
    second = Table(w["conv_grad"].format(z=zname), [w["quantity"], w["rule"], w["gradient"]],
                   grads, kinds=["text", "text", "num"])
    return [first, second]


def _conv_rules(x: str, z: str, W: str, b: str, nd: int, layer) -> list[tuple[str, str]]:
    """The lecture's formulas for the three gradients of a convolution, in this layer's terms."""
    s = layer.stride
    pos = "i, j" if nd == 2 else "i"
    over = "Σ_(i,j)" if nd == 2 else "Σ_i"
    at = "i·s+k, j·s+l" if nd == 2 else "i·s+k"
    at_flip = "i·s+kh−1−k, j·s+kw−1−l" if nd == 2 else "i·s+K−1−k"
    kl = "k, l" if nd == 2 else "k"
    spread = (f" (stride {s}: first put {s - 1} zero{'s' if s > 2 else ''} between the entries "
              f"of ∂L/∂{z})") if s > 1 else ""
    crop = f", then drop the {layer.padding} padded border" if layer.padding else ""
    if not layer.flip:
        rw = (f"{x} ⋆ ∂L/∂{z}, the correlation of the input with the upstream gradient: "
              f"∂L/∂{W}[o, c, {kl}] = {over} ∂L/∂{z}[o, {pos}] · {x}[c, {at}]")
        rx = (f"∂L/∂{z} ∗ {W}, a full convolution: slide rot180({W}) over ∂L/∂{z} padded with "
              f"k−1 zeros{spread}{crop}")
    else:
        rw = (f"{z} = {x} ∗ {W} uses the kernel flipped, so ∂L/∂{W} = rot180({x} ⋆ ∂L/∂{z}): "
              f"∂L/∂{W}[o, c, {kl}] = {over} ∂L/∂{z}[o, {pos}] · {x}[c, {at_flip}]")
        rx = (f"a full correlation: slide {W} itself (not flipped) over ∂L/∂{z} padded with "
              f"k−1 zeros{spread}{crop}")
    rb = f"{over} ∂L/∂{z}[o, {pos}], one sum per output channel"
    return [(W, rw), (x, rx), (b, rb)]


# ---------------------------------------------------------------- pooling
def pool_table(sol, i: int, lang: str, precision: int) -> Table:
    from gradcalc.graph.network import layer_output_name
    w = _w(lang)
    p = sol.problem
    layer = p.layers[i - 1]
    nd = 2 if layer.type.endswith("2d") else 1
    is_max = layer.type.startswith("max")
    xname, hname = layer_output_name(p, i - 1), layer_output_name(p, i)
    x = np.asarray(sol.forward[xname], dtype=float)
    g = np.asarray(sol.gradients[hname], dtype=float)
    if p.batch:
        x, g = x[0], g[0]
    k, s = layer.size, layer.stride
    lead, So = x.shape[:x.ndim - nd], g.shape[g.ndim - nd:]
    entries = [(a, q) for a in np.ndindex(*lead) for q in np.ndindex(*So)]
    count, note = _limit(len(entries), w, p.batch)
    rows = []
    for a, q in entries[:count]:
        starts = [qi * s for qi in q]
        where = f"{xname}[{', '.join([str(v + 1) for v in a] + [_span(st, k) for st in starts])}]"
        win = x[a + tuple(slice(st, st + k) for st in starts)]
        up = g[a + q]
        if is_max:
            flat = win.reshape(-1)
            j = int(np.argmax(flat))              # the first maximum, as the op does
            at = a + tuple(st + o for st, o in zip(starts, np.unravel_index(j, win.shape)))
            tie = w["tie"] if np.sum(flat == flat[j]) > 1 else ""
            last = f"{_idx(xname, at)}: {fmt.num(up, precision)}{tie}"
            rows.append([_idx(hname, a + q), where, fmt.value(win, precision),
                         fmt.num(flat[j], precision), fmt.num(up, precision), last])
        else:
            rows.append([_idx(hname, a + q), where, fmt.value(win, precision),
                         fmt.num(win.mean(), precision), fmt.num(up, precision),
                         f"{fmt.num(up, precision)} / {win.size} = {fmt.num(up / win.size, precision)}"])
    title = (w["maxpool"] if is_max else w["avgpool"]).format(h=hname)
    return Table(title, [w["output"], w["window"], w["values"], w["max"] if is_max else w["value"],
                         w["upstream"].format(z=hname), w["routed"] if is_max else w["shared"]],
                 rows, note=w["one_based"] + note,
                 kinds=["text", "text", "num", "num", "num", "text"])


# ---------------------------------------------------------------- recurrence
def bptt_table(sol, i: int, lang: str, precision: int) -> Table:
    w = _w(lang)
    d = sol.diagnostics.bptt[i]
    batch = sol.problem.batch
    T = d.total.shape[1 if batch else 0]

    def at(key, t):
        a = getattr(d, key)
        return fmt.value(a[:, t] if batch else a[t], precision)

    rows = []
    for t in range(T - 1, -1, -1):
        total = d.total[:, t] if batch else d.total[t]
        with np.errstate(over="ignore"):    # a norm above 1e308 is shown as inf
            norm = np.linalg.norm(total)
        rows.append([str(t + 1), at("h", t), at("direct", t), at("from_next", t), at("total", t),
                     at("deriv", t), at("delta", t), fmt.num(norm, precision)])
    return Table(w["bptt"].format(i=i),
                 [w["t"], "h_t", w["direct"], w["next"], w["total"], w["deriv"], w["delta"],
                  w["norm"]], rows, note=w["bptt_note"],
                 kinds=["num", "num", "num", "num", "num", "num", "num", "num"])


def diagnostics_table(summary: dict, lang: str, precision: int) -> Table:
    w = _w(lang)
    kind = summary["verdict"]
    word = w.get(kind, kind)
    verdict = f"{word}: {summary['explanation']}" if lang == "en" else word
    rows = [[w["norms"], fmt.value(np.asarray(summary["grad_norms"]), precision)],
            [w["ratio"], _maybe(summary["ratio_first_last"], precision)],
            [w["factor"], _maybe(summary["factor_per_step"], precision)],
            [w["verdict"], verdict]]
    if "whh_spectral_norm" in summary:      # rnn layers; lstm and gru add the cell path instead
        rows.insert(3, [w["sigma"], fmt.num(summary["whh_spectral_norm"], precision)])
    if "cell_grad_norms" in summary:
        rows.insert(3, [w["cell_norms"], fmt.value(np.asarray(summary["cell_grad_norms"]), precision)])
        rows.insert(4, [w["cell_ratio"], _maybe(summary["cell_ratio_first_last"], precision)])
    return Table(w["diag"].format(i=summary["layer"]), [w["quantity"], w["value"]], rows,
                 note=w["diag_note"], kinds=["text", "text"])


def _maybe(v, precision: int) -> str:
    return "—" if v is None else fmt.num(v, precision)
