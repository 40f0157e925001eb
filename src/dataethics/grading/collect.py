"""Collect an LMS download into nbgrader's ``submitted/<student>/<assignment>/`` layout.

This is the front door for Moodle's "Download all submissions" and Canvas's
"Download Submissions" zip (``lms.moodle`` and ``lms.canvas`` know their file
names; nbgrader's exchange is ``exchange``). One call:

1. unpacks the zip with nbgrader's ``zip_collect`` extractor plugin (archives a
   student uploaded are unpacked too, and collected in their place);
2. works out whose each file is: the LMS id in its name, mapped to the course's
   student id with the mapping file; a Moodle group submission goes to every
   member of the group (from the grading worksheet's ``Group`` column or the
   mapping's ``group`` column), and so does a Canvas group assignment's one
   submission when asked (``group_assignment``: Canvas names it after one
   member; the mapping's ``group`` column gives the others); anonymous
   submissions (Canvas ``anon_…``, Moodle "Participant N") stay anonymous
   (``anon_…``, ``participant-N``) unless the mapping names them;
3. keeps **every** file of a submission, sub-folders included, and when a file
   was uploaded twice (Canvas's ``-1``, ``-2`` copies) keeps the latest upload;
4. writes the submission time nbgrader reads from ``timestamp.txt`` — from the
   Moodle grading worksheet's ``Last modified (submission)`` (``worksheet``, in
   any language of ``moodle.LANGUAGES``), or, for Canvas's ``LATE`` (which
   carries no time), one second after the due date — so the autograder flags
   late work and nbgrader's late penalty applies;
5. puts submissions whose id is not in the mapping, and files it cannot read,
   aside in ``lms-aside/<assignment>/`` (never in ``submitted/``, so never
   graded or exported).

Nothing stops the class: each problem is one line of the collect report
(``reports/collect-<assignment>.csv``: file, what was done, why, and whether
the instructor must act). :attr:`CollectResult.exit_code` is 0 when nothing
needs the instructor and 1 when some line does; bad input (no such archive,
not a zip, a broken mapping or worksheet) is a one-line error instead.
"""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dataethics.errors import DataethicsError
from dataethics.grading.lms import canvas, moodle
from dataethics.grading.lms.common import (
    CollectReport,
    Mapping,
    Person,
    anonymous_id,
    group_key,
    nbgrader_timestamp,
    normalise_lms_id,
    read_mapping,
    split_copy_suffix,
)

LMS = ("moodle", "canvas")
#: Files operating systems add to folders and zips; never part of the work.
SYSTEM_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini", "__MACOSX"}
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".gz")


@dataclass
class CollectResult:
    """What one collect did; :attr:`report` holds one line per problem."""

    assignment: str
    lms: str
    students: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    timestamps: dict[str, str] = field(default_factory=dict)
    aside: list[str] = field(default_factory=list)
    report: CollectReport = field(default_factory=CollectReport)
    report_file: Path | None = None

    @property
    def exit_code(self) -> int:
        """0: everything collected, nothing to do; 1: collected, but the report needs the instructor."""
        return 1 if self.report.needs_instructor else 0


@dataclass
class _Item:
    """One file bound for one student."""

    student: str
    path: str
    source: Path
    origin: str
    order: tuple[int, int]
    lms_id: str
    late: bool = False


def local_timezone(name: str | None = None) -> dt.tzinfo:
    """The time zone ``name`` (IANA, e.g. ``Europe/Paris``), or this computer's."""
    if not name:
        return dt.datetime.now().astimezone().tzinfo or dt.UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DataethicsError(f"unknown time zone '{name}' (use a name like Europe/Paris)") from None


def parse_due_date(text: str, tz: dt.tzinfo) -> dt.datetime:
    """A due date typed by the instructor, in ``tz`` unless it says its zone.

    >>> parse_due_date("2026-03-14 23:59", dt.timezone.utc).isoformat()
    '2026-03-14T23:59:00+00:00'
    """
    from dateutil import parser

    try:
        when = parser.parse(text)
    except (ValueError, OverflowError):
        raise DataethicsError(f"due date not understood: '{text}' (write e.g. 2026-03-14 23:59)") from None
    return when if when.tzinfo else when.replace(tzinfo=tz)


