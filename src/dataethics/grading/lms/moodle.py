"""Moodle's assignment files: the "Download all submissions" zip and the offline grading worksheet.

**The download** (*Assignment → Submissions → Download all submissions*,
``mod/assign`` in Moodle's source). Each submission is named after a prefix:

* ``<Full name>_<participant id>`` — an individual submission;
* ``Participant_<participant id>`` — the same with anonymous submissions
  ("blind marking"): the names are hidden, the participant id stays;
* ``<Group name>_<group id>`` (Moodle 4.1 and later) or ``Default group`` —
  one submission for a whole group when students submit in groups; older
  Moodle wrote ``<Group name>-<Full name>_<participant id>`` for each member.

followed by ``_assignsubmission_<plugin>`` (``file`` for uploaded files,
``onlinetext`` for text typed in Moodle). With the default "Download submissions
in folders" this is a folder holding the files as the student arranged them
(sub-folders kept); without it every file is flattened to
``<prefix>_assignsubmission_file_<file name>``. Older Moodle added an ``_``
after the plugin name of a folder. The participant id is the number the
grading worksheet shows as "Participant 4211"; it is specific to the
assignment.

**The grading worksheet** (*Submissions → Grading action → Download grading
worksheet*, the "offline grading worksheet" feedback plugin) is a CSV file:
``Identifier`` ("Participant 4211"), ``Full name``, the identity fields the site
shows (``Email address``, ``ID number`` …), ``Status``, ``Group`` (group
submissions), ``Grade``, ``Maximum Grade``, ``Grade can be changed``,
``Last modified (submission)``, ``Last modified (grade)`` and the feedback
columns (``Feedback comments``). Uploading it back (*Upload grading worksheet*)
matches rows on ``Identifier`` and reads ``Grade``; a row whose grade Moodle
changed more than a minute after its ``Last modified (grade)`` is skipped unless
the instructor allows it. Dates are written in the instructor's language and
time zone, e.g. "Friday, 14 March 2025, 2:05 PM"; English is understood here.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from dataethics.errors import DataethicsError
from dataethics.grading.lms.common import group_key, normalise_lms_id

#: Column headers of the grading worksheet (Moodle's English language strings).
IDENTIFIER = "Identifier"
FULL_NAME = "Full name"
STATUS = "Status"
GROUP = "Group"
GRADE = "Grade"
MAXIMUM = "Maximum Grade"
CAN_CHANGE = "Grade can be changed"
SUBMITTED = "Last modified (submission)"
GRADED = "Last modified (grade)"
FEEDBACK = "Feedback comments"
ID_NUMBER = "ID number"
#: What Moodle puts before the participant id in ``Identifier``.
PARTICIPANT = "Participant "
#: The columns of a worksheet written without a downloaded one, in Moodle's order.
WORKSHEET_COLUMNS = [IDENTIFIER, FULL_NAME, STATUS, GRADE, MAXIMUM, CAN_CHANGE, SUBMITTED, GRADED,
                     FEEDBACK]
DEFAULT_GROUP = "Default group"

_TOP = re.compile(r"^(?P<prefix>.+?)_assignsubmission_(?P<plugin>[a-z0-9]+)(?:_(?P<flat>.*))?$", re.S)
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_DATE_FORMATS = ("%A, %d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M", "%d %B %Y, %I:%M %p",
                 "%d %B %Y, %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")


@dataclass
class MoodleName:
    """What a path in Moodle's download says about its submission.

    ``label`` is the prefix before the number (a full name, "Participant", a
    group name); ``number`` is the participant id, or the group id of a group
    submission; ``path`` is the file's path inside the submission.
    """

    label: str
    number: str | None
    plugin: str
    path: str

    @property
    def blind(self) -> bool:
        """Anonymous submissions: Moodle wrote "Participant" instead of the name."""
        return self.label.strip().casefold() == PARTICIPANT.strip().casefold()


def parse_download_path(path: str) -> MoodleName | None:
    """Split a path of Moodle's download (relative to the zip's root); None if it is not Moodle's.

    >>> parse_download_path("Ada Lovelace_4211_assignsubmission_file/data/x y.csv")
    MoodleName(label='Ada Lovelace', number='4211', plugin='file', path='data/x y.csv')
    >>> parse_download_path("Participant_4212_assignsubmission_file_ps00.ipynb").blind
    True
    >>> parse_download_path("Default group_assignsubmission_file/ps00.ipynb").number is None
    True
    """
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    if not parts:
        return None
    match = _TOP.match(parts[0])
    if not match:
        return None
    flat, rest = match.group("flat"), parts[1:]
    if rest:  # a folder: new layout, old layout (trailing "_"), or a flat file unpacked from a zip
        inner = "/".join(rest)
    elif flat:
        inner = flat
    else:
        return None
    prefix = match.group("prefix")
    numbered = re.fullmatch(r"(?P<label>.*)_(?P<number>\d+)", prefix, re.S)
    label, number = (numbered.group("label"), numbered.group("number")) if numbered else (prefix, None)
    return MoodleName(label=label, number=number, plugin=match.group("plugin"), path=inner)


def participant_id(identifier: str) -> str:
    """The participant id of a worksheet ``Identifier`` ("Participant 4211" → ``4211``)."""
    return normalise_lms_id(identifier)


def parse_date(text: str, tz: dt.tzinfo) -> dt.datetime | None:
    """A worksheet date ("Friday, 14 March 2025, 2:05 PM") in time zone ``tz``; None for "-".

    >>> parse_date("Friday, 14 March 2025, 2:05 PM", dt.timezone.utc).isoformat()
    '2025-03-14T14:05:00+00:00'

    Raises ``ValueError`` for a date written in a way this does not know.
    """
    text = " ".join(text.split())
    if text in ("", "-"):
        return None
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    raise ValueError(f"date not understood: {text!r}")


def format_date(when: dt.datetime) -> str:
    """A date as Moodle's English worksheet writes it (Moodle's ``userdate``).

    >>> format_date(dt.datetime(2025, 3, 7, 14, 5))
    'Friday, 7 March 2025, 2:05 PM'
    """
    hour = when.hour % 12 or 12
    return (f"{_DAYS[when.weekday()]}, {when.day} {_MONTHS[when.month - 1]} {when.year}, "
            f"{hour}:{when.minute:02d} {'AM' if when.hour < 12 else 'PM'}")


def format_grade(value: float) -> str:
    """A grade with Moodle's default two decimals.

    >>> format_grade(7.5)
    '7.50'
    """
    return f"{value:.2f}"


def read_grade(text: str) -> float | None:
    """A grade cell (decimal point or comma); None when empty.

    >>> read_grade("7,50"), read_grade("")
    (7.5, None)
    """
    text = text.strip()
    if not text or text == "-":
        return None
    return float(text.replace(",", "."))


@dataclass
class Worksheet:
    """A grading worksheet as downloaded: its columns and rows, in order, untouched."""

    path: Path
    columns: list[str]
    rows: list[dict[str, str]] = field(default_factory=list)
    bom: bool = False

    def participants(self) -> dict[str, dict[str, str]]:
        """Participant id → row."""
        return {participant_id(r[IDENTIFIER]): r for r in self.rows if r.get(IDENTIFIER)}

    def groups(self) -> dict[str, list[str]]:
        """Group name → participant ids, from the ``Group`` column (group submissions only)."""
        out: dict[str, list[str]] = {}
        if GROUP in self.columns:
            for pid, row in self.participants().items():
                if row.get(GROUP):
                    out.setdefault(group_key(row[GROUP]), []).append(pid)
        return out

    def id_numbers(self) -> dict[str, str]:
        """Participant id → the ``ID number`` column, when the site shows it."""
        if ID_NUMBER not in self.columns:
            return {}
        return {pid: row[ID_NUMBER].strip() for pid, row in self.participants().items()
                if row.get(ID_NUMBER, "").strip()}


def read_worksheet(path: Path | str) -> Worksheet:
    """Read a grading worksheet; a one-line error when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise DataethicsError(f"grading worksheet not found: {path}")
    raw = path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataethicsError(f"{path}: not a UTF-8 CSV file (download the worksheet again)") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = list(reader.fieldnames or [])
    missing = [c for c in (IDENTIFIER, GRADE, GRADED) if c not in columns]
    if missing:
        raise DataethicsError(f"{path}: not a Moodle grading worksheet (no column "
                              f"{', '.join(repr(m) for m in missing)})")
    rows = [{c: (row.get(c) or "") for c in columns} for row in reader]
    return Worksheet(path, columns, rows, bom)


def write_worksheet(sheet: Worksheet, out: Path) -> Path:
    """Write ``sheet`` with its own columns, in its own order (and byte-order mark, if it had one)."""
    with out.open("w", newline="", encoding="utf-8-sig" if sheet.bom else "utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=sheet.columns)
        writer.writeheader()
        writer.writerows(sheet.rows)
    return out
