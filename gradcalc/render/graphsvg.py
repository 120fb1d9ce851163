"""A large computational graph written as SVG directly (no matplotlib): linear time in its labels.

matplotlib draws about two thousand texts a second: the graph of an rnn over T = 1,000 (20,000
labels) took half a minute.  Above LARGE_LABELS labels an .svg (and the HTML report's picture)
is written here instead, from the same layout, with the same colours, boxes, wires and label
ids (`value--k--quantity--consumer--line`); text widths are the font-free estimate
(graphlayout.approx_width), so no font is measured either.  Smaller graphs, and .png/.pdf, are
drawn by matplotlib as before."""
from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from gradcalc.render.graphmodel import LINE, GraphModel

LARGE_LABELS = 3000


def _n(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _wire_path(pts) -> str:
    """Straight runs inside columns, cubic bends between them (as graph.figure draws them)."""
    d = [f"M{_n(pts[0][0])} {_n(pts[0][1])}"]
    runs = pts[:-1]
    for i in range(0, len(runs), 2):
        a, b = runs[i], runs[i + 1]
        if i > 0:
            prev = runs[i - 1]
            dx = (a[0] - prev[0]) / 2
            d.append(f"C{_n(prev[0] + dx)} {_n(prev[1])} {_n(a[0] - dx)} {_n(a[1])} "
                     f"{_n(a[0])} {_n(a[1])}")
        d.append(f"L{_n(b[0])} {_n(b[1])}")
    d.append(f"L{_n(pts[-1][0])} {_n(pts[-1][1])}")
    return "".join(d)


def svg_text(model: GraphModel, colours: dict, palette: dict) -> str:
    """The laid-out `model` as a standalone SVG document (text kept as <text>)."""
    W, H = model.width, model.height
    out = ['<?xml version="1.0" encoding="utf-8" standalone="no"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(W)}pt" height="{_n(H)}pt" '
           f'viewBox="0 0 {_n(W)} {_n(H)}" version="1.1">',
           '<metadata>gradcalc</metadata>',
           f'<rect width="{_n(W)}" height="{_n(H)}" fill="#ffffff"/>',
           f'<g fill="none" stroke="{palette["wire"]}" stroke-width="1.1" '
           'stroke-linecap="round" stroke-linejoin="round">']
    out += [f'<path d="{_wire_path(e.points)}"/>' for e in model.edges]
    out.append("</g>")
    for n in model.nodes:
        if n.kind not in ("op", "input", "ref"):
            continue
        face, edge = ((palette["gate_face"], palette["gate_edge"]) if n.kind == "op"
                      else (palette["input_face"], palette["input_edge"]))
        dash = ' stroke-dasharray="4 2"' if n.kind == "ref" else ""
        out.append(f'<rect x="{_n(n.x - n.w / 2)}" y="{_n(n.y - n.h / 2)}" width="{_n(n.w)}" '
                   f'height="{_n(n.h)}" rx="7" fill="{face}" stroke="{edge}" '
                   f'stroke-width="1.2"{dash}/>')
    head = model.header
    sy = head[1].y + head[1].h / 2
    for x, colour in ((head[1].x - 20, colours["legend_value"]),
                      (head[2].x - 20, colours["legend_grad"])):
        out.append(f'<path d="M{_n(x)} {_n(sy)}L{_n(x + 14)} {_n(sy)}" stroke="{colour}" '
                   'stroke-width="2.2" stroke-linecap="round"/>')
    out.append('<g font-family="DejaVu Sans, sans-serif">')
    for lab in model.labels():
        fill = colours.get(lab.role, "#111111")
        weight = ' font-weight="bold"' if lab.weight == "bold" else ""
        for i, line in enumerate(lab.lines):
            y = lab.y + (i + 0.5) * lab.size * LINE
            text = (f'<text x="{_n(lab.x)}" y="{_n(y)}" font-size="{_n(lab.size)}" '
                    f'fill="{fill}"{weight} dominant-baseline="central" '
                    f'style="white-space:pre">{escape(line)}</text>')
            if lab.role in ("value", "grad"):
                text = f"<g id={quoteattr(f'{lab.owner}--{i}')}>{text}</g>"
            out.append(text)
    out += ["</g>", "</svg>", ""]
    return "\n".join(out)
