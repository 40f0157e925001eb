"""nbgrader's exchange on a JupyterHub: release an assignment to it and collect from it.

Both are nbgrader's own API calls (``release_assignment`` and ``collect``):
students fetch and submit from JupyterLab's *Assignments* tab, and the
exchange records each submission's time in ``timestamp.txt``, which the
autograder reads to flag late work.
"""

from __future__ import annotations

from pathlib import Path

from traitlets.config import Config

from dataethics.errors import DataethicsError


def _exchange_config(course_root: Path, exchange: Path | None, db_url: str | None) -> Config:
    from dataethics.grading.course import course_config

    cfg = course_config(course_root, db_url)
    if exchange is not None:
        cfg.Exchange.root = str(exchange)
    return cfg


def _check(result: dict, what: str) -> None:
    if not result.get("success"):
        from dataethics.grading.course import nbgrader_reason

        raise DataethicsError(f"nbgrader {what} failed: {nbgrader_reason(result)}")


def release_to_exchange(assignment: str, course_root: Path, exchange: Path | None = None,
                        db_url: str | None = None) -> None:
    """Put the released ``assignment`` in nbgrader's exchange, where students fetch it."""
    from nbgrader.apps import NbGraderAPI

    api = NbGraderAPI(config=_exchange_config(Path(course_root).resolve(), exchange, db_url))
    _check(api.release_assignment(assignment), "release_assignment")


def collect_exchange(assignment: str, course_root: Path, exchange: Path | None = None,
                     db_url: str | None = None) -> list[str]:
    """Collect ``assignment`` from nbgrader's exchange (JupyterHub); return the students collected.

    ``exchange`` is the exchange folder (default: nbgrader's configured ``Exchange.root``).
    """
    from nbgrader.apps import NbGraderAPI

    course_root = Path(course_root).resolve()
    api = NbGraderAPI(config=_exchange_config(course_root, exchange, db_url))
    _check(api.collect(assignment), "collect")
    submitted = course_root / "submitted"
    return sorted(p.parent.name for p in submitted.glob(f"*/{assignment}")) if submitted.is_dir() else []
