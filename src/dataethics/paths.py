"""Where the course's folders are.

The package is installed in editable mode from the repository, so the
repository root is found from this file. ``DATAETHICS_ROOT`` overrides it
(useful when the package is installed elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """Return the repository root (the folder holding ``course/`` and ``datasets/``).

    >>> (repo_root() / "course").name
    'course'
    """
    env = os.environ.get("DATAETHICS_ROOT")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[2]


def datasets_dir() -> Path:
    """Return the folder of the student-facing dataset files."""
    env = os.environ.get("DATAETHICS_DATA")
    return Path(env).resolve() if env else repo_root() / "datasets"


def course_dir() -> Path:
    """Return the folder of the lesson notebooks."""
    return repo_root() / "course"


def assignments_dir() -> Path:
    """Return the nbgrader course folder (``source/``, ``release/``, …)."""
    return repo_root() / "assignments"


def grader_dir() -> Path:
    """Return the instructor's folder (ground-truth labels, demo class, …)."""
    return repo_root() / "grader"
