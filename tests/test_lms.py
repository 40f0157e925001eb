"""Moodle and Canvas as they really are: every download collects, every export imports.

The fixtures are written from the LMSs' documented file naming (Moodle's
``mod/assign`` download and offline grading worksheet, Canvas's submission
zipper and gradebook importer): folder and flat Moodle downloads, with and
without "Participant N" anonymity, Moodle groups, Canvas with ``LATE``,
``-N`` re-uploads and anonymous ``anon_…`` ids, sub-folders, files that are not
notebooks, unicode and spaces, and a student handing in both notebooks of a
two-notebook assignment. Nothing here is autograded: grades are written into
nbgrader's gradebook directly.
"""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from dataethics.cli import main
from dataethics.grading import course as course_cfg
from dataethics.grading.lms.moodle import Language

A = "ps00"
NOTEBOOKS = ["ps00.ipynb", "extra.ipynb"]  # a two-notebook assignment


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lms") / "course"
    source = root / "source" / A
    shutil.copytree(course_cfg.paths.assignments_dir() / "source" / A, source)
    shutil.copy(source / "ps00.ipynb", source / "extra.ipynb")
    course_cfg.generate_release(A, root)
    return root


@pytest.fixture
def course(released: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(released, tmp_path / "course"))


def _nb(marker: str) -> bytes:
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(marker)])).encode()


def _zip(path: Path, files: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, _nb(data) if name.endswith(".ipynb") and isinstance(data, str) else data)
    return path


def _inner_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _mapping(tmp_path: Path, rows: str = "") -> Path:
    path = tmp_path / "ids.csv"
    path.write_text("lms_id,student_id,name,section\nParticipant 4211,ada,Ada Lovelace,A\n"
                    "4212,bob,Bob Öz,B\n4213,zoe,Zoé Fernández,A\n" + rows, encoding="utf-8")
    return path


def _marker(course: Path, student: str, name: str = "ps00.ipynb") -> str:
    return nbformat.read(course / "submitted" / student / A / name, as_version=4).cells[0].source


def _collect(course: Path, archive: Path, lms: str, *extra: str) -> int:
    return main(["grade", "collect", A, "--from", lms, "--zip", str(archive), "--course", str(course),
                 *extra])


def _report(course: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((course / "reports" / f"collect-{A}.csv").open(encoding="utf-8")))


def _students(course: Path) -> set[str]:
    return {p.parent.name for p in (course / "submitted").glob(f"*/{A}")}


WORKSHEET_HEADER = ["Identifier", "Full name", "Email address", "Status", "Group", "Grade",
                    "Maximum Grade", "Grade can be changed", "Last modified (submission)",
                    "Last modified (grade)", "Feedback comments"]


