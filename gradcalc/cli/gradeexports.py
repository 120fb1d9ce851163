"""`grade --export PLATFORM`: the files each grading platform imports, written beside grades.csv.

gradescope/<student>.json and prairielearn/<student>.json hold one submission's results.json
(written while grading, before a result's arrays are released); moodle.csv and blackboard.csv
hold the class. Every file goes through fileio.write_atomic and is listed in the manifest, so a
re-run removes what it no longer writes. File names are those of the feedback files.
"""
from __future__ import annotations

import os

from gradcalc.errors import UsageError
from gradcalc.fileio import write_atomic

PER_SUBMISSION = ("gradescope", "prairielearn")


class Exports:
    """The chosen platforms of one `grade` run."""

    def __init__(self, platforms, out_path, lang: str, hide_answers: bool, precision: int,
                 roster: bool):
        self.platforms = tuple(dict.fromkeys(platforms))     # in the order given, once each
        if "canvas" in self.platforms and not roster:
            raise UsageError("--export canvas needs --roster: the gradebook exported from "
                             "Canvas, whose columns upload.csv copies")
        self.out = str(out_path)
        self.lang, self.hide, self.precision = lang, hide_answers, precision
        self.per_submission = [p for p in self.platforms if p in PER_SUBMISSION]
        self.left_out: list[tuple[str, str]] = []
        for p in self.per_submission:
            folder = os.path.join(self.out, p)
            if os.path.islink(folder) or (os.path.lexists(folder) and not os.path.isdir(folder)):
                raise UsageError("exists and is not a folder", file=folder)
            os.makedirs(folder, exist_ok=True)

    def submission(self, result, feedback_name: str) -> list[str]:
        """Write the per-submission results.json files of one graded result (call before its
        arrays are released); returns their paths relative to the output folder."""
        if not self.per_submission:
            return []
        from gradcalc.render import exports_lms as X
        outputs = [X.question_output(q, self.lang, self.hide, self.precision)
                   for q in result.questions]
        stem = feedback_name[:-3] if feedback_name.endswith(".md") else feedback_name
        written = []
        for p in self.per_submission:
            data = (X.gradescope_results(result, self.lang, outputs=outputs) if p == "gradescope"
                    else X.prairielearn_results(result, self.lang, outputs=outputs))
            rel = f"{p}/{stem}.json"
            write_atomic(os.path.join(self.out, rel), X.results_json(data).encode("utf-8"),
                         skip_unchanged=True)
            written.append(rel)
        return written

    def class_files(self, results, assignment: str, max_points: float) -> list[str]:
        """moodle.csv and blackboard.csv (one row per student id; see exports_lms.uploadable
        for what is left out, listed in self.left_out)."""
        from gradcalc.render import exports_lms as X
        keep, self.left_out = X.uploadable(results)
        written = []
        if "moodle" in self.platforms:
            write_atomic(os.path.join(self.out, "moodle.csv"),
                         X.moodle_csv(keep, assignment, self.lang).encode("utf-8"),
                         skip_unchanged=True)
            written.append("moodle.csv")
        if "blackboard" in self.platforms:
            write_atomic(os.path.join(self.out, "blackboard.csv"),
                         X.blackboard_csv(keep, assignment, max_points).encode("utf-8"),
                         skip_unchanged=True)
            written.append("blackboard.csv")
        return written

    def note(self) -> str | None:
        """One console line when the class files left submissions out (None otherwise)."""
        if not ({"moodle", "blackboard"} & set(self.platforms)) or not self.left_out:
            return None
        n = len(self.left_out)
        return (f"gradcalc: note: {n} submission{'s' if n != 1 else ''} left out of "
                + "/".join(p + ".csv" for p in self.platforms if p in ("moodle", "blackboard"))
                + " (unreadable, or one id graded more than once with different totals): "
                + "; ".join(f"{src} ({why})" for src, why in self.left_out[:3])
                + (" …" if n > 3 else ""))
