"""Writing a class's autograded scores into nbgrader's gradebook, quickly and all-or-nothing.

This module owns the grader's connection to the gradebook during an ``autograde`` run:

* :func:`open_gradebook` — one nbgrader :class:`~nbgrader.api.Gradebook` for the whole run.
  nbgrader opens a new one (a new SQLAlchemy engine, a schema check, a cold statement
  cache) in each of its preprocessors, for every notebook; reusing one keeps SQLAlchemy's
  compiled statements and the database connection.
* :class:`SaveAutoGradesOnce` — nbgrader's own ``SaveAutoGrades`` (its rules decide every
  score and "No response." comment), run on that open gradebook with **one transaction per
  notebook**: nbgrader commits after every cell, two disk syncs per answer. Here a
  notebook's scores are written together or, if anything fails, not at all.
"""

from __future__ import annotations

from typing import Any

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import SaveAutoGrades

from dataethics.grading import quiet_gradebook_notices


def open_gradebook(db_url: str) -> Gradebook:
    """nbgrader's gradebook at ``db_url``, to be closed by the caller (``with`` works)."""
    quiet_gradebook_notices()
    return Gradebook(db_url)


class _CommitLater:
    """A session whose ``commit`` only flushes: the caller commits the whole notebook once."""

    def __init__(self, session: Any) -> None:
        self._session = session

    def commit(self) -> None:
        self._session.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class _OpenGradebook:
    """An open gradebook as ``SaveAutoGrades`` sees it: the same queries, commits deferred."""

    def __init__(self, gradebook: Gradebook) -> None:
        self._gradebook = gradebook
        self.db = _CommitLater(gradebook.db)

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
        self.gradebook = _OpenGradebook(self.open_gradebook)  # type: ignore[assignment]
        session = self.open_gradebook.db
        try:
            # the cell-by-cell work of nbgrader's preprocessor, without its own connection
            nb, resources = super(SaveAutoGrades, self).preprocess(nb, resources)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        return nb, resources
