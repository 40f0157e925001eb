"""nbgrader's behaviours that the autograder keeps, each on a tiny assignment of its own."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from dataethics import authoring as au
from dataethics.errors import DataethicsError
from dataethics.grading import course as course_cfg
from dataethics.grading.autograde import Limits, autograde, scores
from dataethics.grading.runner.integrity import tamper_report

LIMITS = Limits(notebook_seconds=40, cell_seconds=10, memory_mb=1500)
STUB = "### BEGIN SOLUTION\n{}\n### END SOLUTION"


def _assignment(course: Path, name: str, notebooks: dict[str, list]) -> Path:
    folder = course / "source" / name
    folder.mkdir(parents=True)
    for stem, cells in notebooks.items():
        nb = au.notebook(cells)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        au.write(nb, folder / f"{stem}.ipynb")
    return folder


def _submit(course: Path, student: str, name: str, files: dict[str, nbformat.NotebookNode]) -> Path:
    folder = course / "submitted" / student / name
    folder.mkdir(parents=True)
    for fname, nb in files.items():
        nbformat.write(nb, folder / fname)
    return folder


def _answer(nb: nbformat.NotebookNode, gid: str, source: str) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == gid:
            cell.source = source
    return nb


def _release(course: Path, name: str, stem: str) -> nbformat.NotebookNode:
    return nbformat.read(course / "release" / name / f"{stem}.ipynb", 4)


def _f_and_g(course: Path, name: str, setup: str, f_tests: str, g_tests: str,
             *more: nbformat.NotebookNode) -> None:
    """A released one-notebook assignment: a setup cell, then f() returning 1 and g() returning 2."""
    _assignment(course, name, {name: [
        au.locked_code("setup", setup),
        au.solution("q1", "def f():\n" + STUB.format("    return 1")), au.tests("q1-tests", f_tests, 1),
        au.solution("q2", "def g():\n" + STUB.format("    return 2")), au.tests("q2-tests", g_tests, 1),
        *more]})
    course_cfg.generate_release(name, course, source_root=course)


def _submit_f_and_g(course: Path, name: str, student: str, f: str, g: str) -> None:
    nb = _answer(_answer(_release(course, name, name), "q1", f), "q2", g)
    _submit(course, student, name, {f"{name}.ipynb": nb})


def test_autotest_lines_are_expanded_as_generate_assignment_does(tmp_path: Path) -> None:
    import nbgrader

    shutil.copy(Path(nbgrader.__file__).parent / "docs" / "source" / "user_guide" / "autotests.yml",
                tmp_path / "autotests.yml")
    _assignment(tmp_path, "auto", {"auto": [
        au.solution("q1", "def double(x):\n" + STUB.format("    return 2 * x")),
        au.tests("q1-tests", "### AUTOTEST double(3)", 1)]})
    course_cfg.generate_release("auto", tmp_path, source_root=tmp_path)
    release = _release(tmp_path, "auto", "auto")
    right = _answer(release, "q1", "def double(x):\n    return 2 * x")
    _submit(tmp_path, "right", "auto", {"auto.ipynb": right})
    _submit(tmp_path, "wrong", "auto", {"auto.ipynb": _answer(_release(tmp_path, "auto", "auto"), "q1",
                                                              "def double(x):\n    return 7")})
    autograde("auto", tmp_path, workers=2, limits=LIMITS, progress=False)
    got = scores("auto", tmp_path)
    assert got["right"]["q1-tests"] == 1 and got["wrong"]["q1-tests"] == 0  # the AUTOTEST ran
    text = (tmp_path / "autograded" / "wrong" / "auto" / "auto.ipynb").read_text()
    assert "### AUTOTEST" not in text


def test_the_kernel_runs_with_nbgrader_execution_set_to_autograde(tmp_path: Path) -> None:
    _assignment(tmp_path, "env", {"env": [
        au.solution("q1", "x = 1"),
        au.tests("q1-tests", "import os\nassert os.environ.get('NBGRADER_EXECUTION') == 'autograde'", 1)]})
    course_cfg.generate_release("env", tmp_path, source_root=tmp_path)
    _submit(tmp_path, "ann", "env", {"env.ipynb": _release(tmp_path, "env", "env")})
    autograde("env", tmp_path, workers=1, limits=LIMITS, progress=False)
    assert scores("env", tmp_path)["ann"]["q1-tests"] == 1


def test_blank_answers_grade_zero_without_manual_grading(tmp_path: Path) -> None:
    from nbgrader.api import Gradebook

    _assignment(tmp_path, "blank", {"blank": [
        au.solution("q1", "def f():\n" + STUB.format("    return 1")),
        au.tests("q1-tests", "assert f() == 1", 1), au.written("q2", 2)]})
    course_cfg.generate_release("blank", tmp_path, source_root=tmp_path)
    _submit(tmp_path, "idle", "blank", {"blank.ipynb": _release(tmp_path, "blank", "blank")})
    wrote = _answer(_release(tmp_path, "blank", "blank"), "q2", "I would ask for consent first.")
    _submit(tmp_path, "writer", "blank", {"blank.ipynb": wrote})
    autograde("blank", tmp_path, workers=2, limits=LIMITS, progress=False)
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        idle = gb.find_grade("q2", "blank", "blank", "idle")
        assert not idle.needs_manual_grade and idle.score == 0  # unchanged answer: checksum says so
        assert gb.find_grade("q2", "blank", "blank", "writer").needs_manual_grade


def test_notebooks_are_matched_by_name_and_a_missing_one_is_a_flagged_zero(tmp_path: Path) -> None:
    def part(stem: str) -> list:
        return [au.solution(f"{stem}1", f"def {stem}():\n" + STUB.format("    return 1")),
                au.tests(f"{stem}1-tests", f"assert {stem}() == 1", 1)]

    _assignment(tmp_path, "two", {"a": part("a"), "b": part("b")})
    course_cfg.generate_release("two", tmp_path, source_root=tmp_path)
    only_a = _answer(_release(tmp_path, "two", "a"), "a1", "def a():\n    return 1")
    _submit(tmp_path, "ann", "two", {"a.ipynb": only_a})
    _submit(tmp_path, "bob", "two", {"my_a.ipynb": only_a})  # renamed: not accepted with two notebooks
    outcomes = {(o.student, o.notebook): o for o in autograde("two", tmp_path, workers=2, limits=LIMITS,
                                                             progress=False)}
    got = scores("two", tmp_path)
    assert got["ann"] == {"a1-tests": 1, "b1-tests": 0}  # a is not graded as b
    assert outcomes[("ann", "b")].status == "missing" and outcomes[("ann", "a")].flags == []
    assert got["bob"] == {"a1-tests": 0, "b1-tests": 0}
    assert "missing notebook (found my_a.ipynb)" in outcomes[("bob", "a")].flags


def test_an_edited_unlocked_test_cell_is_flagged() -> None:
    release = au.notebook([au.solution("q1", "x = 1"), au.tests("q1-tests", "assert x == 1", 1)])
    release.cells[1].metadata["nbgrader"]["locked"] = False
    submitted = au.notebook([au.solution("q1", "x = 1"), au.tests("q1-tests", "assert True", 1)])
    assert tamper_report(submitted, release) == ["edited test cell q1-tests (not locked)"]


def test_the_configured_late_penalty_is_applied_to_the_score(tmp_path: Path) -> None:
    from nbgrader.api import Gradebook

    _assignment(tmp_path, "late", {"late": [au.solution("q1", "x = 1"),
                                            au.tests("q1-tests", "assert x == 1", 3)]})
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.LateSubmissionPlugin.penalty_method = 'zero'\n")
    course_cfg.generate_release("late", tmp_path, source_root=tmp_path)
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        gb.update_or_create_assignment("late", duedate="2020-01-01 00:00:00 UTC")
    folder = _submit(tmp_path, "ann", "late", {"late.ipynb": _answer(_release(tmp_path, "late", "late"),
                                                                     "q1", "x = 1")})
    (folder / "timestamp.txt").write_text("2020-01-03 00:00:00 UTC")
    (outcome,) = autograde("late", tmp_path, workers=1, limits=LIMITS, progress=False)
    assert any(f.startswith("late penalty: 3") for f in outcome.flags), outcome.flags
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        sub = gb.find_submission("late", "ann")
        assert sub.score == 3 and sub.late_submission_penalty == 3  # the score minus penalty is 0


def test_a_release_without_a_gradebook_entry_is_registered_not_a_traceback(tmp_path: Path) -> None:
    _assignment(tmp_path, "reg", {"reg": [au.solution("q1", "x = 1"),
                                          au.tests("q1-tests", "assert x == 1", 1)]})
    course_cfg.generate_release("reg", tmp_path, source_root=tmp_path)
    (tmp_path / "gradebook.db").unlink()  # the release exists, the gradebook knows nothing
    _submit(tmp_path, "ann", "reg", {"reg.ipynb": _answer(_release(tmp_path, "reg", "reg"), "q1", "x = 1")})
    (outcome,) = autograde("reg", tmp_path, workers=1, limits=LIMITS, progress=False)
    assert outcome.status == "ok" and scores("reg", tmp_path)["ann"]["q1-tests"] == 1
    with pytest.raises(DataethicsError) as err:
        autograde("nope", tmp_path, progress=False)
    assert "\n" not in str(err.value)


def test_a_2_second_cell_limit_stops_an_endless_loop_well_under_30_seconds(tmp_path: Path) -> None:
    import time

    _assignment(tmp_path, "loop", {"loop": [au.solution("q1", "x = 1"),
                                            au.tests("q1-tests", "assert x == 1", 1)]})
    course_cfg.generate_release("loop", tmp_path, source_root=tmp_path)
    for student, code in (("loop", "while True:\n    pass"),
                          ("stubborn", "while True:\n    try:\n        pass\n"
                                       "    except KeyboardInterrupt:\n        pass")):
        _submit(tmp_path, student, "loop", {"loop.ipynb": _answer(_release(tmp_path, "loop", "loop"),
                                                                  "q1", code)})
    start = time.perf_counter()
    outcomes = autograde("loop", tmp_path, workers=2, progress=False,
                         limits=Limits(notebook_seconds=120, cell_seconds=2, memory_mb=1500))
    assert time.perf_counter() - start < 30
    for outcome in outcomes:
        # the notebook limit is 120 s: a cell limit that did not work would show here
        assert outcome.seconds < 30 and any("exceeded 2 s" in f for f in outcome.flags), outcome
    assert scores("loop", tmp_path) == {"loop": {"q1-tests": 0}, "stubborn": {"q1-tests": 0}}


def test_a_test_cell_may_rebind_its_own_helper_but_a_students_code_may_not(tmp_path: Path) -> None:
    """The guard accepts a name rebound by a locked cell's own code, never by a call into an answer."""
    _f_and_g(tmp_path, "names", "from dataethics.check import check",
             "def helper():\n    return 1\ncheck(f(), helper(), 'f()')",
             "def helper():\n    return 2\ncheck(g(), helper(), 'g()')",
             au.tests("q2-more", "check(g() + f(), 3, 'g() + f()')", 1))
    _submit_f_and_g(tmp_path, "names", "honest", "def f():\n    return 1", "def g():\n    return 2")
    # f rebinds 'check' when the first test calls it: a name the test cell's own code does not bind
    _submit_f_and_g(tmp_path, "names", "sly",
                    "def f():\n    globals()['check'] = lambda *a, **k: None\n    return 0",
                    "def g():\n    return 0")
    outcomes = {o.student: o for o in autograde("names", tmp_path, workers=2, limits=LIMITS,
                                                progress=False)}
    got = scores("names", tmp_path)
    assert outcomes["honest"].flags == [] and sum(got["honest"].values()) == 3
    assert any("rebound 'check'" in f for f in outcomes["sly"].flags), outcomes["sly"].flags
    assert sum(got["sly"].values()) == 0


