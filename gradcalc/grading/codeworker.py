"""The worker of `gradcalc grade-code`: a warm process that runs each submission in a child.

Started as `python -m gradcalc.grading.codeworker` with a scrubbed environment.  It imports NumPy
and the layer checker once, then reads one job per line (JSON) on stdin; for each job it forks a
child that, before touching the student's file, moves into its own session, sends its output to a
capture file, enters the scratch folder, sets resource limits (address space, CPU time, file size,
no core files, processes), gives up root (as `nobody`) when it has it, refuses to start processes
from Python, and only then imports the file and checks the rubric's layers, each under an
interval timer.  The child writes one JSON line per result to a pipe; the worker waits up to a
deadline, kills the child's whole process group (whatever it left behind) and answers one JSON
line on stdout.  This is damage control for broken homework, NOT a security sandbox: see the
README (a container or a VM is the tool against a determined attacker).
"""
from __future__ import annotations

import json
import math
import os
import resource
import select
import signal
import stat
import subprocess
import sys
import time

NOBODY = 65534
MAX_OUTPUT = 4000            # bytes of captured output kept for the feedback
MAX_FILE = 64 << 20          # the largest file a submission may write


class _Timeout(BaseException):
    """Raised by the interval timer; a BaseException so that `except Exception` cannot eat it."""


def _on_alarm(signum, frame):
    raise _Timeout()


def deadline_of(job: dict) -> float:
    """Seconds the whole child may take: the import and every layer, plus start-up slack."""
    return job["time_limit"] * (1 + len(job["layers"])) + 3.0


# ---------------------------------------------------------------- in the child
def _limits(job: dict) -> None:
    base = 0
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    base = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    mem = base + job["memory_mb"] * (1 << 20)
    cpu = math.ceil(deadline_of(job))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)       # too much output: EFBIG, not a kill
    for name, value in (("RLIMIT_AS", (mem, mem)), ("RLIMIT_CPU", (cpu, cpu + 1)),
                        ("RLIMIT_FSIZE", (MAX_FILE, MAX_FILE)), ("RLIMIT_CORE", (0, 0)),
                        ("RLIMIT_NPROC", (job.get("nproc", 64),) * 2)):
        if hasattr(resource, name):
            try:
                resource.setrlimit(getattr(resource, name), value)
            except (ValueError, OSError):
                pass


def _world_readable(path: str) -> bool:
    """Can any user reach and read `path` (every folder above it searchable)?"""
    path = os.path.realpath(path)
    try:
        if not os.stat(path).st_mode & stat.S_IROTH:
            return False
        while path != os.path.dirname(path):
            path = os.path.dirname(path)
            if not os.stat(path).st_mode & stat.S_IXOTH:
                return False
    except OSError:
        return False
    return True


def can_drop_root() -> bool:
    """Root can delete anything and ignores RLIMIT_NPROC, so the child becomes nobody — when
    nobody can still read Python's standard library, NumPy and gradcalc (an interpreter under
    /root cannot be used by nobody: then the child stays root, and the summary says so)."""
    if os.geteuid() != 0:
        return False
    import numpy
    return all(_world_readable(f) for f in (os.__file__, numpy.__file__, __file__, json.__file__))


def _drop_root() -> None:
    if can_drop_root():
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


def _refuse(*args, **kwargs):
    raise PermissionError("gradcalc grade-code: starting or signalling processes is not allowed")


def _guard() -> None:
    """No new processes from Python (a fork bomb fails at once; RLIMIT_NPROC backs this up)."""
    for name in ("fork", "forkpty", "system", "popen", "posix_spawn", "posix_spawnp", "kill",
                 "killpg", "spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl", "spawnle",
                 "spawnlp", "spawnlpe", "execv", "execve", "execvp", "execvpe", "execl",
                 "execle", "execlp", "execlpe"):
        if hasattr(os, name):
            setattr(os, name, _refuse)
    subprocess.Popen._execute_child = _refuse
    try:
        import _posixsubprocess
        _posixsubprocess.fork_exec = _refuse
    except ImportError:
        pass


