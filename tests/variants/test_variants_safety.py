"""Issue 17 for `gradcalc variants` (items 2–5, 7, 15, 20, 21): all or nothing, locked, no stale
files, stable names, capped draws, escaped roster text, safe CSV."""
import csv
import fcntl
import hashlib
import io
import os
import re
from pathlib import Path

from click.testing import CliRunner

from gradcalc.cli import cli

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "problems" / "hw1_template.yaml"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def roster(path, rows, header="Student ID,Name"):
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def listing(folder):
    """Every path under folder but the (hidden, empty) lock file."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.name != ".gradcalc.lock")


def test_a_failure_midway_writes_nothing(tmp_path):
    ros = roster(tmp_path / "r.csv", [("s1", "A"), ("s2", "B"), ("s3", "C")])
    out = tmp_path / "v"
    (out / "keys" / "s2.md").mkdir(parents=True)           # in the way of s2's key
    before = listing(out)
    res = run("variants", TEMPLATE, "--roster", ros, "-o", out, "--quiet")
    assert res.exit_code == 2
    assert res.output.strip() == (f"gradcalc: error: {out / 'keys' / 's2.md'}: cannot write the "
                                  "file: a folder of that name is in the way")
    assert listing(out) == before                          # no file of s1, no temporary file


def test_a_fresh_folder_that_fails_is_removed_again(tmp_path, monkeypatch):
    import gradcalc.fileio as fileio
    ros = roster(tmp_path / "r.csv", [("s1", "A"), ("s2", "B")])
    out = tmp_path / "fresh"
    real = fileio._create_temp
    calls = []

    def failing(folder):
        calls.append(folder)
        if len(calls) == 5:                                 # the 5th file: disk full
            raise OSError(28, "No space left on device")
        return real(folder)

    monkeypatch.setattr(fileio, "_create_temp", failing)
    res = run("variants", TEMPLATE, "--roster", ros, "-o", out, "--quiet")
    assert res.exit_code == 2 and "No space left on device" in res.output
    assert not out.exists()


def test_long_ids_stable_names_and_withdrawn_students(tmp_path):
    long_id = "学" * 81
    ros = roster(tmp_path / "r.csv", [("s1", "A"), ("a b", "B"), (long_id, "C")])
    out = tmp_path / "v"
    res = run("variants", TEMPLATE, "--roster", ros, "-o", out, "--quiet")
    assert res.exit_code == 0, res.output
    h_ab = hashlib.sha256(b"a b").hexdigest()[:8]
    h_long = hashlib.sha256(long_id.encode()).hexdigest()[:8]
    names = os.listdir(out / "handouts")
    assert "s1.md" in names and f"a_b~{h_ab}.md" in names
    assert any(n.endswith(f"~{h_long}.html") for n in names)
    assert all(len(n.encode()) <= 255 for n in names)
    key_s1 = (out / "keys" / "s1.md").read_bytes()
    # "a b" withdraws: its files go, s1's stay as they were, a TA's own file stays
    (out / "notes.txt").write_text("mine")
    roster(ros, [("s1", "A"), (long_id, "C")])
    assert run("variants", TEMPLATE, "--roster", ros, "-o", out, "--quiet").exit_code == 0
    assert not any("a_b" in n for n in listing(out))
    assert (out / "keys" / "s1.md").read_bytes() == key_s1 and (out / "notes.txt").exists()


def test_a_locked_folder_is_refused(tmp_path):
    ros = roster(tmp_path / "r.csv", [("s1", "A")])
    out = tmp_path / "v"
    out.mkdir()
    fd = os.open(out / ".gradcalc.lock", os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        res = run("variants", TEMPLATE, "--roster", ros, "-o", out, "--quiet")
    finally:
        os.close(fd)
    assert res.exit_code == 2 and "another gradcalc run is writing to this folder" in res.output
    assert not (out / "variants.csv").exists()


def test_roster_text_cannot_inject_formulas_or_markup(tmp_path):
    """Items 3 and 20: a bare CR started a row '=1+1'; names went raw into markdown."""
    ros = tmp_path / "r.csv"
    ros.write_bytes(b'Student ID,Name\n"cop\r=1+1","<img src=x onerror=alert(1)> [x](javascript:y)"\n'
                    b's2,"B\x1b[2Job"\n')
    out = tmp_path / "v"
    res = run("variants", TEMPLATE, "--roster", ros, "-o", out, "--quiet")
    assert res.exit_code == 0, res.output
    for name in ("variants.csv", "answer_key.csv"):
        text = (out / name).read_bytes().decode("utf-8")      # no newline translation
        assert "\x1b" not in text
        parsed = list(csv.reader(io.StringIO(text, newline="")))
        assert not any(row and row[0].startswith(("=", "+", "-", "@")) for row in parsed)
        assert "cop\r=1+1" in [row[0] for row in parsed]      # one quoted cell, not a new row
    md = "".join(p.read_text(encoding="utf-8") for p in (out / "handouts").glob("*.md"))
    md += "".join(p.read_text(encoding="utf-8") for p in (out / "keys").glob("*.md"))
    # outside code blocks (the blank answer file quotes the name as a YAML string there)
    prose = re.sub(r"```.*?```", "", md, flags=re.S)
    assert "<img" not in prose.replace("\\<img", "") and "](javascript" not in prose
    assert "\\<img" in md


def test_max_draws_is_capped(tmp_path):
    text = TEMPLATE.read_text(encoding="utf-8")
    t = tmp_path / "t.yaml"
    lines = text.splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.strip().startswith("max_draws:"))
    lines[k] = "  max_draws: 1000000"
    t.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = run("variant", t, "--student", "s1")
    assert res.exit_code == 2
    assert f"t.yaml:{k + 1}: variants.max_draws: expected a whole number 1 … 10000" in res.output
