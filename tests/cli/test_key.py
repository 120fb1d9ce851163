"""`gradcalc key`: one class-wide answer key; values checked against a NumPy pass written here."""
import html.parser
import re
from pathlib import Path

import numpy as np
import yaml
from click.testing import CliRunner

from gradcalc.cli import cli
from twolayer import two_layer   # tests/cli/twolayer.py: the NumPy reference

ROOT = Path(__file__).resolve().parents[2]
HW1 = ROOT / "problems" / "hw1_rubric.yaml"
TEMPLATE = ROOT / "problems" / "hw1_template.yaml"
QUESTIONS = ["z1", "h1", "y", "L", "dW2", "db2", "dW1", "db1"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def numbers(text):
    return np.array([float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)])


def test_a_fixed_problem_has_one_key_with_answers_intervals_and_the_worked_solution():
    r = run("key", HW1)
    assert r.exit_code == 0, r.output
    text = r.output
    assert text.startswith("# Answer key: HW1")
    assert "Student:" not in text                       # the class's key, not one student's
    ref = two_layer(yaml.safe_load(HW1.read_text()))
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\| (\d) \| (\w+)(?: = ∂L/∂\w+)? \| (.*?) \| (.*) \| (\d) \|$", line)
        if m:
            rows[m.group(2)] = m.group(3)
    assert list(rows) == QUESTIONS
    for q in QUESTIONS:                                  # bmatrix entries, row by row
        np.testing.assert_allclose(numbers(rows[q]), np.ravel(ref[q]), rtol=1e-5)
    assert "## Worked solution" in text and "### Backward pass" in text


def test_a_template_with_a_roster_gives_every_students_answers_and_their_keys(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("Student ID,Name\n2026001,Ada Lovelace\n2026002,Bob |*x*\n",
                      encoding="utf-8")
    r = run("key", TEMPLATE, "--roster", roster)
    assert r.exit_code == 0, r.output
    text = r.output
    table = [line for line in text.splitlines() if line.startswith("| 2026")]
    assert len(table) == 2
    assert "| Bob \\|\\*x\\* |" in table[1]            # roster text escaped once, table intact
    for line, sid in zip(table, ["2026001", "2026002"]):
        v = run("variant", TEMPLATE, "--student", sid)
        ref = two_layer(yaml.safe_load(v.output))
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        assert cells[0] == sid and len(cells) == 2 + len(QUESTIONS)
        for q, cell in zip(QUESTIONS, cells[2:]):
            np.testing.assert_allclose(numbers(cell), np.ravel(ref[q]), rtol=1e-5)
        assert f"Student: {sid}" in text                 # each student's own key follows
    assert text.count("### Worked solution") == 2


def test_html_key_is_one_well_formed_page(tmp_path):
    out = tmp_path / "key.html"
    r = run("key", HW1, "-o", out)
    assert r.exit_code == 0, r.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")

    class Check(html.parser.HTMLParser):
        stack, cells = [], []

        def handle_starttag(self, tag, attrs):
            if tag not in ("meta", "br", "mspace", "none", "mprescripts"):
                self.stack.append(tag)

        def handle_endtag(self, tag):
            assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
            self.stack.pop()

        def handle_data(self, data):
            if self.stack and self.stack[-1] == "td":
                self.cells.append(data)

    c = Check()
    c.feed(page)
    assert c.stack == []
    ref = two_layer(yaml.safe_load(HW1.read_text()))
    i = c.cells.index("dW2 = ∂L/∂W2")
    np.testing.assert_allclose(numbers(c.cells[i + 1]), np.ravel(ref["dW2"]), rtol=1e-5)


def test_a_template_needs_a_roster():
    r = run("key", TEMPLATE)
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == [
        f"gradcalc: error: {TEMPLATE}: a template with random numbers has a key per student: "
        "give --roster ROSTER.csv"]
