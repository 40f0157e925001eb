"""Canvas's files: the "Download Submissions" zip and the gradebook CSV.

**The download** (*Assignment → Download Submissions*; Canvas's
``ContentZipper``) names every uploaded file
``<name>_<LATE_><user id>_<attachment id>_<file name>``:

* ``name`` is the student's sortable name ("Lovelace, Ada"), lower-cased with
  every character that is not a letter, digit or ``_`` removed (``lovelaceada``;
  letters with accents stay);
* ``LATE`` is there when Canvas counts the submission late (no time is given);
* the user id is the student's Canvas id; with **anonymous grading** there is
  no name and the id is ``anon_<anonymous id>`` (``anon_x7Yq2_…``);
* the attachment id grows with every upload, so it orders a student's files;
* a file uploaded again under the same name gets ``-1``, ``-2`` … before its
  extension (``lab-1.ipynb``).

Text typed in Canvas comes as ``<name>_<user id>_text.html`` and a website
address as ``…_link.html``. A zip a student uploaded is unpacked next to it.
For a **group assignment** the zip holds one submission per group, named after
one member of the group (Canvas zips the assignment's "representatives"): who
else is in the group is not in the download.

**The gradebook CSV** (*Grades → Import*) must start with the columns
``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``, then one
column per assignment titled ``<Assignment name> (<assignment id>)``; a first
data row starting ``Points Possible`` gives the points of each assignment.
Canvas finds the student by ``ID`` (the Canvas user id), then ``SIS User ID``,
then ``SIS Login ID``, then the name, and the assignment by the id in
parentheses (else by its exact title; an unknown title makes a new column).
The simplest correct file is Canvas's own export (*Grades → Export*) with the
scores filled in.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from dataethics.errors import DataethicsError

#: The student columns Canvas's importer expects first, in this order.
STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "Points Possible"

_ANON = re.compile(r"^(?:(?P<late>LATE)_)?(?P<uid>anon_[A-Za-z0-9]+)_(?:(?P<att>\d+)_(?P<file>.+)"
                   r"|(?P<kind>text|link)\.html)$", re.S)
_NAMED = re.compile(r"^(?P<name>[^/]*?)_(?:(?P<late>LATE)_)?(?P<uid>\d+)_(?:(?P<att>\d+)_(?P<file>.+)"
                    r"|(?P<kind>text|link)\.html)$", re.S)
_TITLE_ID = re.compile(r"^(?P<title>.*?)\s*\((?P<id>\d+)\)\s*$", re.S)


@dataclass
class CanvasName:
    """What a file name of Canvas's download says: who, late or not, which upload, which file."""

    lms_id: str
    late: bool
    attachment: int | None
    file: str

    @property
    def anonymous(self) -> bool:
        """Anonymous grading: the id is ``anon_…`` and there is no name."""
        return self.lms_id.startswith("anon_")


def parse_download_name(name: str) -> CanvasName | None:
    """Split one file name of Canvas's download; None when it is not Canvas's.

    >>> parse_download_name("lovelaceada_LATE_4211_998877_ps00-1.ipynb")
    CanvasName(lms_id='4211', late=True, attachment=998877, file='ps00-1.ipynb')
    >>> parse_download_name("anon_x7Yq2_998878_my data.csv").lms_id
    'anon_x7Yq2'
    >>> parse_download_name("notes.txt") is None
    True
    """
    for pattern in (_ANON, _NAMED):
        match = pattern.match(name)
        if match:
            kind = match.group("kind")
            att = match.group("att")
            return CanvasName(lms_id=match.group("uid"), late=bool(match.group("late")),
                              attachment=int(att) if att else None,
                              file=f"{kind}.html" if kind else match.group("file"))
    return None


def title_and_id(header: str) -> tuple[str, str | None]:
    """Split an assignment column title as Canvas does: ``"Bots (4312)"`` → ``("Bots", "4312")``.

    >>> title_and_id("Problem set 1 (4312)"), title_and_id("ps01")
    (('Problem set 1', '4312'), ('ps01', None))
    """
    match = _TITLE_ID.match(header)
    return (match.group("title"), match.group("id")) if match else (header.strip(), None)


def column_title(title: str, canvas_id: str | None) -> str:
    """The header of an assignment column: ``"ps01 (4312)"``, or the bare title without an id."""
    return f"{title} ({canvas_id})" if canvas_id else title


@dataclass
class Gradebook:
    """A Canvas gradebook CSV as exported: header and rows, in order, untouched."""

    path: Path
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    bom: bool = False

    def points_possible(self) -> list[str] | None:
        """The ``Points Possible`` row, if the file has one."""
        return next((r for r in self.rows if r and POINTS_POSSIBLE in r[0]), None)


def read_gradebook(path: Path | str) -> Gradebook:
    """Read a gradebook CSV exported by Canvas; a one-line error when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise DataethicsError(f"Canvas gradebook file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataethicsError(f"{path}: not a UTF-8 CSV file (export the gradebook again)") from None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or len(rows[0]) < 4 or "Student" not in rows[0][0] or "ID" not in rows[0][1]:
        raise DataethicsError(f"{path}: not a Canvas gradebook export (it must start with the "
                              "columns Student, ID)")
    width = len(rows[0])
    body = [r + [""] * (width - len(r)) for r in rows[1:]]
    return Gradebook(path, rows[0], body, raw.startswith(b"\xef\xbb\xbf"))


def write_gradebook(book: Gradebook, out: Path) -> Path:
    """Write ``book`` with its own header and rows (and byte-order mark, if it had one)."""
    with out.open("w", newline="", encoding="utf-8-sig" if book.bom else "utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(book.header)
        writer.writerows(book.rows)
    return out
