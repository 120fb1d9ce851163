"""Fitting tables measures a text whose characters are all one cell wide with len (its pieces
too, the line's length kept as it grows) and anything else with rich's cell_len: the same
tables either way."""
import random

from gradcalc.render import fit as fitmod
from gradcalc.render.plain import cell_len, narrow
from gradcalc.render.tables import Table

_CHARS = list("abcdxyz0189.-") + ["·", "δ", "−", "ᵀ", "⊙", "×", "‖", "中", "文", "😀",
                                   "\u200d", "\ufe0f"]


def _tables(seed: int, n: int):
    rng = random.Random(seed)

    def word():
        return "".join(rng.choice(_CHARS) for _ in range(rng.randint(1, 12)))

    def cell():
        return "\n".join(" " * rng.choice([0, 0, 2]) + " ".join(word() for _ in range(rng.randint(0, 10)))
                         for _ in range(rng.randint(1, 3)))
    for _ in range(n):
        ncol = rng.randint(1, 4)
        yield (Table("t", [word() for _ in range(ncol)],
                     [[cell() for _ in range(ncol)] for _ in range(rng.randint(0, 4))],
                     note="n", kinds=["text"] * ncol), rng.randint(10, 100))


def test_fit_is_the_same_as_measuring_every_piece_with_cell_len():
    for t, width in _tables(3, 1500):
        got = fitmod.fit([t], width)[0]
        want = fitmod.fit_table(t, width, lambda text: cell_len)   # every piece measured
        assert (got.columns, got.rows) == (want.columns, want.rows)


def test_a_narrow_line_wraps_by_its_length():
    line = "  ∂L/∂W = δ·xᵀ = [0.25, −1.50, 3.00] ⊙ [1, 2, 3] × 0.10 " * 3
    assert narrow(line)
    for width in range(8, 90):
        assert (fitmod._wrap_line(line, width, lambda text: len)
                == fitmod._wrap_line(line, width, lambda text: cell_len))
        pieces = fitmod._wrap_line(line, width, lambda text: len)
        # every piece fits unless it is one word (or "·" piece) too long for any line
        assert all(len(p) <= width or " " not in p.strip() for p in pieces)
    assert not narrow("中文 text") and not narrow("a\u200db")
