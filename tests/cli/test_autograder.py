"""`gradcalc autograder`: a Gradescope bundle, rehearsed in a temporary /autograder-like tree.

Gradescope's specification (https://gradescope-autograders.readthedocs.io/en/latest/specs/): the
zip has setup.sh and run_autograder at its root, is unpacked into /autograder/source, the
submission is in /autograder/submission, who submitted in /autograder/submission_metadata.json
(users[{email, id, name, sid}]), and run_autograder must write /autograder/results/results.json.
The rehearsal points GRADCALC_AUTOGRADER_ROOT at the temporary tree and runs the bundle's own
run_autograder script with this venv's Python. Expected answers come from a NumPy forward and
backward pass written here, on the variant's numbers as `gradcalc variant` prints them.
"""
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from gradcalc.cli import cli
from twolayer import two_layer   # tests/cli/twolayer.py: the NumPy reference
from gradcalc.version import __version__

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "problems" / "hw1_template.yaml"
RUBRIC = ROOT / "problems" / "hw1_rubric.yaml"
QUESTIONS = ["z1", "h1", "y", "L", "dW2", "db2", "dW1", "db1"]

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "grading"))
from test_platform_exports import GRADESCOPE  # noqa: E402  (the schema from Gradescope's docs)

jsonschema = pytest.importorskip("jsonschema")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def variant_of(student):
    r = run("variant", TEMPLATE, "--student", student)
    assert r.exit_code == 0, r.output
    return yaml.safe_load(r.output)


def answer_file(student, answers):
    return "student: %s\nanswers:\n" % student + "".join(
        f"  {k}: {json.dumps(np.asarray(v).tolist())}\n" for k, v in answers.items())


def tree(tmp_path, bundle, sid, files):
    """An /autograder-like tree: source/ unpacked from the zip, submission/, the metadata."""
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    with zipfile.ZipFile(bundle) as z:
        z.extractall(root / "source")
        for info in z.infolist():           # zipfile does not restore modes: as unzip does
            os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777)
    meta = {"id": 1, "created_at": "2026-10-01T10:00:00.0-07:00", "submission_method": "upload",
            "assignment": {"id": 9, "title": "HW1", "due_date": "2026-10-02T23:59:00.0-07:00"},
            "users": [{"email": f"{sid}@uni.example", "id": 42, "name": "A Student", "sid": sid}],
            "previous_submissions": []}
    (root / "submission_metadata.json").write_text(json.dumps(meta))
    for name, text in files.items():
        (root / "submission" / name).write_text(text)
    return root


def run_autograder(root, **env):
    e = dict(os.environ, GRADCALC_AUTOGRADER_ROOT=str(root), GRADCALC_PYTHON=sys.executable, **env)
    done = subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=e,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    r = run("autograder", TEMPLATE, "-o", out, "--visibility", "after_due_date")
    assert r.exit_code == 0, r.output
    return out


def test_the_zip_has_gradescopes_two_scripts_at_its_root_executable(bundle):
    with zipfile.ZipFile(bundle) as z:
        names = z.namelist()
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in z.infolist()}
        setup = z.read("setup.sh").decode()
        runner = z.read("run_autograder").decode()
    assert {"setup.sh", "run_autograder", "problem.yaml", "gradcalc_autograder.json"} <= set(names)
    assert all("/" not in n for n in names)                    # files, not a folder, zipped
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    assert setup.startswith("#!/usr/bin/env bash") and runner.startswith("#!/usr/bin/env bash")
    assert f"gradcalc=={__version__}" in setup                  # no wheel: the PyPI release
    assert (TEMPLATE.read_bytes() == zipfile.ZipFile(bundle).read("problem.yaml"))


def test_each_student_is_graded_against_their_own_variant(tmp_path, bundle):
    ref = two_layer(variant_of("2026001"))
    root = tree(tmp_path, bundle, "2026001", {"hw1.yaml": answer_file("2026001", ref)})
    data = run_autograder(root)
    jsonschema.validate(data, GRADESCOPE)
    assert [t["name"] for t in data["tests"]] == QUESTIONS         # one test per question
    assert data["score"] == 10 and all(t["status"] == "passed" for t in data["tests"])
    assert {t["visibility"] for t in data["tests"]} == {"after_due_date"}
    assert data["visibility"] == "after_due_date" and data["stdout_visibility"] == "hidden"
    # the same answers submitted by another student: graded against that student's numbers
    other = two_layer(variant_of("2026002"))
    assert not np.allclose(other["z1"], ref["z1"], rtol=0.01)
    root2 = tree(tmp_path / "b", bundle, "2026002", {"hw1.yaml": answer_file("2026001", ref)})
    data2 = run_autograder(root2)
    jsonschema.validate(data2, GRADESCOPE)
    assert data2["score"] < 10
    z1 = next(t for t in data2["tests"] if t["name"] == "z1")
    assert z1["score"] == 0 and z1["status"] == "failed"
    assert "the answer file says student 2026001; graded as 2026002" in data2["output"]


