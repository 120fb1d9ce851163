"""`--lang zh` output reads as Chinese: no English word of ours outside formulas.

The check is a word list: the English words the program itself writes (table words, agreement
line, notes, grading summaries …).  Problem titles and descriptions (the teacher's own text),
file paths and formulas are taken out first; what remains must contain none of these words
and no run of three English words (a sentence)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from gradcalc.cli import cli

ROOT = Path(__file__).resolve().parents[2]
PROBLEMS = sorted(p for p in (ROOT / "problems").glob("*.yaml") if "template" not in p.name
                  and "rubric" not in p.name)

# words of ours that a Chinese reader must not meet (formula names such as max, exp, tanh,
# lr, atol and rtol are not in the list: they are notation)
ENGLISH = set("""
agree agreement disagree error errors rel forward values value random direction kink kinks
entries entry elementwise other cut see epoch problems problem submissions submission skipped
gradient gradients layout shape parameter parameters sig fig step steps learning rate note the
of and at is are with for in to only between unreliable tolerances tolerance symbolic numeric
autograd summary mean batch wrote files file feedback graded derived from each local
derivatives closed upstream downstream node name formula operation exact decimal verdict method
methods limit central differences pass backward reverse order topological update before after
entries out like indices lecture students student points total median correct wrong mistake
mistakes answer answers accepted none pair band reason convention needs attention removed
""".split())
_SENTENCE = re.compile(r"\b[A-Za-z]{2,}(?: [A-Za-z]{2,}){2,}\b")
_WORD = re.compile(r"[A-Za-z]+")
_PATH = re.compile(r"\S*/\S*|\S+\.(?:yaml|csv|md|png|html|json)\b")


def _teacher_text(path: Path) -> list[str]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for key in ("title", "description"):
        if isinstance(raw, dict) and isinstance(raw.get(key), str):
            out += [raw[key].strip(), *raw[key].split("\n")]
    return sorted((t for t in out if t.strip()), key=len, reverse=True)


def english_in(text: str, teacher: list[str]) -> list[str]:
    """The English words and sentences of ours left in `text`."""
    found = []
    # a title wrapped over lines of a table is one text again once the spaces are one space
    text = re.sub(r"\s+", " ", text)
    for t in teacher:
        text = text.replace(re.sub(r"\s+", " ", t), " ")
    text = _PATH.sub(" ", text)
    text = re.sub(r"--[\w-]+", " ", text)          # command-line options are notation
    # formulas: an identifier touching a parenthesis, an index or an operator is notation
    text = re.sub(r"[A-Za-z]+(?=[(\[⁽₀-₉ᵢⱼₖₗᵀ·_])|(?<=[·\[])[A-Za-z]+", " ", text)
    for m in _SENTENCE.finditer(text):
        found.append(m.group(0))
    found += [w for w in _WORD.findall(text) if w.lower() in ENGLISH]
    return found


def run(argv, **kw):
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        r = CliRunner().invoke(cli, [str(a) for a in argv], env={"COLUMNS": "120"}, **kw)
    finally:
        os.chdir(cwd)
    return r


def test_the_word_list_finds_english():
    assert english_in("一致性: 一致 — autograd = symbolic ✓ (max rel. error 0)", [])
    assert english_in("4 submissions; mean 7.1", [])
    assert not english_in("一致性：一致 — 自动微分 = 符号 ✓（最大相对误差 0）", [])
    assert not english_in("∂h⁽¹⁾ᵢ/∂z⁽¹⁾ᵢ = exp(−z⁽¹⁾ᵢ)/(1 + exp(−z⁽¹⁾ᵢ))^2 · max(0, z)", [])
    assert not english_in("HW1: two-layer network, sigmoid", ["HW1: two-layer network, sigmoid"])


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
def test_solve_in_chinese_has_no_english(path):
    r = run(["solve", path.relative_to(ROOT), "--lang", "zh"])
    assert r.exit_code == 0, r.output
    assert english_in(r.stdout + r.stderr, _teacher_text(path)) == []


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
def test_markdown_in_chinese_has_no_english(path):
    r = run(["solve", path.relative_to(ROOT), "--lang", "zh", "--format", "markdown"])
    assert r.exit_code == 0, r.output
    # LaTeX commands and names set in roman (\mathrm{positions}, \operatorname{softmax}) are
    # notation
    text = re.sub(r"\\(?:mathrm|operatorname)\{[^{}]*\}|\\[A-Za-z]+", " ", r.stdout)
    assert english_in(text + r.stderr, _teacher_text(path)) == []


def test_check_in_chinese_has_no_english():
    r = run(["check", "problems/", "--lang", "zh"])
    teacher = [t for p in (ROOT / "problems").glob("*.yaml") for t in _teacher_text(p)]
    assert english_in(r.stdout + r.stderr, sorted(teacher, key=len, reverse=True)) == []


def _hw1_by_hand(forget_sigma_prime=False):
    """hw1 in NumPy: x = [0.5, −1.5], sigmoid hidden layer, linear output, ½(y − t)², t = 0.3."""
    x = np.array([0.5, -1.5])
    W1, b1 = np.array([[0.4, -0.2], [-0.1, 0.3]]), np.array([0.1, -0.3])
    W2, b2 = np.array([[0.2, -0.5]]), np.array([0.05])
    z1 = W1 @ x + b1
    h1 = 1 / (1 + np.exp(-z1))
    y = W2 @ h1 + b2
    dy = y - 0.3
    dz1 = (W2.T @ dy) * (1 if forget_sigma_prime else h1 * (1 - h1))
    return {"z1": z1, "h1": h1, "y": y, "L": 0.5 * float(dy[0] ** 2), "dW1": np.outer(dz1, x),
            "db1": dz1, "dW2": np.outer(dy, h1), "db2": dy}


def test_grade_summary_in_chinese_has_no_english(tmp_path):
    answers = tmp_path / "answers"
    answers.mkdir()
    good, bad = _hw1_by_hand(), _hw1_by_hand(forget_sigma_prime=True)
    for sid, vals in (("s01", good), ("s02", bad), ("s03", dict(good, dW2=good["dW2"].T))):
        lines = [f"student: {sid}", "answers:"]
        lines += [f"  {k}: {json.dumps(np.asarray(v).tolist())}" for k, v in vals.items()]
        (answers / f"{sid}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (answers / "notes.txt").write_text("not an answer file", encoding="utf-8")
    out = tmp_path / "grades"
    r = run(["grade", "problems/hw1.yaml", answers, "-o", out, "--lang", "zh"])
    assert r.exit_code == 0, r.output
    teacher = _teacher_text(ROOT / "problems" / "hw1.yaml")
    summary = (out / "summary.md").read_text(encoding="utf-8")
    # mistake keys (`transposed`) are identifiers of the catalogue, written as code
    summary = re.sub(r"`[^`]*`", " ", summary)
    assert "提交数" not in r.stdout                # "4 提交数" is not Chinese
    assert english_in(r.stdout + r.stderr, teacher) == []
    assert english_in(summary, teacher) == []


def test_latex_in_chinese_says_in_one_line_that_it_is_english():
    zh = run(["solve", "problems/hw1.yaml", "--format", "latex", "--lang", "zh",
              "--method", "autograd"])
    en = run(["solve", "problems/hw1.yaml", "--format", "latex", "--method", "autograd"])
    assert zh.exit_code == en.exit_code == 0
    assert zh.stdout == en.stdout                  # the same English document …
    lines = zh.stderr.splitlines()
    assert len(lines) == 1 and "LaTeX" in lines[0] and "英文" in lines[0]   # … said once
    assert en.stderr == ""


def test_train_in_chinese_has_no_english():
    r = run(["train", "problems/hw1_sgd.yaml", "--epochs", "3", "--batch-size", "all",
             "--lang", "zh"])
    assert r.exit_code == 0, r.output
    assert "3 轮" in r.stdout
    assert english_in(r.stdout + r.stderr, _teacher_text(ROOT / "problems" / "hw1_sgd.yaml")) == []


@pytest.mark.parametrize("problem", ["hw1_template.yaml", "cnn_tiny.yaml"])
def test_handouts_and_keys_in_chinese_have_no_english(tmp_path, problem):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\ns001,Ada\n", encoding="utf-8")
    r = run(["variants", f"problems/{problem}", "--roster", roster, "-o", tmp_path / "v",
             "--lang", "zh", "--quiet"])
    assert r.exit_code == 0, r.output
    for md in ("handouts/s001.md", "keys/s001.md"):
        text = (tmp_path / "v" / md).read_text(encoding="utf-8")
        # the blank answer file (YAML keys) and the math are notation
        text = re.sub(r"```yaml.*?```|\$\$.*?\$\$|\$[^$]*\$", " ", text, flags=re.S)
        assert english_in(text, _teacher_text(ROOT / "problems" / problem)) == [], md
