"""Issue 17: nothing lost in `gradcalc grade` outputs (items 1, 4–7, 9, 10, 15, 19, 20).

Each test is a reproduction from the issue. Expected numbers are written out here (hw1 by hand:
L = ½(y − 0.3)² with y = 0.0241… gives L ≈ 0.0381); nothing is read back from gradcalc to
decide what is right. Tests that could hang or eat memory if the fix regressed run gradcalc in
a subprocess under resource.setrlimit and a timeout."""
import csv
import fcntl
import hashlib
import io
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from click.testing import CliRunner

from gradcalc.cli import cli

ROOT = Path(__file__).resolve().parents[2]
HW1 = ROOT / "problems" / "hw1.yaml"
PY = sys.executable


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def limited(args, cwd, timeout=60, memory=1 << 31):
    """gradcalc in a child process with an address-space limit and a time limit."""
    import resource

    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([PY, "-m", "gradcalc", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=limits)


def answer(student, L=0.0381, **more):
    lines = [f"student: {student}", "answers:", f"  L: {L}"]
    lines += [f"  {k}: {v}" for k, v in more.items()]
    return "\n".join(lines) + "\n"


def klass(tmp_path, *ids):
    """tmp_path/ans with an answer file <id>.yaml per id (L right)."""
    ans = tmp_path / "ans"
    ans.mkdir()
    for s in ids:
        (ans / f"{s}.yaml").write_text(answer(s), encoding="utf-8")
    return ans


def rows(path):
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_rerun_with_the_output_folder_inside_the_submissions_never_reads_it(tmp_path, monkeypatch):
    """Item 1: grading `.` twice with the default grades/ and a roster: same grades."""
    quiz = tmp_path / "quiz.csv"
    quiz.write_text("student,L\na1,0.0381\na2,0.0381\na3,0.0381\n", encoding="utf-8")
    (tmp_path / "roster.csv").write_text("Student,SIS User ID\nA,a1\nB,a2\nC,a3\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    uploads = []
    for _ in range(3):
        res = run("grade", HW1, ".", "--roster", "roster.csv", "-q")
        assert res.exit_code == 0, res.output
        uploads.append(rows(tmp_path / "grades" / "upload.csv"))
        graded = [r[0] for r in rows(tmp_path / "grades" / "grades.csv")[2:]]
        assert graded == ["a1", "a2", "a3"]                # never grades.csv / upload.csv rows
    assert uploads[0] == uploads[1] == uploads[2]
    assert [r[-1] for r in uploads[0][1:]] == ["1", "1", "1"]    # L right: 1 point each
    summary = (tmp_path / "grades" / "summary.md").read_text(encoding="utf-8")
    assert "the output folder of this run (not read)" in summary


def test_a_grades_csv_moved_elsewhere_is_recognised(tmp_path):
    ans = klass(tmp_path, "s1")
    assert run("grade", HW1, ans, "-o", tmp_path / "g", "-q").exit_code == 0
    (ans / "old_grades.csv").write_bytes((tmp_path / "g" / "grades.csv").read_bytes())
    assert run("grade", HW1, ans, "-o", tmp_path / "g2", "-q").exit_code == 0
    assert [r[0] for r in rows(tmp_path / "g2" / "grades.csv")[2:]] == ["s1"]
    assert "old\\_grades.csv: a grades.csv written by gradcalc" in \
        (tmp_path / "g2" / "summary.md").read_text(encoding="utf-8")


def test_a_long_id_neither_aborts_nor_breaks_the_file_name(tmp_path):
    """Item 4: student '学' × 81 (243 bytes) made 'File name too long' and no grades.csv."""
    ans = tmp_path / "ans"
    ans.mkdir()
    long_id = "学" * 81
    (ans / "a.yaml").write_text(answer(long_id), encoding="utf-8")
    (ans / "b.yaml").write_text(answer("s2"), encoding="utf-8")
    res = run("grade", HW1, ans, "-o", tmp_path / "g", "-q")
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "g" / "feedback").iterdir())
    assert "s2.md" in names and len(names) == 2
    assert all(len(n.encode()) <= 255 for n in names)
    h = hashlib.sha256(long_id.encode()).hexdigest()[:8]
    assert any(n.endswith(f"~{h}.md") for n in names)
    assert [r[0] for r in rows(tmp_path / "g" / "grades.csv")[2:]] == ["s2", long_id]


