"""Grades in the files nbgrader and the LMSs read.

* ``nbgrader`` — nbgrader's ``CsvExportPlugin``: one row per student and
  assignment, with due date, submission time, raw score, late penalty and score;
* ``moodle-worksheet`` — Moodle's offline grading worksheet of one assignment,
  to upload with *Grading action → Upload grading worksheet*. Given the
  worksheet downloaded from Moodle (``template``), the same file comes back
  with the same identifiers, columns and order, the ``Grade`` column filled
  (scaled to the worksheet's ``Maximum Grade``); without one, a worksheet is
  written from the mapping (``Identifier`` = "Participant <lms_id>");
* ``moodle`` — Moodle's gradebook import (*Grades → Import → CSV file*): an
  ``ID number`` column and one column per assignment;
* ``canvas`` — Canvas's gradebook import (*Grades → Import*): ``Student``, ``ID``,
  ``SIS User ID``, ``SIS Login ID``, ``Section``, then ``<assignment> (<Canvas
  id>)`` columns and a ``Points Possible`` row. Given Canvas's own export
  (``template``), its columns are filled in place (scaled to their points).

Every export uses the same score: nbgrader's, the raw score minus the late
penalty nbgrader's late-submission plugin recorded in the gradebook, never
below zero (what ``CsvExportPlugin`` writes). Missing submissions count zero;
manual scores from formgrader are included. LMS files hold only students the
LMS knows: with a mapping, only mapped students; anonymous submissions
(``anon_…``, ``participant-N``) only once the mapping names them.

With a key, student ids become a keyed hash (HMAC-SHA-256) and names and e-mail
addresses are left out: the same student always gets the same pseudonym under
one key, and nobody without the key can go back to the id (pseudonymisation in
the sense of GDPR Art. 4(5)). Use such a file for whatever leaves the grading
workflow (sharing with colleagues, analysing results), and the plain one to
import into the LMS, which knows students by their real ids.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from dataethics.errors import DataethicsError
from dataethics.grading.lms import canvas, moodle
from dataethics.grading.lms.common import Mapping, is_anonymous

FORMATS = ("nbgrader", "moodle-worksheet", "moodle", "canvas")


def pseudonym(student: str, key: bytes) -> str:
    """Keyed hash (HMAC-SHA-256) of a student id, 16 hex digits.

    >>> pseudonym("ann", b"k") == pseudonym("ann", b"k") != pseudonym("bob", b"k")
    True
    """
    return hmac.new(key, student.encode(), hashlib.sha256).hexdigest()[:16]


def final_score(raw: float, penalty: float | None) -> float:
    """The score after the late penalty, as nbgrader's CSV export computes it.

    >>> final_score(8.0, 3.0), final_score(2.0, 5.0), final_score(8.0, None)
    (5.0, 0.0, 8.0)
    """
    return max(0.0, float(raw) - float(penalty or 0.0))


@dataclass
class Grade:
    """One student's result on one assignment, from nbgrader's gradebook."""

    assignment: str
    student: str
    raw: float
    penalty: float
    score: float
    max_score: float
    submitted: bool


@dataclass
class ExportResult:
    """The file written, and who or what had to be left out of it (and why)."""

    path: Path
    left_out: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def grades(course_root: Path, db_url: str | None = None) -> list[Grade]:
    """Every student's final score on every assignment (zero when nothing was submitted)."""
    from nbgrader.api import Gradebook, MissingEntry

    from dataethics.grading.course import existing_gradebook

    rows = []
    with Gradebook(existing_gradebook(Path(course_root), db_url)) as gb:
        for assignment in gb.assignments:
            for student in gb.students:
                try:
                    sub = gb.find_submission(assignment.name, student.id)
                except MissingEntry:
                    rows.append(Grade(assignment.name, student.id, 0.0, 0.0, 0.0,
                                      float(assignment.max_score), False))
                    continue
                penalty = float(sub.late_submission_penalty or 0.0)
                rows.append(Grade(assignment.name, student.id, float(sub.score), penalty,
                                  final_score(sub.score, penalty), float(assignment.max_score), True))
    return rows


