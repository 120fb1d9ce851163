"""The computational-graph picture: model, layout, label overlap, files and the `graph` command."""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gradcalc.render import graphlayout as gl
from gradcalc.render import graphmodel as gm
from gradcalc.api import solve
from gradcalc.cli import cli

ROOT = Path(__file__).resolve().parents[2]
PROBLEMS = sorted((ROOT / "problems").glob("*.yaml"))
SVG = "{http://www.w3.org/2000/svg}"


def _is_template(path: Path) -> bool:
    """Per-student templates (a `variants:` section) hold distributions, not numbers."""
    from gradcalc.problem.yamlio import load_yaml_file
    data = load_yaml_file(path).data
    return isinstance(data, dict) and "variants" in data


SOLVABLE = [p for p in PROBLEMS if not _is_template(p)]


def _sigmoid(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


def _wire(model, src_name, dst_name):
    for e in model.edges:
        if model.node(e.src).name == src_name and model.node(e.dst).name == dst_name \
                and (model.node(e.dst).kind != "output" or dst_name == model.output):
            return e
    raise AssertionError(f"no wire {src_name} -> {dst_name}")


# ---------------------------------------------------------------- the model's numbers, by hand
def test_lecture_scalar_wires_match_the_lecture():
    # f = (x + y)·z at x = -2, y = 5, z = -4: q = 3, f = -12; df/dq = z = -4, df/dz = q = 3,
    # df/dx = df/dy = df/dq · 1 = -4 (the lecture's first example)
    m = gm.from_solution(solve(ROOT / "problems/lecture_scalar.yaml"))
    expect = {("x", "q"): (-2, -4), ("y", "q"): (5, -4), ("z", "f"): (-4, 3), ("q", "f"): (3, -4)}
    for (a, b), (value, grad) in expect.items():
        e = _wire(m, a, b)
        assert float(e.value) == value and float(e.grad) == pytest.approx(grad)
    out = [e for e in m.edges if m.node(e.dst).kind == "output"]
    assert len(out) == 1 and float(out[0].value) == -12 and float(out[0].grad) == 1


def test_lecture_sigmoid_gates_and_gradients():
    # 1/(1+exp(-(w0 x0 + w1 x1 + w2))) with w0=2, x0=-1, w1=-3, x1=-2, w2=-3: the sum is 1,
    # f = σ(1), and d f/d sum = σ(1)(1 − σ(1)); each weight's gradient is its partner × that.
    m = gm.from_solution(solve(ROOT / "problems/lecture_sigmoid.yaml"))
    labels = sorted(n.label for n in m.nodes if n.kind == "op")
    assert labels == sorted(["×", "×", "+", "+", "×(−1)", "exp", "+1", "1 / •"])
    ds = _sigmoid(1.0) * (1 - _sigmoid(1.0))
    hand = {"w0": -1 * ds, "x0": 2 * ds, "w1": -2 * ds, "x1": -3 * ds, "w2": ds}
    for name, g in hand.items():
        [e] = [e for e in m.edges if e.name == name]
        assert float(e.grad) == pytest.approx(g, rel=1e-12)
    out = [e for e in m.edges if m.node(e.dst).kind == "output"][0]
    assert float(out.value) == pytest.approx(_sigmoid(1.0))


def test_fan_out_wires_carry_their_own_shares(tmp_path):
    # f = x·y + x at x = 3, y = 2: the wire x -> (×) carries y = 2, the wire x -> (+) carries 1,
    # and the two shares add up to df/dx = y + 1 = 3
    p = tmp_path / "fan.yaml"
    p.write_text("title: fan-out\nexpression: 'x*y + x'\nvalues: {x: 3, y: 2}\n")
    m = gm.from_solution(solve(p))
    xs = [e for e in m.edges if e.name == "x"]
    shares = sorted(float(e.grad) for e in xs)
    assert shares == [1.0, 2.0]
    assert sum(shares) == float(m.node([n.id for n in m.nodes if n.name == "x"][0]).grad) == 3.0


def test_a_value_used_twice_by_one_gate_is_one_wire(tmp_path):
    # f = x·x at x = 3: one wire, gradient 2x = 6
    p = tmp_path / "sq.yaml"
    p.write_text("title: square\nexpression: 'x*x'\nvalues: {x: 3}\n")
    m = gm.from_solution(solve(p))
    [e] = [e for e in m.edges if e.name == "x"]
    assert e.count == 2 and float(e.grad) == 6.0


def test_hw1_network_nodes_are_the_named_quantities():
    m = gm.from_solution(solve(ROOT / "problems/hw1.yaml"))
    names = [n.name for n in m.nodes if n.kind in ("input", "op")]
    assert names == ["x", "W1", "b1", "z1", "h1", "W2", "b2", "z2", "y", "L"]
    # z1 = W1 x + b1 = [0.4·0.5 + 0.2·1.5 + 0.1, −0.1·0.5 − 0.3·1.5 − 0.3] = [0.6, −0.8]
    assert np.allclose(_wire(m, "z1", "h1").value, [0.6, -0.8])


# ---------------------------------------------------------------- value text
def test_small_values_in_full_large_by_shape():
    assert _numbers(gm.value_lines(np.array(2.5))[0]) == [2.5]
    lines = gm.value_lines(np.array([[0.4, -0.2], [-0.1, 0.3]]))     # one row per line
    assert [_numbers(t) for t in lines] == [[0.4, -0.2], [-0.1, 0.3]]
    assert lines[0].startswith("[[") and lines[1].endswith("]]")
    # ‖ones(3, 4)‖ = √12 = 3.464…
    assert gm.value_lines(np.ones((3, 4))) == ["3×4, ‖·‖ = 3.46"]
    assert gm.value_lines(np.ones((3, 4)), lang="zh") == ["3×4，‖·‖ = 3.46"]


# ---------------------------------------------------------------- layout pieces
def test_place_keeps_order_and_separation_least_squares():
    # three nodes all wanting 0 with gaps of 10: the least-squares answer is −10, 0, 10
    assert gl._place([0.0, 0.0, 0.0], [10.0, 10.0]) == pytest.approx([-10.0, 0.0, 10.0])
    # already far enough apart: unchanged
    assert gl._place([0.0, 100.0], [10.0]) == pytest.approx([0.0, 100.0])
    # a violating pair is pushed apart symmetrically around its mean (5): 0 and 10 -> 0, 10
    assert gl._place([4.0, 6.0], [10.0]) == pytest.approx([0.0, 10.0])


def test_layers_left_to_right_and_inputs_next_to_their_gate():
    m = gl.build(solve(ROOT / "problems/lecture_scalar.yaml"))
    layer = {n.name if n.kind != "output" else "OUT": n.layer for n in m.nodes}
    assert layer == {"x": 0, "y": 0, "q": 1, "z": 1, "f": 2, "OUT": 3}
    for e in m.edges:      # every wire goes left to right
        assert m.node(e.src).x < m.node(e.dst).x


def test_long_wires_get_one_dummy_per_layer_crossed(tmp_path):
    # x feeds the first gate and the last one: its second wire crosses the layers in between
    p = tmp_path / "long.yaml"
    p.write_text("title: long\nexpression: 'exp(exp(exp(x))) + x'\nvalues: {x: 0.1}\n")
    m = gl.build(solve(p))
    [long] = [e for e in m.edges if e.name == "x" and m.node(e.dst).label == "+"]
    assert len(long.chain) == m.node(long.dst).layer - m.node(long.src).layer - 1 == 3
    assert not gl.overlaps(m.labels())


def test_crossings_are_minimised_on_a_crossed_input_order(tmp_path):
    # written so that the creation order crosses the wires: (a+d)·(b+c) with a,b,c,d in order
    p = tmp_path / "cross.yaml"
    p.write_text("title: cross\nexpression: '(a + d) * (b + c)'\nvalues: {a: 1, b: 2, c: 3, d: 4}\n")
    m = gl.build(solve(p))
    by_layer: dict[int, list] = {}
    for n in m.nodes:
        by_layer.setdefault(n.layer, []).append(n)
    ordered = [sorted(v, key=lambda n: n.order) for _, v in sorted(by_layer.items())]
    assert gl._crossings(ordered, gl._segments(m)) == 0


# ---------------------------------------------------------------- no overlapping labels
@pytest.mark.parametrize("path", SOLVABLE, ids=lambda p: p.stem)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_label_overlaps_in_the_drawn_picture(path, lang):
    """Rendered text extents (matplotlib's own metrics) never intersect, nor enter a node box
    other than their own, and all of them lie inside the figure."""
    import matplotlib
    from gradcalc.render import graph as rg
    model = gm.from_solution(solve(path), lang)
    with matplotlib.rc_context(rg._rc()):
        fig, texts = rg.figure(model)
        renderer = fig.canvas.get_renderer()
        boxes = [(t.get_window_extent(renderer), lab) for t, lab in texts.items()]
    W, H = fig.bbox.width, fig.bbox.height
    for bb, lab in boxes:
        assert bb.x0 >= 0 and bb.y0 >= 0 and bb.x1 <= W + 0.5 and bb.y1 <= H + 0.5, lab.text
    for i in range(len(boxes)):
        a, la = boxes[i]
        for b, lb in boxes[i + 1:]:
            if la is lb:     # lines of one multi-line label are stacked by construction
                continue
            assert not a.overlaps(b), f"{la.text!r} overlaps {lb.text!r} in {path.name}"
    # wire labels stay out of every node box (in layout coordinates, y down)
    for lab in [lab for lab in model.labels() if lab.role in ("value", "grad")]:
        x0, y0, x1, y1 = lab.box()
        for n in model.nodes:
            if n.kind in ("op", "input"):
                assert (x1 <= n.x - n.w / 2 or x0 >= n.x + n.w / 2 or y1 <= n.y - n.h / 2
                        or y0 >= n.y + n.h / 2), f"{lab.text!r} inside box {n.name}"


# ---------------------------------------------------------------- files and their labels
def _json(problem: Path) -> dict:
    r = CliRunner().invoke(cli, ["solve", str(problem), "--format", "json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def _numbers(text: str) -> list[float]:
    return [float(t) for t in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)]


@pytest.mark.parametrize("name", ["hw1", "lecture_sigmoid", "lecture_scalar"])
def test_svg_is_xml_with_text_labels_matching_json(tmp_path, name):
    problem = ROOT / "problems" / f"{name}.yaml"
    out = tmp_path / "g.svg"
    r = CliRunner().invoke(cli, ["graph", str(problem), "-o", str(out)])
    assert r.exit_code == 0, r.output
    root = ET.parse(out).getroot()
    assert root.tag == f"{SVG}svg"
    texts = [t for t in root.iter(f"{SVG}text")]
    assert texts, "labels must be <text> elements"
    assert not list(root.iter(f"{SVG}use")), "glyph outlines instead of text"
    data = _json(problem)
    steps = {s["node"]: s for s in data["steps"]}
    wires: dict[tuple, dict[int, str]] = {}
    for g in root.iter(f"{SVG}g"):
        m = re.fullmatch(r"(value|grad)--(\d+)--(\w+)--(\w+)--(\d+)", g.get("id", ""))
        if m:
            text = "".join(g.find(f"{SVG}text").itertext())
            wires.setdefault(m.groups()[:4], {})[int(m.group(5))] = text
    assert wires
    total: dict[str, float] = {}
    for (role, _, quantity, consumer), lines in wires.items():
        shown = np.array(_numbers(" ".join(lines[i] for i in sorted(lines))))
        if role == "value":
            expected = np.ravel(data["forward"][quantity])
        elif consumer == "OUTPUT":
            expected = np.array([1.0])                       # the seed dL/dL
        else:
            expected = np.ravel(steps[consumer]["downstream"][quantity])
            total[quantity] = total.get(quantity, 0) + np.asarray(expected)
        assert np.allclose(shown, expected, rtol=1e-3, atol=1e-12), (role, quantity, shown)
    # the wires' shares add up to the total gradient of every value
    for quantity, g in total.items():
        assert np.allclose(g, np.ravel(data["gradients"][quantity]), rtol=1e-9, atol=1e-15)


def test_png_pdf_dot_are_valid(tmp_path):
    problem = str(ROOT / "problems/hw1.yaml")
    runner = CliRunner()
    for ext in ("png", "pdf", "dot", "svg"):
        r = runner.invoke(cli, ["graph", problem, "-o", str(tmp_path / f"g.{ext}")])
        assert r.exit_code == 0, r.output
    png = (tmp_path / "g.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    vb = [float(v) for v in ET.parse(tmp_path / "g.svg").getroot().get("viewBox").split()]
    assert w / h == pytest.approx(vb[2] / vb[3], rel=0.01)      # the same picture
    pdf = (tmp_path / "g.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    dot = (tmp_path / "g.dot").read_text(encoding="utf-8")
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    names = dict(re.findall(r"^  (\w+) \[.*?<b>([^<]+)</b>", dot, flags=re.M))
    data = _json(Path(problem))
    edges = re.findall(r'^  (\w+) -> (\w+) \[label=<<font color="[^"]+">(.*?)</font>', dot,
                       flags=re.M)
    assert len(edges) == 10
    for src, _, value in edges:
        quantity = names[src] if names[src] in data["forward"] else None
        if quantity:
            assert np.allclose(_numbers(value.replace("<br/>", " ")),
                               np.ravel(data["forward"][quantity]), rtol=1e-3)


def test_svg_is_deterministic():
    from gradcalc.render.graph import render_bytes
    sol = solve(ROOT / "problems/lecture_scalar.yaml")
    assert render_bytes(sol, "svg")[0] == render_bytes(sol, "svg")[0]


def test_zh_legend_and_font_notice(tmp_path):
    from gradcalc.render.graph import CJK_PACKAGE, cjk_font, render_bytes
    sol = solve(ROOT / "problems/lecture_scalar.yaml")
    svg, _ = render_bytes(sol, "svg", "zh")
    assert "前向计算值" in svg.decode("utf-8")
    _, notices = render_bytes(sol, "png", "zh")
    if cjk_font():
        assert notices == []
    else:
        assert len(notices) == 1 and CJK_PACKAGE in notices[0]


# ---------------------------------------------------------------- the command
def test_graph_rejects_an_unknown_extension_before_working(tmp_path):
    out = tmp_path / "g.jpg"
    r = CliRunner().invoke(cli, ["graph", str(ROOT / "problems/hw1.yaml"), "-o", str(out)])
    assert r.exit_code == 2
    assert r.output.strip() == (f"gradcalc: error: {out}: the file name must end in "
                                ".svg, .png, .pdf, .dot (got '.jpg')")
    assert not out.exists()


def test_graph_missing_folder_and_bad_problem(tmp_path):
    r = CliRunner().invoke(cli, ["graph", str(ROOT / "problems/hw1.yaml"),
                                 "-o", str(tmp_path / "nope" / "g.svg")])
    assert r.exit_code == 2 and "does not exist" in r.output and len(r.output.splitlines()) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: bad\nexpression: 'log(x)'\nvalues: {x: -1}\n")
    out = tmp_path / "g.svg"
    r = CliRunner().invoke(cli, ["graph", str(bad), "-o", str(out)])
    assert r.exit_code == 2 and r.output.startswith("gradcalc: error: ")
    assert "Traceback" not in r.output and not out.exists()


def test_failed_drawing_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    from gradcalc.render import graph as rg
    out = tmp_path / "g.svg"
    out.write_text("old")

    def boom(*a, **k):
        raise RuntimeError("drawing failed")
    monkeypatch.setattr(rg, "render_bytes", boom)
    with pytest.raises(RuntimeError):
        rg.write_graph(solve(ROOT / "problems/lecture_scalar.yaml"), out)
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["g.svg"]


def test_matplotlib_is_imported_only_when_drawing():
    code = ("import sys; from click.testing import CliRunner; from gradcalc.cli import cli; "
            "r = CliRunner().invoke(cli, ['solve', 'problems/hw1.yaml']); assert r.exit_code == 0; "
            "import gradcalc.render.graphlayout, gradcalc.render.graph, gradcalc.render.html; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_graph_help_has_an_example():
    r = CliRunner().invoke(cli, ["graph", "--help"])
    assert r.exit_code == 0 and "gradcalc graph problems/" in r.output
