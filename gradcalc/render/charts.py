"""Line charts as inline SVG, and the histories in a solution that are worth a chart."""
from __future__ import annotations

import numpy as np

from gradcalc.render import fmt
from gradcalc.render.mathml import escape


# ---------------------------------------------------------------- plots
_PALETTE = ("#3763a6", "#c0262d", "#1b7a2f", "#b07d00", "#6f42c1", "#0f7c8a")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** np.floor(np.log10(raw))
    step = min((s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw), default=10 * mag)
    start = np.ceil(lo / step) * step
    return [float(t) for t in np.arange(start, hi + step * 1e-9, step)]


def line_chart_svg(title: str, series: dict, x=None, xlabel: str = "", ylabel: str = "",
                   log: bool = False) -> str:
    """A small line chart as inline SVG (text stays text); `series` maps names to y lists."""
    W, H, L, R, T, B = 560, 300, 64, 16, 34, 46
    data = {k: np.asarray(v, dtype=float).ravel() for k, v in series.items() if len(v)}
    n = max((len(v) for v in data.values()), default=0)
    xs = np.asarray(x if x is not None else np.arange(n), dtype=float)
    ys = np.concatenate(list(data.values())) if data else np.zeros(1)
    finite = ys[np.isfinite(ys)]
    if log:
        finite = finite[finite > 0]
    if finite.size == 0:
        finite = np.array([0.0, 1.0])
    f = (lambda v: np.log10(v)) if log else (lambda v: v)
    lo, hi = float(f(finite.min())), float(f(finite.max()))
    if hi - lo < 1e-12:
        lo, hi = lo - 1, hi + 1
    x0, x1 = float(xs.min()) if xs.size else 0.0, float(xs.max()) if xs.size else 1.0
    if x1 - x0 < 1e-12:
        x1 = x0 + 1

    def px(v):
        return L + (v - x0) / (x1 - x0) * (W - L - R)

    def py(v):
        return T + (1 - (v - lo) / (hi - lo)) * (H - T - B)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" '
           f'height="{H}" role="img" aria-label="{escape(title)}" '
           'font-family="DejaVu Sans, sans-serif" font-size="11">',
           f'<text x="{L}" y="20" font-size="13" font-weight="bold">{escape(title)}</text>',
           f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" '
           'stroke="#9aa1a9"/>']
    for t in _ticks(lo, hi):
        y = py(t)
        label = fmt.num(10 ** t, 3) if log else fmt.num(t, 3)
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6ea"/>'
                   f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
    for t in _ticks(x0, x1):
        xx = px(t)
        out.append(f'<text x="{xx:.1f}" y="{H - B + 16}" text-anchor="middle">'
                   f'{escape(fmt.num(t, 4))}</text>')
    if xlabel:
        out.append(f'<text x="{(L + W - R) / 2}" y="{H - 8}" text-anchor="middle">'
                   f'{escape(xlabel)}</text>')
    if ylabel:
        out.append(f'<text transform="translate(14 {(T + H - B) / 2}) rotate(-90)" '
                   f'text-anchor="middle">{escape(ylabel)}</text>')
    for i, (name, v) in enumerate(data.items()):
        colour = _PALETTE[i % len(_PALETTE)]
        pts = [(px(xs[j]), py(f(v[j]))) for j in range(min(len(v), len(xs)))
               if np.isfinite(v[j]) and (v[j] > 0 or not log)]
        if pts:
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                       'stroke-width="1.8"/>')
            if len(pts) <= 40:
                out += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.4" fill="{colour}"/>'
                        for a, b in pts]
        if len(data) > 1:
            ly = T + 14 + 15 * i
            out.append(f'<line x1="{W - R - 120}" x2="{W - R - 104}" y1="{ly - 4}" y2="{ly - 4}" '
                       f'stroke="{colour}" stroke-width="2"/>'
                       f'<text x="{W - R - 100}" y="{ly}">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def _numeric_list(v) -> bool:
    try:
        a = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        return False
    return a.ndim == 1 and a.size >= 2


_PLOT_WORDS = ("loss", "norm", "lr", "accuracy")


def _plottable(key) -> bool:
    return isinstance(key, str) and any(word in key.lower() for word in _PLOT_WORDS)


def plot_specs(extras: dict) -> list[dict]:
    """Plots a solution asks for (`plots`), then histories found in its JSON extras.

    A plot is {"title", "series": {name: [y…]}, "x"?, "xlabel"?, "ylabel"?, "log"?}, or
    {"title", "svg": "<svg…>"} or {"title", "png": base64 text}.  Found automatically: a list
    of numbers under a key naming a loss, norm, lr or accuracy (e.g. the rnn diagnostics'
    grad_norms), and such scalars across a list of records (e.g. the SGD steps' loss_after)."""
    specs = [p for p in extras.get("plots", []) or [] if isinstance(p, dict)]

    def add(title, key, ys, xs=None):
        a = np.asarray(ys, dtype=float)
        if not np.all(np.isfinite(a)) or np.ptp(a) == 0:     # a constant says nothing drawn
            return
        log = bool(np.all(a > 0)) and a.max() / a.min() > 100
        for spec in specs:          # loss_before and loss_after share one chart
            if spec.get("group") == (title.rsplit(" · ", 1)[0], "loss" in key.lower()) and \
                    "loss" in key.lower():
                spec["series"][key] = a
                spec["log"] = spec["log"] and log
                spec["title"] = title.rsplit(" · ", 1)[0] + " · loss"
                return
        specs.append({"title": title, "series": {key: a}, "x": xs, "log": log,
                      "xlabel": "t" if key == "grad_norms" else "step",
                      "group": (title.rsplit(" · ", 1)[0], "loss" in key.lower())})

    def walk(value, path, depth):
        if depth > 4:
            return
        if isinstance(value, dict):
            for k, v in value.items():
                if _plottable(k) and _numeric_list(v):
                    add(" · ".join(path + [str(k)]), k, v)
                elif isinstance(v, (dict, list)):
                    label = str(value.get("states", k)) if isinstance(v, list) else str(k)
                    walk(v, path + [label] if isinstance(v, dict) else path + [str(k)], depth + 1)
        elif isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            if len(value) >= 2:
                keys = [k for k in value[0] if _plottable(k) and all(
                    isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)
                    for r in value)]
                xs = [r.get("step", r.get("epoch", i)) for i, r in enumerate(value)]
                for k in keys:
                    add(" · ".join(path + [str(k)]), k, [r[k] for r in value], xs)
            for i, r in enumerate(value):
                walk(r, path + [str(r.get("states", i + 1))] if len(value) > 1 else path, depth + 1)

    for key, value in extras.items():
        if key != "plots" and not str(key).startswith("table_"):
            walk(value, [str(key)], 0)
    return specs