def grade_rows(course_root: Path, db_url: str | None = None) -> list[tuple[str, str, float, float]]:
    """``(assignment, student, score, max_score)`` for every student and assignment, penalty applied."""
    return [(g.assignment, g.student, g.score, g.max_score) for g in grades(course_root, db_url)]


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


def course_student(student: str, mapping: Mapping) -> str | None:
    """The student an LMS file may name: a gradebook id, or None when the LMS cannot know it.

    Anonymous ids are translated once the mapping names them; with a mapping,
    students outside it are left out.
    """
    if is_anonymous(student):
        lms_id = student if student.startswith("anon_") else student.removeprefix("participant-")
        return mapping.student(lms_id)
    if mapping.given and mapping.person_of(student) is None:
        return None
    return student


def _table(rows: list[Grade], mapping: Mapping, result: ExportResult) -> dict[str, dict[str, Grade]]:
    """Course student → assignment → grade, for the students an LMS file may hold."""
    table: dict[str, dict[str, Grade]] = {}
    for g in rows:
        student = course_student(g.student, mapping)
        if student is None:
            if g.student not in result.left_out:
                result.left_out.append(g.student)
            continue
        table.setdefault(student, {})[g.assignment] = g
    return table


def _moodle_gradebook(rows: list[Grade], out: Path, key: bytes | None, mapping: Mapping,
                      result: ExportResult) -> None:
    assignments = sorted({g.assignment for g in rows})
    table = _table(rows, mapping, result)
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["ID number", *assignments])
        for student in sorted(table):
            who = pseudonym(student, key) if key else student
            w.writerow([who, *[f"{table[student][a].score:g}" if a in table[student] else "0"
                               for a in assignments]])


def _scaled(score: float, max_score: float, points: str | None) -> float:
    """``score`` out of ``max_score`` expressed out of the LMS's ``points`` (if given)."""
    try:  # "100.00", or "100,00" in a worksheet in French, German …
        target = moodle.read_grade(str(points)) if points is not None else None
    except ValueError:
        target = None
    if target is None or max_score <= 0:
        return score
    return round(score / max_score * target, 2)


def _canvas_column(header: list[str], assignment: str, lms_ids: dict[str, str]) -> int | None:
    """The column of ``assignment`` in a Canvas export: by Canvas id, else by title."""
    for i, title in enumerate(header):
        name, canvas_id = canvas.title_and_id(title)
        if assignment in lms_ids:
            if canvas_id == lms_ids[assignment]:
                return i
        elif re.match(rf"{re.escape(assignment)}\b", name, re.I):
            return i
    return None


