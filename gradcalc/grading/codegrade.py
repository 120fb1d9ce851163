"""Grade a class's layer code: each submission checked in its own limited process, in parallel.

The submissions folder holds one `.py` file per student (the id is the file name) or one folder
per student (the id is the folder name) with the rubric's `file:` in it.  Warm workers
(grading/codeworker.py, started with a scrubbed environment) fork one child per submission; a
crash, a hang, `sys.exit`, `os._exit`, a fork bomb or a huge allocation costs that submission its
points, with a status saying which, and the batch goes on.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from gradcalc.errors import UsageError
from gradcalc.grading.coderubric import CodeRubric

# what a layer's status means, for the feedback and the summary
PASS = "pass"


@dataclass
class LayerOutcome:
    name: str
    points: float
    score: float
    status: str              # pass, fail, error, time limit, memory limit, not run
    message: str = ""
    report: dict | None = None


@dataclass
class CodeResult:
    """One student's result, shaped like grading's StudentResult for the CSV writers."""

    student: str
    file: str
    questions: list[LayerOutcome]
    status: str              # graded, or why nothing could be checked
    output: str = ""
    name: str = ""

    @property
    def source(self) -> str:
        return self.file

    @property
    def total(self) -> float:
        return sum(q.score for q in self.questions)

    @property
    def max_points(self) -> float:
        return sum(q.points for q in self.questions)

    @property
    def percent(self) -> float:
        return 100.0 * self.total / self.max_points if self.max_points else 0.0


@dataclass
class CodeReport:
    title: str
    rubric: CodeRubric
    results: list[CodeResult] = field(default_factory=list)


def find_submissions(folder: str, file_name: str | None,
                     exclude=()) -> list[tuple[str, Path | None]]:
    """(student id, the file to check or None) for every submission, sorted by id; the output
    folder (`exclude`) is never a submission, and a symbolic link is never followed."""
    root = Path(folder)
    if not root.is_dir():
        raise UsageError("expected a folder of submissions (one .py per student or one folder "
                         "per student)", file=folder)
    skip = {Path(p).resolve() for p in exclude}
    out = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.resolve() in skip:
            continue
        if entry.is_symlink():
            if entry.suffix == ".py" or entry.is_dir():
                out.append((entry.stem if entry.suffix == ".py" else entry.name, None))
            continue
        if entry.is_file() and entry.suffix == ".py":
            out.append((entry.stem, entry))
        elif entry.is_dir():
            if file_name:
                cand = entry / file_name
                ok = cand.is_file() and not cand.is_symlink()
                out.append((entry.name, cand if ok else None))
            else:
                files = [f for f in sorted(entry.glob("*.py")) if not f.is_symlink()]
                out.append((entry.name, files[0] if len(files) == 1 else None))
    if not out:
        raise UsageError("no submissions (.py files or student folders) found", file=folder)
    return out


def clean_environment(scratch: str) -> dict:
    """Only what Python needs: no tokens, keys or passwords of the grader's shell."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": scratch, "TMPDIR": scratch,
           "LANG": os.environ.get("LANG", "C.UTF-8"), "PYTHONPATH": package_root,
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "PYTHONIOENCODING": "utf-8",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if "LC_ALL" in os.environ:
        env["LC_ALL"] = os.environ["LC_ALL"]
    return env


