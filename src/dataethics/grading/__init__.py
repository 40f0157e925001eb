"""The instructor's grading pipeline, built on nbgrader.

Where things live (one module, one job):

* ``course`` — the course's configuration: assignments, gradebook URL, nbgrader ``Config``,
  release generation and validation. Imports no other grading module.
* ``runner/`` — running one submission: rebuilding the notebook from the source
  (``notebook``), limits (``limits``), the sandbox (``sandbox``), the kernel launcher and
  its in-kernel guard (``kernel``, ``guard``), pre-warmed kernels (``prewarm``), the static
  and file checks (``integrity``) and the verdict of each test cell (``execute``).
* ``autograde`` — grading a class: one task per student, workers, saving each result;
  ``gradebook`` — the run's one connection to nbgrader's gradebook, one transaction per notebook;
  ``resume`` — skipping work already graded; ``distributed`` — the same on a Dask cluster;
  ``validate`` — students' Validate on the pre-warmed path.
* ``collect`` and ``lms/`` — bringing submissions in from an LMS download (one module per
  LMS) or from nbgrader's exchange (``exchange``).
* ``exports`` — grades in the files an LMS imports; ``feedback`` — student feedback with no
  hidden tests; ``report`` — the instructor's class report.
* ``demo``, ``bench``, ``samples`` — an invented class, the benchmark, sample submissions;
  ``cli`` — the ``dataethics grade`` commands.
"""

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
