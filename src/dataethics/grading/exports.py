"""Grades as CSV files: nbgrader's own export, or the layouts Moodle and Canvas import.

* ``nbgrader``: nbgrader's ``CsvExportPlugin`` — one row per student and
  assignment, with due date, submission time, late penalty and score;
* ``moodle``: one row per student, an ``ID number`` column and one column per
  assignment (Moodle's *Import → CSV file* maps each column to a grade item);
* ``canvas``: Canvas's gradebook layout — ``Student``, ``ID``, ``SIS User ID``,
  ``SIS Login ID``, ``Section``, one column per assignment, and a
  ``Points Possible`` row; students are matched on ``SIS User ID``.

Missing submissions count zero; manual scores from formgrader are included.
With a key, student ids become a keyed hash (HMAC-SHA-256) and names and e-mail
addresses are left out: the same student always gets the same pseudonym under
one key, and nobody without the key can go back to the id (pseudonymisation in
the sense of GDPR Art. 4(5)). Use such a file for whatever leaves the grading
workflow (sharing with colleagues, analysing results), and the plain one to
import into the LMS, which knows students by their real ids.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import tempfile
from pathlib import Path

FORMATS = ("nbgrader", "moodle", "canvas")


def pseudonym(student: str, key: bytes) -> str:
    """Keyed hash (HMAC-SHA-256) of a student id, 16 hex digits.

    >>> pseudonym("ann", b"k") == pseudonym("ann", b"k") != pseudonym("bob", b"k")
    True
    """
    return hmac.new(key, student.encode(), hashlib.sha256).hexdigest()[:16]


def grade_rows(course_root: Path, db_url: str | None = None) -> list[tuple[str, str, float, float]]:
    """``(assignment, student, score, max_score)`` for every student and assignment (zero if missing)."""
    from nbgrader.api import Gradebook, MissingEntry

    from dataethics.grading.course import existing_gradebook

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


def _nbgrader_csv(course_root: Path, out: Path, key: bytes | None, db_url: str | None) -> None:
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    from dataethics.grading.course import existing_gradebook

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "grades.csv"
        with Gradebook(existing_gradebook(Path(course_root), db_url)) as gb:
            CsvExportPlugin(to=str(raw)).export(gb)
        with raw.open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    fields = list(rows[0]) if rows else ["assignment", "student_id", "score", "max_score"]
    if key is not None:
        for row in rows:
            row.update(student_id=pseudonym(row["student_id"], key), last_name="", first_name="",
                       email="")
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def export_grades(course_root: Path, out: Path, fmt: str = "nbgrader", key: bytes | None = None,
                  db_url: str | None = None) -> Path:
    """Write the grades of every student as CSV in ``fmt`` layout; return the file."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format '{fmt}' (choose {', '.join(FORMATS)})")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "nbgrader":
        _nbgrader_csv(course_root, out, key, db_url)
        return out
    rows = grade_rows(course_root, db_url)
    assignments = sorted({a for a, _, _, _ in rows})
    maxima = {a: m for a, _, _, m in rows}
    table: dict[str, dict[str, float]] = {}
    for assignment, student, score, _ in rows:
        table.setdefault(student, {})[assignment] = score
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        if fmt == "moodle":
            w.writerow(["ID number", *assignments])
        else:
            w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *assignments])
            w.writerow(["Points Possible", "", "", "", "", *[f"{maxima[a]:g}" for a in assignments]])
        for student in sorted(table):
            who = pseudonym(student, key) if key else student
            scores = [f"{table[student].get(a, 0.0):g}" for a in assignments]
            w.writerow([who, *scores] if fmt == "moodle" else ["", "", who, "", "", *scores])
    return out
