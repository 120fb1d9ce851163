"""One __init__ for dataclasses declared with init=False: a generated one is compiled at import.

`@dataclass(init=False)` with `__init__ = records.init` in the class body: the fields by
position or by name, else their declared default or default factory; a missing, unknown or
repeated argument is a TypeError, as with a generated __init__.  Frozen classes are filled
with object.__setattr__.  For classes made a few times per run (a problem, its layers, a
solution, a report): each generated method costs ≈ 0.1 ms of start-up, a call of this one a few
microseconds more than a generated __init__ (so not for records made per entry or per node).
__post_init__ and InitVar fields are not supported (no class here has them).
"""
from __future__ import annotations

from dataclasses import MISSING, fields


def init(self, *args, **kwargs) -> None:
    cls = type(self).__name__
    declared = fields(self)
    if len(args) > len(declared):
        raise TypeError(f"{cls}() takes at most {len(declared)} arguments ({len(args)} given)")
    for i, f in enumerate(declared):
        if i < len(args):
            if f.name in kwargs:
                raise TypeError(f"{cls}() got multiple values for argument {f.name!r}")
            value = args[i]
        elif f.name in kwargs:
            value = kwargs.pop(f.name)
        elif f.default is not MISSING:
            value = f.default
        elif f.default_factory is not MISSING:
            value = f.default_factory()
        else:
            raise TypeError(f"{cls}() missing required argument {f.name!r}")
        object.__setattr__(self, f.name, value)       # frozen classes too
    if kwargs:
        raise TypeError(f"{cls}() got an unexpected keyword argument {next(iter(kwargs))!r}")