def test_a_warning_during_a_passing_test_keeps_its_points(tmp_path: Path) -> None:
    """nbgrader alone scores 0 a test cell with stderr output; the kernel's verdict decides here."""
    _assignment(tmp_path, "warn", {"warn": [
        au.solution("q1", "import warnings\ndef f():\n"
                          + STUB.format("    warnings.warn('rounded', RuntimeWarning)\n    return 1")),
        au.tests("q1-tests", "assert f() == 1", 2)]})
    course_cfg.generate_release("warn", tmp_path, source_root=tmp_path)
    answer = "import warnings\ndef f():\n    warnings.warn('rounded', RuntimeWarning)\n    return {}"
    for student, value in (("right", 1), ("wrong", 2)):
        _submit(tmp_path, student, "warn", {"warn.ipynb": _answer(_release(tmp_path, "warn", "warn"), "q1",
                                                                  answer.format(value))})
    autograde("warn", tmp_path, workers=2, limits=LIMITS, progress=False)
    assert scores("warn", tmp_path) == {"right": {"q1-tests": 2}, "wrong": {"q1-tests": 0}}
    text = (tmp_path / "autograded" / "right" / "warn" / "warn.ipynb").read_text()
    assert "RuntimeWarning" in text  # the warning is still shown


def test_tampering_during_a_test_costs_that_test_too(tmp_path: Path) -> None:
    """A function that patches NumPy while a test calls it gets no point from that test either."""
    _f_and_g(tmp_path, "during", "import numpy as np", "value = f()\nassert np.isclose(value, 1)",
             "assert np.isclose(g(), 2)")
    _submit_f_and_g(tmp_path, "during", "sly",
                    "def f():\n    import numpy\n    numpy.isclose = lambda *a, **k: True\n    return 0",
                    "def g():\n    return 2")
    (outcome,) = autograde("during", tmp_path, workers=1, limits=LIMITS, progress=False)
    assert any("numpy.isclose" in f for f in outcome.flags), outcome.flags
    assert scores("during", tmp_path)["sly"] == {"q1-tests": 0, "q2-tests": 0}


def test_tampering_during_the_last_test_is_caught_when_only_answers_follow(tmp_path: Path) -> None:
    """No locked cell after the last test: its check is a full one, not just its names."""
    _assignment(tmp_path, "last", {"last": [
        au.locked_code("setup", "import numpy as np"),
        au.solution("q1", "def f():\n" + STUB.format("    return 1")),
        au.tests("q1-tests", "value = f()\nassert np.isclose(value, 1)", 1),
        au.solution("notes", "# your own exploration\n" + STUB.format("pass"))]})
    course_cfg.generate_release("last", tmp_path, source_root=tmp_path)
    patch = "def f():\n    import numpy\n    numpy.isclose = lambda *a, **k: True\n    return 0"
    _submit(tmp_path, "sly", "last", {"last.ipynb": _answer(_release(tmp_path, "last", "last"), "q1", patch)})
    (outcome,) = autograde("last", tmp_path, workers=1, limits=LIMITS, progress=False)
    assert any("numpy.isclose" in f for f in outcome.flags), outcome.flags
    assert scores("last", tmp_path)["sly"] == {"q1-tests": 0}