def _due_date(assignment: str, course_root: Path, db_url: str | None,
              new: dt.datetime | None) -> dt.datetime | None:
    """The assignment's due date in nbgrader's gradebook (set it first when ``new`` is given)."""
    from nbgrader.api import Gradebook, MissingEntry

    from dataethics.grading.course import gradebook_url

    with Gradebook(gradebook_url(course_root, db_url)) as gb:
        if new is not None:
            naive_utc = new.astimezone(dt.UTC).replace(tzinfo=None)
            gb.update_or_create_assignment(assignment, duedate=naive_utc)
        try:
            due = gb.find_assignment(assignment).duedate
        except MissingEntry:
            return None
    return due.replace(tzinfo=dt.UTC) if due is not None else None


def _extract(archive: Path, work: Path) -> Path:
    """Unpack ``archive`` (and archives inside it) with nbgrader's extractor plugin; return its root."""
    from nbgrader.plugins import ExtractorPlugin

    (work / "archive").mkdir(parents=True)
    shutil.copy2(archive, work / "archive" / archive.name)
    ExtractorPlugin(force=True).extract(str(work / "archive"), str(work / "extracted"))
    root = work / "extracted" / archive.stem
    return root if root.is_dir() else work / "extracted"


def _archive_dirs(root: Path) -> set[str]:
    """Folders (relative to ``root``) the extractor made from an archive lying next to them."""
    found = set()
    for path in root.rglob("*"):
        if path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES):
            stem = next(path.name[: -len(s)] for s in ARCHIVE_SUFFIXES if path.name.endswith(s))
            if (path.parent / stem).is_dir():
                found.add((path.parent / stem).relative_to(root).as_posix())
    return found


def _inner(parts: list[str], start: int, archive_dirs: set[str]) -> str:
    """The path inside a submission: ``parts[start:]`` without the folders made from archives."""
    return "/".join(p for i, p in enumerate(parts) if i >= start
                    and "/".join(parts[: i + 1]) not in archive_dirs)


