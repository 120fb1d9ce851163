"""Draw the computational graph with matplotlib (.svg/.png/.pdf, text kept as text) or write .dot."""
from __future__ import annotations

import os
from pathlib import Path

from gradcalc.errors import UsageError
from gradcalc.fileio import write_atomic
from gradcalc.render.graphmodel import LINE, WORDS, GraphModel, from_solution, value_lines
from gradcalc.render.graphsvg import LARGE_LABELS, svg_text
from gradcalc.render.i18n import pick

FORMATS = (".svg", ".png", ".pdf", ".dot")
GREEN, RED = "#1b7a2f", "#c0262d"          # forward value above the wire, gradient below
WIRE, GATE_FACE, GATE_EDGE = "#4a4f57", "#e8f0fe", "#3763a6"
INPUT_FACE, INPUT_EDGE, MUTED = "#f1f3f5", "#7b8494", "#5f6670"
# fonts that have Chinese glyphs, in order of preference (Debian: fonts-noto-cjk, fonts-wqy-*)
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "Source Han Sans SC",
             "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Droid Sans Fallback", "AR PL UMing CN",
             "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC")
CJK_PACKAGE = "fonts-noto-cjk (Debian/Ubuntu) or fonts-wqy-microhei"


CJK_FILES = ("*CJK*.tt[cf]", "*CJK*.otf", "wqy-*.tt[cf]", "SourceHanSans*", "DroidSansFallback*")
_cjk_cache: list = []


def cjk_font() -> str | None:
    """The first installed font with Chinese glyphs, or None.

    matplotlib caches its font list once; a font package installed later is found by
    looking for the usual CJK font files and registering them."""
    if _cjk_cache:
        return _cjk_cache[0]
    from matplotlib import font_manager
    names = {f.name for f in font_manager.fontManager.ttflist}
    found = next((n for n in CJK_FONTS if n in names), None)
    if found is None:
        roots = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"),
                 Path.home() / ".fonts", Path.home() / ".local/share/fonts"]
        for root in roots:
            if not root.is_dir():
                continue
            for pattern in CJK_FILES:
                for f in sorted(root.rglob(pattern)):
                    try:
                        font_manager.fontManager.addfont(str(f))
                    except (OSError, RuntimeError, ValueError):
                        continue
        names = {f.name for f in font_manager.fontManager.ttflist}
        found = next((n for n in CJK_FONTS if n in names), None)
    _cjk_cache.append(found)
    return found


def _has_cjk(text: str) -> bool:
    return any(0x2E80 <= ord(ch) <= 0x9FFF or 0xF900 <= ord(ch) <= 0xFAFF or
               0xFF00 <= ord(ch) <= 0xFFEF for ch in text)


def _rc() -> dict:
    families = ["DejaVu Sans"]
    cjk = cjk_font()
    if cjk:
        families.append(cjk)       # matplotlib falls back glyph by glyph along this list
    return {"svg.fonttype": "none",      # SVG labels stay <text>: selectable and searchable
            "svg.hashsalt": "gradcalc",  # stable ids: the same graph gives the same file
            "pdf.fonttype": 42, "ps.fonttype": 42,
            "font.family": families,
            "text.usetex": False}


