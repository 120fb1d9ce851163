"""The quantity names a submission may use (z1, dW1, dL/dW1, dW1[1,2]) and their shapes."""
from __future__ import annotations

import re
import unicodedata
from typing import Any

_INDEX = re.compile(r"\[\d+(?:,\d+)*\]$")      # one bracket of 1-based entry numbers


def _cuts(text: str) -> list[int]:
    """Where the name of `text` may end, longest first: the whole text, then before each
    trailing bracket of entry numbers (dW1[1,2]: 9, 3; h1[3][2]: 8, 5, 2)."""
    cuts = [len(text)]
    rest = text
    while True:
        m = _INDEX.search(rest)
        if m is None or m.start() == 0:
            return cuts
        rest = rest[:m.start()]
        cuts.append(len(rest))


class QuantitySchema:
    """The names a submission may use, with their shapes: forward quantities (x, z1, h1, …, L)
    and gradients ("dW1" for dL/dW1, also written dL/dW1 or ∂L/∂W1)."""

    def __init__(self, forward: dict[str, tuple], gradients: dict[str, tuple], output: str):
        self.output = output
        self.shapes: dict[str, tuple] = {}
        self.gradient_of: dict[str, str] = {}
        for name, shape in forward.items():
            self.shapes[name] = tuple(shape)
        for name, shape in gradients.items():
            key = "d" + name
            if key not in self.shapes:
                self.shapes[key] = tuple(shape)
                self.gradient_of[key] = name
        self._folded: dict[str, list[str]] = {}
        for key in self.shapes:
            self._folded.setdefault(key.casefold(), []).append(key)
        self._cache: dict[str, tuple | None] = {}

    def display(self, key: str) -> str:
        """"dW1" -> "dL/dW1" for feedback; forward names unchanged."""
        if key in self.gradient_of:
            return f"d{self.output}/d{self.gradient_of[key]}"
        return key

    def resolve(self, written: Any) -> tuple[str, tuple | None] | None:
        """(canonical name, 0-based entry index or None) or None when unknown."""
        if not isinstance(written, (str, int, float)) or isinstance(written, bool):
            return None
        written = str(written)
        if written in self._cache:
            return self._cache[written]
        result = self._resolve(written)
        if len(self._cache) < 10_000:
            self._cache[written] = result
        return result

    def _resolve(self, written: str) -> tuple[str, tuple | None] | None:
        text = unicodedata.normalize("NFKC", written).replace(" ", "").replace("\t", "")
        # a name may itself end in brackets: h1[3], the last state of a recurrent layer whose
        # states are h1 (T×H), is a quantity of its own, and h1[3][2] is its entry 2.  The
        # longest known name wins (h1[3] is never an entry of h1: h1 has two dimensions).
        for cut in _cuts(text):
            name = self._name(text[:cut])
            if name is None:
                continue
            if cut == len(text):
                return name, None
            numbers = [int(t) for t in re.findall(r"\d+", text[cut:])]
            if any(i < 1 for i in numbers):
                return None   # entries are numbered from 1, like the lecture
            return name, tuple(i - 1 for i in numbers)
        return None

    def _name(self, text: str) -> str | None:
        if text in self.shapes:
            return text
        out = re.escape(self.output)
        for pattern in (rf"^(?:d|∂){out}/(?:d|∂)(.+)$", rf"^(?:d|∂){out}_?d(.+)$",
                        r"^(?:∂|d)(.+)$", r"^grad_?(.+)$", r"^grad\((.+)\)$", r"^∇(.+)$"):
            m = re.match(pattern, text)
            if m and m.group(1) in self.shapes and "d" + m.group(1) in self.gradient_of:
                return "d" + m.group(1)
        folded = self._folded.get(text.casefold())
        if folded and len(folded) == 1:
            return folded[0]
        return None
