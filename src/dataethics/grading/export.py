"""Grades as CSV files: nbgrader's layout, or the layouts Moodle and Canvas import.

With a key, student ids are replaced by a keyed hash (HMAC-SHA-256): the same
student always gets the same pseudonym under one key, and nobody without the key
can go back from the pseudonym to the id (GDPR Art. 4(5), pseudonymisation).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
from pathlib import Path

HEADERS = {
    "nbgrader": ["student_id", "assignment", "score", "max_score"],
    "moodle": ["ID number", "Assignment", "Grade", "Maximum"],
    "canvas": ["SIS User ID", "Assignment", "Score", "Points Possible"],
}


def pseudonym(student: str, key: bytes) -> str:
    """Keyed hash (HMAC-SHA-256) of a student id, 16 hex digits.

    >>> pseudonym("ann", b"k") == pseudonym("ann", b"k") != pseudonym("bob", b"k")
    True
    """
    return hmac.new(key, student.encode(), hashlib.sha256).hexdigest()[:16]


def grade_rows(course_root: Path, db_url: str | None = None) -> list[tuple[str, str, float, float]]:
    """``(assignment, student, score, max_score)`` for every student and assignment (zero if missing)."""
    from nbgrader.api import Gradebook, MissingEntry

    from dataethics.grading.assignments import existing_gradebook

    rows = []
    with Gradebook(existing_gradebook(Path(course_root), db_url)) as gb:
        for assignment in gb.assignments:
            for student in gb.students:
                try:
                    score = gb.find_submission(assignment.name, student.id).score
                except MissingEntry:
                    score = 0.0
                rows.append((assignment.name, student.id, float(score), float(assignment.max_score)))
    return rows


def export_grades(course_root: Path, out: Path, fmt: str = "nbgrader", key: bytes | None = None,
                  db_url: str | None = None) -> Path:
    """Write the grades of every student as CSV in ``fmt`` layout; return the file."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADERS[fmt])
        for assignment, student, score, max_score in grade_rows(course_root, db_url):
            w.writerow([pseudonym(student, key) if key else student, assignment, f"{score:g}",
                        f"{max_score:g}"])
    return out
