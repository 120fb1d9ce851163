"""Benchmark `gradcalc grade` whole-process on 1,000 and 10,000 generated hw1 submissions.

Prints submissions per second, peak memory (the child's max RSS) and ratios against
baselines measured in the same run: the bare start-up of `gradcalc --version`, a process
that only reads the same answer files through gradcalc.problem.yamlio, and a process that only
creates as many files atomically in the same folder (the floor the file system sets: on
ext4 it varies tenfold, e.g. for minutes after many files were deleted nearby).
With --baseline REV, the package as committed at REV is timed on the same inputs, run by run
next to the working tree.

    python bench/bench_grade.py            # 1,000 and 10,000 YAML files, and a 10,000-row CSV

Each size is also graded "with everything on" (issue 16): a rubric with duplicates: latest, a
due date and a late penalty, every file with a `submitted` time (1 in 10 late), 1% of the ids
handed in twice, an overrides file (20 regrades), a Canvas roster and every export
(--export gradescope prairielearn moodle blackboard canvas); item analysis and signals.csv
are always written.
    python bench/bench_grade.py --sizes 1000 --baseline 9107e01 --bytecode-cache
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _baseline import export, with_path   # bench/ is on the path when run as a script

ROOT = Path(__file__).resolve().parent.parent
PROBLEM = ROOT / "problems" / "hw1.yaml"
GRADCALC = [sys.executable, "-m", "gradcalc"]


def _answers(kind: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """hw1 answers computed here with NumPy: right, rounded, follow-through or a mistake."""
    x = np.array([0.5, -1.5])
    W1 = np.array([[0.4, -0.2], [-0.1, 0.3]])
    b1 = np.array([0.1, -0.3])
    W2 = np.array([[0.2, -0.5]])
    b2 = np.array([0.05])
    t = 0.3
    z1 = W1 @ x + b1
    if kind == 2:                       # a wrong z1, then consistent to the end
        z1 = z1 + rng.choice([-1, 1]) * rng.uniform(0.1, 0.5)
    h1 = 1 / (1 + np.exp(-z1))
    y = W2 @ h1 + b2
    L = 0.5 * float((y[0] - t) ** 2)
    dy = y - t
    dW2 = np.outer(dy, h1)
    db2 = dy.copy()
    dh1 = W2.T @ dy
    dz1 = dh1 * h1 * (1 - h1)
    if kind == 3:                       # forgot σ′
        dz1 = dh1
    if kind == 4:                       # sign flipped on dW2
        dW2 = -dW2
    dW1 = np.outer(dz1, x)
    db1 = dz1
    if kind == 5:                       # the MSE without ½
        L, dW1, db1, dW2, db2 = 2 * L, 2 * dW1, 2 * db1, 2 * dW2, 2 * db2
    out = {"z1": z1, "h1": h1, "y": y, "L": np.asarray(L), "dW1": dW1, "db1": db1,
           "dW2": dW2, "db2": db2}
    if kind == 1:                       # rounded to 3 significant figures
        out = {k: np.vectorize(lambda v: float(f"{v:.3g}"))(v) for k, v in out.items()}
    if kind == 6:                       # a typo somewhere
        k = rng.choice(list(out))
        out[k] = out[k] * 1.5
    return out


def _yaml_value(v: np.ndarray) -> str:
    v = np.asarray(v)
    if v.ndim == 0 or v.size == 1:
        return repr(float(v.ravel()[0]))
    if v.ndim == 1:
        return "[" + ", ".join(repr(float(a)) for a in v) + "]"
    return "[" + ", ".join(_yaml_value(r) for r in v) + "]"


MIX = [0.4, 0.2, 0.1, 0.1, 0.08, 0.07, 0.05]   # right, rounded, follow-through, σ′, sign, ½, typo


def _bodies(n: int, seed: int) -> list[dict]:
    """Up to 1,000 distinct answer sets in the mix above; larger classes reuse them under
    distinct ids (the grader never sees two students as one: ids and files differ)."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(len(MIX), size=min(n, 1000), p=MIX)
    return [_answers(int(k), rng) for k in kinds]


