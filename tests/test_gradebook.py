"""Scores written by the grader's one-transaction SaveAutoGrades: nbgrader's own, all or nothing."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.preprocessors import SaveAutoGrades

from dataethics.grading import course as course_cfg
from dataethics.grading.gradebook import SaveAutoGradesOnce, open_gradebook
from dataethics.grading.runner.notebook import error_output, grading_template

A = "ps00"


@pytest.fixture()
def course(tmp_path: Path) -> tuple[Path, nbformat.NotebookNode]:
    """A course with ps00 released and one student; the graded notebook with tests 1 and 3 failing."""
    course_cfg.generate_release(A, tmp_path)
    db = course_cfg.gradebook_url(tmp_path)
    template = grading_template(tmp_path / "source" / A / f"{A}.ipynb", A, db, tmp_path / "t" / f"{A}.ipynb")
    nb = nbformat.read(template, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in ("q1-tests", "q3-tests"):
            cell.outputs = [error_output("AssertionError")]
    return tmp_path, nb


def _record(db: str, student: str, nb: nbformat.NotebookNode, once: bool) -> dict[str, float | None]:
    """Save ``nb``'s grades for ``student`` with nbgrader's preprocessor or the grader's; return them."""
    resources = {"nbgrader": {"db_url": db, "assignment": A, "notebook": A, "student": student}}
    with open_gradebook(db) as gb:
        gb.update_or_create_student(student)
        gb.update_or_create_submission(A, student)
        if once:
            SaveAutoGradesOnce(gb).preprocess(copy.deepcopy(nb), resources)
        else:
            SaveAutoGrades().preprocess(copy.deepcopy(nb), resources)
    with Gradebook(db) as gb:
        sub = gb.find_submission_notebook(A, A, student)
        return {g.name: g.auto_score for g in sub.grades} | {
            f"{c.name} comment": c.auto_comment for c in sub.comments}


def test_the_same_scores_and_comments_as_nbgraders_own_preprocessor(course: tuple) -> None:
    root, nb = course
    db = course_cfg.gradebook_url(root)
    theirs, ours = _record(db, "ada", nb, once=False), _record(db, "bob", nb, once=True)
    assert ours == theirs
    assert ours["q1-tests"] == 0 and ours["q3-tests"] == 0 and ours["q2-tests"] == 2  # not vacuous


def test_a_failure_midway_writes_none_of_the_notebooks_scores(course: tuple) -> None:
    root, nb = course
    db = course_cfg.gradebook_url(root)
    broken = copy.deepcopy(nb)
    graded = [c for c in broken.cells if c.metadata.get("nbgrader", {}).get("grade")]
    graded[-1].metadata["nbgrader"]["grade_id"] = "not-in-the-gradebook"  # found last: a failure
    with pytest.raises(Exception, match="not-in-the-gradebook|No such grade"):
        _record(db, "cleo", broken, once=True)
    with Gradebook(db) as gb:
        sub = gb.find_submission_notebook(A, A, "cleo")
        assert [g.auto_score for g in sub.grades] == [None] * len(sub.grades)  # nothing half-written
    assert _record(db, "cleo", nb, once=True)["q2-tests"] == 2  # and the session is usable again


def test_a_save_that_fails_flags_that_student_and_the_class_goes_on(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A database or disk error while saving one student: flagged, others graded, graded again next run."""
    from dataethics.grading import autograde as autograde_module
    from dataethics.grading import samples

    release = course_cfg.generate_release(A, tmp_path)
    correct = next(s for s in samples.samples_for(A) if s.name == "correct")
    for student in ("ann", "bob", "cleo"):
        target = tmp_path / "submitted" / student / A / f"{A}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(samples.build_submission(correct, tmp_path / "source" / A / f"{A}.ipynb",
                                                release / f"{A}.ipynb"), target)
    save = autograde_module._save

    def failing(out: object, run: object) -> None:
        save(out, run)  # type: ignore[arg-type]
        if out.student == "bob":  # type: ignore[attr-defined]
            raise OSError("disk full")  # as if its autograded copy could not be written

    monkeypatch.setattr(autograde_module, "_save", failing)
    first = {o.student: o for o in autograde_module.autograde(A, tmp_path, workers=2, progress=False)}
    assert first["bob"].status == "crash" and any("grades not saved (OSError: disk full)" in f
                                                  for f in first["bob"].flags)
    assert first["ann"].status == first["cleo"].status == "ok" and not first["ann"].flags
    got = autograde_module.scores(A, tmp_path)
    assert got["ann"] == got["cleo"] == correct.expected
    monkeypatch.setattr(autograde_module, "_save", save)
    second = {o.student: o for o in autograde_module.autograde(A, tmp_path, workers=2, progress=False)}
    assert second["ann"].earlier and second["cleo"].earlier and not second["bob"].earlier
    assert autograde_module.scores(A, tmp_path)["bob"] == correct.expected


def test_one_transaction_commits_once_and_a_failure_leaves_nothing(course: tuple) -> None:
    """A student, their submission and its scores: one commit; an error inside undoes all three."""
    from sqlalchemy import event

    from dataethics.grading.gradebook import one_transaction

    root, nb = course
    db = course_cfg.gradebook_url(root)
    resources = {"nbgrader": {"db_url": db, "assignment": A, "notebook": A, "student": "dora"}}
    with open_gradebook(db) as gb:
        commits: list[int] = []
        event.listen(gb.engine, "commit", lambda _conn: commits.append(1))
        with one_transaction(gb):
            gb.update_or_create_student("dora")
            gb.update_or_create_submission(A, "dora")
            SaveAutoGradesOnce(gb).preprocess(copy.deepcopy(nb), resources)
        assert len(commits) == 1  # nbgrader's own methods would have committed three times or more
        with pytest.raises(RuntimeError, match="disk"), one_transaction(gb):
            gb.update_or_create_student("eve")
            gb.update_or_create_submission(A, "eve")
            raise RuntimeError("disk full")
        assert len(commits) == 1
        gb.db.commit()  # the session is an ordinary one again
    with Gradebook(db) as gb:
        assert "eve" not in {s.id for s in gb.students}
        scores = {g.name: g.auto_score for g in gb.find_submission_notebook(A, A, "dora").grades}
    assert scores["q2-tests"] == 2 and scores["q1-tests"] == 0
