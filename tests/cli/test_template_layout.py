"""The answer template states the shape rule that holds for the problem: W out × in (the
lecture), in × out under `layout: in_out`, and no W at all for an expression problem."""
from pathlib import Path

from click.testing import CliRunner

from gradcalc.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def _rule(path) -> str:
    r = CliRunner().invoke(cli, ["template", str(path)])
    assert r.exit_code == 0, r.output
    return next(line for line in r.stdout.splitlines() if line.startswith("# Vectors as"))


def test_the_template_states_the_problems_own_shape_rule(tmp_path):
    assert _rule(ROOT / "problems" / "hw1.yaml").endswith("(W is out × in).")
    text = (ROOT / "problems" / "hw1.yaml").read_text(encoding="utf-8")
    # the same network written in the CS231n layout: W is in × out (hw1's W transposed)
    flipped = text.replace("W: [[0.4, -0.2],\n        [-0.1, 0.3]]", "W: [[0.4, -0.1],\n        [-0.2, 0.3]]")
    flipped = flipped.replace("W: [[0.2, -0.5]]", "W: [[0.2], [-0.5]]")
    assert flipped != text
    f = tmp_path / "hw1_in_out.yaml"
    f.write_text("layout: in_out\n" + flipped, encoding="utf-8")
    assert _rule(f).endswith("(W is in × out).")
    rule = _rule(ROOT / "problems" / "mc_trace.yaml")
    assert rule.endswith("in the shape of the quantity.") and "W is" not in rule