class _Collector:
    """The state of one collect: mapping, worksheet, report and the files planned so far."""

    def __init__(self, lms: str, mapping: Mapping, sheet: moodle.Worksheet | None,
                 released: set[str], group_assignment: bool = False) -> None:
        self.lms, self.mapping, self.sheet, self.released = lms, mapping, sheet, released
        self.group_assignment = group_assignment
        self.report = CollectReport()
        self.items: list[_Item] = []
        self.aside: list[tuple[str, str, Path, str]] = []  # (lms id, path, source, origin)
        self._said: set[tuple[str, str]] = set()
        groups: dict[str, list[str]] = dict(mapping.groups())
        if sheet is not None:
            for name, members in sheet.groups().items():
                groups.setdefault(name, []).extend(m for m in members if m not in groups.get(name, []))
        self.groups = groups

    def once(self, key: str, file: str, action: str, reason: str, attention: bool = False) -> None:
        """Add a report line the first time ``key`` comes up for ``action``."""
        if (key, action) not in self._said:
            self._said.add((key, action))
            self.report.add(file, action, reason, attention)

    def student_of(self, lms_id: str, anonymous: bool, origin: str) -> str | None:
        """The course student of an LMS id, or None (the file is then put aside)."""
        student = self.mapping.student(lms_id)
        if student is not None:
            if "/" in student or student in ("", ".", ".."):
                self.once(lms_id, origin, "put aside", f"the mapping gives '{lms_id}' the unusable "
                          f"student id '{student}'", attention=True)
                return None
            return student
        if anonymous:
            student = anonymous_id(lms_id)
            self.once(lms_id, origin, f"collected as {student}",
                      "anonymous submission: it stays anonymous until the mapping names it")
            return student
        if not self.mapping.given:
            self.once("", origin, "collected under LMS ids",
                      "no mapping given: students are known by their LMS ids")
            return lms_id
        self.once(lms_id, origin, f"put aside in lms-aside/ (LMS id {lms_id})",
                  f"LMS id {lms_id} is not in the mapping {Path(self.mapping.source).name}: add it "
                  "and collect again", attention=True)
        return None

    def add(self, lms_ids: list[str], anonymous: bool, path: str, source: Path, origin: str,
            order: tuple[int, int] = (0, 0), late: bool = False) -> None:
        """Plan ``source`` as ``path`` for the students behind ``lms_ids``."""
        for lms_id in lms_ids:
            student = self.student_of(lms_id, anonymous, origin)
            if student is None:
                self.aside.append((lms_id, path, source, origin))
            else:
                self.items.append(_Item(student, path, source, origin, order, lms_id, late))

    def moodle_file(self, rel: str, parts: list[str], source: Path, archive_dirs: set[str]) -> bool:
        """Plan one file of a Moodle download; False when its name is not Moodle's."""
        name = moodle.parse_download_path(rel)
        if name is None:
            return False
        path = _inner(parts, 1, archive_dirs) if len(parts) > 1 else name.path
        members = self.groups.get(group_key(name.label))
        if members is not None:
            self.once(name.label, rel, f"group submission of '{name.label}' given to each member",
                      f"members: {', '.join(members)}")
            self.add(members, False, path, source, rel)
        elif name.number is None:
            self.report.add(rel, "put aside in lms-aside/",
                            f"a group submission of '{name.label}', whose members are unknown: pass "
                            "--worksheet (its Group column) or give the mapping a group column",
                            needs_instructor=True)
            self.aside.append((f"group {name.label}", path, source, rel))
        else:
            self.add([name.number], name.blind, path, source, rel)
        return True

    def canvas_file(self, rel: str, parts: list[str], source: Path, root: Path,
                    archive_dirs: set[str]) -> bool:
        """Plan one file of a Canvas download; False when its name is not Canvas's."""
        top = parts[0]
        if len(parts) > 1:  # only a student's archive, unpacked next to it, makes a folder
            if top not in archive_dirs:
                return False
            top = next((top + s for s in ARCHIVE_SUFFIXES if (root / (top + s)).is_file()), top)
        name = canvas.parse_download_name(top)
        if name is None:
            return False
        path = _inner(parts, 1, archive_dirs) if len(parts) > 1 else name.file
        self.add(self.canvas_group(name.lms_id, rel), name.anonymous, path, source, rel,
                 order=(name.attachment or 0, 0), late=name.late)
        return True

    def canvas_group(self, lms_id: str, origin: str) -> list[str]:
        """Who gets a Canvas file: its submitter, or, for a group assignment, each member of
        the submitter's group (Canvas's download holds one submission per group, named after
        one member; the mapping's ``group`` column says who the others are)."""
        if not self.group_assignment:
            return [lms_id]
        person = self.mapping.people.get(normalise_lms_id(lms_id))
        members = self.groups.get(group_key(person.group)) if person and person.group else None
        if not members:
            self.once(lms_id, origin, "collected for the submitter only",
                      f"LMS id {lms_id} has no group in the mapping: its group-mates get nothing "
                      "from this file", attention=True)
            return [lms_id]
        self.once(person.group, origin, f"group submission of '{person.group}' given to each member",
                  f"submitted by {lms_id}; members: {', '.join(members)}")
        return list(members)

    def resolve_copies(self) -> dict[str, dict[str, _Item]]:
        """Student → path → the file kept: Canvas copies (``-N``) merged, the latest upload wins."""
        by_student: dict[str, list[_Item]] = {}
        for item in self.items:
            by_student.setdefault(item.student, []).append(item)
        chosen: dict[str, dict[str, _Item]] = {}
        for student, items in sorted(by_student.items()):
            names = {i.path for i in items}
            for item in items:
                base, copy = split_copy_suffix(item.path)
                if copy and self.lms == "canvas" and (base in self.released or base in names):
                    item.path, item.order = base, (item.order[0], copy)
            kept: dict[str, _Item] = {}
            for item in sorted(items, key=lambda i: (i.path, i.order, i.origin)):
                old = kept.get(item.path)
                if old is not None:
                    same = old.source.read_bytes() == item.source.read_bytes()
                    tie = old.order == item.order and not same
                    self.report.add(old.origin, f"left out for {student}: {item.path} taken from "
                                    f"{item.origin}",
                                    "same content" if same else
                                    "two files for one name with no upload order: check which is right"
                                    if tie else "an older upload of the same file", needs_instructor=tie)
                kept[item.path] = item
            chosen[student] = kept
        return chosen


