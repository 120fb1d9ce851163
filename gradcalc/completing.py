"""A dict filled on first need: the op registry's tables (gradcalc.ops.registry) and the CLI's
command table (gradcalc.cli) import the modules that fill them only when they are read."""
from __future__ import annotations


class CompletingDict(dict):
    """A dict that calls `complete()` (a subclass's: import what fills it; cheap once done)
    before it is walked, compared or copied, and when asked for a key it lacks.  Setting an
    item, and reading one it has, never completes it."""

    def complete(self) -> None:
        raise NotImplementedError

    def __missing__(self, key):
        self.complete()
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        raise KeyError(key)

    def __contains__(self, key):
        if not dict.__contains__(self, key):
            self.complete()
        return dict.__contains__(self, key)

    def get(self, key, default=None):
        return self[key] if key in self else default

    def _completed(method):        # the dict method, after complete()
        def call(self, *args):
            self.complete()
            return method(self, *args)
        return call

    __iter__ = _completed(dict.__iter__)
    __len__ = _completed(dict.__len__)
    __eq__ = _completed(dict.__eq__)
    keys = _completed(dict.keys)
    values = _completed(dict.values)
    items = _completed(dict.items)
    copy = _completed(dict.copy)
    del _completed
