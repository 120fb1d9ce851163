"""Tests of gradcalc.yamlio: safe YAML loading with line numbers."""
import math
import time

import pytest

from gradcalc.errors import ProblemError
from gradcalc.problem.yamlio import field_name, load_yaml_file, load_yaml_text

DOC = """\
# a network
layers:
  - name: hidden
    W: [[1, 2],
        [3, 4]]
  - name: out
    W:
      - [5, 6]
data:
  X: [[1, 2, 3]]
"""


def error(text, **kw):
    with pytest.raises(ProblemError) as info:
        load_yaml_text(text, **kw)
    return info.value


def test_data_is_plain_and_ordered():
    loc = load_yaml_text(DOC, file="net.yaml")
    assert loc.file == "net.yaml"
    assert type(loc.data) is dict
    assert list(loc.data) == ["layers", "data"]
    assert loc.data["layers"][1]["W"] == [[5, 6]]


def test_line_numbers_of_nested_fields():
    loc = load_yaml_text(DOC)
    assert loc.line(("layers",)) == 2
    assert loc.line(("layers", 0)) == 3
    assert loc.line(("layers", 0, "W")) == 4
    assert loc.line(("layers", 0, "W", 1, 0)) == 5
    assert loc.line(("layers", 1, "W")) == 7
    assert loc.line(("layers", 1, "W", 0, 1)) == 8
    assert loc.line(("data", "X", 0, 2)) == 10


def test_line_of_missing_key_is_nearest_ancestor():
    loc = load_yaml_text(DOC)
    assert loc.line(("layers", 1, "b")) == 6
    assert loc.line(("layers", 7, "W")) == 2
    assert loc.line(("nothing",)) == 2   # the root mapping starts after the comment


def test_alias_values_point_at_the_alias():
    loc = load_yaml_text("base: &b {u: 1, v: [1, 2]}\nother:\n  s: *b\n")
    assert loc.data["other"]["s"] == {"u": 1, "v": [1, 2]}
    assert loc.line(("other", "s", "v", 1)) == 3
    assert loc.line(("base", "v", 1)) == 1


def test_field_name():
    assert field_name(("layers", 1, "W")) == "layers[1].W"
    assert field_name(("data", "X", 0, 2)) == "data.X[0][2]"
    assert field_name(("lr",)) == "lr"
    assert field_name(()) == ""


def test_scalars():
    loc = load_yaml_text(
        "a: 1e-3\nb: '1e-3'\nc: \"2E5\"\nd: -1.5e+2\ne: 2E5\nf: .inf\ng: .nan\n"
        "h: 2001-12-14\ni: 0x1F\nj: true\nk: ~\nl: 1.5\nm: !!float 1e-3\nn: !!str 1e-3\n")
    d = loc.data
    assert d["a"] == 0.001 and isinstance(d["a"], float)
    assert d["b"] == "1e-3" and d["c"] == "2E5"      # quoted stays a string
    assert d["d"] == -150.0 and d["e"] == 200000.0
    assert d["f"] == math.inf and math.isnan(d["g"])
    assert d["h"] == "2001-12-14"                     # timestamps stay text
    assert d["i"] == 31 and d["j"] is True and d["k"] is None and d["l"] == 1.5
    assert d["m"] == 0.001 and d["n"] == "1e-3"


def test_duplicate_key():
    e = error("layers:\n  - W: 1\n    b: 2\n    W: 3\n", file="p.yaml")
    assert e.message == "duplicate key 'W'"
    assert e.line == 4 and e.file == "p.yaml"
    assert str(e) == "p.yaml:4: layers[0]: duplicate key 'W'"


@pytest.mark.parametrize("text, tag", [
    ("x: !!python/object/apply:os.system [ls]\n", "!!python/object/apply:os.system"),
    ("x: !!python/object/new:os.system [ls]\n", "!!python/object/new:os.system"),
    ("x: !!python/name:os.system ''\n", "!!python/name:os.system"),
    ("x: !!python/tuple [1, 2]\n", "!!python/tuple"),
    ("x: !custom 1\n", "!custom"),
    ("x: !<tag:yaml.org,2002:python/none> ''\n", "!!python/none"),
])
def test_python_and_custom_tags_rejected(text, tag):
    e = error("ok: 1\n" + text, file="p.yaml")
    assert e.message == f"YAML tags that build Python objects are not allowed ({tag})"
    assert e.line == 2 and e.file == "p.yaml"


