"""Shared fixtures of the test suite."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dataethics import paths

ROOT = paths.repo_root()


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture
def course_copy(tmp_path: Path) -> Path:
    """A scratch nbgrader course folder with a copy of every assignment's source."""
    course = tmp_path / "course"
    shutil.copytree(ROOT / "assignments" / "source", course / "source",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return course