def test_one_unwritable_feedback_file_does_not_stop_the_class(tmp_path):
    ans = klass(tmp_path, "s1", "s2", "s3")
    out = tmp_path / "g"
    (out / "feedback" / "s2.md").mkdir(parents=True)       # a folder where a file goes
    res = run("grade", HW1, ans, "-o", out, "-q")
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1].startswith(
        f"gradcalc: error: {out / 'feedback' / 's2.md'}: cannot write the file:")
    assert [r[0] for r in rows(out / "grades.csv")[2:]] == ["s1", "s2", "s3"]
    assert (out / "feedback" / "s3.md").is_file()
    assert "s2.md: feedback not written" in (out / "summary.md").read_text(encoding="utf-8")


def test_a_second_run_into_a_locked_folder_stops_or_waits(tmp_path):
    """Item 5: two runs into one folder mixed their files."""
    ans = klass(tmp_path, "s1")
    out = tmp_path / "g"
    out.mkdir()
    fd = os.open(out / ".gradcalc.lock", os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)                       # "run A" holds the folder
    try:
        res = run("grade", HW1, ans, "-o", out, "-q")
        assert res.exit_code == 2
        assert res.output.strip().splitlines() == [
            f"gradcalc: error: {out}: another gradcalc run is writing to this folder; wait for "
            "it to finish or add --wait"]
        assert not (out / "grades.csv").exists()
        threading.Timer(0.5, os.close, (fd,)).start()   # run A ends half a second later
        t0 = time.monotonic()
        res = run("grade", HW1, ans, "-o", out, "-q", "--wait")
        assert res.exit_code == 0 and time.monotonic() - t0 >= 0.4
        assert (out / "grades.csv").is_file()
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


def test_every_path_is_graded_or_listed_and_fifos_are_never_opened(tmp_path):
    """Items 6 and 9: unreadable folder, dangling symlink, FIFO, a device named *.yaml, a
    symlink to a file outside: each listed in summary.md with its reason, never read."""
    ans = klass(tmp_path, "s1")
    os.mkfifo(ans / "pipe.yaml")                       # opening it for reading would block
    (ans / "s2_answers.txt").write_text("L = 0.0381")   # a student's wrongly named file
    os.symlink(tmp_path / "nowhere.yaml", ans / "dangling.yaml")
    os.symlink("/dev/zero", ans / "zero.yaml")
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$SECRETHASH:19000:0:99999:7:::\n")
    os.symlink(secret, ans / "shadow.yaml")
    locked = ans / "locked"
    locked.mkdir()
    (locked / "s9.yaml").write_text(answer("s9"))
    locked.chmod(0)
    try:
        res = limited(["grade", HW1, "ans", "/dev/zero", "-o", "g", "-q"], tmp_path, timeout=60)
    finally:
        locked.chmod(0o755)
    assert res.returncode == 0, res.stderr
    summary = (tmp_path / "g" / "summary.md").read_text(encoding="utf-8")
    assert "ans/pipe.yaml: a FIFO (not opened)" in summary
    assert "ans/dangling.yaml: a symlink to a missing file" in summary
    assert "ans/zero.yaml: a symlink leading out of the submissions folder (not followed)" in summary
    assert "ans/shadow.yaml: a symlink leading out of the submissions folder" in summary
    assert "/dev/zero: a device (not opened)" in summary
    assert "ans/s2\\_answers.txt: not an answer file (.txt; expected .yaml .yml .json .csv .tsv)" \
        in summary
    if not os.access(locked, os.R_OK):                  # (root reads every folder)
        assert "ans/locked: cannot read the folder" in summary
    everything = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "g").rglob("*.md"))
    everything += (tmp_path / "g" / "grades.csv").read_text(encoding="utf-8")
    assert "SECRETHASH" not in everything and "root" not in everything


