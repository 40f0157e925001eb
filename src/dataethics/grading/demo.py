"""A sample class for trying the grading pipeline end to end (``make grade-demo``).

:func:`build_class` writes, for each assignment, the zip an LMS would give the
instructor: about thirty students of mixed ability (each answer right with a
probability that depends on the student and the question), the sample
submissions of ``grader/samples/``, and a few hostile or broken notebooks.
Even-numbered assignments come as a Moodle download in Moodle's default layout
(a folder per student, some with notes or data files beside the notebook) with
the grading worksheet Moodle offers beside it (submission times, some after the
due date); odd ones as a Canvas download (``LATE`` work, a few students who
uploaded twice). The LMS-id → student-id mapping file goes with them.

:func:`run_demo` then runs collect → autograde → feedback → report → export and
returns where everything is. All names are invented.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import functools
import math
import random
import secrets
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from dataethics import paths
from dataethics.grading import samples

FIRST = ["Amara", "Bastien", "Chloé", "Dmitri", "Elif", "Farid", "Greta", "Hugo", "Inès", "Jonas",
         "Kenji", "Léa", "Malik", "Nora", "Oskar", "Priya", "Quentin", "Rosa", "Sami", "Tuula",
         "Ugo", "Vera", "Wanjiru", "Xavier", "Yara", "Zoé", "Anouk", "Bruno", "Carmen", "Diego"]
LAST = ["Okafor", "Lefèvre", "Nowak", "Ivanov", "Demir", "Haddad", "Lind", "Moreau", "Benali",
        "Berg", "Sato", "Rossi", "Diallo", "Kowalski", "Nilsson", "Shah", "Girard", "Costa",
        "Mansour", "Virtanen", "Bianchi", "Horvat", "Mwangi", "Dupont", "Aziz", "Martin", "Visser",
        "Silva", "Ortega", "Fernández"]

#: Broken or hostile behaviours, each given to one student of one assignment.
HOSTILE = ["infinite loop", "catches interrupts", "monkeypatch", "edited test", "os._exit",
           "invalid json", "missing", "wrong name", "memory bomb", "hardcoded", "blank", "partial"]


@dataclass
class Student:
    """A demo student: ids in the course and in the LMS, and an ability."""

    sid: str
    name: str
    lms_id: str
    ability: float


@dataclass
class DemoResult:
    """Where the demo wrote its outputs."""

    course: Path
    report: Path
    exports: list[Path] = field(default_factory=list)
    feedback: int = 0
    flagged: int = 0
    graded: int = 0


def make_students(n: int, seed: int = 2026) -> list[Student]:
    """``n`` invented students with abilities spread from weak to strong."""
    rng = random.Random(seed)
    people = []
    for i in range(n):
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
        people.append(Student(f"s{i + 1:03d}", f"{first} {last}", str(40100 + i * 13),
                              ability=rng.uniform(-1.5, 2.5)))
    return people


def _answer_ids(nb: nbformat.NotebookNode) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def _set(nb: nbformat.NotebookNode, gid: str, source: str) -> None:
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == gid:
            cell.source = source


@functools.cache
def _samples(assignment: str) -> dict[str, samples.Sample]:
    return {s.name: s for s in samples.samples_for(assignment)}


def submission(kind: str, student: Student, source_nb: Path, release_nb: Path,
               rng: random.Random) -> nbformat.NotebookNode | bytes | None:
    """The notebook one student hands in (None: nothing; bytes: a broken file)."""
    by_name = _samples(source_nb.parent.name)
    if kind in ("hardcoded", "partial", "blank") and kind in by_name:
        return samples.build_submission(by_name[kind], source_nb, release_nb)
    if kind == "missing":
        return None
    if kind == "invalid json":
        return b'{"cells": [{"cell_type": "code", "source": "'
    correct = samples.build_submission(by_name["correct"], source_nb, release_nb)
    release = nbformat.read(release_nb, as_version=4)
    ids = _answer_ids(correct)
    if kind == "mixed":  # each answer right with a probability set by ability and question order
        nb = copy.deepcopy(correct)
        stubs = {c.metadata["nbgrader"]["grade_id"]: c.source for c in release.cells
                 if c.metadata.get("nbgrader", {}).get("grade_id") in ids}
        for rank, gid in enumerate(ids):
            difficulty = -1.0 + 2.0 * rank / max(len(ids) - 1, 1)
            if rng.random() > 1 / (1 + math.exp(-(student.ability - difficulty) * 1.7)):
                _set(nb, gid, stubs[gid])
        return nb
    nb = copy.deepcopy(correct)
    first, last = ids[0], ids[-1]
    text = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")}
    if kind == "infinite loop":
        _set(nb, last, "while True:\n    pass")
    elif kind == "catches interrupts":
        _set(nb, last, "while True:\n    try:\n        pass\n    except KeyboardInterrupt:\n        pass")
    elif kind == "monkeypatch":
        _set(nb, first, "import numpy as np\nnp.isclose = lambda *a, **k: True\n" + text[first])
    elif kind == "os._exit":
        _set(nb, last, "import os\nos._exit(0)")
    elif kind == "memory bomb":
        _set(nb, last, "hoard = bytearray(64 * 2**30)")
    elif kind == "edited test":
        tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
                 and not c.metadata["nbgrader"].get("solution")]
        tests[0].source = "assert True"
    return nb


#: The due date of every demo assignment (UTC), set in the gradebook when collecting.
DUE = "2026-03-13 23:59"


def _lms_name(student: Student, notebook: str, lms: str, late: bool, upload: int = 0) -> str:
    """A file's name in the LMS download: Moodle's default folder layout, or Canvas's."""
    if lms == "moodle":
        return f"{student.name}_{student.lms_id}_assignsubmission_file/{notebook}"
    slug = "".join(ch for ch in (student.name.split()[-1] + student.name.split()[0]).lower()
                   if ch.isalnum())
    if upload:  # Canvas renames a file uploaded again under the same name
        stem, dot, ext = notebook.rpartition(".")
        notebook = f"{stem}-{upload}.{ext}" if dot else f"{notebook}-{upload}"
    return (f"{slug}_{'LATE_' if late else ''}{student.lms_id}_"
            f"{int(student.lms_id) * 7 + upload}_{notebook}")


