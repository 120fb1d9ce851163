"""Issue 17 (items 2, 3): the atomic writer and the one CSV writer, against hostile names."""
import csv
import io
import os
import stat

import pytest

from gradcalc.csvsafe import csv_text
from gradcalc.fileio import write_atomic


def test_a_planted_symlink_is_never_written_through(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    # every name the old writer could have used for its temporary file, and the target itself
    for pid in range(os.getpid() - 2, os.getpid() + 3):
        os.symlink(outside, out / f".grades.csv.{pid}.tmp")
    os.symlink(outside, out / "grades.csv")
    assert write_atomic(out / "grades.csv", "student\n", skip_unchanged=True)
    assert outside.read_text() == "precious"
    assert not os.path.islink(out / "grades.csv")
    assert (out / "grades.csv").read_text() == "student\n"


def test_temporary_names_are_unpredictable_and_exclusive(tmp_path, monkeypatch):
    import gradcalc.fileio as fileio
    made = []
    real_open = os.open

    def spy(path, flags, mode=0o777, **kw):
        made.append((os.path.basename(path), flags))
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(fileio.os, "open", spy)
    write_atomic(tmp_path / "a.csv", "1")
    write_atomic(tmp_path / "a.csv", "2")
    (n1, f1), (n2, f2) = made
    assert n1 != n2 and str(os.getpid()) not in n1
    assert f1 & os.O_EXCL and f1 & os.O_NOFOLLOW and f1 & os.O_CREAT


def test_file_modes_follow_the_umask_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "f.md", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "f.md").st_mode) == 0o644


def test_a_fifo_at_the_target_is_replaced_not_opened(tmp_path):
    fifo = tmp_path / "summary.md"
    os.mkfifo(fifo)
    # skip_unchanged would read the old file: a FIFO would block forever
    assert write_atomic(fifo, "", skip_unchanged=True)
    assert fifo.is_file()


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_bare_cr_never_starts_a_spreadsheet_row(newline):
    text = csv_text([["student", "x"], ["cop\r=1+1", "@SUM(1)"], ["a\n+2", "-0.5"]], newline=newline)
    # what a spreadsheet does: any of CR, LF, CRLF ends a row unless quoted
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["student", "x"], ["cop\r=1+1", "'@SUM(1)"], ["a\n+2", "-0.5"]]


def test_every_csv_of_gradcalc_uses_the_one_writer():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "gradcalc")
    writers = []
    for folder, _, names in os.walk(root):
        for name in names:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    if "csv.writer(" in f.read():
                        writers.append(name)
    assert writers == ["csvsafe.py"]
