"""Reports as GitHub-flavoured markdown that pastes into a homework write-up."""
from __future__ import annotations


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def table_markdown(t) -> str:
    lines = [f"### {t.title}", ""]
    kinds = t.kinds or ["text"] * len(t.columns)
    lines.append("| " + " | ".join(_cell(c) for c in t.columns) + " |")
    lines.append("|" + "|".join("---:" if k == "num" else "---" for k in kinds) + "|")
    for row in t.rows:
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    if t.note:
        lines += ["", f"*{t.note}*"]
    return "\n".join(lines) + "\n"


def tables_markdown(tables, title: str | None = None) -> str:
    parts = [f"## {title}\n"] if title else []
    parts += [table_markdown(t) for t in tables]
    return "\n".join(parts)


def solution_markdown(sol, lang: str = "en", precision: int = 4, methods: bool = False) -> str:
    from gradcalc.render.solvetables import solve_tables
    return tables_markdown(solve_tables(sol, lang, precision, methods), sol.title)