def test_a_submission_without_an_answer_file_still_gets_a_results_json(tmp_path, bundle):
    root = tree(tmp_path, bundle, "2026001", {"notes.txt": "I did it on paper"})
    data = run_autograder(root)
    jsonschema.validate(data, GRADESCOPE)
    assert data["score"] == 0
    assert "no answer file" in data["output"]


def test_a_fixed_problem_with_a_shipped_wheel_installs_and_grades(tmp_path):
    """--build-wheel (pip wheel --no-deps, offline) ships gradcalc; the wheel installs without
    the network (--no-deps: its dependencies are this venv's) and grades the submission."""
    out = tmp_path / "autograder.zip"
    r = run("autograder", RUBRIC, "-o", out, "--build-wheel", "--hide-answers")
    if r.exit_code != 0 and "pip wheel failed" in r.output:
        pytest.skip("no offline build backend here: " + r.output.strip())
    assert r.exit_code == 0, r.output
    with zipfile.ZipFile(out) as z:
        wheel = [n for n in z.namelist() if n.endswith(".whl")]
        setup = z.read("setup.sh").decode()
    assert len(wheel) == 1 and f"/autograder/source/{wheel[0]}" in setup
    root = tree(tmp_path, out, "s9", {"a.yaml": answer_file("s9", {"z1": [0.6, -0.8]})})
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--target", str(target), str(root / "source" / wheel[0])], check=True,
                   timeout=300)
    where = subprocess.run([sys.executable, "-c", "import gradcalc; print(gradcalc.__file__)"],
                           env=dict(os.environ, PYTHONPATH=str(target)), cwd=root,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(target))                  # the wheel's copy is the one imported
    data = run_autograder(root, PYTHONPATH=str(target))
    jsonschema.validate(data, GRADESCOPE)
    assert data["score"] == 1                               # z1 = W1 x + b1 of hw1: [0.6, -0.8]
    z1 = data["tests"][0]["output"]                          # --hide-answers: no interval shown
    assert "accepted: (hidden)" in z1 and "∈" not in z1 and "0.5939" not in z1


def test_a_data_file_the_problem_reads_is_shipped_beside_it(tmp_path):
    d = tmp_path / "p"
    d.mkdir()
    (d / "pts.csv").write_text("x1,x2,label\n0,1,0\n1,0,1\n1,1,0\n0,0,1\n")
    (d / "p.yaml").write_text("data: {file: pts.csv, labels: label}\nlayers:\n  - {width: 2}\n"
                              "loss: cross_entropy\n")
    out = tmp_path / "ag.zip"
    r = run("autograder", d / "p.yaml", "-o", out)
    assert r.exit_code == 0, r.output
    assert zipfile.ZipFile(out).read("pts.csv") == (d / "pts.csv").read_bytes()
    root = tree(tmp_path, out, "s1", {"a.yaml": answer_file("s1", {"L": 0.5})})
    data = run_autograder(root)
    jsonschema.validate(data, GRADESCOPE)
    assert [t["name"] for t in data["tests"]] == ["y", "L", "dW1", "db1"]   # it loaded the data
    (tmp_path / "pts.csv").write_bytes((d / "pts.csv").read_bytes())   # it exists: still refused
    (d / "q.yaml").write_text("data: {file: ../pts.csv, labels: label}\nlayers:\n"
                              "  - {width: 2}\nloss: cross_entropy\n")
    r = run("autograder", d / "q.yaml", "-o", tmp_path / "q.zip")
    assert r.exit_code == 2 and not (tmp_path / "q.zip").exists()
    assert r.output.startswith(f"gradcalc: error: {d / 'q.yaml'}: data.file '../pts.csv' is "
                               "outside the problem's folder")


def test_unusable_settings_still_give_a_results_json(tmp_path, bundle):
    root = tree(tmp_path, bundle, "2026001", {"a.yaml": "student: x\n"})
    (root / "source" / "gradcalc_autograder.json").write_text("[1, 2")
    data = run_autograder(root)
    jsonschema.validate(data, GRADESCOPE)
    assert data["score"] == 0 and data["output"].startswith("gradcalc could not grade")
