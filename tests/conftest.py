"""Shared fixtures of the test suite."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from dataethics import paths

ROOT = paths.repo_root()

# nbgrader runs helper programs (e.g. `alembic`) by name: put this environment's bin first.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


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