def _moodle_date(late: bool, rng: random.Random) -> str:
    """A submission time as Moodle's English worksheet writes it, before or after :data:`DUE`."""
    from dataethics.grading.lms import moodle

    due = dt.datetime.fromisoformat(DUE)
    hours = rng.uniform(1, 30) if late else -rng.uniform(1, 72)
    return moodle.format_date(due + dt.timedelta(hours=hours))


def build_class(out: Path, assignments: list[str], n_students: int = 30,
                seed: int = 2026) -> tuple[Path, dict[str, Path], Path]:
    """Write the demo course folder, one LMS zip per assignment and the id mapping.

    Returns ``(course_root, {assignment: zip}, mapping_csv)``.
    """
    from dataethics.grading.course import generate_release

    out = Path(out).resolve()
    if out.exists():
        shutil.rmtree(out)
    course = out / "course"
    students = make_students(n_students, seed)
    rng = random.Random(seed)
    mapping = out / "lms-mapping.csv"
    out.mkdir(parents=True)
    with mapping.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["lms_id", "student_id", "name"])
        for s in students:
            w.writerow([s.lms_id, s.sid, s.name])
    zips = {}
    worksheet_header = ["Identifier", "Full name", "Status", "Grade", "Maximum Grade",
                        "Grade can be changed", "Last modified (submission)",
                        "Last modified (grade)", "Feedback comments"]
    for number, assignment in enumerate(assignments):
        release = generate_release(assignment, course)
        source_nb = next((course / "source" / assignment).glob("*.ipynb"))
        release_nb = release / source_nb.name
        lms = "moodle" if number % 2 == 0 else "canvas"
        # the hostile cases rotate over the students, so each assignment gets a different few
        special = {students[(number * 5 + k) % len(students)].sid: kind
                   for k, kind in enumerate(HOSTILE[number % 3::3] + ["hardcoded", "partial"])}
        zpath = out / f"{assignment}-{lms}-download.zip"
        sheet: list[list[str]] = []
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
            for i, s in enumerate(students):
                kind = special.get(s.sid, "mixed")
                content = submission(kind, s, source_nb, release_nb, rng)
                late = rng.random() < 0.1 or i % 10 == 2  # at least one late student each time
                sheet.append([f"Participant {s.lms_id}", s.name,
                              "No submission" if content is None else "Submitted for grading", "",
                              "100.00", "Yes", "-" if content is None else _moodle_date(late, rng),
                              "-", ""])
                if content is None:
                    continue
                name = "my_homework.ipynb" if kind == "wrong name" else source_nb.name
                data = content if isinstance(content, bytes) else nbformat.writes(content).encode()
                if lms == "canvas" and i % 7 == 3:  # an earlier upload, replaced by the one below
                    zf.writestr(_lms_name(s, name, lms, late), b'{"an": "earlier upload"}')
                    zf.writestr(_lms_name(s, name, lms, late, upload=1), data)
                else:
                    zf.writestr(_lms_name(s, name, lms, late), data)
                if lms == "moodle" and i % 6 == 1:  # files beside the notebook are kept too
                    zf.writestr(_lms_name(s, "notes/my notes.md", lms, late), f"# {s.name}\n")
        if lms == "moodle":  # the grading worksheet Moodle offers beside the download
            with (out / f"{assignment}-moodle-worksheet.csv").open("w", newline="",
                                                                   encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(worksheet_header)
                writer.writerows(sheet)
        zips[assignment] = zpath
    return course, zips, mapping


def run_demo(out: Path | None = None, assignments: list[str] | None = None, n_students: int = 30,
             workers: int | None = None, notebook_seconds: float = 60, cell_seconds: float = 20,
             progress: bool = True) -> DemoResult:
    """Build the sample class and run the whole pipeline on it."""
    from dataethics.grading.autograde import Limits, autograde
    from dataethics.grading.collect import collect_lms
    from dataethics.grading.course import assignment_ids
    from dataethics.grading.exports import export_grades
    from dataethics.grading.feedback import generate_feedback
    from dataethics.grading.report import write_report

    out = Path(out) if out is not None else paths.grader_dir() / "demo"
    assignments = assignments or assignment_ids()
    course, zips, mapping = build_class(out, assignments, n_students)
    result = DemoResult(course=course, report=course / "reports" / "report.html")
    limits = Limits(notebook_seconds=notebook_seconds, cell_seconds=cell_seconds, memory_mb=2048)
    say = print if progress else (lambda *_: None)
    say(f"a class of {n_students} invented in {out}: Moodle and Canvas downloads, one per assignment")
    for number, assignment in enumerate(assignments):
        lms = "moodle" if number % 2 == 0 else "canvas"
        sheet = out / f"{assignment}-moodle-worksheet.csv"
        got = collect_lms(assignment, zips[assignment], course, lms, mapping,
                          worksheet=sheet if lms == "moodle" else None, timezone="UTC", due_date=DUE)
        say(f"{assignment}: collected {len(got.students)} students from {zips[assignment].name} "
            f"({len(got.late)} late, {len(got.report.lines)} line(s) in {got.report_file.name})")
        outcomes = autograde(assignment, course, workers=workers, limits=limits, progress=progress)
        result.graded += len(outcomes)
        result.flagged += sum(1 for o in outcomes if o.flags or o.status != "ok")
        pages = generate_feedback(assignment, course, progress=progress)
        result.feedback += len(pages)
        say(f"{assignment}: {sum(1 for o in outcomes if o.flags or o.status != 'ok')} flagged, "
            f"{len(pages)} feedback pages")
    result.report = write_report(course)
    key = out / "export-key.txt"  # a demo secret; a real key stays outside the repository
    key.write_text(secrets.token_hex(16))
    from dataethics.grading.lms.common import read_mapping

    people = read_mapping(mapping)
    exported = [export_grades(course, out / "grades-nbgrader.csv", "nbgrader"),
                export_grades(course, out / "grades-moodle.csv", "moodle", mapping=people),
                export_grades(course, out / "grades-canvas.csv", "canvas", mapping=people),
                export_grades(course, out / "grades-moodle-pseudonymised.csv", "moodle",
                              key=key.read_bytes())]
    for number, assignment in enumerate(assignments):
        if number % 2 == 0:  # each Moodle assignment's worksheet, filled to upload back
            exported.append(export_grades(course, out / f"{assignment}-moodle-worksheet-graded.csv",
                                          "moodle-worksheet", mapping=people, assignment=assignment,
                                          template=out / f"{assignment}-moodle-worksheet.csv",
                                          tz=dt.UTC))
    result.exports = [e.path for e in exported]
    return result
