"""Safe YAML loading into plain Python data that remembers the line of every value."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from gradcalc.errors import ProblemError
from gradcalc.records import init

MAX_BYTES = 5 * 1024 * 1024
MAX_VALUES = 200_000
MAX_DEPTH = 100

_STD = "tag:yaml.org,2002:"
# Standard YAML tags we accept, per node kind; every value is built by its node kind.
_SCALAR_TAGS = {"str", "int", "float", "bool", "null", "timestamp", "binary", "merge", "value"}
_MAPPING_TAGS = {"map", "set"}
_SEQUENCE_TAGS = {"seq", "omap", "pairs"}
_ALL_TAGS = _SCALAR_TAGS | _MAPPING_TAGS | _SEQUENCE_TAGS
_TAGS_OF = {ScalarNode: _SCALAR_TAGS, MappingNode: _MAPPING_TAGS, SequenceNode: _SEQUENCE_TAGS}
# Exponent floats without a dot, which YAML 1.1 reads as strings: 1e-3, 2E5, -1.5e+2.
_EXP_FLOAT = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)[eE][-+]?\d+")

_FLOAT_TAG, _INT_TAG, _STR_TAG = _STD + "float", _STD + "int", _STD + "str"
_TOO_LARGE = f"document too large or too many aliases (limit {MAX_VALUES} values)"


@dataclass(eq=False, init=False)  # compared by identity; records.init (start-up time)
class Located:
    """Loaded data plus the 1-based line of each value, keyed by its path."""

    __init__ = init

    data: Any
    file: str = "<string>"
    lines: dict = field(default_factory=dict, repr=False)
    texts: dict = field(default_factory=dict, repr=False)   # path -> source text of each number

    def line(self, path: tuple) -> int | None:
        """Line of the value at path, else of its nearest recorded ancestor."""
        path = tuple(path)
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


def field_name(path: tuple) -> str:
    """("layers", 1, "W") -> "layers[1].W"; () -> ""."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_STD):] if tag.startswith(_STD) else tag


class _Implicit(str):
    """A tag libyaml's composer had resolved (the text gave none, or only `!`): how the
    builder tells `1e-3` (read as a float) from `!!str 1e-3` (kept as text)."""

    __slots__ = ()


class _Loader(yaml.SafeLoader):
    """SafeLoader that marks explicitly tagged scalars and caps the node count while composing."""

    def __init__(self, stream):
        super().__init__(stream)
        self.node_count = 0

    def compose_node(self, parent, index):
        self.node_count += 1
        if self.node_count > MAX_VALUES:
            raise ProblemError(_TOO_LARGE, line=self.peek_event().start_mark.line + 1)
        return super().compose_node(parent, index)

    def compose_scalar_node(self, anchor):
        explicit = self.peek_event().tag is not None
        node = super().compose_scalar_node(anchor)
        node.explicit_tag = explicit
        return node