def test_standard_tags_allowed():
    loc = load_yaml_text("a: !!int '3'\nb: !!map {c: !!seq [!!null '', !!bool 'yes']}\n")
    assert loc.data == {"a": 3, "b": {"c": [None, True]}}


def test_billion_laughs_rejected_fast():
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    start = time.perf_counter()
    e = error("\n".join(lines) + "\n")
    assert time.perf_counter() - start < 1.0
    assert e.message == "document too large or too many aliases (limit 200000 values)"


def test_recursive_alias_rejected():
    assert "recursive alias" in error("a: &a [*a]\n").message


def test_nested_too_deeply():
    assert error("[" * 10000).message == "document nested too deeply"
    assert error("x: " + "[" * 150 + "]" * 150).message == "document nested too deeply"


@pytest.mark.parametrize("raw", [b"\x89PNG\r\n\x1a\n\x00\x00", b"a: \xff\xfe\n", b"a: 1\x00"])
def test_binary_rejected(raw):
    e = error(raw, file="x.bin")
    assert e.message == "not a text file (binary or not UTF-8)" and e.file == "x.bin"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", b""])
def test_empty(text):
    assert error(text).message == "file is empty"


def test_syntax_error_with_line():
    e = error("a: 1\nb: 2\nc: d: e\n", file="p.yaml")
    assert e.message == "YAML syntax error: mapping values are not allowed here"
    assert e.line == 3 and str(e).startswith("p.yaml:3: ")


def test_multiple_documents():
    assert error("a: 1\n---\nb: 2\n").message == "expected one YAML document"


def test_bom_is_fine():
    assert load_yaml_text(b"\xef\xbb\xbfa: 1\n").data == {"a": 1}
    assert load_yaml_text("\ufeffa: 1\n").data == {"a": 1}


def test_too_large():
    assert "too large" in error(b"#" * (6 * 1024 * 1024)).message


def test_load_file(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("lr: 0.1\n")
    loc = load_yaml_file(p)
    assert loc.data == {"lr": 0.1} and loc.file == str(p)
    with pytest.raises(ProblemError) as info:
        load_yaml_file(tmp_path / "missing.yaml")
    assert info.value.message == "cannot read file: No such file or directory"
    assert info.value.file == str(tmp_path / "missing.yaml")
    with pytest.raises(ProblemError) as info:
        load_yaml_file(tmp_path)
    assert info.value.message.startswith("cannot read file: ")


def _python_loader_only(monkeypatch):
    from gradcalc.problem import yamlio
    monkeypatch.setattr(yamlio, "_FastLoader", None)


def test_files_composed_by_libyaml_load_as_the_python_loader_loads_them(monkeypatch):
    from pathlib import Path
    from gradcalc.problem import yamlio
    if yamlio._FastLoader is None:
        pytest.skip("PyYAML without libyaml")
    files = sorted(Path(__file__).resolve().parents[2].glob("problems/*.yaml"))
    assert files
    fast = [load_yaml_file(f) for f in files]
    _python_loader_only(monkeypatch)
    for f, got in zip(files, fast):
        want = load_yaml_file(f)
        assert (got.data, got.lines, got.texts) == (want.data, want.lines, want.texts), f.name


@pytest.mark.parametrize("text", ["a: [1, 2\nb: 3\n", "a: 1\n  b: 2\n", "a: !!float x\n",
                                  "- 1\n---\n- 2\n", "a: *nope\n", "a: 1\na: 2\n"])
def test_refused_texts_keep_the_python_loaders_message(text, monkeypatch):
    def message():
        try:
            load_yaml_text(text, file="p.yaml")
        except ProblemError as e:
            return str(e)
        return None
    got = message()
    _python_loader_only(monkeypatch)
    assert got == message()
