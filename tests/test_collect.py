"""Collecting submissions: Moodle and Canvas downloads and nbgrader's exchange (see also test_lms)."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from dataethics.cli import main
from dataethics.grading import course as course_cfg
from dataethics.grading.lms import canvas, moodle

A = "ps00"


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("released") / "course"
    shutil.copytree(course_cfg.paths.assignments_dir() / "source" / A, root / "source" / A)
    course_cfg.generate_release(A, root)
    return root


@pytest.fixture
def course(released: Path, tmp_path: Path) -> Path:
    """A fresh copy of a released course (gradebook included)."""
    return Path(shutil.copytree(released, tmp_path / "course"))


def _zip(path: Path, names: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, marker in names.items():
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(marker)])
            zf.writestr(name, nbformat.writes(nb) if name.endswith(".ipynb") else marker)
    return path


def _mapping(path: Path) -> Path:
    path.write_text("lms_id,student_id\nParticipant 4211,ada\n4212,bob\n", encoding="utf-8")
    return path


def _marker(course: Path, student: str, name: str = f"{A}.ipynb") -> str:
    return nbformat.read(course / "submitted" / student / A / name, as_version=4).cells[0].source


@pytest.mark.parametrize(("name", "expected"), [
    ("Ada Lovelace_4211_assignsubmission_file_ps00.ipynb", ("4211", "ps00.ipynb")),
    ("Bob Öz_4212_assignsubmission_file_/ps00.ipynb", ("4212", "ps00.ipynb")),
    ("Bob Öz_4212_assignsubmission_file/sub dir/ps00.ipynb", ("4212", "sub dir/ps00.ipynb")),
])
def test_moodle_file_names_are_understood(name: str, expected: tuple[str, str]) -> None:
    parts = moodle.parse_download_path(name)
    assert parts is not None and (parts.number, parts.path) == expected
    assert moodle.parse_download_path("notes.txt") is None


@pytest.mark.parametrize(("name", "expected"), [
    ("lovelaceada_4211_998877_ps00.ipynb", ("4211", False, "ps00.ipynb")),
    ("ozbob_LATE_4212_998878_ps00-2.ipynb", ("4212", True, "ps00-2.ipynb")),
    ("o_neil_4213_998879_ps00.ipynb", ("4213", False, "ps00.ipynb")),
    ("anon_x7Yq2_998880_ps00.ipynb", ("anon_x7Yq2", False, "ps00.ipynb")),
])
def test_canvas_file_names_are_understood(name: str, expected: tuple[str, bool, str]) -> None:
    parts = canvas.parse_download_name(name)
    assert parts is not None and (parts.lms_id, parts.late, parts.file) == expected
    assert canvas.parse_download_name("notes.txt") is None


def test_moodle_download_lands_in_nbgrader_layout_with_mapped_ids(
        course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _zip(tmp_path / "moodle.zip", {
        "Ada Lovelace_4211_assignsubmission_file_ps00.ipynb": "ada's work",
        "Bob Öz_4212_assignsubmission_file_/ps00.ipynb": "bob's work",
        "Bob Öz_4212_assignsubmission_file_/notes.txt": "not a notebook",
        "Cleo Ray_4213_assignsubmission_file_homework.ipynb": "cleo's work",
    })
    # exit 1: the collect report has a line for the instructor (4213 is not in the mapping)
    assert main(["grade", "collect", A, "--from", "moodle", "--zip", str(archive),
                 "--mapping", str(_mapping(tmp_path / "map.csv")), "--course", str(course)]) == 1
    out = capsys.readouterr().out
    assert "collected 2 student(s)" in out and "4213" in out  # the unmapped id is reported
    assert _marker(course, "ada") == "ada's work" and _marker(course, "bob") == "bob's work"
    assert not (course / "submitted" / "4213").exists()  # kept aside, never graded or exported
    assert (course / "lms-aside" / A / "4213" / "homework.ipynb").is_file()
    assert (course / "submitted" / "bob" / A / "notes.txt").read_text() == "not a notebook"
    assert not (course / "downloaded" / A).exists()  # no second copy of names and files is kept


def test_canvas_download_keeps_the_latest_resubmission_and_reports_late_work(
        course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _zip(tmp_path / "canvas.zip", {
        "lovelaceada_4211_900001_ps00.ipynb": "ada's work",
        "ozbob_LATE_4212_900002_ps00-1.ipynb": "bob's late work",
    })
    assert main(["grade", "collect", A, "--from", "canvas", "--zip", str(archive),
                 "--mapping", str(_mapping(tmp_path / "map.csv")), "--course", str(course),
                 "--due-date", "2026-01-31 23:59"]) == 0
    assert "late: bob" in capsys.readouterr().out
    assert _marker(course, "bob") == "bob's late work"
    # collecting again replaces the earlier files instead of failing
    archive = _zip(tmp_path / "canvas2.zip", {"lovelaceada_4211_900003_ps00-2.ipynb": "ada again"})
    assert main(["grade", "collect", A, "--from", "canvas", "--zip", str(archive),
                 "--mapping", str(tmp_path / "map.csv"), "--course", str(course)]) == 0
    assert _marker(course, "ada") == "ada again"


@pytest.mark.parametrize("problem", ["missing zip", "not a zip", "no --zip", "bad mapping",
                                     "unknown assignment"])
def test_collect_errors_are_one_line(course: Path, tmp_path: Path, problem: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    good = _zip(tmp_path / "ok.zip", {"lovelaceada_4211_1_ps00.ipynb": "x"})
    bad_map = tmp_path / "bad.csv"
    bad_map.write_text("id,name\n1,a\n")
    (tmp_path / "fake.zip").write_text("not a zip")
    args = {"missing zip": ["--zip", str(tmp_path / "nope.zip")],
            "not a zip": ["--zip", str(tmp_path / "fake.zip")],
            "no --zip": [],
            "bad mapping": ["--zip", str(good), "--mapping", str(bad_map)],
            "unknown assignment": ["--zip", str(good)]}[problem]
    assignment = "ps99" if problem == "unknown assignment" else A
    assert main(["grade", "collect", assignment, "--from", "canvas", "--course", str(course),
                 *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err


def test_exchange_round_trip(course: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Release to an exchange, fetch and submit as a student, collect as the instructor."""
    import getpass

    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import ExchangeFetchAssignment, ExchangeSubmit
    from traitlets.config import Config

    exchange = tmp_path / "exchange"
    exchange.mkdir()
    os.chmod(exchange, 0o777)
    assert main(["grade", "release", A, "--to-exchange", "--exchange", str(exchange),
                 "--course", str(course)]) == 0
    home = tmp_path / "student"
    home.mkdir()
    cfg = Config()
    cfg.Exchange.root = str(exchange)
    cfg.CourseDirectory.course_id = "dataethics"
    cfg.CourseDirectory.root = str(home)
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id = A
    monkeypatch.chdir(home)
    auth = Authenticator(config=cfg)
    ExchangeFetchAssignment(coursedir=coursedir, authenticator=auth, config=cfg).start()
    assert (home / A / f"{A}.ipynb").is_file()
    ExchangeSubmit(coursedir=coursedir, authenticator=auth, config=cfg).start()
    monkeypatch.chdir(tmp_path)
    assert main(["grade", "collect", A, "--from", "exchange", "--exchange", str(exchange),
                 "--course", str(course)]) == 0
    assert (course / "submitted" / getpass.getuser() / A / f"{A}.ipynb").is_file()
    # the exchange recorded when the student submitted: past the due date, the autograder says so
    from nbgrader.api import Gradebook

    from dataethics.grading.autograde import Limits, autograde

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.update_or_create_assignment(A, duedate="2020-01-01 00:00:00 UTC")
    (outcome,) = autograde(A, course, workers=1, limits=Limits(notebook_seconds=60), progress=False)
    assert outcome.student == getpass.getuser()
    assert any(flag.startswith("late by") for flag in outcome.flags), outcome.flags