def _write_sheet(path: Path, header: list[str], rows: list[list[str]], bom: bool = True) -> Path:
    """A CSV file as Moodle writes its worksheet (UTF-8, with a byte-order mark unless ``bom`` is False)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode())
    return path


def _worksheet(tmp_path: Path, rows: list[list[str]], bom: bool = True) -> Path:
    return _write_sheet(tmp_path / "Grades-DEM101-Problem set 0-1234.csv", WORKSHEET_HEADER, rows, bom)


def _sheet_row(pid: str, name: str, group: str = "", submitted: str = "-", grade: str = "",
               graded: str = "-", feedback: str = "") -> list[str]:
    return [f"Participant {pid}", name, f"{pid}@example.org", "Submitted for grading", group, grade,
            "100.00", "Yes", submitted, graded, feedback]


# --- collect: Moodle ----------------------------------------------------------------------------

def test_moodle_folder_download_keeps_every_file_and_puts_unmapped_ids_aside(
        course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _zip(tmp_path / "DEM101-Problem set 0-1234.zip", {
        "Ada Lovelace_4211_assignsubmission_file/ps00.ipynb": "ada's work",
        "Ada Lovelace_4211_assignsubmission_file/extra.ipynb": "ada's second notebook",
        "Ada Lovelace_4211_assignsubmission_file/data/my results.csv": "a,b\n1,2\n",
        "Ada Lovelace_4211_assignsubmission_file/plots/figure 1.png": b"\x89PNG fake",
        "Ada Lovelace_4211_assignsubmission_onlinetext/onlinetext.html": "<p>notes</p>",
        "Bob Öz_4212_assignsubmission_file_/ps00.ipynb": "bob's work",  # Moodle before 4.1
        "Zoé Fernández_4213_assignsubmission_file/ps00.ipynb": "zoé's work",
        "Eve Mallory_4299_assignsubmission_file/ps00.ipynb": "eve's work",
        "__MACOSX/._ps00.ipynb": "junk",
    })
    assert _collect(course, archive, "moodle", "--mapping", str(_mapping(tmp_path))) == 1
    out = capsys.readouterr().out
    assert "[needs you]" in out and "4299" in out
    assert _students(course) == {"ada", "bob", "zoe"}
    assert (_marker(course, "ada"), _marker(course, "ada", "extra.ipynb")) == \
        ("ada's work", "ada's second notebook")
    ada = course / "submitted" / "ada" / A
    assert (ada / "data" / "my results.csv").read_text() == "a,b\n1,2\n"
    assert (ada / "plots" / "figure 1.png").read_bytes() == b"\x89PNG fake"
    assert (ada / "onlinetext.html").is_file()
    assert _marker(course, "bob") == "bob's work" and _marker(course, "zoe") == "zoé's work"
    # the unmapped submission is aside, listed, and needs the instructor
    assert (course / "lms-aside" / A / "4299" / "ps00.ipynb").is_file()
    assert not (course / "submitted" / "4299").exists()
    lines = _report(course)
    assert any("4299" in r["reason"] and r["needs_instructor"] == "yes" for r in lines)
    assert any(r["file"].startswith("__MACOSX") and r["needs_instructor"] == "no" for r in lines)
    assert not (course / "downloaded" / A).exists()  # no second copy of names and files is kept


def test_moodle_flat_download_and_anonymous_participants(course: Path, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "flat.zip", {
        "Ada Lovelace_4211_assignsubmission_file_ps00.ipynb": "ada flat",
        "Ada Lovelace_4211_assignsubmission_file_my data.csv": "x\n",
        "Participant_4212_assignsubmission_file_ps00.ipynb": "bob, blind",  # mapped: bob
        "Participant_4214_assignsubmission_file_ps00.ipynb": "someone, blind",  # not mapped
    })
    assert _collect(course, archive, "moodle", "--mapping", str(_mapping(tmp_path))) == 0
    assert _marker(course, "ada") == "ada flat"
    assert (course / "submitted" / "ada" / A / "my data.csv").read_text() == "x\n"
    assert _marker(course, "bob") == "bob, blind"
    # an anonymous participant nobody has named yet stays anonymous, and is graded
    assert _marker(course, "participant-4214") == "someone, blind"
    # blind marking in folders too, without any mapping
    archive = _zip(tmp_path / "blind.zip", {"Participant_4215_assignsubmission_file/ps00.ipynb": "x"})
    assert _collect(course, archive, "moodle") == 0
    assert _marker(course, "participant-4215") == "x"


def test_moodle_group_submission_goes_to_every_member(course: Path, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "groups.zip", {
        "Team Rocket_17_assignsubmission_file/ps00.ipynb": "the team's work",
        "Team Rocket_17_assignsubmission_file/data/shared.csv": "1\n",
        "Default group_assignsubmission_file/ps00.ipynb": "a student in no group",
    })
    # without knowing the groups, nothing is misattributed: it is put aside
    assert _collect(course, archive, "moodle", "--mapping", str(_mapping(tmp_path))) == 1
    assert not _students(course) and (course / "lms-aside" / A).is_dir()
    sheet = _worksheet(tmp_path, [
        _sheet_row("4211", "Ada Lovelace", "Team Rocket", "Friday, 14 March 2025, 2:05 PM"),
        _sheet_row("4212", "Bob Öz", "Team Rocket", "Friday, 14 March 2025, 2:05 PM"),
        _sheet_row("4213", "Zoé Fernández", "Default group", "Thursday, 13 March 2025, 9:00 AM"),
    ])
    assert _collect(course, archive, "moodle", "--mapping", str(_mapping(tmp_path)),
                    "--worksheet", str(sheet), "--timezone", "Europe/Paris") == 0
    assert _students(course) == {"ada", "bob", "zoe"}
    assert _marker(course, "ada") == _marker(course, "bob") == "the team's work"
    assert (course / "submitted" / "bob" / A / "data" / "shared.csv").is_file()
    assert _marker(course, "zoe") == "a student in no group"
    assert not (course / "submitted" / "17").exists()  # the group id is nobody's student id
    # the same groups from the mapping's group column
    mapping = tmp_path / "groups.csv"
    mapping.write_text("lms_id,student_id,group\n4211,ada,Team_Rocket\n4212,bob,Team Rocket\n")
    shutil.rmtree(course / "submitted")
    assert _collect(course, archive, "moodle", "--mapping", str(mapping)) == 1  # Default group unknown
    assert _students(course) == {"ada", "bob"}


def test_moodle_worksheet_times_reach_timestamp_txt_and_flag_late_work(
        course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nbgrader.utils import parse_utc

    archive = _zip(tmp_path / "dl.zip", {
        "Ada Lovelace_4211_assignsubmission_file/ps00.ipynb": "ada",
        "Bob Öz_4212_assignsubmission_file/ps00.ipynb": "bob",
    })
    sheet = _worksheet(tmp_path, [
        _sheet_row("4211", "Ada Lovelace", submitted="Friday, 14 March 2025, 2:05 PM"),
        _sheet_row("4212", "Bob Öz", submitted="Wednesday, 12 March 2025, 11:30 AM"),
    ], bom=False)
    assert _collect(course, archive, "moodle", "--mapping", str(_mapping(tmp_path)), "--worksheet",
                    str(sheet), "--timezone", "Europe/Paris", "--due-date", "2025-03-13 23:59") == 0
    assert "late: ada" in capsys.readouterr().out
    stamp = (course / "submitted" / "ada" / A / "timestamp.txt").read_text()
    assert parse_utc(stamp).isoformat() == "2025-03-14T13:05:00"  # UTC; Paris is UTC+1 in March
    # nbgrader's gradebook now knows the due date: the autograder's lateness check follows it
    from nbgrader.api import Gradebook

    from dataethics.grading import quiet_gradebook_notices

    quiet_gradebook_notices()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.update_or_create_student("ada")
        sub = gb.update_or_create_submission(A, "ada", timestamp=parse_utc(stamp))
        assert sub.total_seconds_late == 14 * 3600 + 6 * 60  # due 22:59 UTC, in 13:05 UTC next day
    # the worksheet's ID number column is a mapping when none is given
    sheet = tmp_path / "ids-sheet.csv"
    sheet.write_text("Identifier,Full name,ID number,Grade,Last modified (submission),"
                     "Last modified (grade)\nParticipant 4211,Ada Lovelace,s-ada,,-,-\n", encoding="utf-8")
    shutil.rmtree(course / "submitted")
    assert _collect(course, archive, "moodle", "--worksheet", str(sheet)) == 1  # 4212 has no ID number
    assert _students(course) == {"s-ada"}


FRENCH_HEADER = ["Identifiant", "Nom complet", "Adresse de courriel", "Numéro d'identification", "Statut",
                 "Groupe", "Note", "Note maximale", "La note peut être modifiée",
                 "Dernière modification (travail remis)", "Dernière modification (note)",
                 "Feedback par commentaires"]


def _french_worksheet(tmp_path: Path, rows: list[list[str]]) -> Path:
    """A worksheet downloaded by an instructor whose Moodle speaks French."""
    return _write_sheet(tmp_path / "Notes-DEM101-Devoir 0-1234.csv", FRENCH_HEADER, rows)


def _french_row(pid: str, name: str, sid: str = "", group: str = "", submitted: str = "-",
                grade: str = "", graded: str = "-", feedback: str = "") -> list[str]:
    return [f"Participant{pid}", name, f"{pid}@example.org", sid, "Remis pour évaluation", group, grade,
            "100,00", "Oui", submitted, graded, feedback]


def test_a_french_worksheet_gives_times_groups_and_ids(course: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from nbgrader.utils import parse_utc

    archive = _zip(tmp_path / "dl.zip", {
        "Équipe Fusée_17_assignsubmission_file/ps00.ipynb": "the team's work",
        "Zoé Fernández_4213_assignsubmission_file/ps00.ipynb": "zoe",
    })
    sheet = _french_worksheet(tmp_path, [
        _french_row("4211", "Ada Lovelace", "s-ada", "Équipe Fusée", "vendredi 14 mars 2025, 14:05"),
        _french_row("4212", "Bob Öz", "s-bob", "Équipe Fusée", "vendredi 14 mars 2025, 14:05"),
        _french_row("4213", "Zoé Fernández", "s-zoe", "Groupe par défaut", "mercredi 12 mars 2025, 09:30"),
    ])
    # no mapping: the worksheet's "Numéro d'identification" column is one
    assert _collect(course, archive, "moodle", "--worksheet", str(sheet), "--timezone", "Europe/Paris",
                    "--due-date", "2025-03-13 23:59") == 0
    assert _students(course) == {"s-ada", "s-bob", "s-zoe"}
    assert _marker(course, "s-ada") == _marker(course, "s-bob") == "the team's work"
    out = capsys.readouterr().out
    assert "late: s-ada" in out and "s-zoe" not in out.split("late:")[-1]
    stamp = (course / "submitted" / "s-zoe" / A / "timestamp.txt").read_text()
    assert parse_utc(stamp).isoformat() == "2025-03-12T08:30:00"  # 09:30 in Paris is 08:30 UTC


def test_moodle_dates_in_english_and_french() -> None:
    import datetime as dt

    from dataethics.grading.lms import moodle

    utc = dt.UTC
    read = moodle.parse_date
    assert read("Friday, 14 March 2025, 12:05 AM", utc) == dt.datetime(2025, 3, 14, 0, 5, tzinfo=utc)
    assert read("lundi 1 décembre 2025, 23:59", utc) == dt.datetime(2025, 12, 1, 23, 59, tzinfo=utc)
    assert read("2025-12-01 08:00", utc) == dt.datetime(2025, 12, 1, 8, 0, tzinfo=utc)
    assert read(" - ", utc) is None
    for when in (dt.datetime(2026, 8, 3, 0, 7), dt.datetime(2026, 2, 28, 12, 0),
                 dt.datetime(2026, 10, 9, 17, 45)):
        for lang in moodle.LANGUAGES.values():  # what the export writes, the collector reads back
            assert moodle.parse_date(moodle.format_date(when, lang), utc, lang) == when.replace(tzinfo=utc)
    for bad in ("vendredi 14 brumaire 2025, 14:05", "Friday, 31 February 2025, 2:05 PM", "14/03/2025"):
        with pytest.raises(ValueError, match="date not understood"):
            moodle.parse_date(bad, utc)
    with pytest.raises(ValueError):  # an English month in a French worksheet is not French
        moodle.parse_date("vendredi 14 March 2025, 14:05", utc, moodle.FRENCH)
    friday = dt.datetime(2025, 3, 14, 9, 5, tzinfo=utc)
    assert read("Freitag, 14. März 2025, 09:05", utc, moodle.GERMAN) == friday
    assert read("viernes, 14 de marzo de 2025, 09:05", utc, moodle.SPANISH) == friday
    assert read("Sonntag, 1. Juni 2025, 00:00", utc) == dt.datetime(2025, 6, 1, 0, 0, tzinfo=utc)
    with pytest.raises(ValueError):
        moodle.parse_date("Freitag, 14. marzo 2025, 09:05", utc, moodle.GERMAN)
    for text in ("sexta-feira, 14 mar 2025, 09:05", "sexta-feira, 14 mar. 2025, 09:05",
                 "sexta-feira, 14 março 2025, 09:05"):  # Moodle's %b, with or without a period
        assert read(text, utc, moodle.BRAZILIAN_PORTUGUESE) == friday
    assert read("venerdì, 14 marzo 2025, 09:05", utc, moodle.ITALIAN) == friday


def test_french_numbers_in_a_worksheet() -> None:
    """Moodle in French writes decimal commas and spaces between thousands (plain or narrow)."""
    from dataethics.grading.exports import _scaled
    from dataethics.grading.lms import moodle

    assert moodle.read_grade("7,50") == 7.5 and moodle.read_grade("1\u202f000,00") == 1000.0
    assert _scaled(3, 4, "1 000,00") == 750.0 and _scaled(3, 4, "100.00") == 75.0
    assert _scaled(3, 4, "(read only)") == 3  # no maximum to scale to: the course's points
    assert moodle.format_grade(62.5, moodle.FRENCH) == "62,50"
    # re-saved by a spreadsheet: thousands written with the other mark
    assert moodle.read_grade("1.000,50") == 1000.5 and moodle.read_grade("1,000.50") == 1000.5
    assert moodle.format_grade(62.5, moodle.GERMAN) == moodle.format_grade(62.5, moodle.SPANISH) == "62,50"


def test_a_worksheet_in_another_language_is_a_one_line_error(course: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    sheet = tmp_path / "cijfers.csv"  # Dutch: not read here
    sheet.write_text("Identificatie,Volledige naam,Cijfer,Laatst gewijzigd (cijfer)\n"
                     "Deelnemer4211,Ada,,-\n", encoding="utf-8")
    archive = _zip(tmp_path / "dl.zip", {"Ada Lovelace_4211_assignsubmission_file/ps00.ipynb": "ada"})
    assert _collect(course, archive, "moodle", "--worksheet", str(sheet)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a Moodle grading worksheet" in err[0] and "Identifiant" in err[0]
    assert "Zuletzt geändert (Bewertung)" in err[0] and "Identificativo" in err[0]


def _worksheet_in(lang: Language, tmp_path: Path, rows: list[list[str]]) -> Path:
    """A worksheet as Moodle writes it in ``lang`` (an e-mail column and the ID number shown)."""
    header = [lang.identifier, lang.full_name, "E-mail", lang.id_number, lang.status, lang.group,
              lang.grade, lang.maximum, lang.can_change, lang.submitted, lang.graded, lang.feedback]
    return _write_sheet(tmp_path / f"worksheet-{lang.code}.csv", header, rows)


def _row_in(lang: Language, pid: str, name: str, sid: str = "", group: str = "", submitted: str = "-",
            grade: str = "", graded: str = "-") -> list[str]:
    return [f"{lang.participant}{pid}", name, f"{pid}@example.org", sid, "", group, grade, "100,00",
            lang.yes, submitted, graded, ""]


# (language, a Friday 14 March 2025 at 14:05, a Wednesday 12 March 2025 at 09:30), as Moodle writes them
OTHER_LANGUAGES = [("de", "Freitag, 14. März 2025, 14:05", "Mittwoch, 12. März 2025, 09:30"),
                   ("es", "viernes, 14 de marzo de 2025, 14:05", "miércoles, 12 de marzo de 2025, 09:30"),
                   ("it", "venerdì, 14 marzo 2025, 14:05", "mercoledì, 12 marzo 2025, 09:30"),
                   ("pt_br", "sexta-feira, 14 mar 2025, 14:05", "quarta-feira, 12 mar 2025, 09:30")]


@pytest.mark.parametrize(("code", "friday", "wednesday"), OTHER_LANGUAGES)
def test_german_and_spanish_worksheets_give_times_groups_and_ids(
        course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], code: str, friday: str,
        wednesday: str) -> None:
    from nbgrader.utils import parse_utc

    from dataethics.grading.lms import moodle

    lang = moodle.LANGUAGES[code]
    # anonymous submissions: Moodle drops the "/" of "Teilnehmer/in" from the file name
    blind = {"de": "Teilnehmerin", "es": "Participante", "it": "Partecipante", "pt_br": "Participante"}[code]
    archive = _zip(tmp_path / "dl.zip", {
        "Team Rakete_17_assignsubmission_file/ps00.ipynb": "the team's work",
        "Zoé Fernández_4213_assignsubmission_file/ps00.ipynb": "zoe",
        f"{blind}_4214_assignsubmission_file/ps00.ipynb": "someone anonymous",
    })
    sheet = _worksheet_in(lang, tmp_path, [
        _row_in(lang, "4211", "Ada Lovelace", "s-ada", "Team Rakete", friday),
        _row_in(lang, "4212", "Bob Öz", "s-bob", "Team Rakete", friday),
        _row_in(lang, "4213", "Zoé Fernández", "s-zoe", "", wednesday),
        _row_in(lang, "4214", "", "", "", wednesday),  # anonymous: no name, no ID number
    ])
    assert moodle.read_worksheet(sheet).lang is lang
    assert _collect(course, archive, "moodle", "--worksheet", str(sheet), "--timezone", "Europe/Berlin",
                    "--due-date", "2025-03-13 23:59") == 0
    # the anonymous submission stays anonymous (without the "/" fix it would be collected as "4214")
    assert _students(course) == {"s-ada", "s-bob", "s-zoe", "participant-4214"}
    assert _marker(course, "s-ada") == _marker(course, "s-bob") == "the team's work"
    out = capsys.readouterr().out
    assert "late: s-ada" in out and "s-zoe" not in out.split("late:")[-1]
    stamp = (course / "submitted" / "s-zoe" / A / "timestamp.txt").read_text()
    assert parse_utc(stamp).isoformat() == "2025-03-12T08:30:00"  # 09:30 in Berlin is 08:30 UTC


@pytest.mark.parametrize(("code", "friday", "wednesday"), OTHER_LANGUAGES)
def test_german_and_spanish_worksheets_are_filled_in_their_language(
        graded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], code: str, friday: str,
        wednesday: str) -> None:
    from dataethics.grading.lms import moodle

    lang = moodle.LANGUAGES[code]
    ids = str(_mapping(tmp_path))
    downloaded = _worksheet_in(lang, tmp_path, [
        _row_in(lang, "4212", "Bob Öz", "s-bob", graded=wednesday, grade="55,00"),
        _row_in(lang, "4211", "Ada Lovelace", "s-ada"),
    ])
    header = next(csv.reader(io.StringIO(downloaded.read_bytes().decode("utf-8-sig"))))
    out = tmp_path / "upload.csv"
    assert _export(graded, "moodle-worksheet", out, "--mapping", ids, "--template", str(downloaded),
                   "--assignment", A, "--timezone", "Europe/Berlin") == 0
    notes = capsys.readouterr().out
    assert "2 of 2 worksheet rows graded" in notes and "Allow updating records" in notes
    back = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"), newline="")))
    assert list(back[0]) == header
    by_id = {moodle.participant_id(r[lang.identifier]): r for r in back}
    max_score = float((graded / "max.txt").read_text())
    assert by_id["4211"][lang.grade] == f"{4.0 / max_score * 100:.2f}".replace(".", ",")
    assert by_id["4212"][lang.graded] == wednesday  # Moodle's own date is kept
    assert moodle.parse_date(by_id["4211"][lang.graded], moodle.dt.UTC, lang) is not None  # "now"
    # without a downloaded worksheet: the language Moodle will read it in
    assert _export(graded, "moodle-worksheet", tmp_path / "new.csv", "--mapping", ids,
                   "--language", code) == 0
    fresh = moodle.read_worksheet(tmp_path / "new.csv")
    assert fresh.lang is lang and fresh.columns == lang.columns
    assert fresh.rows[0][lang.identifier] == f"{lang.participant}4211" and "," in fresh.rows[0][lang.grade]


# --- collect: Canvas ----------------------------------------------------------------------------

def test_canvas_download_late_resubmissions_anonymous_zip_and_unicode(
        course: Path, tmp_path: Path) -> None:
    from nbgrader.utils import parse_utc

    archive = _zip(tmp_path / "DEM101-problem-set-0 submissions.zip", {
        "lovelaceada_4211_900001_ps00.ipynb": "ada, first try",
        "lovelaceada_4211_900005_ps00-1.ipynb": "ada, second try",
        "lovelaceada_4211_900006_extra.ipynb": "ada's second notebook",
        "lovelaceada_4211_900007_my data.csv": "1,2\n",
        "lovelaceada_4211_900010_lab.ipynb": "lab, old",
        "lovelaceada_4211_900011_lab-2.ipynb": "lab, new",
        "ozbob_LATE_4212_900002_ps00.ipynb": "bob, late",
        "ozbob_LATE_4212_900008_extra work.zip": _inner_zip({"plots/fig 1.png": "png"}),
        "fernándezzoé_4213_900003_ps00.ipynb": "zoé",
        "anon_x7Yq2_900004_ps00.ipynb": "anonymous work",
        "LATE_anon_Q2mbZ_900009_ps00.ipynb": "anonymous and late",
    })
    assert _collect(course, archive, "canvas", "--mapping", str(_mapping(tmp_path)),
                    "--due-date", "2026-03-14 23:59", "--timezone", "UTC") == 0
    assert _students(course) == {"ada", "bob", "zoe", "anon_x7Yq2", "anon_Q2mbZ"}
    assert _marker(course, "ada") == "ada, second try"  # the latest upload wins
    assert _marker(course, "ada", "lab.ipynb") == "lab, new"
    assert _marker(course, "ada", "extra.ipynb") == "ada's second notebook"
    assert (course / "submitted" / "ada" / A / "my data.csv").read_text() == "1,2\n"
    assert not (course / "submitted" / "ada" / A / "ps00-1.ipynb").exists()
    assert (course / "submitted" / "bob" / A / "plots" / "fig 1.png").read_text() == "png"
    assert _marker(course, "zoe") == "zoé" and _marker(course, "anon_x7Yq2") == "anonymous work"
    stamp = parse_utc((course / "submitted" / "bob" / A / "timestamp.txt").read_text())
    assert stamp.isoformat() == "2026-03-14T23:59:01"  # UTC, one second past the due date
    assert (course / "submitted" / "anon_Q2mbZ" / A / "timestamp.txt").is_file()
    assert not (course / "submitted" / "ada" / A / "timestamp.txt").exists()
    lines = _report(course)
    older = [r for r in lines if "older upload" in r["reason"]]
    assert {r["file"] for r in older} == {"lovelaceada_4211_900001_ps00.ipynb",
                                          "lovelaceada_4211_900010_lab.ipynb"}


def test_canvas_group_assignment_gives_the_groups_submission_to_every_member(
        course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Canvas's download has one submission per group, named after one member."""
    archive = _zip(tmp_path / "groups.zip", {
        "lovelaceada_LATE_4211_900001_ps00.ipynb": "rocket's work",
        "lovelaceada_LATE_4211_900002_shared.csv": "1\n",
        "fernándezzoé_4213_900003_ps00.ipynb": "zoe, on her own",
    })
    mapping = tmp_path / "groups.csv"
    mapping.write_text("lms_id,student_id,group\n4211,ada,Rocket\n4212,bob,Rocket\n4213,zoe,\n",
                       encoding="utf-8")
    # without the flag, nothing is given to anyone who did not upload it
    assert _collect(course, archive, "canvas", "--mapping", str(mapping), "--due-date",
                    "2026-03-14 23:59") == 0
    assert _students(course) == {"ada", "zoe"}
    shutil.rmtree(course / "submitted")
    capsys.readouterr()
    assert _collect(course, archive, "canvas", "--mapping", str(mapping), "--due-date",
                    "2026-03-14 23:59", "--group-assignment") == 1  # zoe is in no group: look
    assert _students(course) == {"ada", "bob", "zoe"}
    assert _marker(course, "ada") == _marker(course, "bob") == "rocket's work"
    assert (course / "submitted" / "bob" / A / "shared.csv").read_text() == "1\n"
    assert (course / "submitted" / "bob" / A / "timestamp.txt").is_file()  # late for the whole group
    assert _marker(course, "zoe") == "zoe, on her own"
    out = capsys.readouterr().out
    assert "late: ada, bob" in out and "group submission of 'Rocket' given to each member" in out
    assert "[needs you]" in out and "4213 has no group" in out
    # the flag needs a mapping with groups, and is Canvas's
    assert _collect(course, archive, "canvas", "--mapping", str(_mapping(tmp_path)),
                    "--group-assignment") == 2
    assert _collect(course, archive, "moodle", "--mapping", str(mapping), "--group-assignment") == 2
    err = capsys.readouterr().err
    assert "needs --mapping with a group column" in err and "is for --from canvas" in err