def generate(folder: Path, n: int, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    bodies = ["\n".join(f"  {k}: {_yaml_value(v)}" for k, v in b.items()) for b in _bodies(n, seed)]
    for i in range(n):
        (folder / f"s{i:05d}.yaml").write_text(f"student: s{i:05d}\nname: Student {i}\n"
                                               f"answers:\n{bodies[i % len(bodies)]}\n",
                                               encoding="utf-8")


def generate_policy(folder: Path, n: int, tmp: Path, seed: int = 0) -> list[str]:
    """The class of `generate` with submission times and 1% duplicate ids, and the rubric,
    overrides and roster of the "everything on" run; returns the extra command-line words."""
    generate(folder, n, seed)
    rng = np.random.default_rng(seed + 1)
    for i in range(n):
        p = folder / f"s{i:05d}.yaml"
        day = "02" if rng.random() < 0.1 else "01"          # 1 in 10 a day late
        p.write_text(p.read_text(encoding="utf-8").replace(
            "answers:\n", f"submitted: 2026-10-{day}T{10 + i % 12:02d}:00\nanswers:\n", 1),
            encoding="utf-8")
    for i in range(0, n, 100):                              # 1%: an earlier draft too
        src = folder / f"s{i:05d}.yaml"
        (folder / f"s{i:05d}_draft.yaml").write_text(
            src.read_text(encoding="utf-8").replace("submitted: 2026-10-0", "submitted: 2026-09-2",
                                                    1), encoding="utf-8")
    problem = tmp / "hw1_policy.yaml"
    problem.write_text(PROBLEM.read_text(encoding="utf-8")
                       + "grading:\n  duplicates: latest\n  due: 2026-10-01T23:59\n"
                         "  late: {per_day: 10%, max_days: 30}\n", encoding="utf-8")
    overrides = tmp / "overrides.yaml"
    overrides.write_text("".join(f"- {{student: s{i:05d}, question: dW1, credit: 1, "
                                 f"comment: regrade, who: TA}}\n" for i in range(0, n, max(1, n // 20))),
                         encoding="utf-8")
    roster = tmp / f"roster{n}.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section\n"
                      + "".join(f"Student {i},{1000 + i},s{i:05d},s{i:05d},A\n" for i in range(n)),
                      encoding="utf-8")
    return [str(problem), str(folder), "--overrides", str(overrides), "--roster", str(roster),
            "--export", "gradescope", "--export", "prairielearn", "--export", "moodle",
            "--export", "blackboard", "--export", "canvas"]


def generate_csv(path: Path, n: int, seed: int = 0) -> None:
    names = ["z1", "h1", "y", "L", "dW1", "db1", "dW2", "db2"]
    bodies = [",".join('"' + _yaml_value(b[k]) + '"' for k in names) for b in _bodies(n, seed)]
    lines = ["student,name," + ",".join(names)]
    lines += [f"s{i:05d},Student {i}," + bodies[i % len(bodies)] for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, float, float]:
    """Wall seconds, the child's peak RSS in MB and its CPU seconds (user + system), from
    os.wait4: that child's own rusage (with the helper process it waits for), not the sum
    over every child so far."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(map(str, cmd))}\n{err}")
    return elapsed, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


READ_ONLY = ("import sys, pathlib\nfrom gradcalc.problem.yamlio import load_yaml_file\n"
             "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.yaml')): load_yaml_file(p)\n")

WRITE_ONLY = ("import os, sys\nd, n = sys.argv[1], int(sys.argv[2])\nos.makedirs(d)\n"
              "data = b'x' * 2600\n"
              "for i in range(n):\n"
              "    t = os.path.join(d, f'.s{i:05d}.md.tmp')\n"
              "    fd = os.open(t, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)\n"
              "    os.write(fd, data)\n    os.close(fd)\n"
              "    os.replace(t, os.path.join(d, f's{i:05d}.md'))\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--no-csv", action="store_true")
    ap.add_argument("--no-everything", action="store_true",
                    help="skip the runs with every policy and export on (issue 16)")
    ap.add_argument("--dir", help="where to put the generated files and outputs (default: the "
                                  "system temporary folder); file creation speed varies a lot")
    ap.add_argument("--baseline", metavar="REV",
                    help="also time the package as committed at this git revision, run by run "
                         "alternating with the working tree (e.g. 9107e01, before the speed-ups)")
    ap.add_argument("--bytecode-cache", action="store_true",
                    help="let each gradcalc process use compiled bytecode (a private cache, "
                         "warmed by an untimed run), as an installed copy does; by default the "
                         "environment decides (PYTHONDONTWRITEBYTECODE=1 compiles every run)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gradcalc-bench-", dir=args.dir))
    try:
        # every gradcalc process runs in the temporary folder with its package first on the
        # path (`python -m` would otherwise find the package in the current folder)
        envs = {"current": with_path(ROOT)}
        if args.baseline:
            envs = {f"baseline {args.baseline}": with_path(export(args.baseline, tmp / "baseline")),
                    **envs}
        if args.bytecode_cache:
            for label, env in envs.items():
                env.pop("PYTHONDONTWRITEBYTECODE", None)
                env["PYTHONPYCACHEPREFIX"] = str(tmp / ("pyc-" + label.replace(" ", "-")))
        cached = "PYTHONDONTWRITEBYTECODE" not in envs["current"]
        # never deleted before the end: ext4 skips recently freed inodes when it allocates,
        # so deleting thousands of files slows the next minutes of file creation
        warm = tmp / "warm"
        generate(warm, 20)
        for label, env in envs.items():   # each label runs the code it names
            where = subprocess.run([sys.executable, "-c", "import gradcalc; print(gradcalc.__file__)"],
                                   env=env, cwd=tmp, capture_output=True, text=True).stdout.strip()
            expected = env["PYTHONPATH"].split(os.pathsep)[0]
            if not where.startswith(expected):
                raise SystemExit(f"{label}: imports gradcalc from {where}, not {expected}")
        for k, env in enumerate(envs.values()):   # untimed: compiles cached bytecode
            run(GRADCALC + ["grade", str(PROBLEM), str(warm), "-o", str(tmp / f"out-warm-{k}"),
                            "--quiet"], env, tmp)
        startup, _, startup_cpu = run(GRADCALC + ["--version"], envs["current"], tmp)
        print(f"folder: {tmp.parent}   load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
              f"   bytecode: {'cached' if cached else 'compiled in every process'}")
        print(f"baseline: `gradcalc --version` start-up {startup:.2f} s wall, {startup_cpu:.2f} s CPU")
        n_floor = max(args.sizes)
        floor, _, floor_cpu = run([sys.executable, "-c", WRITE_ONLY, str(tmp / "floor"), str(n_floor)])
        print(f"baseline: create {n_floor} files of 2.6 kB atomically (temporary file + rename) "
              f"in that folder: {floor:.2f} s wall, {floor_cpu:.2f} s CPU "
              f"({1000 * floor / n_floor:.2f} ms per file)")
        print(f"{'input':<17}{'code':<18}{'wall s':>8}{'subs/s':>8}{'CPU s':>8}{'subs/CPU s':>11}"
              f"{'peak MB':>9}{'÷ start-up':>11}{'÷ yamlio read':>14}")

        def row(label, code, n, secs, mb, cpu, read_s=None):
            ratio = f"{secs / read_s:>14.2f}" if read_s else f"{'':>14}"
            print(f"{label:<17}{code:<18}{secs:>8.2f}{n / secs:>8.0f}{cpu:>8.2f}{n / cpu:>11.0f}"
                  f"{mb:>9.0f}{secs / startup:>11.1f}{ratio}")

        for n in args.sizes:
            folder = tmp / f"subs{n}"
            generate(folder, n)
            read_s, _, _ = run([sys.executable, "-c", READ_ONLY, str(folder)], envs["current"], tmp)
            for k, (label, env) in enumerate(envs.items()):
                secs, mb, cpu = run(GRADCALC + ["grade", str(PROBLEM), str(folder), "-o",
                                                str(tmp / f"out{n}-{k}"), "--quiet"], env, tmp)
                row(f"{n} YAML files", label, n, secs, mb, cpu, read_s)
            if not args.no_everything:
                words = generate_policy(tmp / f"policy{n}", n, tmp)
                secs, mb, cpu = run(GRADCALC + ["grade", *words, "-o", str(tmp / f"outp{n}"),
                                                "--quiet"], envs["current"], tmp)
                row(f"{n} all on", "current", n, secs, mb, cpu)
        if not args.no_csv:
            n = max(args.sizes)
            csv_path = tmp / f"quiz{n}.csv"
            generate_csv(csv_path, n)
            for k, (label, env) in enumerate(envs.items()):
                secs, mb, cpu = run(GRADCALC + ["grade", str(PROBLEM), str(csv_path), "-o",
                                                str(tmp / f"outcsv-{k}"), "--quiet"], env, tmp)
                row(f"{n}-row CSV", label, n, secs, mb, cpu)
        print("÷ yamlio read: against a process that only parses the same files with "
              "gradcalc.problem.yamlio (default, pure-Python loader)")
        print("target: ≥ 1,000 submissions/s end to end with feedback files; < 300 MB at 10,000;"
              " with everything on (issue 16): ≥ 1,500/s, < 300 MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