def test_a_hostile_archive_cannot_write_outside_the_course(course: Path, tmp_path: Path) -> None:
    """Entries with '..' or absolute paths (a student can upload a zip inside the download)."""
    inner = tmp_path / "inner.zip"
    # nested archives unpack into .../extracted/moodle/<folder>/payload/: 6 or 7 levels up is the
    # course or tmp_path, where an escape would be found below
    _zip(inner, {"../" * 6 + "escaped-inner6.ipynb": "x", "../" * 7 + "escaped-inner7.ipynb": "x"})
    archive = tmp_path / "moodle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../../../escaped4.ipynb", "{}")  # from .../extracted/moodle/: the course
        zf.writestr("../../../../../escaped5.ipynb", "{}")  # tmp_path
        zf.writestr("/tmp/escaped-absolute.ipynb", "{}")
        zf.write(inner, "Eve Mallory_4299_assignsubmission_file_/payload.zip")
        zf.writestr("Ada Lovelace_4211_assignsubmission_file_ps00.ipynb",
                    nbformat.writes(nbformat.v4.new_notebook()))
    assert main(["grade", "collect", A, "--from", "moodle", "--zip", str(archive),
                 "--course", str(course)]) == 0
    assert (course / "submitted" / "4211" / A / f"{A}.ipynb").is_file()
    assert not list(tmp_path.rglob("escaped*"))  # the course is inside tmp_path
    assert not list(Path("/tmp").glob("escaped*"))


def test_release_into_a_new_course_folder_takes_the_repository_sources(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = tmp_path / "new-course"
    assert main(["grade", "release", "ps00", "--course", str(new)]) == 0
    assert (new / "release" / "ps00" / "ps00.ipynb").is_file()
    assert (new / "source" / "ps00" / "ps00.ipynb").is_file()
    assert main(["grade", "release", "ps01", "--course", str(new)]) == 0  # a second one too
    assert (new / "release" / "ps01" / "ps01.ipynb").is_file()
    assert main(["grade", "release", "ps99", "--course", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown assignment 'ps99'" in err[0]