class _Worker:
    def __init__(self, scratch: str):
        flags = ["-s"] + (["-P"] if sys.version_info >= (3, 11) else [])
        self.proc = subprocess.Popen(
            [sys.executable, *flags, "-m", "gradcalc.grading.codeworker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=scratch, env=clean_environment(scratch), text=True, encoding="utf-8")
        try:
            self.hello = json.loads(self.proc.stdout.readline() or "{}")
        except ValueError:
            self.hello = {}
        if not self.hello.get("ready"):
            self.close()
            raise UsageError("the grading worker did not start (is gradcalc importable by "
                             f"{sys.executable}?)")

    def run(self, job: dict) -> dict:
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise OSError("the grading worker ended")
        return json.loads(line)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def grade_code(rubric: CodeRubric, folder: str, *, jobs: int | None = None, seed: int = 0,
               progress=lambda n: None, exclude=()) -> CodeReport:
    subs = find_submissions(folder, rubric.file, exclude)
    jobs = max(1, min(jobs or len(os.sched_getaffinity(0)), len(subs)))
    scratch = tempfile.mkdtemp(prefix="gradcalc-grade-code-")
    os.chmod(scratch, 0o711)                  # the children (nobody, when run as root) pass
    workers: queue.Queue = queue.Queue()
    try:
        for _ in range(jobs):
            workers.put(_Worker(scratch))
        layers = [{"name": q.name, "convention": q.convention, "options": q.options}
                  for q in rubric.questions]

        def one(sub):
            student, path = sub
            if path is None:
                return _result(rubric, student, "", None,
                               "no file (missing, not one .py, or a symbolic link)")
            w = workers.get()
            try:
                reply = _run(w, rubric, student, path, layers, scratch, seed)
            except (OSError, ValueError):     # the worker itself died: start another one
                w.close()
                w = _Worker(scratch)
                reply = {"worker_error": "the grading worker ended"}
            finally:
                workers.put(w)
            progress(1)
            return _result(rubric, student, str(path), reply, None)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(one, subs))
    finally:
        while not workers.empty():
            workers.get().close()
        shutil.rmtree(scratch, ignore_errors=True)
    return CodeReport(rubric.title, rubric, results)


def _run(worker, rubric, student, path, layers, scratch, seed) -> dict:
    tmp = tempfile.mkdtemp(prefix="s-", dir=scratch)
    try:
        os.chmod(tmp, 0o711)
        work = os.path.join(tmp, "work")
        os.mkdir(work, 0o755)
        if os.geteuid() == 0:
            os.chown(work, 65534, 65534)      # the child's own folder (it runs as nobody)
        target = os.path.join(work, rubric.file or path.name)
        shutil.copyfile(path, target)
        os.chmod(target, 0o644)
        job = {"file": target, "display": path.name, "cwd": work,
               "output": os.path.join(tmp, "output.txt"),
               "layers": layers, "time_limit": rubric.time_limit,
               "memory_mb": rubric.memory_mb, "seed": seed}
        return worker.run(job)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _result(rubric, student, file, reply, status) -> CodeResult:
    def outcomes(default_status, message=""):
        return [LayerOutcome(q.name, q.points, 0.0, default_status, message)
                for q in rubric.questions]

    if reply is None:
        return CodeResult(student, file, outcomes("not run"), status)
    output = reply.get("output", "")
    if reply.get("worker_error"):
        return CodeResult(student, file, outcomes("not run"), "grader error: "
                          + reply["worker_error"], output)
    lines = reply.get("lines", [])
    first = lines[0] if lines else {}
    ended = _how_it_ended(reply)
    imp = first.get("import")
    if imp != "ok":
        if imp == "time limit":
            status = f"time limit at import ({rubric.time_limit:g} s)"
        elif imp == "exit":
            status = f"exited at import: {first.get('message', '')}"
        elif imp == "error":
            msg = first.get("message", "")
            status = ("syntax error: " if "SyntaxError" in msg else
                      "memory limit at import: " if "MemoryError" in msg else
                      "import failed: ") + msg.removeprefix("import ")
        else:
            status = f"exited at import: {ended}"
        return CodeResult(student, file, outcomes("not run"), status, output)
    by_name = {ln.get("layer"): ln for ln in lines[1:] if "layer" in ln}
    results = []
    for q in rubric.questions:
        ln = by_name.get(q.name)
        if ln is None:
            results.append(LayerOutcome(q.name, q.points, 0.0, "time limit" if reply["killed"]
                                        else "crashed", ended))
            continue
        st = ln.get("status", "error")
        if st == "error" and "the file has no" in ln.get("message", ""):
            st = "not found"
        results.append(LayerOutcome(q.name, q.points, q.points if st == PASS else 0.0, st,
                                    ln.get("message", ""), ln.get("report")))
    return CodeResult(student, file, results, "graded", output)


def _how_it_ended(reply) -> str:
    if reply.get("killed"):
        return "killed at the time limit"
    code = reply.get("exit")
    if code is None:
        return "unknown"
    if code < 0:
        import signal
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"killed by {name}" + (" (CPU time limit)" if name in ("SIGXCPU", "SIGKILL")
                                      else "")
    return f"the process ended (exit status {code}: sys.exit or os._exit) before giving results"


def layer_pass_rates(report: CodeReport) -> list[tuple[str, int, int]]:
    """(layer, passed, submissions) in rubric order."""
    out = []
    for i, q in enumerate(report.rubric.questions):
        passed = sum(1 for r in report.results if r.questions[i].status == PASS)
        out.append((q.name, passed, len(report.results)))
    return out
