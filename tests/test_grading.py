"""The grading pipeline on a real class: honest, hostile and broken submissions of ps00."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import nbformat
import pytest

from dataethics.grading import course as course_cfg
from dataethics.grading import samples
from dataethics.grading.autograde import Limits, Outcome, autograde, sandbox_available, scores

A = "ps00"
# a server on the grading machine: a sandboxed kernel has no network, so it cannot reach it
LISTENER = socket.create_server(("127.0.0.1", 0))
FULL = {"q1-tests": 2, "q2-tests": 2, "q3-tests": 2, "q4-tests": 2}
ZERO = dict.fromkeys(FULL, 0)


def _edit(nb: nbformat.NotebookNode, gid: str, source: str) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == gid:
            cell.source = source
    return nb


def _answer(nb: nbformat.NotebookNode, gid: str) -> str:
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _class(course: Path) -> dict[str, tuple[str | bytes | nbformat.NotebookNode, str]]:
    """Every case of the issue as one student: (notebook or raw content, file name)."""
    release = course_cfg.generate_release(A, course)
    source_nb = course / "source" / A / f"{A}.ipynb"
    by_name = {s.name: s for s in samples.samples_for(A)}

    def sub(name: str = "correct") -> nbformat.NotebookNode:
        return samples.build_submission(by_name[name], source_nb, release / f"{A}.ipynb")

    loop_kbi = "while True:\n    try:\n        pass\n    except KeyboardInterrupt:\n        pass"
    cases: dict[str, tuple[object, str]] = {
        "correct": (sub(), f"{A}.ipynb"),
        "partial": (sub("partial"), f"{A}.ipynb"),
        "blank": (sub("blank"), f"{A}.ipynb"),
        "hardcoded": (sub("hardcoded"), f"{A}.ipynb"),
        "raises": (_edit(sub(), "q1", "def average_basket(orders):\n    raise ValueError('oops')"),
                   f"{A}.ipynb"),
        "infinite_loop": (_edit(sub(), "q2", "while True:\n    pass"), f"{A}.ipynb"),
        "catches_interrupt": (_edit(sub(), "q2", loop_kbi), f"{A}.ipynb"),
        "memory_bomb": (_edit(sub(), "q3", "x = bytearray(40 * 2**30)"), f"{A}.ipynb"),
        "sys_exit": (_edit(sub(), "q2", "import sys\nsys.exit(0)"), f"{A}.ipynb"),
        "os_exit": (_edit(sub(), "q4", "import os\nos._exit(0)"), f"{A}.ipynb"),
        "edited_test": (_edit(sub("blank"), "q1-tests", "assert True"), f"{A}.ipynb"),
        "monkeypatch": (_edit(sub("blank"), "q1",
                              "import numpy as np\nnp.isclose = lambda *a, **k: True\n"
                              "def average_basket(orders):\n    return 0.0"), f"{A}.ipynb"),
        # the correct answer, after reading an instructor file: earns nothing where the sandbox hides it
        "reads_gradebook": (_edit(sub(), "q1", f"open({str(course / 'gradebook.db')!r}, 'rb').read()\n"
                                  + _answer(sub(), "q1")), f"{A}.ipynb"),
        "network": (_edit(sub(), "q1", "import socket\n"
                          f"socket.create_connection(('127.0.0.1', {LISTENER.getsockname()[1]}), 3).close()\n"
                          + _answer(sub(), "q1")), f"{A}.ipynb"),
        "reads_source": (_edit(sub(), "q1", f"open({str(source_nb)!r}).read()\n"
                               + _answer(sub(), "q1")), f"{A}.ipynb"),
        "huge_output": (_edit(sub(), "q4", "for i in range(300_000):\n    print(i)\n"
                              + _answer(sub(), "q4")), f"{A}.ipynb"),
        "invalid_json": (b'{"cells": [', f"{A}.ipynb"),
        "empty_file": (b"", f"{A}.ipynb"),
        "wrong_name": (sub(), "my_homework.ipynb"),
    }
    deleted = sub()
    deleted.cells = [c for c in deleted.cells
                     if c.metadata.get("nbgrader", {}).get("grade_id") != "q2-tests"]
    cases["deleted_test"] = (deleted, f"{A}.ipynb")
    retyped = sub()
    for cell in retyped.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "q3-tests":
            cell.cell_type = "markdown"
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    cases["changed_type"] = (retyped, f"{A}.ipynb")
    reordered = sub()
    reordered.cells = reordered.cells[:2] + list(reversed(reordered.cells[2:]))
    cases["reordered"] = (reordered, f"{A}.ipynb")
    for student, (content, name) in cases.items():
        folder = course / "submitted" / student / A
        folder.mkdir(parents=True)
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            nbformat.write(content, folder / name)
    (course / "submitted" / "missing" / A).mkdir(parents=True)
    return cases


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Outcome], dict]:
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(course_cfg.paths.assignments_dir() / "source" / A, course / "source" / A)
    _class(course)
    limits = Limits(notebook_seconds=25, cell_seconds=10, memory_mb=2048)
    outcomes = {o.student: o for o in autograde(A, course, workers=2, limits=limits, progress=False)}
    return course, outcomes, scores(A, course)


EXPECTED = {
    "correct": FULL,
    "partial": {"q1-tests": 2, "q2-tests": 0, "q3-tests": 0, "q4-tests": 2},
    "blank": ZERO,
    "hardcoded": {"q1-tests": 0, "q2-tests": 2, "q3-tests": 0, "q4-tests": 2},
    "raises": {**FULL, "q1-tests": 0},
    # the cell limit interrupts the loop; the cells after it still run
    "infinite_loop": {**FULL, "q2-tests": 0},
    "catches_interrupt": {**FULL, "q2-tests": 0, "q3-tests": 0, "q4-tests": 0},
    "memory_bomb": {**FULL, "q3-tests": 0},
    "sys_exit": {**FULL, "q2-tests": 0},
    "os_exit": {**FULL, "q4-tests": 0},
    "edited_test": ZERO,
    "monkeypatch": ZERO,
    # without bubblewrap nothing hides the files (the read is still flagged)
    "reads_gradebook": {**FULL, "q1-tests": 0} if sandbox_available() else FULL,
    "reads_source": {**FULL, "q1-tests": 0} if sandbox_available() else FULL,
    "network": {**FULL, "q1-tests": 0} if sandbox_available() else FULL,
    "huge_output": FULL,
    "invalid_json": ZERO,
    "empty_file": ZERO,
    "wrong_name": FULL,
    "deleted_test": FULL,
    "changed_type": FULL,
    "reordered": FULL,
    "missing": ZERO,
}
FLAGS = {
    "infinite_loop": "exceeded", "catches_interrupt": "interrupts", "memory_bomb": "memory limit",
    "sys_exit": "sys.exit", "os_exit": "os._exit", "edited_test": "edited locked cell q1-tests",
    "monkeypatch": "tampered with the grader", "reads_gradebook": "instructor files",
    "reads_source": "instructor files", "network": "uses the network (socket)", "huge_output": "huge output",
    "invalid_json": "invalid notebook", "empty_file": "invalid notebook", "wrong_name": "wrong file name",
    "deleted_test": "deleted test cell q2-tests", "changed_type": "changed the type of cell q3-tests",
    "reordered": "reordered", "missing": "missing notebook",
}


# the interrupt may land outside the student's try (the loop then ends and later cells run)
# or inside it (the kernel is then stopped): both are right
ALSO = {"catches_interrupt": {**FULL, "q2-tests": 0}}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_case_gets_the_right_score(graded: tuple, student: str) -> None:
    _, outcomes, got = graded
    allowed = [EXPECTED[student], *([ALSO[student]] if student in ALSO else [])]
    assert any(got[student] == pytest.approx(a) for a in allowed), (student, outcomes[student].flags)


@pytest.mark.parametrize("student", sorted(FLAGS))
def test_each_case_is_flagged_with_what_happened(graded: tuple, student: str) -> None:
    _, outcomes, _ = graded
    flags = " | ".join(outcomes[student].flags)
    word = FLAGS[student]
    assert word in flags, flags
    assert outcomes["correct"].flags == []


def test_every_student_has_an_autograded_notebook_and_a_record(graded: tuple) -> None:
    course, outcomes, _ = graded
    for student in EXPECTED:
        folder = course / "autograded" / student / A
        assert (folder / f"{A}.ipynb").is_file(), student
        record = json.loads((folder / "grading.json").read_text())
        assert record["student"] == student
        # how long recording it took, for the benchmark's breakdown (a missing notebook too)
        assert all(o["save_seconds"] > 0 for o in record["outcomes"]), record["outcomes"]


def test_sandbox_was_used_when_available(graded: tuple) -> None:
    import os

    _, outcomes, _ = graded
    ran = [o for o in outcomes.values() if o.status not in ("missing", "invalid")]
    assert len(ran) >= 15 and all(o.sandboxed == sandbox_available() for o in ran)
    assert not any(o.sandboxed for o in outcomes.values() if o not in ran)  # nothing to run
    if os.environ.get("CI"):  # .ci/run installs bubblewrap: there the sandbox must really be tested
        assert sandbox_available()


def _cli(*args: str) -> int:
    from dataethics.cli import main

    return main(list(args))


def test_manual_scores_reach_the_pseudonymised_export(graded: tuple, tmp_path: Path) -> None:
    import csv

    from nbgrader.api import Gradebook

    from dataethics.grading.exports import pseudonym

    course, _, _ = graded
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grade = gb.find_grade("q5", A, A, "correct")  # the written question, graded by hand
        grade.manual_score = 1.5
        gb.db.commit()
    key = tmp_path / "key"
    key.write_text("a-secret-kept-out-of-the-repo")
    out = tmp_path / "moodle.csv"
    assert _cli("grade", "export", "--course", str(course), "--format", "moodle", "--out", str(out),
                "--pseudonymise", "--key-file", str(key)) == 0
    rows = list(csv.DictReader(out.open()))
    ids = {r["ID number"]: float(r[A]) for r in rows}
    assert len(rows) == len(EXPECTED) and "correct" not in ids
    assert ids[pseudonym("correct", key.read_text().encode())] == 8 + 1.5
    plain = tmp_path / "canvas.csv"
    assert _cli("grade", "export", "--course", str(course), "--format", "canvas", "--out", str(plain)) == 0
    canvas = list(csv.reader(plain.open()))
    assert canvas[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[1][0] == "Points Possible" and float(canvas[1][5]) == 10  # 8 auto + 2 written
    assert {r[2]: float(r[5]) for r in canvas[2:]}["correct"] == 9.5
    theirs = tmp_path / "nbgrader.csv"
    assert _cli("grade", "export", "--course", str(course), "--out", str(theirs), "--pseudonymise",
                "--key-file", str(key)) == 0
    rows = list(csv.DictReader(theirs.open()))
    assert len(rows) == len(EXPECTED) and {"late_submission_penalty", "raw_score"} <= set(rows[0])
    assert all(len(r["student_id"]) == 16 and not (r["first_name"] or r["email"]) for r in rows)
    assert _cli("grade", "export", "--course", str(course), "--pseudonymise") == 2  # no key: an error


def test_purge_is_a_dry_run_by_default(graded: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    course, _, _ = graded
    assert _cli("grade", "purge", "--course", str(course), "--older-than", "-1") == 0
    assert "dry run" in capsys.readouterr().out
    assert (course / "submitted" / "correct" / A).is_dir()


def _hidden_lines(course: Path) -> set[str]:
    """Code lines of the hidden tests that the released notebook does not contain anyway."""
    from dataethics.grading.feedback import hidden_test_lines

    found = hidden_test_lines(course / "source" / A / f"{A}.ipynb")
    assert len(found) >= 10  # the scans below have something to look for
    return found


def _visible_text(path: Path) -> str:
    from dataethics.grading.feedback import readable_text

    return readable_text(path)


@pytest.fixture(scope="module")
def feedback(graded: tuple) -> Path:
    course, _, _ = graded
    assert _cli("grade", "feedback", A, "--course", str(course)) == 0
    return course / "feedback"


def test_feedback_never_shows_hidden_tests(graded: tuple, feedback: Path) -> None:
    from dataethics.grading.feedback import find_leaks

    course, _, _ = graded
    pages = sorted(feedback.rglob("*.html"))
    assert {p.parent.parent.name for p in pages} >= set(EXPECTED) - {"missing", "invalid_json",
                                                                     "empty_file"}
    assert find_leaks([*pages, course / "release" / A / f"{A}.ipynb"], _hidden_lines(course)) == {}
    assert "HIDDEN TESTS" not in "".join(p.read_text() for p in pages)
    # the scan does find hidden code where it is: in the instructor's source
    assert find_leaks([course / "source" / A / f"{A}.ipynb"], _hidden_lines(course))


def test_feedback_still_explains_failures(graded: tuple, feedback: Path) -> None:
    hardcoded = _visible_text(feedback / "hardcoded" / A / f"{A}.html")
    assert "a hidden test failed" in hardcoded  # the student learns that a hidden test failed
    raises = _visible_text(feedback / "raises" / A / f"{A}.html")
    # their own error is named (its message is not: hidden tests were in the kernel when it arose)
    assert "ValueError: " in raises and "This test cell failed." in raises
    partial = _visible_text(feedback / "partial" / A / f"{A}.html")
    assert "AssertionError: Hint:" in partial  # a failed visible test keeps its hint
    correct = _visible_text(feedback / "correct" / A / f"{A}.html")
    assert "hidden test failed" not in correct and "most recent call last" not in correct


def test_report_shows_scores_items_flags_and_tampering(graded: tuple, tmp_path: Path) -> None:
    import pandas as pd

    course, outcomes, got = graded
    assert _cli("grade", "report", "--course", str(course), "--out", str(tmp_path)) == 0
    page = (tmp_path / "report.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == 3 and page.count('alt="') >= 3
    items = pd.read_csv(tmp_path / "questions.csv").set_index("question")
    for gid, points in FULL.items():  # difficulty is the class's mean share of the points
        share = sum(s[gid] for s in got.values()) / (len(got) * points)
        assert items.loc[gid, "difficulty"] == pytest.approx(share)
    flags = pd.read_csv(tmp_path / "flags.csv")
    cats = flags.groupby("student")["category"].agg(set)
    for student, cat in {"infinite_loop": "timeout", "memory_bomb": "memory", "edited_test": "tampering",
                         "monkeypatch": "tampering", "missing": "missing", "invalid_json": "invalid",
                         "os_exit": "attack", "wrong_name": "renamed"}.items():
        assert cat in cats[student], (student, cats[student])
    assert "correct" not in set(flags["student"])
    tamper = page[page.index("Tamper report"):]
    for student in ("edited_test", "deleted_test", "changed_type", "reordered"):
        assert student in tamper
    for student in ("correct", "partial", "monkeypatch"):
        assert f"<td>{student}</td>" not in tamper
    from dataethics.grading.feedback import find_leaks

    assert find_leaks(list(tmp_path.iterdir()), _hidden_lines(course)) == {}


def test_grading_commands_fail_with_one_line(graded: tuple, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    course, _, _ = graded
    assert _cli("grade", "feedback", "ps99", "--course", str(course)) == 2
    assert _cli("grade", "report", "--course", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error:") for line in err), err


def test_purge_deletes_only_folders_past_the_retention_period(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import os
    import time

    old, recent = tmp_path / "submitted" / "ann" / A, tmp_path / "feedback" / "bob" / A
    for folder in (old, recent):
        folder.mkdir(parents=True)
        (folder / f"{A}.ipynb").write_text("{}")
    past = time.time() - 400 * 86400
    os.utime(old, (past, past))
    assert _cli("grade", "purge", "--course", str(tmp_path), "--older-than", "365") == 0
    assert old.is_dir() and "would delete" in capsys.readouterr().out  # a dry run first
    assert _cli("grade", "purge", "--course", str(tmp_path), "--older-than", "365", "--yes") == 0
    assert not old.exists() and recent.is_dir()


def test_one_broken_autograded_notebook_does_not_stop_the_others_feedback(
        graded: tuple, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    course = Path(shutil.copytree(graded[0], tmp_path / "course"))
    shutil.rmtree(course / "feedback", ignore_errors=True)
    (course / "autograded" / "partial" / A / f"{A}.ipynb").write_text("{")
    assert _cli("grade", "feedback", A, "--course", str(course)) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "partial" in err[0] and "JSON" in err[0], err
    assert (course / "feedback" / "correct" / A / f"{A}.html").is_file()
    assert not (course / "feedback" / "partial" / A / f"{A}.html").exists()
    # and regrading one unknown student is a one-line error, not a new zero in the gradebook
    assert _cli("grade", "autograde", A, "--course", str(course), "--student", "nobody") == 2
    assert "nobody" in capsys.readouterr().err


def test_plain_nbgrader_feedback_from_the_repository_also_hides_hidden_tests(
        graded: tuple, tmp_path: Path) -> None:
    """The documented ``nbgrader generate_feedback`` path reads the repository's nbgrader_config.py."""
    import subprocess
    import sys

    from dataethics import paths
    from dataethics.grading.feedback import find_leaks

    course = Path(shutil.copytree(graded[0], tmp_path / "course"))
    shutil.rmtree(course / "feedback", ignore_errors=True)
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", A, "--student",
                           "hardcoded", f"--CourseDirectory.root={course}"],
                          cwd=paths.repo_root(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1500:]
    page = course / "feedback" / "hardcoded" / A / f"{A}.html"
    assert "a hidden test failed" in _visible_text(page)
    assert find_leaks([page], _hidden_lines(course)) == {}