def _die_with_worker() -> None:
    """Linux: the child is killed if its worker dies (a submission that kills the worker does
    not live on as an orphan)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)      # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child(job: dict, w: int) -> None:
    os.setsid()                                   # its own process group: killed as a whole
    _die_with_worker()
    fd = os.open(job["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    for stream in (sys.stdout, sys.stderr):      # the student's prints reach the file
        try:
            stream.reconfigure(line_buffering=True)
        except (AttributeError, ValueError):
            pass
    os.chdir(job["cwd"])
    _limits(job)
    _drop_root()
    _guard()

    def send(obj) -> None:
        if obj.get("message"):                   # the student's file name, not the scratch path
            obj["message"] = obj["message"].replace("--layer ", "").replace(
                "import " + job["file"], job["display"]).replace(job["file"], job["display"])
        data = (json.dumps(obj) + "\n").encode("utf-8")
        while data:
            data = data[os.write(w, data):]

    from gradcalc.compare.conventions import import_file
    from gradcalc.compare.layer import check_file
    from gradcalc.errors import UsageError
    from gradcalc.grading.coderubric import arg_options

    signal.signal(signal.SIGALRM, _on_alarm)
    limit = float(job["time_limit"])
    try:
        signal.setitimer(signal.ITIMER_REAL, limit)
        module = import_file(job["file"], "import")
        signal.setitimer(signal.ITIMER_REAL, 0)
    except _Timeout:
        return send({"import": "time limit"})
    except UsageError as exc:
        return send({"import": "error", "message": exc.message})
    except SystemExit as exc:
        return send({"import": "exit", "message": f"sys.exit({exc.code!r})"})
    except BaseException as exc:                      # noqa: BLE001 - anything the file raised
        return send({"import": "error", "message": f"{type(exc).__name__}: {exc}"})
    send({"import": "ok"})
    for item in job["layers"]:
        out = {"layer": item["name"]}
        try:
            signal.setitimer(signal.ITIMER_REAL, limit)
            rep = check_file(job["file"], opts=arg_options(item["options"]), seed=job["seed"],
                             module=module, names=[(item["name"], item["convention"])])[0]
            signal.setitimer(signal.ITIMER_REAL, 0)
            status = "pass" if rep.ok else ("error" if rep.error else "fail")
            if "MemoryError" in rep.error:
                status = "memory limit"
            out.update(status=status, message=rep.error, report=rep.to_json())
        except _Timeout:
            out.update(status="time limit", message=f"longer than {limit:g} s")
        except SystemExit as exc:
            out.update(status="error", message=f"sys.exit({exc.code!r}) while checking")
        except MemoryError:
            out.update(status="memory limit", message="MemoryError")
        except BaseException as exc:                  # noqa: BLE001
            out.update(status="error", message=f"{type(exc).__name__}: {exc}")
        signal.setitimer(signal.ITIMER_REAL, 0)
        send(out)


# ---------------------------------------------------------------- in the worker
def run_job(job: dict) -> dict:
    """Fork a child for one submission; its result lines, how it ended, its captured output."""
    r, w = os.pipe()
    import gc
    gc.freeze()          # the warm objects stay out of the child's collections (fewer page copies)
    pid = os.fork()
    if pid == 0:                                     # the child never returns
        code = 70
        try:
            os.close(r)
            _child(job, w)
            code = 0
        except BaseException:                         # noqa: BLE001 - into the captured output
            try:
                import traceback
                os.write(2, ("gradcalc worker: " + traceback.format_exc()).encode())
            except BaseException:                     # noqa: BLE001
                pass
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except BaseException:                 # noqa: BLE001
                    pass
            os._exit(code)
    os.close(w)
    chunks, killed = [], False
    end = time.monotonic() + deadline_of(job)
    while True:
        left = end - time.monotonic()
        if left <= 0:
            killed = True
            break
        ready, _, _ = select.select([r], [], [], left)
        if ready:
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    os.close(r)
    if killed:
        _kill_group(pid)
    _, status = os.waitpid(pid, 0)
    _kill_group(pid)                                 # anything it started and left running
    lines = []
    for raw in b"".join(chunks).decode("utf-8", "replace").splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            pass
    try:
        with open(job["output"], "rb") as f:
            output = f.read(MAX_OUTPUT + 1).decode("utf-8", "replace")
    except OSError:
        output = ""
    return {"lines": lines, "killed": killed, "exit": os.waitstatus_to_exitcode(status),
            "output": output}


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def warmup_forward(x):
    """A layer checked once when the worker starts: first-call costs (lazy imports, NumPy's
    generators and caches) are paid once instead of in every child."""
    return x * x, x


def warmup_backward(dout, cache):
    return 2 * cache * dout


def serve() -> None:
    import importlib
    for name in ("ctypes", "numpy", "gradcalc.compare.conventions", "gradcalc.compare.layer",
                 "gradcalc.compare.methods", "gradcalc.derive.numeric",
                 "gradcalc.grading.coderubric", "gradcalc.problem.yamlio"):
        importlib.import_module(name)            # warm: every child starts with these
    from gradcalc.compare.layer import check_file
    check_file(__file__, module=sys.modules[__name__], names=[("warmup", "pair")])
    out = sys.stdout
    out.write(json.dumps({"ready": True, "uid": os.geteuid(),
                          "drops_root": can_drop_root()}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = run_job(json.loads(line))
        except Exception as exc:                      # noqa: BLE001 - the batch goes on
            reply = {"lines": [], "killed": False, "exit": None, "output": "",
                     "worker_error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    serve()