def test_canvas_late_without_a_due_date_needs_the_instructor(course: Path, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "late.zip", {"ozbob_LATE_4212_900002_ps00.ipynb": "bob, late",
                                           "readme.txt": "not from Canvas"})
    assert _collect(course, archive, "canvas", "--mapping", str(_mapping(tmp_path))) == 1
    lines = _report(course)
    assert any("due date" in r["reason"] and r["needs_instructor"] == "yes" for r in lines)
    assert any(r["file"] == "readme.txt" and r["needs_instructor"] == "yes" for r in lines)
    assert _marker(course, "bob") == "bob, late"


@pytest.mark.parametrize("args", [["--worksheet", "nope.csv"], ["--timezone", "Mars/Olympus"],
                                  ["--due-date", "next blue moon"]])
def test_bad_collect_options_are_one_line_errors(course: Path, tmp_path: Path, args: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    archive = _zip(tmp_path / "x.zip", {"Ada Lovelace_4211_assignsubmission_file/ps00.ipynb": "x"})
    assert _collect(course, archive, "moodle", *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err


# --- exports ------------------------------------------------------------------------------------

@pytest.fixture
def graded(course: Path) -> Path:
    """A gradebook with ada (late, 3 points of penalty), bob, eve (not in the mapping) and an
    anonymous participant; scores are written straight into nbgrader's gradebook."""
    from nbgrader.api import Gradebook

    from dataethics.grading import quiet_gradebook_notices

    quiet_gradebook_notices()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in ("ada", "bob", "eve", "participant-4214"):
            gb.update_or_create_student(student)
            gb.add_submission(A, student)
        for student, points in (("ada", 7.0), ("bob", 2.0), ("eve", 5.0), ("participant-4214", 4.0)):
            sub = gb.find_submission(A, student)
            grades = [g for nb in sub.notebooks for g in nb.grades if g.cell_type == "code"]
            for g in grades:
                g.auto_score = 0.0
            grades[0].auto_score = points
            if student == "ada":
                sub.notebooks[0].late_submission_penalty = 3.0
        gb.db.commit()
        max_score = gb.find_assignment(A).max_score
    (course / "max.txt").write_text(str(max_score))
    return course


def _export(course: Path, fmt: str, out: Path, *extra: str) -> int:
    return main(["grade", "export", "--course", str(course), "--format", fmt, "--out", str(out), *extra])


def test_every_export_applies_the_late_penalty_like_nbgrader(graded: Path, tmp_path: Path) -> None:
    ids = str(_mapping(tmp_path))
    assert _export(graded, "nbgrader", tmp_path / "n.csv") == 0
    nbg = {r["student_id"]: r for r in csv.DictReader((tmp_path / "n.csv").open())}
    assert float(nbg["ada"]["raw_score"]) == 7 and float(nbg["ada"]["score"]) == 4.0
    assert _export(graded, "moodle", tmp_path / "m.csv", "--mapping", ids) == 0
    moodle_rows = {r["ID number"]: float(r[A]) for r in csv.DictReader((tmp_path / "m.csv").open())}
    assert moodle_rows == {"ada": 4.0, "bob": 2.0}  # eve and the anonymous one are not in the mapping
    assert _export(graded, "canvas", tmp_path / "c.csv", "--mapping", ids,
                   "--lms-assignment", f"{A}=4312") == 0
    rows = list(csv.reader((tmp_path / "c.csv").open(encoding="utf-8")))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{A} (4312)"]
    assert rows[1][0] == "Points Possible" and float(rows[1][5]) == float((graded / "max.txt").read_text())
    body = {r[1]: r for r in rows[2:]}
    assert set(body) == {"4211", "4212"}
    assert body["4211"][0] == "Ada Lovelace" and float(body["4211"][5]) == 4.0 and body["4211"][4] == "A"
    assert body["4212"][2] == "bob"  # SIS User ID: the course's student id
    sheet = tmp_path / "w.csv"
    assert _export(graded, "moodle-worksheet", sheet, "--mapping", ids) == 0
    written = {r["Identifier"]: r for r in csv.DictReader(sheet.open(encoding="utf-8"))}
    assert float(written["Participant 4211"]["Grade"]) == 4.0


def test_moodle_worksheet_round_trip(graded: Path, tmp_path: Path) -> None:
    ids = str(_mapping(tmp_path))
    downloaded = _worksheet(tmp_path, [
        _sheet_row("4212", "Bob Öz", graded="Monday, 10 March 2025, 9:00 AM", grade="55.00",
                   feedback="Good start.\nSee me about q3."),
        _sheet_row("4211", "Ada Lovelace"),
        _sheet_row("4214", ""),  # anonymous participant, collected as participant-4214
        _sheet_row("4299", "Eve Mallory", grade=""),  # not ours
    ])
    out = tmp_path / "upload.csv"
    assert _export(graded, "moodle-worksheet", out, "--mapping", ids, "--template", str(downloaded),
                   "--assignment", A, "--timezone", "Europe/Paris") == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # as Moodle wrote it
    back = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    original = list(csv.DictReader(io.StringIO(downloaded.read_bytes().decode("utf-8-sig"), newline="")))
    assert list(back[0]) == WORKSHEET_HEADER
    assert [r["Identifier"] for r in back] == [r["Identifier"] for r in original]
    max_score = float((graded / "max.txt").read_text())
    by_id = {r["Identifier"]: r for r in back}
    assert by_id["Participant 4211"]["Grade"] == f"{4.0 / max_score * 100:.2f}"  # scaled to 100
    assert by_id["Participant 4212"]["Grade"] == f"{2.0 / max_score * 100:.2f}"
    assert by_id["Participant 4214"]["Grade"] == f"{4.0 / max_score * 100:.2f}"
    assert by_id["Participant 4299"] == {**original[3]}  # untouched
    assert by_id["Participant 4212"]["Feedback comments"] == "Good start.\nSee me about q3."
    assert by_id["Participant 4212"]["Last modified (grade)"] == "Monday, 10 March 2025, 9:00 AM"
    assert by_id["Participant 4211"]["Last modified (grade)"] != "-"  # or Moodle would skip the row
    # the written file reads back as a worksheet, and pseudonymisation still works
    from dataethics.grading.lms import moodle

    assert moodle.read_worksheet(out).columns == WORKSHEET_HEADER
    key = tmp_path / "key"
    key.write_text("secret")
    assert _export(graded, "moodle-worksheet", tmp_path / "p.csv", "--mapping", ids, "--template",
                   str(downloaded), "--pseudonymise", "--key-file", str(key)) == 0
    text = (tmp_path / "p.csv").read_text(encoding="utf-8-sig")
    assert "Ada Lovelace" not in text and "4211@example.org" not in text


def test_a_french_worksheet_is_filled_in_french(graded: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    ids = str(_mapping(tmp_path))
    downloaded = _french_worksheet(tmp_path, [
        _french_row("4212", "Bob Öz", "s-bob", graded="lundi 10 mars 2025, 09:00", grade="55,00",
                    feedback="Bon début."),
        _french_row("4211", "Ada Lovelace", "s-ada"),
        _french_row("4299", "Eve Mallory"),  # not ours
    ])
    out = tmp_path / "envoi.csv"
    assert _export(graded, "moodle-worksheet", out, "--mapping", ids, "--template", str(downloaded),
                   "--assignment", A, "--timezone", "Europe/Paris") == 0
    notes = capsys.readouterr().out
    assert "2 of 3 worksheet rows graded" in notes
    assert "1 of these rows already had a grade in Moodle" in notes and "Allow updating records" in notes
    back = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"), newline="")))
    assert list(back[0]) == FRENCH_HEADER
    by_id = {r["Identifiant"]: r for r in back}
    max_score = float((graded / "max.txt").read_text())
    assert by_id["Participant4211"]["Note"] == f"{4.0 / max_score * 100:.2f}".replace(".", ",")
    assert by_id["Participant4212"]["Note"] == f"{2.0 / max_score * 100:.2f}".replace(".", ",")
    assert by_id["Participant4212"]["Dernière modification (note)"] == "lundi 10 mars 2025, 09:00"
    fresh = by_id["Participant4211"]["Dernière modification (note)"]
    from dataethics.grading.lms import moodle

    assert moodle.parse_date(fresh, moodle.dt.UTC, moodle.FRENCH) is not None  # French, "now"
    assert by_id["Participant4299"]["Note"] == ""
    assert by_id["Participant4212"]["Feedback par commentaires"] == "Bon début."
    # pseudonymised: every identity column is emptied, whatever the site shows
    key = tmp_path / "key"
    key.write_text("secret")
    assert _export(graded, "moodle-worksheet", tmp_path / "p.csv", "--mapping", ids, "--template",
                   str(downloaded), "--pseudonymise", "--key-file", str(key)) == 0
    text = (tmp_path / "p.csv").read_text(encoding="utf-8-sig")
    assert "Ada Lovelace" not in text and "4211@example.org" not in text and "s-ada" not in text
    assert "Bon début." in text and "100,00" in text
    # without a downloaded worksheet: written in the language Moodle will read it in
    assert _export(graded, "moodle-worksheet", tmp_path / "neuf.csv", "--mapping", ids,
                   "--language", "fr") == 0
    fresh_rows = list(csv.DictReader((tmp_path / "neuf.csv").open(encoding="utf-8")))
    assert fresh_rows[0]["Identifiant"] == "Participant4211" and "," in fresh_rows[0]["Note"]
    assert moodle.read_worksheet(tmp_path / "neuf.csv").lang is moodle.FRENCH


def test_a_worksheet_without_a_maximum_grade_is_filled_unscaled_and_says_so(
        graded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Moodle assignment graded with a scale has a Scale column instead of Maximum Grade."""
    sheet = tmp_path / "scale.csv"
    sheet.write_text("Identifier,Full name,Status,Grade,Scale,Grade can be changed,"
                     "Last modified (submission),Last modified (grade)\n"
                     "Participant 4212,Bob Öz,,,\"Poor\nGood\",Yes,-,-\n", encoding="utf-8")
    out = tmp_path / "up.csv"
    assert _export(graded, "moodle-worksheet", out, "--mapping", str(_mapping(tmp_path)),
                   "--template", str(sheet), "--assignment", A) == 0
    assert "no 'Maximum Grade' column" in capsys.readouterr().out
    assert float(next(csv.DictReader(out.open(encoding="utf-8")))["Grade"]) == 2.0  # course points


def test_canvas_gradebook_export_is_filled_in_place(graded: Path, tmp_path: Path) -> None:
    template = tmp_path / "2026-03-20T1200_Grades-DEM101.csv"
    template.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,Problem set 0 (4312),Quiz 1 (4313),"
        "Current Score,Final Score\n"
        "    Points Possible,,,,,50.00,10.00,(read only),(read only)\n"
        '"Lovelace, Ada",4211,S-0001,ada@uni.example,A,,8.00,80.00,80.00\n'
        '"Öz, Bob",4212,S-0002,bob@uni.example,B,,,0.00,0.00\n'
        '"Stranger, Sam",4400,S-0400,sam@uni.example,B,,,0.00,0.00\n', encoding="utf-8")
    ids = str(_mapping(tmp_path))
    out = tmp_path / "canvas-import.csv"
    assert _export(graded, "canvas", out, "--mapping", ids, "--template", str(template),
                   "--lms-assignment", f"{A}=4312") == 0
    rows = list(csv.reader(out.open(encoding="utf-8")))
    original = list(csv.reader(template.open(encoding="utf-8")))
    assert rows[0] == original[0] and rows[1] == original[1] and len(rows) == len(original)
    max_score = float((graded / "max.txt").read_text())
    assert float(rows[2][5]) == round(4.0 / max_score * 50, 2) and rows[2][6] == "8.00"
    assert float(rows[3][5]) == round(2.0 / max_score * 50, 2)
    assert rows[4] == original[4]  # not ours: untouched
    # without the Canvas id, a column whose title starts with the assignment id is the one
    template.write_text(template.read_text(encoding="utf-8").replace("Problem set 0 (4312)",
                                                                     "ps00 Consent (4312)"))
    assert _export(graded, "canvas", out, "--mapping", ids, "--template", str(template)) == 0
    assert float(list(csv.reader(out.open(encoding="utf-8")))[2][5]) == round(4.0 / max_score * 50, 2)
