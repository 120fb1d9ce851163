"""histogram.png: the distribution of a class's totals, drawn with matplotlib (imported only when drawing)."""
from __future__ import annotations

import io
import math

import numpy as np

from gradcalc.render.gradetext import points


MAX_SCORE_BINS = 41     # up to this many possible scores: one bar each


def score_bins(totals: list[float], max_points: float) -> tuple[np.ndarray, float | None]:
    """(bin edges, step): one bin per possible score when the scores are few — every total a
    multiple of 1, ½ or ¼ and at most MAX_SCORE_BINS multiples from 0 to the maximum — each
    bin centred on its score (9 and 10 are two bars); else equal bins over [0, max] (step
    None)."""
    top = max_points if max_points > 0 else 1.0
    t = np.asarray(totals, dtype=float)
    for step in (1.0, 0.5, 0.25):
        if top / step + 1 <= MAX_SCORE_BINS and abs(top / step - round(top / step)) < 1e-9 \
                and (t.size == 0 or np.all(np.abs(t / step - np.round(t / step)) < 1e-9)):
            n = int(round(top / step))
            return (np.arange(n + 2) - 0.5) * step, step
    nbins = int(min(max(math.ceil(top), 5), 40))
    return np.linspace(0.0, top, nbins + 1), None


def histogram_png(totals: list[float], max_points: float, title: str, lang: str = "en") -> bytes:
    """A histogram of the totals (matplotlib's Agg canvas, no display); deterministic bytes."""
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    top = max_points if max_points > 0 else 1.0
    edges, step = score_bins(totals, top)
    ax.hist(totals, bins=edges, color="#4c72b0", edgecolor="white")
    ax.set_xlim(edges[0], edges[-1])
    if step is not None and len(edges) <= 22:
        ax.set_xticks((edges[:-1] + edges[1:]) / 2)
    # axis words stay English: the default fonts have no CJK glyphs
    ax.set_xlabel(f"total (out of {points(top)})")
    ax.set_ylabel("students")
    ax.set_title(title[:80], fontsize=10)
    ax.yaxis.get_major_locator().set_params(integer=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # missing glyphs of a Chinese title
        fig.subplots_adjust(left=0.1, right=0.97, bottom=0.16, top=0.9)   # fixed: no layout pass
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