def test_a_file_that_is_not_an_answer_file_is_never_echoed(tmp_path):
    ans = tmp_path / "ans"
    ans.mkdir()
    (ans / "conf.yaml").write_text("password: hunter2\napi_token: abcdef\n")
    assert run("grade", HW1, ans, "-o", tmp_path / "g", "-q").exit_code == 0
    text = (tmp_path / "g" / "grades.csv").read_text() + \
        (tmp_path / "g" / "feedback" / "conf.md").read_text()
    assert "not an answer file" in text
    assert "password" not in text and "api_token" not in text


def test_stale_and_reassigned_feedback(tmp_path):
    """Item 7: ids 'x y' and x_y both map to x_y.md / x_y-2.md; after one withdraws the other
    kept an old page; withdrawn students' feedback stayed."""
    ans = tmp_path / "ans"
    ans.mkdir()
    (ans / "a.yaml").write_text(answer('"x y"', L=1))
    (ans / "b.yaml").write_text(answer("x_y", L=0.0381))
    (ans / "c.yaml").write_text(answer("gone"))
    out = tmp_path / "g"
    assert run("grade", HW1, ans, "-o", out, "-q").exit_code == 0
    h = hashlib.sha256(b"x y").hexdigest()[:8]
    fb = out / "feedback"
    assert sorted(p.name for p in fb.iterdir()) == ["gone.md", "x_y.md", f"x_y~{h}.md"]
    page_xy = (fb / "x_y.md").read_text(encoding="utf-8")
    assert "- Student: x\\_y" in page_xy
    (out / "feedback" / "mine.md").write_text("a TA's own notes")   # not gradcalc's: kept
    (ans / "a.yaml").unlink()
    (ans / "c.yaml").unlink()
    res = run("grade", HW1, ans, "-o", out)
    assert res.exit_code == 0
    assert sorted(p.name for p in fb.iterdir()) == ["mine.md", "x_y.md"]
    assert (fb / "x_y.md").read_text(encoding="utf-8") == page_xy   # still x_y's own page
    assert "removed 2 file(s)" in res.output


def test_a_planted_manifest_cannot_remove_files_outside(tmp_path):
    ans = klass(tmp_path, "s1")
    out = tmp_path / "g"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (out / "keep.txt").write_text("keep me too")
    (out / ".gradcalc-manifest.json").write_text(
        '{"files": ["../victim.txt", "/etc/hostname", "feedback/../../victim.txt", "keep.txt/x",'
        ' ".gradcalc.lock", "x/../../victim.txt"]}')
    assert run("grade", HW1, ans, "-o", out, "-q").exit_code == 0
    assert victim.read_text() == "keep me" and (out / "keep.txt").exists()


def test_duplicate_roster_ids_get_no_grade_and_are_reported(tmp_path):
    """Item 10: one student's grade was given to two roster rows."""
    ans = klass(tmp_path, "s1", "s2")
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,SIS User ID\nAda,s1\nAda again,s1\nBob,s2\n", encoding="utf-8")
    res = run("grade", HW1, ans, "-o", tmp_path / "g", "--roster", roster)
    assert res.exit_code == 0
    up = rows(tmp_path / "g" / "upload.csv")
    # issue 16: never blank; 0 (a value every LMS imports) and listed for a person to decide
    assert up[1] == ["Ada", "s1", "0"] and up[2] == ["Ada again", "s1", "0"] and up[3] == ["Bob", "s2", "1"]
    assert "ids on more than one roster row (given 0 in upload.csv) (1): s1" in \
        (tmp_path / "g" / "summary.md").read_text(encoding="utf-8")
    assert "1 id(s) on more than one roster row" in res.output


def test_a_roster_that_is_a_device_or_too_large_is_refused_quickly(tmp_path):
    """Item 15: --roster /dev/zero read until memory ran out."""
    klass(tmp_path, "s1")
    res = limited(["grade", HW1, "ans", "--roster", "/dev/zero", "-o", "g"], tmp_path,
                  timeout=60, memory=1 << 30)
    assert res.returncode == 2
    assert res.stderr.strip() == ("gradcalc: error: /dev/zero: the roster is not a regular file "
                                  "(not read)")
    big = tmp_path / "big.csv"
    with open(big, "wb") as f:
        f.write(b"Student,SIS User ID\n")
        f.truncate(40 * 1024 * 1024)                      # sparse: 40 MB of NULs, no disk
    res = limited(["grade", HW1, "ans", "--roster", "big.csv", "-o", "g"], tmp_path,
                  timeout=60, memory=1 << 30)
    assert res.returncode == 2 and "the roster is larger than 16 MB" in res.stderr


