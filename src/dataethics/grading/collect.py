"""Collect submissions into nbgrader's ``submitted/<student>/<assignment>/`` layout.

Two sources:

* **an LMS download** — Moodle's "Download all submissions" or Canvas's
  "Download submissions" zip. It goes through nbgrader's ``zip_collect``
  (its extractor plugin unpacks the archive) with :class:`LmsCollectorPlugin`,
  a ``FileNameCollectorPlugin`` that knows both LMS naming schemes and maps the
  LMS's ids to the course's student ids with a CSV file (``lms_id,student_id``);
* **nbgrader's exchange** on a JupyterHub — nbgrader's own ``collect``.

File names the LMSs write (the number is the LMS's id of the student):

* Moodle: ``Ada Lovelace_4211_assignsubmission_file_ps00.ipynb`` or, with
  "download submissions in folders", ``Ada Lovelace_4211_assignsubmission_file/ps00.ipynb``;
* Canvas: ``lovelaceada_4211_998877_ps00.ipynb``, ``lovelaceada_LATE_4211_998877_ps00-1.ipynb``
  (``LATE`` for late work, ``-1`` for a resubmission).
"""

from __future__ import annotations

import csv
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.plugins import FileNameCollectorPlugin
from traitlets import Enum, Unicode
from traitlets.config import Config

from dataethics.errors import DataethicsError

PATTERNS = {
    "moodle": re.compile(r"(?:^|/)(?P<name>[^/]+?)_(?P<lms_id>\d+)_assignsubmission_file_?"
                         r"(?:/|_)(?P<file_id>[^/]+?)$"),
    "canvas": re.compile(r"(?:^|/)(?P<name>[^/_]+)_(?:(?P<late>LATE)_)?(?P<lms_id>\d+)_\d+_"
                         r"(?P<file_id>[^/]+?)(?:-\d+)?(?P<ext>\.[A-Za-z0-9]+)$"),
}


def parse_lms_name(path: str, lms: str) -> dict[str, str] | None:
    """Split an LMS download's file path into the LMS id and the file name.

    >>> parse_lms_name("x/Ada Lovelace_4211_assignsubmission_file_ps00.ipynb", "moodle")["lms_id"]
    '4211'
    >>> parse_lms_name("lovelaceada_LATE_4211_99_ps00-1.ipynb", "canvas")["file_id"]
    'ps00.ipynb'
    """
    match = PATTERNS[lms].search(path.replace("\\", "/"))
    if not match:
        return None
    parts = match.groupdict()
    file_id = parts["file_id"] + (parts.get("ext") or "")
    return {"lms_id": parts["lms_id"], "file_id": file_id, "late": "yes" if parts.get("late") else ""}


def read_mapping(path: Path | str | None) -> dict[str, str]:
    """Read a ``lms_id,student_id`` CSV file; an empty mapping when ``path`` is empty.

    ``lms_id`` may be written as Moodle's grading worksheet shows it ("Participant 4211").
    """
    if not path:
        return {}
    path = Path(path)
    if not path.is_file():
        raise DataethicsError(f"mapping file not found: {path}")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"lms_id", "student_id"} <= set(reader.fieldnames):
            raise DataethicsError(f"{path}: the mapping needs the columns lms_id,student_id")
        # Moodle's grading worksheet writes the id as "Participant 4211": keep the number
        return {re.sub(r"^\D+", "", row["lms_id"].strip()): row["student_id"].strip() for row in reader}


@dataclass
class Collected:
    """What a collection brought in."""

    students: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)


class LmsCollectorPlugin(FileNameCollectorPlugin):
    """nbgrader ``zip_collect`` plugin for Moodle and Canvas downloads, with an id mapping.

    What it collected, skipped or could not map is kept in :attr:`result`.
    """

    lms = Enum(["moodle", "canvas"], default_value="moodle",
               help="Which LMS wrote the download.").tag(config=True)
    mapping_file = Unicode("", help="CSV file with the columns lms_id,student_id.").tag(config=True)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.result = Collected()
        self._mapping: dict[str, str] | None = None

    def collect(self, submitted_file: str) -> dict | None:
        """Return nbgrader's ``student_id`` and ``file_id`` for one extracted file, or None to skip."""
        if Path(submitted_file).suffix not in self.valid_ext:
            return None
        parts = parse_lms_name(submitted_file, self.lms)
        if parts is None:
            self.log.warning("not a %s submission name, skipped: %s", self.lms, submitted_file)
            self.result.skipped.append(Path(submitted_file).name)
            return None
        if self._mapping is None:  # read once, on the first file
            self._mapping = read_mapping(self.mapping_file)
        student = self._mapping.get(parts["lms_id"], parts["lms_id"])
        if self._mapping and parts["lms_id"] not in self._mapping:
            self.log.warning("LMS id %s is not in the mapping; kept under that id", parts["lms_id"])
            self.result.unmapped.append(parts["lms_id"])
        if parts["late"]:
            self.result.late.append(student)
        self.result.students.append(student)
        return {"student_id": student, "file_id": parts["file_id"]}


def collect_lms(assignment: str, archive: Path, course_root: Path, lms: str,
                mapping: Path | None = None, db_url: str | None = None) -> Collected:
    """Collect an LMS download zip of ``assignment`` with nbgrader's ``zip_collect``.

    Replaces earlier collected files of the same students. Raises a one-line
    :class:`DataethicsError` for a missing or unreadable archive.
    """
    import zipfile

    from nbgrader.apps import ZipCollectApp
    from nbgrader.coursedir import CourseDirectory

    from dataethics.grading.course import check_assignment, course_config, generate_release

    archive, course_root = Path(archive), Path(course_root).resolve()
    check_assignment(assignment, course_root)
    if not archive.is_file():
        raise DataethicsError(f"archive not found: {archive}")
    if not zipfile.is_zipfile(archive):
        raise DataethicsError(f"not a zip archive: {archive}")
    read_mapping(mapping)  # a bad mapping file is a one-line error before anything is copied
    if not (course_root / "release" / assignment).is_dir():
        generate_release(assignment, course_root, source_root=course_root, db_url=db_url)
    downloaded = course_root / "downloaded" / assignment
    shutil.rmtree(downloaded, ignore_errors=True)
    (downloaded / "archive").mkdir(parents=True)
    shutil.copy2(archive, downloaded / "archive" / archive.name)
    cfg = course_config(course_root, db_url)
    cfg.ZipCollectApp.collector_plugin = LmsCollectorPlugin
    cfg.ZipCollectApp.force = True
    cfg.ZipCollectApp.log_level = "ERROR"  # what matters is summarised in the result
    cfg.ExtractorPlugin.force = True
    cfg.LmsCollectorPlugin.lms = lms
    cfg.LmsCollectorPlugin.mapping_file = str(mapping or "")
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id = assignment
    app = ZipCollectApp(coursedir=coursedir, config=cfg)
    try:
        app.init_plugins()
        app.extract_archive_files()
        app.process_extracted_files()
    except SystemExit:  # nbgrader's app.fail(): its message is in the log
        raise DataethicsError(f"zip_collect failed on {archive.name}") from None
    finally:
        # the copies carry students' names in file names and are not needed once collected:
        # keep only submitted/ (data minimisation; the LMS still holds the original)
        shutil.rmtree(downloaded, ignore_errors=True)
    result = app.collector_plugin_inst.result
    for name in ("students", "unmapped", "late"):
        setattr(result, name, sorted(set(getattr(result, name))))
    return result


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
