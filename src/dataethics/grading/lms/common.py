"""What Moodle and Canvas handling share: the id mapping, the collect report, copies and times.

* :class:`Mapping` — the instructor's CSV file linking the LMS's ids to the
  course's student ids (columns ``lms_id,student_id``; optional ``name``,
  ``section``, ``email``, ``sis_user_id``, ``sis_login_id`` and ``group``).
* :class:`CollectReport` — one line per problem met while collecting: the
  file, what was done with it and why, and whether the instructor must act.
* :func:`split_copy_suffix` — the ``-1``, ``-2`` … an LMS adds to a file
  uploaded again under the same name.
* :func:`anonymous_id` / :func:`is_anonymous` — the student ids given to
  submissions the LMS keeps anonymous (Canvas ``anon_…``, Moodle "Participant N").
* :func:`nbgrader_timestamp` — a submission time as nbgrader's ``timestamp.txt`` holds it.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from dataethics.errors import DataethicsError

OPTIONAL_COLUMNS = ("name", "section", "email", "sis_user_id", "sis_login_id", "group")


def normalise_lms_id(value: str) -> str:
    """The LMS id as the download writes it: Moodle's "Participant 4211" is ``4211``.

    >>> normalise_lms_id(" Participant 4211 "), normalise_lms_id("anon_x7Yq2"), normalise_lms_id("4211")
    ('4211', 'anon_x7Yq2', '4211')
    """
    value = value.strip()
    if value.startswith("anon_"):
        return value
    match = re.fullmatch(r"\D*?(\d+)", value)
    return match.group(1) if match else value


def group_key(name: str) -> str:
    """A group name compared as Moodle writes it in file names (``_`` becomes a space).

    >>> group_key("Team_Rocket ") == group_key("team rocket")
    True
    """
    return " ".join(name.replace("_", " ").split()).casefold()


@dataclass
class Person:
    """One row of the mapping file."""

    lms_id: str
    student_id: str
    name: str = ""
    section: str = ""
    email: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    group: str = ""


@dataclass
class Mapping:
    """LMS ids → course students. ``given`` is False when the instructor gave no mapping."""

    people: dict[str, Person] = field(default_factory=dict)
    given: bool = False
    source: str = ""

    def student(self, lms_id: str) -> str | None:
        """The course's student id of an LMS id, or None when the mapping lacks it."""
        person = self.people.get(normalise_lms_id(lms_id))
        return person.student_id if person else None

    def person_of(self, student: str) -> Person | None:
        """The mapping row of a course student (one with a real LMS id before an ``anon_…`` one)."""
        rows = [p for p in self.people.values() if p.student_id == student]
        return min(rows, key=lambda p: p.lms_id.startswith("anon_"), default=None)

    def groups(self) -> dict[str, list[str]]:
        """Group (as :func:`group_key`) → LMS ids of its members, from the ``group`` column."""
        out: dict[str, list[str]] = {}
        for person in self.people.values():
            if person.group:
                out.setdefault(group_key(person.group), []).append(person.lms_id)
        return out


def read_mapping(path: Path | str | None) -> Mapping:
    """Read the ``lms_id,student_id`` CSV file; an empty mapping when ``path`` is empty.

    ``lms_id`` may be written as Moodle's grading worksheet shows it ("Participant 4211").
    """
    if not path:
        return Mapping()
    path = Path(path)
    if not path.is_file():
        raise DataethicsError(f"mapping file not found: {path}")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"lms_id", "student_id"} <= set(reader.fieldnames):
            raise DataethicsError(f"{path}: the mapping needs the columns lms_id,student_id")
        people = {}
        for row in reader:
            lms_id, student = normalise_lms_id(row["lms_id"] or ""), (row["student_id"] or "").strip()
            if not lms_id or not student:
                continue
            extra = {k: (row.get(k) or "").strip() for k in OPTIONAL_COLUMNS}
            people[lms_id] = Person(lms_id, student, **extra)
    return Mapping(people, given=True, source=str(path))


def anonymous_id(lms_id: str) -> str:
    """The course-side id of a submission the LMS keeps anonymous.

    >>> anonymous_id("anon_x7Yq2"), anonymous_id("4211")
    ('anon_x7Yq2', 'participant-4211')
    """
    return lms_id if lms_id.startswith("anon_") else f"participant-{lms_id}"


def is_anonymous(student: str) -> bool:
    """Whether a course-side id stands for a student the LMS has not revealed.

    >>> is_anonymous("anon_x7Yq2"), is_anonymous("participant-4211"), is_anonymous("s001")
    (True, True, False)
    """
    return student.startswith("anon_") or re.fullmatch(r"participant-\d+", student) is not None


_COPY = re.compile(r"^(?P<stem>.+?)-(?P<n>\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
                   r"(?P<ext>(?:\.[A-Za-z][A-Za-z0-9]*)*\.[A-Za-z0-9]+)?$")


def split_copy_suffix(name: str) -> tuple[str, int]:
    """``lab-2.ipynb`` → ``("lab.ipynb", 2)``: the name a re-uploaded file had, and its copy number.

    Canvas appends ``-N`` (``-<uuid>`` after many copies) before the extension.

    >>> split_copy_suffix("lab-2.ipynb"), split_copy_suffix("lab.ipynb"), split_copy_suffix("a-1.tar.gz")
    (('lab.ipynb', 2), ('lab.ipynb', 0), ('a.tar.gz', 1))
    """
    match = _COPY.match(name)
    if not match or "/" in match.group("stem"):
        return name, 0
    n = match.group("n")
    return match.group("stem") + (match.group("ext") or ""), int(n) if n.isdigit() else 1


def nbgrader_timestamp(when: dt.datetime) -> str:
    """A submission time as nbgrader's ``zip_collect`` writes ``timestamp.txt`` (UTC).

    >>> nbgrader_timestamp(dt.datetime(2026, 3, 14, 15, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    '2026-03-14 14:05:00+00:00'
    """
    if when.tzinfo is None:
        raise ValueError("a submission time needs its time zone")
    return when.astimezone(dt.UTC).isoformat(" ")


@dataclass
class ReportLine:
    """One problem met while collecting."""

    file: str
    action: str
    reason: str
    needs_instructor: bool = False


@dataclass
class CollectReport:
    """What a collect did that is worth knowing, one line per file."""

    lines: list[ReportLine] = field(default_factory=list)

    def add(self, file: str, action: str, reason: str, needs_instructor: bool = False) -> None:
        """Record one line."""
        self.lines.append(ReportLine(file, action, reason, needs_instructor))

    @property
    def needs_instructor(self) -> bool:
        """Whether any line asks the instructor to act."""
        return any(line.needs_instructor for line in self.lines)

    def write_csv(self, path: Path) -> Path:
        """Write the report as CSV (``file,action,reason,needs_instructor``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["file", "action", "reason", "needs_instructor"])
            for line in self.lines:
                writer.writerow([line.file, line.action, line.reason,
                                 "yes" if line.needs_instructor else "no"])
        return path