try:   # libyaml composes (C): the same nodes and marks as _Loader, ~15× faster than it
    from yaml.cyaml import CParser as _CParser

    class _FastLoader(_CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """libyaml composes the nodes (it caps nesting at 1000 levels); used only for texts
        of at most MAX_VALUES characters, which cannot hold more than about MAX_VALUES
        nodes (the builder then counts values exactly). Plain scalars have style ''."""

        def __init__(self, stream):
            _CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

        def resolve(self, kind, value, implicit):
            # the same text resolves to the same tag: keys, ids and collections repeat from
            # one answer file to the next (a bounded memo; only while no path resolver is set)
            if self.yaml_path_resolvers:
                return _Implicit(yaml.resolver.Resolver.resolve(self, kind, value, implicit))
            if kind is ScalarNode and implicit[0] and _PLAIN_DECIMAL.fullmatch(value):
                # 0.126, -1.5: the float resolver comes first for a digit or '-' and takes
                # such text (the memo below would miss on thousands of distinct numbers)
                return _FLOAT_IMPLICIT
            key = (kind, value, implicit)
            tag = _RESOLVED.get(key)
            if tag is None:
                tag = _Implicit(yaml.resolver.Resolver.resolve(self, kind, value, implicit))
                if len(_RESOLVED) < 4096:
                    _RESOLVED[key] = tag
            return tag

    _RESOLVED: dict = {}
    _PLAIN_DECIMAL = re.compile(r"-?[0-9]+\.[0-9]*")
    _FLOAT_IMPLICIT = _Implicit(_FLOAT_TAG)
except (ImportError, AttributeError):
    _FastLoader = None


def _decode(text: str | bytes) -> str:
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise ProblemError("file too large (over 5 MB)")
        if b"\x00" in text:
            raise ProblemError("not a text file (binary or not UTF-8)")
        try:
            # utf-8-sig, written out (its codec module is start-up time): a leading BOM dropped
            text = text.decode("utf-8")
            if text.startswith("\ufeff"):
                text = text[1:]
        except UnicodeDecodeError:
            raise ProblemError("not a text file (binary or not UTF-8)") from None
    elif len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ProblemError("file too large (over 5 MB)")
    if "\x00" in text:
        raise ProblemError("not a text file (binary or not UTF-8)")
    return text[1:] if text.startswith("\ufeff") else text


def _compose(text: str, fast: bool = False):
    if not fast and _FastLoader is not None and len(text) <= MAX_VALUES:
        # libyaml first (the same nodes and marks; a problem file loads in 0.1 ms instead of
        # 2 ms, a share of a solve's start-up); a text it refuses is composed again below, so
        # that the error and its wording are the Python loader's
        try:
            return _FastLoader(text).get_single_node()
        except (yaml.YAMLError, RecursionError, ValueError):
            pass
    loader = None
    try:
        # the reader already rejects control characters here
        native = fast and _FastLoader is not None and len(text) <= MAX_VALUES
        loader = (_FastLoader if native else _Loader)(text)
        return loader.get_single_node()
    except ProblemError:
        raise
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        raise ProblemError(f"character #x{e.character:04x} is not allowed in YAML", line=line) from None
    except yaml.composer.ComposerError as e:
        if "single document" in (e.context or ""):
            raise ProblemError("expected one YAML document", line=e.problem_mark.line + 1) from None
        what = e.problem if e.context is None else e.context.split(";")[0]
        raise ProblemError(f"YAML error: {what}", line=_mark_line(e)) from None
    except yaml.MarkedYAMLError as e:
        raise ProblemError(f"YAML syntax error: {e.problem or e.context}", line=_mark_line(e)) from None
    except RecursionError:
        raise ProblemError("document nested too deeply") from None
    except Exception as e:  # anything else PyYAML may throw must not become a traceback
        raise ProblemError(f"YAML error: {e}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _mark_line(e: yaml.MarkedYAMLError) -> int | None:
    mark = e.problem_mark or e.context_mark
    return mark.line + 1 if mark else None


class _Builder:
    """Turns a node tree into plain Python data, recording path -> line."""

    def __init__(self, loader: _Loader):
        self.loader = loader
        self.lines: dict = {}
        self.texts: dict = {}    # path -> a number's text as written (feedback quotes it)
        self.count = 0
        self.seen: set = set()     # nodes already built once: meeting one again means an alias
        self.active: set = set()   # nodes on the current build stack: meeting one means a cycle

    def build(self, node, path: tuple, line: int, in_alias: bool = False) -> Any:
        here = node.start_mark.line + 1
        self.count += 1
        if self.count > MAX_VALUES:
            raise ProblemError(_TOO_LARGE, line=here)
        if len(path) > MAX_DEPTH:
            raise ProblemError("document nested too deeply", line=here)
        if id(node) in self.active:
            raise ProblemError("recursive alias (a value contains itself)", line=line)
        if not in_alias:   # inside an alias, line() falls back to where the alias is used
            self.lines[path] = line
        in_alias = in_alias or id(node) in self.seen
        self.seen.add(id(node))
        self._check_tag(node, here)
        if isinstance(node, ScalarNode):
            return self._scalar(node, here)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if (self.count + len(node.value) <= MAX_VALUES and len(path) < MAX_DEPTH
                        and _FastLoader is not None):
                    return self._items(node.value, path, in_alias)
                return [self._leaf(item, path + (i,), item.start_mark.line + 1, in_alias)
                        if type(item) is ScalarNode else
                        self.build(item, path + (i,), item.start_mark.line + 1, in_alias)
                        for i, item in enumerate(node.value)]
            result: dict = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, ScalarNode):
                    raise ProblemError("mapping keys must be plain scalars",
                                       field=field_name(path) or None, line=key_line)
                self._check_tag(key_node, key_line)
                key = self._scalar(key_node, key_line)
                if key in result:
                    raise ProblemError(f"duplicate key {key!r}",
                                       field=field_name(path) or None, line=key_line)
                result[key] = (self._leaf if type(value_node) is ScalarNode else self.build)(
                    value_node, path + (key,), key_line, in_alias)
            return result
        finally:
            self.active.discard(id(node))

    def _items(self, items: list, path: tuple, in_alias: bool) -> list:
        """The items of a sequence that cannot reach MAX_VALUES or MAX_DEPTH: as build() and
        _leaf() make them, with a plain decimal that libyaml composed (its tag the
        _FLOAT_IMPLICIT that _FastLoader.resolve gives 0.126, -1.5) read here: its line,
        its text and its float, as _leaf() records and _scalar() reads them."""
        out = []
        lines, texts = self.lines, self.texts
        for i, item in enumerate(items):
            if item.tag is _FLOAT_IMPLICIT and item.value[-1:].isdigit():
                self.count += 1
                if self.count > MAX_VALUES:     # (after collections of earlier items)
                    raise ProblemError(_TOO_LARGE, line=item.start_mark.line + 1)
                where = path + (i,)
                if not in_alias:
                    lines[where] = item.start_mark.line + 1
                texts[where] = item.value
                out.append(float(item.value))
            elif type(item) is ScalarNode:
                out.append(self._leaf(item, path + (i,), item.start_mark.line + 1, in_alias))
            else:
                out.append(self.build(item, path + (i,), item.start_mark.line + 1, in_alias))
        return out

    def _leaf(self, node: ScalarNode, path: tuple, line: int, in_alias: bool) -> Any:
        """build() of a scalar: the same checks in the same order, without the alias and
        cycle bookkeeping that only a collection needs (a scalar has nothing inside)."""
        here = node.start_mark.line + 1
        self.count += 1
        if self.count > MAX_VALUES:
            raise ProblemError(_TOO_LARGE, line=here)
        if len(path) > MAX_DEPTH:
            raise ProblemError("document nested too deeply", line=here)
        if not in_alias:
            self.lines[path] = line
        tag = node.tag
        if tag == _FLOAT_TAG or tag == _INT_TAG or (
                not node.style and tag == _STR_TAG and _EXP_FLOAT.fullmatch(node.value)):
            self.texts[path] = node.value
        if not (tag.startswith(_STD) and tag[len(_STD):] in _SCALAR_TAGS):
            self._check_tag(node, here)     # raises its message
        return self._scalar(node, here)

    @staticmethod
    def _check_tag(node, line: int) -> None:
        tag = node.tag
        name = tag[len(_STD):] if tag.startswith(_STD) else None
        if name not in _ALL_TAGS:
            raise ProblemError("YAML tags that build Python objects are not allowed "
                               f"({_show_tag(tag)})", line=line)
        if name not in _TAGS_OF[type(node)]:
            raise ProblemError(f"tag {_show_tag(tag)} cannot be used on this value", line=line)

    def _scalar(self, node: ScalarNode, line: int) -> Any:
        kind = node.tag[len(_STD):]
        try:
            if kind == "null":
                return None
            if kind == "bool":
                return self.loader.bool_values[node.value.lower()]
            if kind == "int":
                return self.loader.construct_yaml_int(node)
            if kind == "float":
                v = node.value
                if "_" not in v and ":" not in v and v[-1:].isdigit():
                    # what construct_yaml_float returns for such text (no 1_000, 1:30,
                    # .inf, .nan), without its string handling; e.g. 0.25, -1.5e-3
                    try:
                        return float(v)
                    except ValueError:
                        pass
                return self.loader.construct_yaml_float(node)
        except (ValueError, KeyError, IndexError):
            raise ProblemError(f"invalid !!{kind} value {node.value!r}", line=line) from None
        if (kind == "str" and not node.style and _EXP_FLOAT.fullmatch(node.value)
                and not getattr(node, "explicit_tag", type(node.tag) is not _Implicit)):
            return float(node.value)
        return node.value   # str, and timestamps/binary etc. kept as their text


def load_yaml_text(text: str | bytes, file: str = "<string>", fast: bool = False) -> Located:
    """Parse one YAML document safely; every error is a ProblemError carrying file=.

    fast=True composes with libyaml when installed (same data and lines; error wording differs)."""
    try:
        text = _decode(text)
        node = _compose(text, fast)
        if node is None or (isinstance(node, ScalarNode) and node.value == ""
                            and not node.style and node.tag == _STD + "null"):
            raise ProblemError("file is empty")
        builder = _Builder(_Loader(""))
        data = builder.build(node, (), node.start_mark.line + 1)
        return Located(data=data, file=file, lines=builder.lines, texts=builder.texts)
    except ProblemError as e:
        raise e.located(file=file)
    except RecursionError:
        raise ProblemError("document nested too deeply", file=file) from None


def load_yaml_file(path) -> Located:
    """Read and parse a YAML file (at most 5 MB)."""
    name = str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise ProblemError(f"cannot read file: {e.strerror or e}", file=name) from None
    return load_yaml_text(raw, file=name)