def _canvas(rows: list[Grade], out: Path, key: bytes | None, mapping: Mapping, template: Path | None,
            lms_ids: dict[str, str], result: ExportResult) -> None:
    assignments = sorted({g.assignment for g in rows})
    maxima = {g.assignment: g.max_score for g in rows}
    table = _table(rows, mapping, result)
    if template is None:
        for a in assignments:
            if a not in lms_ids:
                result.notes.append(f"column '{a}' has no Canvas assignment id: Canvas matches it "
                                    f"by its exact title (give --lms-assignment {a}=<Canvas id>)")
        with out.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow([*canvas.STUDENT_COLUMNS, *[canvas.column_title(a, lms_ids.get(a))
                                                  for a in assignments]])
            w.writerow([canvas.POINTS_POSSIBLE, "", "", "", "", *[f"{maxima[a]:g}" for a in assignments]])
            for student in sorted(table):
                person = mapping.person_of(student)
                scores = [f"{table[student][a].score:g}" if a in table[student] else "0"
                          for a in assignments]
                if key:
                    w.writerow([pseudonym(student, key), "", "", "", person.section if person else "",
                                *scores])
                    continue
                lms_id = person.lms_id if person else (student if student.isdigit() else "")
                w.writerow([person.name if person and person.name else student, lms_id,
                            person.sis_user_id if person and person.sis_user_id else student,
                            person.sis_login_id if person else "", person.section if person else "",
                            *scores])
        return
    book = canvas.read_gradebook(template)
    columns = {}
    for a in assignments:
        index = _canvas_column(book.header, a, lms_ids)
        if index is None:
            result.notes.append(f"no column for {a} in {book.path.name} (give --lms-assignment "
                                f"{a}=<Canvas id>); left out")
        else:
            columns[a] = index
    points = book.points_possible()
    known = {g.student for g in rows}
    for row in book.rows:
        if row is points or not row or re.fullmatch(r"\s*(Muted|Manual Posting.*)?\s*", row[0] or "", re.I):
            continue
        canvas_id, sis = row[1].strip(), row[2].strip() if len(row) > 2 else ""
        student = mapping.student(canvas_id) if mapping.given and canvas_id else None
        if student is None and sis in table:
            student = sis
        if student is None and not mapping.given and canvas_id in known:
            student = canvas_id
        if student is not None and student in table:
            for a, index in columns.items():
                g = table[student].get(a)
                if g is not None:
                    row[index] = f"{_scaled(g.score, g.max_score, points[index] if points else None):g}"
        if key:
            who = student or row[0]
            row[0], row[1] = pseudonym(who, key), ""
            for i in (2, 3):
                if len(row) > i and book.header[i] in ("SIS User ID", "SIS Login ID"):
                    row[i] = ""
    canvas.write_gradebook(book, out)


def _moodle_worksheet(rows: list[Grade], out: Path, key: bytes | None, mapping: Mapping,
                      template: Path | None, assignment: str | None, tz: dt.tzinfo,
                      result: ExportResult, language: str = "en") -> None:
    names = sorted({g.assignment for g in rows})
    if assignment is None:
        if len(names) != 1:
            raise DataethicsError("a grading worksheet holds one assignment: choose it with --assignment "
                                  f"({', '.join(names) or 'none graded yet'})")
        assignment = names[0]
    if assignment not in names:
        raise DataethicsError(f"no grades for '{assignment}' in the gradebook ({', '.join(names)})")
    mine = [g for g in rows if g.assignment == assignment]
    table = {s: by[assignment] for s, by in _table(mine, mapping, result).items()}
    for g in mine:  # the worksheet knows anonymous participants by their participant id
        if g.student.startswith("participant-") and g.student in result.left_out:
            table[g.student] = g
            result.left_out.remove(g.student)
    if template is not None:
        sheet = moodle.read_worksheet(template)
    else:
        lang = moodle.LANGUAGES[language]
        sheet = moodle.Worksheet(out, lang.columns, lang=lang)
        for student, g in sorted(table.items()):
            person = mapping.person_of(student)
            pid = (person.lms_id if person else student.removeprefix("participant-")
                   if student.startswith("participant-") else student)
            if not pid.isdigit():
                result.left_out.append(student)
                continue
            sheet.rows.append({lang.identifier: f"{lang.participant}{pid}",
                               lang.full_name: person.name if person else "", lang.status: "",
                               lang.grade: "", lang.maximum: moodle.format_grade(g.max_score, lang),
                               lang.can_change: lang.yes, lang.submitted: "-", lang.graded: "-",
                               lang.feedback: ""})
    lang = sheet.lang
    if lang.maximum not in sheet.columns:  # Moodle writes a Scale column instead for a scale
        result.notes.append(f"the worksheet has no '{lang.maximum}' column (is the assignment graded "
                            "with a scale in Moodle?): grades are written in the course's points, "
                            "unscaled; Moodle skips grades that are not on its scale")
    now = moodle.format_date(dt.datetime.now(tz), lang)
    identity = sheet.identity_columns()
    filled = kept_date = 0
    for row in sheet.rows:
        pid = moodle.participant_id(row.get(lang.identifier, ""))
        student = mapping.student(pid) if mapping.given else None
        for candidate in (f"participant-{pid}", pid if not mapping.given else None):
            if student is None and candidate in table:
                student = candidate
        g = table.get(student) if student else None
        if g is not None and row.get(lang.can_change, lang.yes).strip().casefold() != lang.no.casefold():
            row[lang.grade] = moodle.format_grade(_scaled(g.score, g.max_score, row.get(lang.maximum)), lang)
            try:
                stamp = moodle.parse_date(row.get(lang.graded, ""), tz, lang)
            except ValueError:
                stamp = None
            if stamp is None:  # never graded in Moodle: the upload must not see a stale row
                row[lang.graded] = now
            else:
                kept_date += 1
            filled += 1
        elif g is not None:
            result.notes.append(f"{row[lang.identifier]}: Moodle says the grade cannot be changed")
        if key:
            row[lang.identifier] = pseudonym(student or row.get(lang.identifier, ""), key)
            for column in identity:  # the name, e-mail, ID number … whatever the site shows
                row[column] = ""
    result.notes.append(f"{filled} of {len(sheet.rows)} worksheet rows graded")
    if lang is not moodle.ENGLISH and kept_date:
        result.notes.append(f"{kept_date} of these rows already had a grade in Moodle: Moodle reads "
                            f"'{lang.graded}' only in English, so tick 'Allow updating records that "
                            "have been modified more recently in Moodle than in the spreadsheet' when "
                            "you upload, or those rows are skipped")
    moodle.write_worksheet(sheet, out)


