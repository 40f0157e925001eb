"""The instructor's grading pipeline, built on nbgrader."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path


def quiet_gradebook_notices() -> None:
    """Silence a harmless SQLAlchemy 2 notice nbgrader's gradebook raises on every new submission."""
    warnings.filterwarnings("ignore", message=r".*not in session, add operation along.*")


def ensure_tools_on_path() -> None:
    """Put this environment's ``bin`` first on PATH: nbgrader runs helpers (``alembic``) by name."""
    bindir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if parts[:1] != [bindir]:
        os.environ["PATH"] = os.pathsep.join([bindir, *[p for p in parts if p != bindir]])
