"""Random tables for the tests that compare render/plain.py with rich itself, piped
(test_plain.py) and on a terminal (test_terminal_styles.py): each test gives its own alphabet,
text lengths and largest number of columns."""
from gradcalc.render.tables import Table


def random_text(rng, alphabet, lengths) -> str:
    n = rng.choice(lengths)
    return "".join(rng.choice(alphabet) for _ in range(n))


def random_tables(rng, alphabet, lengths, max_columns: int) -> list[Table]:
    """One to three tables of one to `max_columns` columns, zero to five rows; titles, notes
    and column kinds present or not."""
    def text():
        return random_text(rng, alphabet, lengths)
    ncol = rng.randint(1, max_columns)
    out = []
    for _ in range(rng.randint(1, 3)):
        kinds = [rng.choice(["text", "num"]) for _ in range(ncol)] if rng.random() < 0.7 else []
        out.append(Table(text() if rng.random() < 0.8 else "",
                         [text() for _ in range(ncol)],
                         [[text() for _ in range(ncol)] for _ in range(rng.randint(0, 5))],
                         note=text() if rng.random() < 0.6 else "", kinds=kinds))
    return out
