"""Writing a class's autograded scores into nbgrader's gradebook, quickly and all-or-nothing.

This module owns the grader's connection to the gradebook during an ``autograde`` run:

* :func:`open_gradebook` — one nbgrader :class:`~nbgrader.api.Gradebook` for the whole run.
  nbgrader opens a new one (a new SQLAlchemy engine, a schema check, a cold statement
  cache) in each of its preprocessors, for every notebook; reusing one keeps SQLAlchemy's
  compiled statements and the database connection.
* :func:`one_transaction` — nbgrader's gradebook methods commit after every change (each
  commit a disk sync); inside this block they only send the change to the database, and
  the block commits once at its end, or not at all if anything in it fails.
* :class:`SaveAutoGradesOnce` — nbgrader's own ``SaveAutoGrades`` (its rules decide every
  score and "No response." comment) on that open gradebook, in one transaction per
  notebook. nbgrader looks up each cell's grade and comment with a query joining six
  tables; here a notebook's grades and comments are read with one query each, up front.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.api import BaseCell, Comment, Grade, Gradebook
from nbgrader.preprocessors import SaveAutoGrades

from dataethics.grading import quiet_gradebook_notices


def open_gradebook(db_url: str) -> Gradebook:
    """nbgrader's gradebook at ``db_url``, to be closed by the caller (``with`` works)."""
    quiet_gradebook_notices()
    return Gradebook(db_url)


@contextmanager
def one_transaction(gradebook: Gradebook) -> Iterator[None]:
    """Run the block's gradebook writes as one transaction: committed at the end, or rolled back.

    nbgrader's methods call ``commit`` after each change; inside the block that call only
    flushes (the change reaches the database, unsynced and uncommitted). Blocks nest: an
    inner block leaves the commit to the outermost one.
    """
    session = gradebook.db
    if "commit" in vars(session):  # already inside a block
        yield
        return
    session.commit = session.flush  # an attribute of this session object only, removed below
    try:
        yield
    except BaseException:
        del session.commit
        session.rollback()
        raise
    del session.commit
    session.commit()


class _NotebookRows:
    """An open gradebook as ``SaveAutoGrades`` sees it, with one notebook's grades and comments
    read at once: ``find_grade`` and ``find_comment`` for that notebook need no query.

    Anything else (another notebook, a cell name it does not know) goes to nbgrader's own
    method, which raises its usual ``MissingEntry``.
    """

    def __init__(self, gradebook: Gradebook, notebook: str, assignment: str, student: str) -> None:
        self._gradebook = gradebook
        self._key = (notebook, assignment, student)
        submitted = gradebook.find_submission_notebook(notebook, assignment, student)
        db = gradebook.db
        self._grades = {name: row for name, row in db.query(BaseCell.name, Grade)
                        .join(BaseCell, BaseCell.id == Grade.cell_id)
                        .filter(Grade.notebook_id == submitted.id)}
        self._comments = {name: row for name, row in db.query(BaseCell.name, Comment)
                          .join(BaseCell, BaseCell.id == Comment.cell_id)
                          .filter(Comment.notebook_id == submitted.id)}

    def find_grade(self, cell: str, notebook: str, assignment: str, student: str) -> Grade:
        """The grade of ``cell``, as :meth:`nbgrader.api.Gradebook.find_grade` finds it."""
        if (notebook, assignment, student) == self._key and cell in self._grades:
            return self._grades[cell]
        return self._gradebook.find_grade(cell, notebook, assignment, student)

    def find_comment(self, cell: str, notebook: str, assignment: str, student: str) -> Comment:
        """The comment of ``cell``, as :meth:`nbgrader.api.Gradebook.find_comment` finds it."""
        if (notebook, assignment, student) == self._key and cell in self._comments:
            return self._comments[cell]
        return self._gradebook.find_comment(cell, notebook, assignment, student)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gradebook, name)


class SaveAutoGradesOnce(SaveAutoGrades):
    """nbgrader's ``SaveAutoGrades`` on an already open gradebook, one commit per notebook."""

    def __init__(self, gradebook: Gradebook, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.open_gradebook = gradebook

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        """Record every graded cell's score and comment, then commit them together."""
        info = resources["nbgrader"]
        self.notebook_id, self.assignment_id = info["notebook"], info["assignment"]
        self.student_id, self.db_url = info["student"], info["db_url"]
        with one_transaction(self.open_gradebook):
            self.gradebook = _NotebookRows(self.open_gradebook, self.notebook_id,  # type: ignore[assignment]
                                           self.assignment_id, self.student_id)
            # the cell-by-cell work of nbgrader's preprocessor, without its own connection
            nb, resources = super(SaveAutoGrades, self).preprocess(nb, resources)
        return nb, resources
