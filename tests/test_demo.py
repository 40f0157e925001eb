"""``make grade-demo`` in small: an invented class, collect → autograde → feedback → report → export."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from dataethics.cli import main
from dataethics.grading.feedback import find_leaks, hidden_test_lines

ASSIGNMENTS = ["ps00", "ps01"]
STUDENTS = 8


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["grade", "demo", "--out", str(out), "--students", str(STUDENTS), "--workers", "2",
                 "--notebook-seconds", "20", "--cell-seconds", "8",
                 "--assignments", *ASSIGNMENTS]) == 0
    return out


def test_the_lms_downloads_and_mapping_were_built(demo: Path) -> None:
    import zipfile

    assert (demo / "ps00-moodle-download.zip").is_file() and (demo / "ps01-canvas-download.zip").is_file()
    rows = list(csv.DictReader((demo / "lms-mapping.csv").open(encoding="utf-8")))
    assert len(rows) == STUDENTS and len({r["lms_id"] for r in rows}) == STUDENTS
    names = zipfile.ZipFile(demo / "ps00-moodle-download.zip").namelist()
    assert all("_assignsubmission_file/" in n for n in names)  # Moodle's default: in folders


def test_collect_recorded_what_it_did(demo: Path) -> None:
    course = demo / "course"
    moodle = list(csv.DictReader((course / "reports" / "collect-ps00.csv").open(encoding="utf-8")))
    canvas = list(csv.DictReader((course / "reports" / "collect-ps01.csv").open(encoding="utf-8")))
    assert any("older upload" in r["reason"] for r in canvas)  # Canvas's -1 copies: latest kept
    stamps = list(course.glob("submitted/*/ps00/timestamp.txt"))  # from the Moodle worksheet
    assert len(stamps) >= STUDENTS - 2
    assert list(course.glob("submitted/*/ps00/notes/my notes.md"))  # files beside the notebook
    assert not [r for r in moodle + canvas if r["needs_instructor"] == "yes"]
    page = (course / "reports" / "report.html").read_text(encoding="utf-8")
    assert "<h2>Collection</h2>" in page and "older upload" in page


def test_every_collected_student_is_graded_and_gets_feedback(demo: Path) -> None:
    course = demo / "course"
    for assignment in ASSIGNMENTS:
        submitted = {p.parent.name for p in (course / "submitted").glob(f"*/{assignment}")}
        graded = {p.parent.parent.name for p in (course / "autograded").glob(f"*/{assignment}/grading.json")}
        pages = {p.parent.parent.name for p in (course / "feedback").glob(f"*/{assignment}/*.html")}
        assert len(submitted) >= STUDENTS - 1  # one student of ps00 hands in nothing
        assert graded == submitted and pages <= graded and len(pages) >= len(graded) - 1


def test_the_report_has_its_plots_and_flags_the_hostile_students(demo: Path) -> None:
    page = (demo / "course" / "reports" / "report.html").read_text(encoding="utf-8")
    assert page.count('<img src="data:image/png;base64,') == 3
    flags = (demo / "course" / "reports" / "flags.csv").read_text(encoding="utf-8")
    for category in ("timeout", "tampering", "missing", "attack", "renamed"):
        assert f",{category}," in flags, category


def test_lms_exports_import_as_the_lms_expects(demo: Path) -> None:
    mapping = {r["student_id"]: r for r in csv.DictReader((demo / "lms-mapping.csv").open())}
    nbgrader = {(r["assignment"], r["student_id"]): float(r["score"])
                for r in csv.DictReader((demo / "grades-nbgrader.csv").open())}
    canvas = list(csv.reader((demo / "grades-canvas.csv").open(encoding="utf-8")))
    assert canvas[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[1][0] == "Points Possible"
    for row in canvas[2:]:
        assert row[1] == mapping[row[2]]["lms_id"] and row[0] == mapping[row[2]]["name"]
        assert [float(x) for x in row[5:]] == [nbgrader[(a, row[2])] for a in canvas[0][5:]]
    sheet = list(csv.DictReader((demo / "ps00-moodle-worksheet-graded.csv").open(encoding="utf-8")))
    downloaded = list(csv.DictReader((demo / "ps00-moodle-worksheet.csv").open(encoding="utf-8")))
    assert [r["Identifier"] for r in sheet] == [r["Identifier"] for r in downloaded]
    by_lms = {r["lms_id"]: r["student_id"] for r in mapping.values()}
    for row in sheet:
        student = by_lms[row["Identifier"].removeprefix("Participant ")]
        max_score = next(float(r["max_score"]) for r in csv.DictReader(
            (demo / "grades-nbgrader.csv").open()) if r["assignment"] == "ps00")
        assert float(row["Grade"]) == pytest.approx(nbgrader[("ps00", student)] / max_score * 100,
                                                    abs=0.006)


def test_exports_cover_the_class_and_pseudonymise(demo: Path) -> None:
    plain = list(csv.DictReader((demo / "grades-nbgrader.csv").open(encoding="utf-8")))
    pseudo = list(csv.DictReader((demo / "grades-moodle-pseudonymised.csv").open(encoding="utf-8")))
    assert len(plain) == STUDENTS * len(ASSIGNMENTS)  # nbgrader's layout: student x assignment
    assert len(pseudo) == STUDENTS and set(pseudo[0]) == {"ID number", *ASSIGNMENTS}
    ids = {r["student_id"] for r in plain}
    assert len(ids) == STUDENTS and not ids & {r["ID number"] for r in pseudo}
    assert sorted(float(r["score"]) for r in plain) == \
        sorted(float(r[a]) for r in pseudo for a in ASSIGNMENTS)
    assert any(float(r["score"]) > 0 for r in plain) and any(float(r["score"]) == 0 for r in plain)


def test_no_hidden_test_text_in_release_feedback_or_report(demo: Path) -> None:
    course = demo / "course"
    files = [*course.glob("release/*/*.ipynb"), *course.glob("feedback/*/*/*.html"),
             *course.glob("reports/*")]
    assert len(files) > 10
    for assignment in ASSIGNMENTS:
        source = next((course / "source" / assignment).glob("*.ipynb"))
        hidden = hidden_test_lines(source)
        assert len(hidden) >= 5
        assert find_leaks(files, hidden) == {}
