"""histogram.png: the distribution of a class's totals, drawn with matplotlib (imported only when drawing)."""
from __future__ import annotations

import io
import math

import numpy as np

from gradcalc.render.gradetext import points


def histogram_png(totals: list[float], max_points: float, title: str, lang: str = "en") -> bytes:
    """A histogram of the totals (matplotlib's Agg canvas, no display); deterministic bytes."""
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    top = max_points if max_points > 0 else 1.0
    nbins = int(min(max(math.ceil(top), 5), 40))
    ax.hist(totals, bins=np.linspace(0.0, top, nbins + 1), color="#4c72b0", edgecolor="white")
    ax.set_xlim(0, top)
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