def _release_names(course_root: Path, assignment: str) -> set[str]:
    return {p.name for p in (course_root / "release" / assignment).glob("*.ipynb")}


def _safe_target(folder: Path, path: str) -> Path | None:
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts:
        return None
    return folder.joinpath(*pure.parts)


def collect_lms(assignment: str, archive: Path, course_root: Path, lms: str,
                mapping: Path | None = None, worksheet: Path | None = None,
                timezone: str | None = None, due_date: str | None = None,
                db_url: str | None = None, group_assignment: bool = False) -> CollectResult:
    """Collect the Moodle or Canvas download ``archive`` of ``assignment`` into ``submitted/``.

    ``mapping`` is the ``lms_id,student_id`` CSV file; ``worksheet`` Moodle's
    grading worksheet (submission times and groups; its ``ID number`` column
    serves as mapping when no mapping is given); ``timezone`` the zone the
    worksheet's dates and ``due_date`` are written in (default: this
    computer's); ``due_date`` sets the assignment's due date in nbgrader's
    gradebook first; ``group_assignment`` (Canvas) gives each group's submission to every
    member of the submitter's group in the mapping's ``group`` column. Replaces the earlier
    files of the students collected.
    """
    from dataethics.grading.course import check_assignment, generate_release

    if lms not in LMS:
        raise DataethicsError(f"unknown LMS '{lms}' (choose {', '.join(LMS)})")
    archive, course_root = Path(archive), Path(course_root).resolve()
    check_assignment(assignment, course_root)
    if not archive.is_file():
        raise DataethicsError(f"archive not found: {archive}")
    if not zipfile.is_zipfile(archive):
        raise DataethicsError(f"not a zip archive: {archive}")
    people = read_mapping(mapping)  # bad input is a one-line error before anything is copied
    if group_assignment and lms != "canvas":
        raise DataethicsError("--group-assignment is for --from canvas (Moodle names group "
                              "submissions itself)")
    if group_assignment and not people.groups():
        raise DataethicsError("--group-assignment needs --mapping with a group column "
                              "(who is in which Canvas group)")
    tz = local_timezone(timezone)
    sheet = moodle.read_worksheet(worksheet) if worksheet else None
    if sheet is not None and lms != "moodle":
        raise DataethicsError("--worksheet is Moodle's grading worksheet: use it with --from moodle")
    new_due = parse_due_date(due_date, tz) if due_date else None
    result = CollectResult(assignment, lms)
    if sheet is not None and not people.given and sheet.id_numbers():
        people = Mapping({pid: Person(pid, sid) for pid, sid in sheet.id_numbers().items()},
                         given=True, source=str(sheet.path))
        result.report.add(sheet.path.name, "students identified by the worksheet's ID number column",
                          "no mapping file given")
    if not (course_root / "release" / assignment).is_dir():
        generate_release(assignment, course_root, source_root=course_root, db_url=db_url)
    due = _due_date(assignment, course_root, db_url, new_due)

    work = course_root / "downloaded" / assignment
    shutil.rmtree(work, ignore_errors=True)
    try:
        root = _extract(archive, work)
        collector = _Collector(lms, people, sheet, _release_names(course_root, assignment),
                               group_assignment)
        collector.report = result.report
        archive_dirs = _archive_dirs(root)
        for source in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = source.relative_to(root).as_posix()
            parts = rel.split("/")
            if any(p in SYSTEM_NAMES or p.startswith("._") for p in parts):
                result.report.add(rel, "left out", "a file the operating system adds, not the work")
                continue
            if any(rel == d + s for d in archive_dirs for s in ARCHIVE_SUFFIXES):
                result.report.add(rel, "unpacked", "an archive the student uploaded: its files are "
                                  "collected in its place")
                continue
            known = (collector.moodle_file(rel, parts, source, archive_dirs) if lms == "moodle"
                     else collector.canvas_file(rel, parts, source, root, archive_dirs))
            if not known:
                result.report.add(rel, "put aside in lms-aside/_unrecognised/",
                                  f"not a {lms.capitalize()} submission name (was the zip downloaded "
                                  f"from {lms.capitalize()}'s assignment page?)", needs_instructor=True)
                collector.aside.append(("_unrecognised", rel, source, rel))
        chosen = collector.resolve_copies()
        _put_aside(course_root, assignment, collector.aside, result)
        _transfer(course_root, assignment, chosen, collector, due, tz, result)
    finally:
        # the copies carry students' names in file names and are not needed once collected:
        # keep only submitted/ and what was put aside (the LMS still holds the original)
        shutil.rmtree(work, ignore_errors=True)
    if not result.students and not result.report.lines:
        result.report.add(archive.name, "nothing collected", "the archive holds no file",
                          needs_instructor=True)
    result.report_file = result.report.write_csv(course_root / "reports" / f"collect-{assignment}.csv")
    return result


