"""The course's configuration: its assignments, its gradebook and nbgrader's settings.

This module owns what every grading step needs to agree on: which assignments
exist (``source/<id>/``), where the gradebook is (:func:`gradebook_url`), the
nbgrader ``Config`` of a course folder (:func:`course_config`, including the
feedback preprocessors that hide hidden tests), generating the student version
(:func:`generate_release`) and nbgrader's validator. It imports no other grading
module, so any of them may import it.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from traitlets.config import Config

from dataethics import paths
from dataethics.errors import DataethicsError, UnknownAssignmentError
from dataethics.grading import ensure_tools_on_path, quiet_gradebook_notices

#: nbgrader's feedback steps, with the scrubbing of hidden-test output before hidden tests are cleared
FEEDBACK_PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    "dataethics.grading.feedback.ScrubHiddenTestOutputs",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]


def assignment_ids(root: Path | None = None) -> list[str]:
    """Return the ids of the assignments in ``<root>/source/`` (sorted).

    >>> "ps00" in assignment_ids()
    True
    """
    root = Path(root) if root is not None else paths.assignments_dir()
    if not (root / "source").is_dir():
        return []
    return sorted(p.name for p in (root / "source").iterdir() if p.is_dir()
                  and any(p.glob("*.ipynb")))


def check_assignment(assignment: str, root: Path | None = None) -> Path:
    """Return the source folder of ``assignment`` or raise a one-line error."""
    root = Path(root) if root is not None else paths.assignments_dir()
    folder = root / "source" / assignment
    if not folder.is_dir():
        known = ", ".join(assignment_ids(root)) or "none"
        raise UnknownAssignmentError(f"unknown assignment '{assignment}' (known: {known})")
    return folder


def gradebook_url(root: Path, db_url: str | None = None) -> str:
    """The gradebook of a course: ``db_url`` if given, else ``$DATAETHICS_DB_URL``, else SQLite in ``root``.

    >>> gradebook_url(Path("/c"), "postgresql://h/db")
    'postgresql://h/db'
    """
    return db_url or os.environ.get("DATAETHICS_DB_URL") or f"sqlite:///{Path(root) / 'gradebook.db'}"


def existing_gradebook(root: Path, db_url: str | None = None) -> str:
    """Like :func:`gradebook_url`, but a one-line error when a SQLite gradebook does not exist yet."""
    url = gradebook_url(root, db_url)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise DataethicsError(f"no gradebook at {url.removeprefix('sqlite:///')}: release and "
                              "autograde an assignment first")
    return url


def _file_config(root: Path) -> Config:
    """The course's own ``nbgrader_config.py`` (in ``root``; for the repository's course, beside it)."""
    from traitlets.config.loader import PyFileConfigLoader

    candidates = [Path(root) / "nbgrader_config.py"]
    if Path(root).resolve() == paths.assignments_dir().resolve():
        candidates.append(paths.assignments_dir().parent / "nbgrader_config.py")
    for path in candidates:
        if path.is_file():
            return PyFileConfigLoader(path.name, str(path.parent)).load_config()
    return Config()


def course_config(root: Path, db_url: str | None = None) -> Config:
    """Return an nbgrader config for a course folder ``root`` (gradebook inside it by default).

    Settings of the course's ``nbgrader_config.py`` that this function does not set itself
    apply too — for instance the late-submission plugin
    (``c.LateSubmissionPlugin.penalty_method``), which autograde applies to the score.
    """
    ensure_tools_on_path()
    quiet_gradebook_notices()
    cfg = _file_config(root)
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.course_id = "dataethics"
    cfg.CourseDirectory.db_url = gradebook_url(root, db_url)
    cfg.GenerateFeedback.preprocessors = FEEDBACK_PREPROCESSORS
    cfg.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    cfg.ClearSolutions.text_stub = "YOUR ANSWER HERE"
    cfg.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__"]
    cfg.ExecutePreprocessor.timeout = 60
    return cfg


def generate_release(assignment: str, course_root: Path, source_root: Path | None = None,
                     db_url: str | None = None) -> Path:
    """Generate the student version of ``assignment`` in ``course_root/release/``.

    The source folder is copied from ``source_root`` (default: the repository's
    ``assignments/``) when ``course_root`` is another folder. Returns the
    release folder.
    """
    from nbgrader.apps import NbGraderAPI

    source_root = Path(source_root) if source_root is not None else paths.assignments_dir()
    src = check_assignment(assignment, source_root)
    course_root = Path(course_root).resolve()
    dest = course_root / "source" / assignment
    if dest.resolve() != src.resolve():
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    api = NbGraderAPI(config=course_config(course_root, db_url))
    result = api.generate_assignment(assignment, force=True)
    if not result.get("success"):
        raise DataethicsError(f"nbgrader could not generate '{assignment}': {nbgrader_reason(result)}")
    return course_root / "release" / assignment


def validate(notebook: Path, invert: bool = False) -> dict[str, list[dict[str, str]]]:
    """Run nbgrader's validator on ``notebook``; return its result dictionary.

    Without ``invert`` an empty result means every test passed; with
    ``invert`` an empty result means every test failed (a student version).
    """
    from nbgrader.validator import Validator

    validator = Validator(invert=invert)
    return validator.validate(str(notebook))


def nbgrader_reason(result: dict) -> str:
    """The most telling line of a failed nbgrader API call (its log holds the real exception).

    >>> nbgrader_reason({"log": "x\\n  nbformat.reader.NotJSONError: not JSON\\n", "error": "boom"})
    'nbformat.reader.NotJSONError: not JSON'
    """
    text = "\n".join(str(result.get(k) or "") for k in ("log", "error"))
    found = [ln.strip() for ln in text.splitlines()
             if re.match(r"\s*[\w.]+(Error|Exception)\b.*:", ln) and "NbGraderException" not in ln]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return found[-1] if found else (lines[-1] if lines else "unknown error")
