"""Resuming an interrupted grading run: what is already graded, and the record that says so.

A student counts as graded when both hold:

* ``autograded/<student>/<assignment>/grading.json`` carries the **fingerprint** of what was
  graded — the submitted files, the grading templates and the limits. The autograder
  writes it atomically (a temporary file, then a rename) and only after the student's
  last notebook was saved, so a record with a fingerprint means every notebook of the
  student reached the gradebook and ``autograded/``;
* the gradebook has that student's submission of the assignment (a deleted or replaced
  gradebook means grading again).

A run killed at any moment therefore leaves each student either graded (record written
last) or not (graded again on the next run, and nbgrader's ``SaveAutoGrades`` overwrites
any grades already written). A resubmission, a changed test or new limits change the
fingerprint, so that student is graded again; ``force`` grades everyone again.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> write_record(folder / "grading.json", {"student": "ann"})
>>> json.loads((folder / "grading.json").read_text())["student"]
'ann'
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from dataethics.grading import quiet_gradebook_notices
from dataethics.grading.runner.limits import Outcome

RECORD = "grading.json"


def fingerprint(folder: Path, sources: list[Path], limits: dict[str, Any]) -> str:
    """A digest of one student's submission folder, the grading templates and the limits."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and (path.suffix == ".ipynb" or path.name == "timestamp.txt"):
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    for source in sources:
        digest.update(source.name.encode() + b"\0" + hashlib.sha256(source.read_bytes()).digest())
    same = {k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
            for k, v in limits.items()}  # 60 and 60.0 are the same limit
    digest.update(json.dumps(same, sort_keys=True).encode())
    return digest.hexdigest()


def write_record(path: Path, data: dict[str, Any]) -> None:
    """Write a grading record atomically: readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".grading-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _in_gradebook(assignment: str, db_url: str) -> set[str]:
    """Students with a submission of ``assignment`` in the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    if db_url.startswith("sqlite:///") and not Path(db_url.removeprefix("sqlite:///")).is_file():
        return set()
    quiet_gradebook_notices()
    with Gradebook(db_url) as gb:
        try:
            return {sub.student.id for sub in gb.assignment_submissions(assignment)}
        except MissingEntry:
            return set()


def graded_before(course_root: Path, assignment: str, prints: dict[str, str],
                  db_url: str) -> dict[str, list[Outcome]]:
    """The students of ``prints`` (student → fingerprint) already graded, with their recorded outcomes."""
    known = _in_gradebook(assignment, db_url)
    names = {f.name for f in fields(Outcome)}
    done: dict[str, list[Outcome]] = {}
    for student, digest in prints.items():
        record = Path(course_root) / "autograded" / student / assignment / RECORD
        if student not in known or not record.is_file():
            continue
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if data.get("fingerprint") != digest or not data.get("outcomes"):
            continue
        done[student] = [Outcome(**{**{k: v for k, v in o.items() if k in names}, "earlier": True})
                         for o in data["outcomes"]]
    return done


def mark_graded(course_root: Path, assignment: str, student: str, outcomes: list[Outcome],
                digest: str) -> None:
    """Record, last and atomically, that every notebook of ``student`` was saved."""
    record = Path(course_root) / "autograded" / student / assignment / RECORD
    last = {k: v for k, v in asdict(outcomes[-1]).items() if k != "executed"}
    write_record(record, {**last, "fingerprint": digest,
                          "outcomes": [{k: v for k, v in asdict(o).items() if k != "executed"}
                                       for o in outcomes]})
