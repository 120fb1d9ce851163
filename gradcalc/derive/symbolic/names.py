"""Names shown like the lecture: W1, (0, 1) -> W⁽¹⁾₁₂ in text, W^{(1)}_{12} in LaTeX."""
from __future__ import annotations

import numpy as np

_SUB = str.maketrans("0123456789aehijklmnoprstuvx,", "₀₁₂₃₄₅₆₇₈₉ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ,")
_SUP = str.maketrans("0123456789()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾")
_NET_NAME = ("W", "b", "z", "h", "Wxh", "Whh")


def _split_layer(name: str, network: bool) -> tuple[str, str]:
    """'W1' -> ('W', '1') in network problems (the layer becomes a superscript)."""
    if network:
        stem = name.rstrip("0123456789")
        if stem in _NET_NAME and stem != name:
            return stem, name[len(stem):]
    return name, ""


def pretty_name(name: str, idx: tuple = (), network: bool = True) -> str:
    """W1, (0, 1) -> W⁽¹⁾₁₂ ; letters stay letters: W1, ('i', 'j') -> W⁽¹⁾ᵢⱼ."""
    base, layer = _split_layer(name, network)
    text = base + (f"({layer})".translate(_SUP) if layer else "")
    if idx:
        parts = [str(i + 1) if isinstance(i, (int, np.integer)) else str(i) for i in idx]
        sep = "," if any(len(p) > 1 for p in parts) else ""
        sub = sep.join(parts)
        text += sub.translate(_SUB) if all(c in "0123456789aehijklmnoprstuvx," for c in sub) \
            else "[" + ",".join(parts) + "]"
    return text


def latex_name(name: str, idx: tuple = (), network: bool = True) -> str:
    """W1, (0, 1) -> W^{(1)}_{12}; w0 -> w_{0}; multi-letter names -> \\mathrm{…}."""
    base, layer = _split_layer(name, network)
    sub = ""
    if not layer and not idx:
        stem = base.rstrip("0123456789")
        if stem and stem != base and len(stem) == 1:
            base, sub = stem, base[len(stem):]
    core = base if len(base) == 1 else r"\mathrm{" + base.replace("_", r"\_") + "}"
    if layer:
        core += "^{(" + layer + ")}"
    parts = [str(i + 1) if isinstance(i, (int, np.integer)) else str(i) for i in idx]
    if parts:
        sub = ("," if any(len(p) > 1 for p in parts) else "").join(parts)
    return core + ("_{" + sub + "}" if sub else "")