def test_item_analysis_includes_written_questions_only_once_graded() -> None:
    import pandas as pd

    from dataethics.grading.report import item_analysis

    rows = []
    for student, (a, b, w, pending) in {"s1": (1, 1, 2, False), "s2": (1, 0, 1, False),
                                        "s3": (0, 0, 0, False), "s4": (0, 1, 0, True)}.items():
        rows += [{"assignment": "ps", "student": student, "question": "q1", "kind": "auto",
                  "score": a, "max_score": 1, "needs_manual": False},
                 {"assignment": "ps", "student": student, "question": "q2", "kind": "auto",
                  "score": b, "max_score": 1, "needs_manual": False},
                 {"assignment": "ps", "student": student, "question": "w", "kind": "manual",
                  "score": w, "max_score": 2, "needs_manual": pending}]
    grades = pd.DataFrame(rows)
    items = item_analysis(grades).set_index("question")
    assert list(items.index) == ["q1", "q2"]  # s4's written answer still waits for a grade
    assert items.loc["q1", "difficulty"] == pytest.approx(0.5)
    grades.loc[grades["needs_manual"], "needs_manual"] = False
    items = item_analysis(grades).set_index("question")
    assert items.loc["w", "kind"] == "manual" and items.loc["w", "difficulty"] == pytest.approx(3 / 8)
    # q1 goes with the rest of the work (s1 strongest, s3 weakest): positive discrimination
    assert items.loc["q1", "discrimination"] > 0.3