def figure(model: GraphModel):
    """A laid-out matplotlib Figure of `model` (laid out with this renderer's text metrics).

    Returns (figure, texts) where texts maps each drawn Text artist to its layout Label."""
    # the Agg canvas is used directly: no pyplot, no global backend switch (safe in notebooks)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PatchCollection
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import FancyBboxPatch, PathPatch
    from matplotlib.path import Path as MPath

    fig = Figure(figsize=(4, 3), dpi=72)       # 72 dpi: one display unit is one point
    canvas = FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    props: dict = {}

    def prop(size, weight="normal"):
        key = (size, weight)
        if key not in props:
            props[key] = FontProperties(size=size, weight=weight)
        return props[key]

    widths: dict = {}

    def measure(text, size, weight="normal"):
        key = (text, size, weight)       # wire labels repeat (shapes, small values): measure once
        if key not in widths:
            widths[key] = renderer.get_text_width_height_descent(text, prop(size, weight),
                                                                 ismath=False)[0]
        return widths[key]

    from gradcalc.render.graphlayout import BOLD_SIZES, layout
    # bold texts (gates, leaves, the title) are measured with the widest of both weights
    layout(model, lambda t, s: max(measure(t, s), measure(t, s, "bold")) if s in BOLD_SIZES
           else measure(t, s))

    W, H = model.width, model.height
    fig.set_size_inches(W / 72, H / 72)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.axis("off")

    # wires: straight runs inside columns, smooth cubic bends in the gaps between columns;
    # wires and boxes go in as one collection each: adding thousands of single patches to the
    # axes (each updating its data limits) costs more than the drawing
    wires = []
    for e in model.edges:
        pts = e.points
        verts, codes = [pts[0]], [MPath.MOVETO]
        runs = pts[:-1]
        for i in range(0, len(runs), 2):
            a, b = runs[i], runs[i + 1]
            if i > 0:
                prev = runs[i - 1]
                dx = (a[0] - prev[0]) / 2
                verts += [(prev[0] + dx, prev[1]), (a[0] - dx, a[1]), a]
                codes += [MPath.CURVE4] * 3
            verts.append(b)
            codes.append(MPath.LINETO)
        verts.append(pts[-1])
        codes.append(MPath.LINETO)
        wires.append(PathPatch(MPath(verts, codes), fill=False, ec=WIRE, lw=1.1,
                               capstyle="round", joinstyle="round"))
    ax.add_collection(PatchCollection(wires, match_original=True, zorder=1), autolim=False)
    boxes = []
    for n in model.nodes:
        if n.kind in ("op", "input", "ref"):
            face, edge = (GATE_FACE, GATE_EDGE) if n.kind == "op" else (INPUT_FACE, INPUT_EDGE)
            # a reference box (a quantity drawn again next to a far consumer) is dashed
            boxes.append(FancyBboxPatch((n.x - n.w / 2, n.y - n.h / 2), n.w, n.h,
                                        boxstyle="round,pad=0,rounding_size=7", fc=face, ec=edge,
                                        lw=1.2, linestyle="--" if n.kind == "ref" else "-"))
    ax.add_collection(PatchCollection(boxes, match_original=True, zorder=2), autolim=False)
    # legend swatches: a short wire with a value above (green) and gradient below (red)
    head = model.header
    sx = head[1].x - 20
    sy = head[1].y + head[1].h / 2
    ax.plot([sx, sx + 14], [sy, sy], color=GREEN, lw=2.2, solid_capstyle="round")
    gx = head[2].x - 20
    ax.plot([gx, gx + 14], [sy, sy], color=RED, lw=2.2, solid_capstyle="round")

    colour = COLOURS
    texts = {}
    _label_ids(model)
    for lab in model.labels():
        for i, line in enumerate(lab.lines):
            t = ax.text(lab.x, lab.y + (i + 0.5) * lab.size * LINE, line, fontsize=lab.size,
                        fontweight=lab.weight, color=colour.get(lab.role, "#111111"),
                        ha="left", va="center", zorder=3, parse_math=False)
            if lab.role in ("value", "grad"):
                t.set_gid(f"{lab.owner}--{i}")
            texts[t] = lab
    return fig, texts


def render_bytes(sol, fmt: str, lang: str = "en", precision: int = 4) -> tuple[bytes, list[str]]:
    """The picture in format 'svg', 'png' or 'pdf', and notices (e.g. a missing Chinese font)."""
    import logging
    model = from_solution(sol, lang, precision)
    notices = []
    if fmt == "svg" and 2 * len(model.edges) + len(model.nodes) > LARGE_LABELS:
        return _large_svg(model), notices
    # a CJK font without a bold face is used at normal weight: not worth a log line per text
    fm_log = logging.getLogger("matplotlib.font_manager")
    level = fm_log.level
    fm_log.setLevel(logging.ERROR)
    try:
        return _render(model, fmt, notices)
    finally:
        fm_log.setLevel(level)


COLOURS = {"value": GREEN, "grad": RED, "legend_value": GREEN, "legend_grad": RED,
           "name": MUTED, "attr": MUTED}


def _label_ids(model: GraphModel) -> None:
    """ids like value--3--h1--z2: role, wire, quantity, consumer (for tests and styling)."""
    for k, e in enumerate(model.edges):
        dst = model.node(e.dst)
        consumer = "OUTPUT" if dst.kind == "output" else dst.name
        for lab in (e.value_label, e.grad_label):
            lab.owner = f"{lab.role}--{k}--{e.name}--{consumer}"


def _large_svg(model: GraphModel) -> bytes:
    """A graph of more than LARGE_LABELS labels: laid out with the font-free width estimate and
    written as SVG directly (gradcalc.render.graphsvg), without matplotlib."""
    from gradcalc.render.graphlayout import BOLD_SIZES, approx_width, layout
    # bold texts run about a tenth wider than the estimate's average glyph
    layout(model, lambda t, s: approx_width(t, s) * (1.12 if s in BOLD_SIZES else 1.0))
    _label_ids(model)
    palette = {"wire": WIRE, "gate_face": GATE_FACE, "gate_edge": GATE_EDGE,
               "input_face": INPUT_FACE, "input_edge": INPUT_EDGE}
    return svg_text(model, COLOURS, palette).encode("utf-8")


