"""The last state of a `return: last` recurrent layer (h1[3] in the template) can be answered.

`gradcalc template problems/rnn_T3.yaml` asks for `h1[3]`, the state after the third step; the
answer reader used to take the name as entry 3 of h1 (a 3×2 matrix: no such entry), so a correct
answer scored 0.  The reference numbers are an RNN forward pass and backpropagation through time
written here in NumPy from the problem's numbers."""
import csv
import io
import json
import re
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from gradcalc.cli import cli
from gradcalc.grading.quantities import QuantitySchema

ROOT = Path(__file__).resolve().parents[2]
RNN = ROOT / "problems" / "rnn_T3.yaml"


def rnn_by_hand() -> dict:
    """problems/rnn_T3.yaml: h_t = tanh(Wxh x_t + Whh h_(t-1) + b), y = W2 h_3 + b2,
    L = ½(y − 0.5)²; BPTT by hand."""
    X = np.array([[1.0, 0.5], [-0.5, 1.0], [0.2, -1.0]])
    Wxh, Whh = np.array([[0.5, -0.3], [0.2, 0.4]]), np.array([[0.1, -0.4], [0.3, 0.2]])
    b, h0 = np.array([0.0, 0.1]), np.array([0.1, -0.1])
    W2, b2 = np.array([[1.0, -1.0]]), np.array([0.0])
    zs, hs, h = [], [], h0
    for x in X:
        z = Wxh @ x + Whh @ h + b
        h = np.tanh(z)
        zs.append(z)
        hs.append(h)
    y = W2 @ h + b2
    dy = y - 0.5
    dWxh, dWhh, db = np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(2)
    dh = W2.T @ dy
    for t in (2, 1, 0):
        dz = dh * (1 - hs[t] ** 2)
        prev = hs[t - 1] if t else h0
        dWxh += np.outer(dz, X[t])
        dWhh += np.outer(dz, prev)
        db += dz
        dh = Whh.T @ dz
    return {"z1": np.array(zs), "h1": np.array(hs), "h1[3]": hs[2], "y": y,
            "L": 0.5 * float(dy[0] ** 2), "dWxh1": dWxh, "dWhh1": dWhh, "db1": db,
            "dh0_1": dh, "dW2": np.outer(dy, hs[2]), "db2": dy}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def grades(out: Path) -> dict:
    rows = list(csv.DictReader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8"))))
    return rows[1]                         # rows[0] is the (points) row


def test_the_template_asks_for_the_last_state_and_a_filled_template_gets_full_marks(tmp_path):
    ref = rnn_by_hand()
    r = run("template", RNN)
    assert r.exit_code == 0, r.output
    asked = re.findall(r"^  (\S+):", r.stdout, flags=re.M)
    assert "h1[3]" in asked and set(asked) == set(ref)
    filled = re.sub(r"^  (\S+):(\s+)(.*?)(   #.*)$",
                    lambda m: f"  {m.group(1)}:{m.group(2)}"
                              f"{json.dumps(np.asarray(ref[m.group(1)]).tolist())}{m.group(4)}",
                    r.stdout, flags=re.M).replace('student: ""', 'student: "s01"')
    answers = tmp_path / "answers"
    answers.mkdir()
    (answers / "s01.yaml").write_text(filled, encoding="utf-8")
    r = run("grade", RNN, answers, "-o", tmp_path / "out", "-q")
    assert r.exit_code == 0, r.output
    row = grades(tmp_path / "out")
    assert row["h1[3]"] == "1"
    assert (row["total"], row["max"], row["status"]) == ("11", "11", "ok")


def test_the_csv_template_columns_of_the_last_state_are_read_as_its_entries(tmp_path):
    ref = rnn_by_hand()
    r = run("template", RNN, "--format", "csv")
    assert r.exit_code == 0, r.output
    cols = next(csv.reader(io.StringIO(r.stdout)))
    assert "h1[3][1]" in cols and "h1[3][2]" in cols
    row = {"student": "s02", "name": "Ann"}
    for col in cols[2:]:
        # the longest question name the column starts with, then its 1-based entry
        name = max((q for q in ref if col == q or col.startswith(q + "[")), key=len)
        idx = tuple(int(i) - 1 for i in re.findall(r"\d+", col[len(name):]))
        value = np.asarray(ref[name], dtype=float)
        row[col] = repr(float(value[idx] if idx else value.reshape(-1)[0]))
    text = io.StringIO()
    w = csv.DictWriter(text, cols)
    w.writeheader()
    w.writerow(row)
    (tmp_path / "quiz.csv").write_text(text.getvalue(), encoding="utf-8")
    r = run("grade", RNN, tmp_path / "quiz.csv", "-o", tmp_path / "out", "-q")
    assert r.exit_code == 0, r.output
    got = grades(tmp_path / "out")
    assert got["h1[3]"] == "1" and got["h1"] == "1"
    assert (got["total"], got["max"], got["status"]) == ("11", "11", "ok")


def test_a_name_ending_in_brackets_is_read_before_entry_numbers():
    s = QuantitySchema({"h1": (3, 2), "h1[3]": (2,), "W2": (1, 2), "L": ()},
                       {"h1[3]": (2,), "W2": (1, 2)}, "L")
    assert s.resolve("h1[3]") == ("h1[3]", None)
    assert s.resolve("h1[3][2]") == ("h1[3]", (1,))
    assert s.resolve("h1 [3] [2]") == ("h1[3]", (1,))
    assert s.resolve("dL/dh1[3]") == ("dh1[3]", None)
    assert s.resolve("∂L/∂h1[3][1]") == ("dh1[3]", (0,))
    assert s.resolve("h1[3,2]") == ("h1", (2, 1))       # entry (3, 2) of h1 as before
    assert s.resolve("dW2[1,2]") == ("dW2", (0, 1))
    assert s.resolve("h1[3][0]") is None                # entries are numbered from 1
    assert s.resolve("h1[0]") is None
    assert s.resolve("h2[1]") is None
