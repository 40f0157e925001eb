"""The notebook to run: reading a submission, finding it by file name, rebuilding it from the source.

A submission is never run as handed in: :func:`rebuild` takes the instructor's
source (locked cells, hidden tests) and puts only the student's answer cells in it.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_output


def cells_by_id(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """The cells of ``nb`` that carry an nbgrader ``grade_id``, by id."""
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")}


def error_output(text: str) -> nbformat.NotebookNode:
    """An error output that tells the instructor (and the student) why a cell earned nothing."""
    return new_output("error", ename="GradingError", evalue=text, traceback=[f"GradingError: {text}"])


def rebuild(source: nbformat.NotebookNode, submitted: nbformat.NotebookNode | None,
            release: nbformat.NotebookNode, guard: str | None = None,
            guard_tag: str = "") -> tuple[nbformat.NotebookNode, dict[str, str]]:
    """The notebook to run: the source's structure with the student's answer cells.

    ``guard``, when given, is appended as a last code cell tagged ``guard_tag``.
    Returns the notebook and the student's code answers by grade id.
    """
    sub = cells_by_id(submitted) if submitted is not None else {}
    rel = cells_by_id(release)
    nb = copy.deepcopy(source)
    answers: dict[str, str] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if not meta.get("solution"):
            continue
        theirs = sub.get(gid)
        if theirs is not None and theirs.cell_type == cell.cell_type:
            cell.source = theirs.source
        else:
            cell.source = rel[gid].source if gid in rel else ""
        if cell.cell_type == "code":
            answers[gid] = cell.source
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    if guard is not None:
        nb.cells.append(new_code_cell(guard.strip(), metadata={"tags": [guard_tag]}))
    return nb, answers


def find_submission(folder: Path, expected: str) -> tuple[Path | None, str | None, list[str]]:
    """The expected notebook, or a lone notebook under another name (renamed), and other files."""
    target = folder / expected
    others = sorted(p.name for p in folder.glob("*.ipynb") if p.name != expected)
    if target.is_file():
        return target, None, others
    if len(others) == 1:
        return folder / others[0], others[0], others
    return None, None, others


def read_submission(path: Path) -> nbformat.NotebookNode:
    """Read and validate a submitted notebook; raise ``ValueError`` with a one-line reason."""
    try:
        text = path.read_text(encoding="utf-8")
        if not text.strip():
            raise ValueError("empty file")
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # invalid JSON, wrong schema, undecodable bytes
        raise ValueError(str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__) from None
    return nb