def _render(model, fmt, notices):
    import io
    import warnings

    import matplotlib
    with matplotlib.rc_context(_rc()), warnings.catch_warnings():
        # a missing glyph is reported once, below, instead of one warning per character
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        fig, texts = figure(model)
        if fmt != "svg" and cjk_font() is None and any(_has_cjk(t.get_text()) for t in texts):
            notices.append("no font with Chinese glyphs was found, so Chinese text shows as boxes "
                           f"in .{fmt} files; install {CJK_PACKAGE} (an .svg leaves the font to "
                           "the viewer)")
        buf = io.BytesIO()
        meta = {"svg": {"Date": None, "Creator": "gradcalc"},
                "pdf": {"CreationDate": None, "Creator": "gradcalc"}, "png": {}}[fmt]
        dpi = 72
        if fmt == "png":
            dpi = png_dpi(model.width, model.height)
            if dpi < PNG_DPI:
                notices.append(f"the graph is {model.width / 72:.0f}×{model.height / 72:.0f} inches, so "
                               f"the .png is drawn at {dpi:.0f} dpi instead of {PNG_DPI} to stay "
                               f"within {PNG_MAX_PIXELS // 10**6} megapixels; an .svg or .pdf keeps "
                               "every label sharp")
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta)
    return buf.getvalue(), notices


PNG_DPI = 144
PNG_MAX_PIXELS = 40_000_000        # 160 MB of RGBA while drawing
PNG_MAX_SIDE = 32_000              # Agg refuses more than 2¹⁶ pixels a side


def png_dpi(width_pt: float, height_pt: float) -> float:
    """The resolution of a .png of this size in points: PNG_DPI, lowered so that the raster
    stays within PNG_MAX_PIXELS and PNG_MAX_SIDE (a long chain is a very wide picture)."""
    w_in, h_in = max(width_pt, 1.0) / 72, max(height_pt, 1.0) / 72
    return min(float(PNG_DPI), (PNG_MAX_PIXELS / (w_in * h_in)) ** 0.5,
               PNG_MAX_SIDE / max(w_in, h_in))


def graph_svg(sol, lang: str = "en", precision: int = 4) -> str:
    """The picture as an <svg> element (no XML prologue) to inline in HTML."""
    data, _ = render_bytes(sol, "svg", lang, precision)
    text = data.decode("utf-8")
    return text[text.index("<svg"):]


def _dot_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def dot_source(sol, lang: str = "en", precision: int = 4) -> str:
    """Graphviz source of the same graph (for `dot -Tsvg`), values green above, gradients red."""
    model = from_solution(sol, lang, precision)
    words = pick(WORDS, lang)
    title = _dot_escape(model.title)
    legend = (f'<font color="{GREEN}">{_dot_escape(words["value"])}</font>  '
              f'<font color="{RED}">{_dot_escape(words["grad"].format(out=model.output))}</font>')
    lines = ["digraph gradcalc {",
             '  graph [rankdir=LR, fontname="DejaVu Sans", labelloc=t, '
             f'label=<<b>{title}</b><br/>{legend}>];',
             '  node [fontname="DejaVu Sans"];',
             '  edge [fontname="DejaVu Sans", fontsize=9, arrowsize=0.6];']
    for n in model.nodes:
        if n.kind == "op":
            extra = f'<br/><font point-size="8">{_dot_escape(n.attrs)}</font>' if n.attrs else ""
            lines.append(f'  {n.id} [shape=box, style="rounded,filled", fillcolor="{GATE_FACE}", '
                         f'color="{GATE_EDGE}", label=<<b>{_dot_escape(n.label)}</b><br/>'
                         f'<font point-size="8" color="{MUTED}">{_dot_escape(n.name)}</font>'
                         f'{extra}>];')
        elif n.kind == "input":
            lines.append(f'  {n.id} [shape=box, style="rounded,filled", fillcolor="{INPUT_FACE}", '
                         f'color="{INPUT_EDGE}", label=<<b>{_dot_escape(n.name)}</b>>];')
        else:
            lines.append(f'  {n.id} [shape=plaintext, label=<<b>{_dot_escape(n.name)}</b>>];')
    for e in model.edges:
        v = "<br/>".join(_dot_escape(t) for t in value_lines(e.value, precision, lang))
        g = "<br/>".join(_dot_escape(t) for t in value_lines(e.grad, precision, lang))
        lines.append(f'  {e.src} -> {e.dst} [label=<<font color="{GREEN}">{v}</font><br/>'
                     f'<font color="{RED}">{g}</font>>];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def check_target(path: str | os.PathLike, formats=FORMATS) -> str:
    """The lower-case suffix of `path` if it is a known format in an existing folder."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in formats:
        raise UsageError(f"{path}: the file name must end in {', '.join(formats)} "
                         f"(got '{suffix or 'no extension'}')")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(f"{path}: the folder {directory} does not exist")
    return suffix


def write_graph(sol, path: str | os.PathLike, lang: str = "en", precision: int = 4) -> list[str]:
    """Write the picture to `path` (.svg, .png, .pdf or .dot); returns notices for stderr."""
    suffix = check_target(path)
    if suffix == ".dot":
        write_atomic(path, dot_source(sol, lang, precision))
        return []
    data, notices = render_bytes(sol, suffix[1:], lang, precision)
    write_atomic(path, data)
    return notices