def _put_aside(course_root: Path, assignment: str, aside: list[tuple[str, str, Path, str]],
               result: CollectResult) -> None:
    folder = course_root / "lms-aside" / assignment
    shutil.rmtree(folder, ignore_errors=True)
    for lms_id, path, source, _ in aside:
        target = _safe_target(folder / lms_id.replace("/", "_"), path)
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    result.aside = sorted({lms_id for lms_id, *_ in aside})


def _submission_time(collector: _Collector, items: list[_Item], due: dt.datetime | None,
                     tz: dt.tzinfo, student: str) -> tuple[dt.datetime | None, bool]:
    """The submission time to record for a student, and whether the LMS called it late."""
    late = any(i.late for i in items)
    items = sorted(items, key=lambda i: (not i.path.endswith(".ipynb"), i.path))  # report a notebook
    if collector.lms == "canvas":
        if not late:
            return None, False
        if due is None:
            collector.once(student, items[0].origin, f"{student}: late, but no time recorded",
                           "Canvas marks the work LATE without a time, and the gradebook has no due "
                           "date: pass --due-date (or set it in formgrader) and collect again",
                           attention=True)
            return None, True
        collector.report.add(items[0].origin, f"{student}: recorded 1 s after the due date",
                             "Canvas marks the work LATE without saying when it came in")
        return due + dt.timedelta(seconds=1), True
    if collector.sheet is None:
        return None, False
    rows = collector.sheet.participants()
    stamps = []
    for lms_id in sorted({i.lms_id for i in items}):
        row = rows.get(lms_id)
        if row is None:
            collector.once(student, items[0].origin, f"{student}: no submission time",
                           f"participant {lms_id} is not in the grading worksheet "
                           f"{collector.sheet.path.name}", attention=True)
            continue
        try:
            lang = collector.sheet.lang
            when = moodle.parse_date(row.get(lang.submitted, ""), tz, lang)
        except ValueError as exc:
            collector.once(student, items[0].origin, f"{student}: no submission time", str(exc),
                           attention=True)
            continue
        if when is not None:
            stamps.append(when)
    when = max(stamps) if stamps else None
    return when, bool(when and due and when > due)


def _transfer(course_root: Path, assignment: str, chosen: dict[str, dict[str, _Item]],
              collector: _Collector, due: dt.datetime | None, tz: dt.tzinfo,
              result: CollectResult) -> None:
    """Replace each collected student's ``submitted/<student>/<assignment>/`` with the chosen files."""
    for student, files in chosen.items():
        folder = course_root / "submitted" / student / assignment
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for path, item in sorted(files.items()):
            target = _safe_target(folder, path)
            if target is None:
                collector.report.add(item.origin, "left out", f"unsafe path '{path}'",
                                     needs_instructor=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item.source, target)
        when, late = _submission_time(collector, list(files.values()), due, tz, student)
        if when is not None:
            stamp = nbgrader_timestamp(when)
            (folder / "timestamp.txt").write_text(stamp, encoding="utf-8")
            result.timestamps[student] = stamp
        if late:
            result.late.append(student)
        result.students.append(student)