def test_a_dangling_feedback_symlink_gets_a_sensible_message(tmp_path):
    """Item 19: it read 'cannot create the output folder: File exists'."""
    ans = klass(tmp_path, "s1")
    out = tmp_path / "g"
    out.mkdir()
    os.symlink(tmp_path / "gone", out / "feedback")
    res = run("grade", HW1, ans, "-o", out, "-q")
    assert res.exit_code == 2
    assert res.output.strip() == (f"gradcalc: error: {out / 'feedback'}: a symlink to a missing "
                                  f"folder ({tmp_path / 'gone'}); remove it or create its target")


def test_student_text_is_clipped_and_control_free(tmp_path):
    """Item 20: a 5,000-digit value in full, a raw NUL in feedback.md."""
    ans = tmp_path / "ans"
    ans.mkdir()
    big = "1" * 5000
    (ans / "a.yaml").write_text(f'student: "s\\x1b[2J1"\nname: "N\\0ame <img onerror=x>"\n'
                                f'answers:\n  y: "{big}.5"\n  h1: "he\\0llo"\n', encoding="utf-8")
    (ans / "b.yaml").write_text(f"student: s2\nanswers:\n  L: {big}\n", encoding="utf-8")
    assert run("grade", HW1, ans, "-o", tmp_path / "g", "-q").exit_code == 0
    for p in (tmp_path / "g").rglob("*"):
        if p.suffix in (".md", ".csv"):
            text = p.read_text(encoding="utf-8")
            assert not any(c in text for c in "\x00\x1b\x07"), p
            assert "1" * 400 not in text, p
            if p.suffix == ".md":                              # escaped as markdown
                assert re.search(r"(?<!\\)<img", text) is None, p
    assert "\\<img" in "".join(p.read_text(encoding="utf-8")
                                for p in (tmp_path / "g" / "feedback").iterdir())


def test_a_student_whose_variant_cannot_be_made_does_not_stop_the_class(tmp_path, monkeypatch):
    """Item 4: a per-student failure never stops the batch (--variants: one id's key fails)."""
    from gradcalc.errors import ProblemError
    from gradcalc.variants.grader import VariantGrader
    real = VariantGrader.key_for

    def key_for(self, sub):
        if sub.student == "s2":
            raise ProblemError("no well-posed draw for student s2 in 500 draws")
        return real(self, sub)

    monkeypatch.setattr(VariantGrader, "key_for", key_for)
    ans = klass(tmp_path, "s1", "s2", "s3")
    res = run("grade", ROOT / "problems" / "hw1_template.yaml", ans, "--variants", "-o",
              tmp_path / "g", "-q")
    assert res.exit_code == 0, res.output
    by = {r[0]: r for r in rows(tmp_path / "g" / "grades.csv")[2:]}
    assert sorted(by) == ["s1", "s2", "s3"]
    assert by["s2"][-1] == "unreadable: no answer key: no well-posed draw for student s2 in 500 draws"


def test_grading_into_a_variants_folder_removes_no_variant(tmp_path):
    """The manifest of another command is never used to remove files."""
    roster = tmp_path / "r.csv"
    roster.write_text("Student ID,Name\ns1,A\n", encoding="utf-8")
    out = tmp_path / "hw1"
    assert run("variants", ROOT / "problems" / "hw1_template.yaml", "--roster", roster, "-o", out,
               "--quiet").exit_code == 0
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*") if p.is_file()
                    and not p.name.startswith("."))
    ans = klass(tmp_path, "s1")
    assert run("grade", HW1, ans, "-o", out, "-q").exit_code == 0
    after = {p.relative_to(out).as_posix() for p in out.rglob("*.*") if p.is_file()}
    assert set(before) <= after
