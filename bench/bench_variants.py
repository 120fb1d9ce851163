"""Benchmark: variants, handouts and keys for 1,000 students; grading 1,000 submissions with --variants.

Whole-process timings (python -m gradcalc …), each the best of REPEAT runs, printed next to
baselines measured in the same run: the start-up of `gradcalc solve` (the floor of any command)
and `gradcalc grade` of the same files against one fixed problem (what --variants adds).
Targets: variants+handouts+keys for 1,000 students in under 5 s; grading with --variants at
least 500 submissions per second.

    python bench/bench_variants.py [--students 1000] [--repeat 3] [--baseline 9107e01]

With --baseline REV, the grading runs are also timed with the package as committed at REV
(git archive into the temporary folder), in the same run.
"""
from __future__ import annotations

import argparse
import csv
import io
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _baseline import export, with_path   # bench/ is on the path when run as a script

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "problems" / "hw1_template.yaml"
HW1 = ROOT / "problems" / "hw1.yaml"
SURNAMES = "王李张刘陈杨黄赵吴周"


CPU: dict[str, float] = {}     # the CPU seconds (user + sys) of the best run, by label
# the package each gradcalc process imports (PYTHONPATH first) and the folder it runs in:
# set by main() (`python -m` would otherwise import the package of the current folder)
CODE: dict[str, dict] = {}
WORKDIR: list[Path] = []


def gradcalc(*args: str, code: str = "current") -> tuple[float, float]:
    """(wall, CPU) seconds of one whole `python -m gradcalc …` process; fails loudly on an
    exit status other than 0 or 1. CPU time is printed too: on a shared machine the wall time
    also counts the waits for the CPU and the disk."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "gradcalc", *args], capture_output=True, text=True,
                       env=CODE.get(code), cwd=WORKDIR[0] if WORKDIR else None)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode not in (0, 1):
        sys.exit(f"gradcalc {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return dt, cpu


def best(repeat: int, *args: str, code: str = "current") -> float:
    runs = [gradcalc(*args, code=code) for _ in range(repeat)]
    wall, cpu = min(runs)
    CPU[args[0] + (" --variants" if "--variants" in args else "") + ("" if code == "current"
                                                                     else " " + code)] = cpu
    return wall


def write_roster(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as f:   # as Excel saves it
        w = csv.writer(f)
        w.writerow(["Student", "ID", "SIS User ID", "Section"])
        for i in range(n):
            w.writerow([f"{SURNAMES[i % 10]}同学{i}", str(90000 + i), f"2026{i:04d}", f"S{i % 4}"])


def write_submissions(key_csv: Path, folder: Path) -> int:
    """One YAML answer file per student from the answer key: most right, some rounded to 3
    significant figures, some with a wrong z1, and every 50th pair with swapped variants."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = list(csv.DictReader(io.StringIO(key_csv.read_text(encoding="utf-8"))))
    entries = [c for c in rows[0] if c not in ("student", "name")]
    for i, row in enumerate(rows):
        src = row
        if i % 50 == 1:                       # copied from the previous student
            src = rows[i - 1]
        lines = [f'student: "{row["student"]}"', "answers:"]
        for col in entries:
            v = float(src[col])
            if i % 5 == 2:
                v = float(f"{v:.3g}")
            if i % 7 == 3 and col.startswith("z1["):
                v += 0.5
            lines.append(f'  "{col}": {v!r}')
        (folder / f"{row['student']}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline", metavar="REV",
                    help="also time the grading of the package as committed at this git "
                         "revision (e.g. 9107e01, before the speed-ups)")
    ap.add_argument("--dir", help="where to put the generated files (default: the system "
                                  "temporary folder); file creation speed varies a lot")
    args = ap.parse_args()
    n = args.students
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tmp = Path(tmp)
        WORKDIR.append(tmp)
        CODE["current"] = with_path(ROOT)
        if args.baseline:
            CODE[args.baseline] = with_path(export(args.baseline, tmp / "baseline"))
        roster = tmp / "roster.csv"
        write_roster(roster, n)
        startup = best(args.repeat, "solve", str(HW1))
        print(f"baseline: gradcalc solve hw1 (start-up + one problem): {startup:.3f} s "
              f"(CPU {CPU['solve']:.3f} s)")

        out = tmp / "variants"
        gen = best(args.repeat, "variants", str(TEMPLATE), "--roster", str(roster), "-o", str(out),
                   "--quiet")
        files = sum(1 for p in out.rglob("*") if p.is_file())
        print(f"variants+handouts+keys, {n} students ({files} files): {gen:.3f} s "
              f"= {1000 * (gen - startup) / n:.2f} ms per student after start-up; "
              f"{gen / startup:.1f}× the start-up baseline (CPU {CPU['variants']:.3f} s); target < 5 s: "
              f"{'met' if gen < 5 else 'NOT met'}")

        subs = tmp / "subs"
        m = write_submissions(out / "answer_key.csv", subs)
        if args.baseline:
            rev = args.baseline
            old_fixed = best(args.repeat, "grade", str(HW1), str(subs), "-o", str(tmp / "b0"),
                             "--quiet", code=rev)
            old_var = best(args.repeat, "grade", str(TEMPLATE), str(subs), "--variants", "-o",
                           str(tmp / "b1"), "--quiet", code=rev)
            print(f"baseline {rev}: grade {m} submissions against one fixed problem: "
                  f"{old_fixed:.3f} s = {m / old_fixed:.0f} submissions/s (CPU {CPU['grade ' + rev]:.3f} s); "
                  f"with --variants: {old_var:.3f} s = {m / old_var:.0f} submissions/s "
                  f"(CPU {CPU['grade --variants ' + rev]:.3f} s)")
        fixed = best(args.repeat, "grade", str(HW1), str(subs), "-o", str(tmp / "g0"), "--quiet")
        print(f"baseline: grade {m} submissions against one fixed problem: {fixed:.3f} s "
              f"= {m / fixed:.0f} submissions/s (CPU {CPU['grade']:.3f} s)")
        try:
            var = best(args.repeat, "grade", str(TEMPLATE), str(subs), "--variants", "-o",
                       str(tmp / "g1"), "--quiet")
        except SystemExit as exc:
            print(f"grade --variants unavailable: {exc}")
            return
        print(f"grade --variants, {m} submissions: {var:.3f} s = {m / var:.0f} submissions/s; "
              f"{var / fixed:.2f}× the fixed-problem baseline (CPU {CPU['grade --variants']:.3f} s); "
              f"target ≥ 500/s: "
              f"{'met' if m / var >= 500 else 'NOT met'}")


if __name__ == "__main__":
    main()
