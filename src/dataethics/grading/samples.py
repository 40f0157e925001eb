"""Sample submissions: build real student notebooks from the source and a variant file.

A variant file ``grader/samples/<assignment>/<name>.json`` says which solution
cells to replace and the points each autograded test cell must earn::

    {"description": "…",
     "cells": {"q1": "def f(x):\\n    return 42"},
     "expected": {"q1-tests": 0, "q2-tests": 2}}

Two variants exist for every assignment without a file: ``correct`` (the
source solutions, full marks) and ``blank`` (the released version, zero).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from dataethics import paths
from dataethics.errors import DataethicsError


@dataclass(frozen=True)
class Sample:
    """One sample submission of an assignment."""

    assignment: str
    name: str
    description: str
    cells: dict[str, str] = field(default_factory=dict)
    expected: dict[str, float] | None = None  # None: derived (full or zero marks)


def _grade_cells(nb: nbformat.NotebookNode) -> dict[str, float]:
    """Map each autograded test cell's grade_id to its points."""
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader.get("points", 0))
            for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


def samples_for(assignment: str, source_root: Path | None = None,
                samples_root: Path | None = None) -> list[Sample]:
    """Return the generic and file-based samples of ``assignment``."""
    source_root = Path(source_root) if source_root is not None else paths.assignments_dir()
    samples_root = Path(samples_root) if samples_root is not None else paths.grader_dir() / "samples"
    nb_path = next((source_root / "source" / assignment).glob("*.ipynb"))
    points = _grade_cells(nbformat.read(nb_path, as_version=4))
    found = [
        Sample(assignment, "correct", "the source solutions", expected=points),
        Sample(assignment, "blank", "the released notebook, untouched",
               expected=dict.fromkeys(points, 0.0)),
    ]
    for path in sorted((samples_root / assignment).glob("*.json")):
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataethicsError(f"{path}: not valid JSON ({exc})") from None
        missing = set(points) - set(spec.get("expected", {}))
        if missing:
            raise DataethicsError(f"{path}: 'expected' lacks {sorted(missing)}")
        found.append(Sample(assignment, path.stem, spec.get("description", ""),
                            spec.get("cells", {}), spec["expected"]))
    return found


def build_submission(sample: Sample, source_nb: Path, release_nb: Path) -> nbformat.NotebookNode:
    """Make the notebook a student would submit for ``sample``.

    It starts from the released notebook; for every variant but ``blank`` the
    solution cells are filled with the source's code (solution markers
    removed), then the variant's replacements are applied.
    """
    release = nbformat.read(release_nb, as_version=4)
    if sample.name == "blank":
        return release
    source = nbformat.read(source_nb, as_version=4)
    answers = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            lines = [ln for ln in cell.source.splitlines()
                     if ln.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")]
            answers[meta["grade_id"]] = "\n".join(lines)
    answers.update(sample.cells)
    unknown = set(sample.cells) - set(answers)
    if unknown:
        raise DataethicsError(f"sample '{sample.name}' of {sample.assignment} replaces unknown "
                              f"cells {sorted(unknown)}")
    for cell in release.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers and cell.cell_type == "code":
            cell.source = answers[grade_id]
    return release