def export_grades(course_root: Path, out: Path, fmt: str = "nbgrader", key: bytes | None = None,
                  db_url: str | None = None, mapping: Mapping | None = None,
                  template: Path | None = None, assignment: str | None = None,
                  lms_ids: dict[str, str] | None = None, tz: dt.tzinfo | None = None,
                  language: str = "en") -> ExportResult:
    """Write every student's grades in ``fmt`` layout; return the file and who was left out.

    ``mapping`` links course students to LMS ids (Canvas ``ID``, Moodle
    participant); ``template`` is the file downloaded from the LMS to fill
    (Moodle's grading worksheet, Canvas's gradebook export); ``assignment``
    chooses the worksheet's assignment; ``lms_ids`` gives Canvas assignment ids
    (``{"ps01": "4312"}``); ``tz`` is the time zone of the worksheet's dates;
    ``language`` the language of a Moodle worksheet written without a downloaded one
    (a code of :data:`moodle.LANGUAGES`, e.g. ``fr``: Moodle's importer reads the headers in
    the uploader's language).
    A downloaded worksheet keeps its own language.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format '{fmt}' (choose {', '.join(FORMATS)})")
    if language not in moodle.LANGUAGES:
        raise DataethicsError(f"no Moodle worksheet language '{language}' "
                              f"(choose {', '.join(moodle.LANGUAGES)})")
    if template is not None and not Path(template).is_file():
        raise DataethicsError(f"file to fill not found: {template}")
    if template is not None and fmt not in ("moodle-worksheet", "canvas"):
        raise DataethicsError("--template is for --format moodle-worksheet or canvas")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = ExportResult(out)
    if fmt == "nbgrader":
        _nbgrader_csv(course_root, out, key, db_url)
        return result
    rows = grades(course_root, db_url)
    mapping = mapping or Mapping()
    if fmt == "moodle":
        _moodle_gradebook(rows, out, key, mapping, result)
    elif fmt == "canvas":
        _canvas(rows, out, key, mapping, template, dict(lms_ids or {}), result)
    else:
        _moodle_worksheet(rows, out, key, mapping, template, assignment,
                          tz or dt.datetime.now().astimezone().tzinfo or dt.UTC, result, language)
    return result
