"""Small helpers for writing lesson and nbgrader notebooks from Python.

Authors usually edit notebooks in JupyterLab (with nbgrader's "Create
Assignment" toolbar). These helpers make the same cells from code, with the
nbgrader metadata filled in, which keeps large edits reviewable.

>>> nb = notebook([md("# Title"), solution("q1", "x = 1"), tests("q1-tests", "assert x == 1", 2)])
>>> nb.cells[2].metadata.nbgrader["points"]
2
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _nbgrader(grade_id: str, *, solution: bool, grade: bool, locked: bool,
              points: float | None = None, task: bool = False) -> dict[str, object]:
    meta: dict[str, object] = {
        "grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
        "solution": solution, "task": task,
    }
    if points is not None:
        meta["points"] = points
    return meta


def md(text: str, **metadata: object) -> nbformat.NotebookNode:
    """A plain markdown cell."""
    return new_markdown_cell(text.strip("\n"), metadata=dict(metadata))


def code(src: str, **metadata: object) -> nbformat.NotebookNode:
    """A plain code cell (e.g. ``tags=["hide-input"]`` for a folded solution on the site)."""
    return new_code_cell(src.strip("\n"), metadata=dict(metadata))


def figure(src: str, alt: str) -> nbformat.NotebookNode:
    """A code cell that draws a figure; ``alt`` becomes the image's alt text on the site."""
    return new_code_cell(src.strip("\n"), metadata={"mystnb": {"image": {"alt": alt}}})


def locked_md(grade_id: str, text: str) -> nbformat.NotebookNode:
    """A read-only markdown cell of an assignment (instructions)."""
    return new_markdown_cell(text.strip("\n"), metadata={
        "nbgrader": _nbgrader(grade_id, solution=False, grade=False, locked=True)})


def locked_code(grade_id: str, src: str) -> nbformat.NotebookNode:
    """A read-only code cell of an assignment (imports, data loading)."""
    return new_code_cell(src.strip("\n"), metadata={
        "nbgrader": _nbgrader(grade_id, solution=False, grade=False, locked=True)})


def solution(grade_id: str, src: str) -> nbformat.NotebookNode:
    """An autograded answer cell; wrap the answer in ``### BEGIN/END SOLUTION``."""
    return new_code_cell(src.strip("\n"), metadata={
        "nbgrader": _nbgrader(grade_id, solution=True, grade=False, locked=False)})


def tests(grade_id: str, src: str, points: float) -> nbformat.NotebookNode:
    """A locked, graded test cell (visible asserts, then ``### BEGIN HIDDEN TESTS``)."""
    return new_code_cell(src.strip("\n"), metadata={
        "nbgrader": _nbgrader(grade_id, solution=False, grade=True, locked=True, points=points)})


def written(grade_id: str, points: float, text: str = "YOUR ANSWER HERE") -> nbformat.NotebookNode:
    """A manually graded markdown answer cell."""
    return new_markdown_cell(text, metadata={
        "nbgrader": _nbgrader(grade_id, solution=True, grade=True, locked=False, points=points)})


def notebook(cells: list[nbformat.NotebookNode], title: str | None = None) -> nbformat.NotebookNode:
    """A notebook with the course's kernel and language metadata."""
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    if title:
        nb.metadata["title"] = title
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> Path:
    """Validate and write a notebook."""
    nbformat.validate(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
