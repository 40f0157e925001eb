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
the instructor allows it.

**Languages.** Moodle writes the worksheet in the language of the instructor who
downloads it — headers, "Yes"/"No", dates, the decimal separator — and its
importer finds the ``Identifier``, ``Grade`` and ``Last modified (grade)``
columns by their names in the language of the instructor who uploads it.
English, French, German, Spanish, Italian and Brazilian Portuguese worksheets
are read here (:data:`LANGUAGES`, strings of Moodle's ``en``, ``fr``, ``de``,
``es``, ``it`` and ``pt_br`` language packs for Moodle 4.x), and a filled-in
worksheet keeps its own language. In French:
``Identifiant`` ("Participant4211": only English puts a space before the
number), ``Note``, ``Note maximale`` ("100,00"), ``La note peut être modifiée``
("Oui"/"Non"), ``Dernière modification (travail remis)``, ``Dernière
modification (note)`` and dates such as "vendredi 14 mars 2025, 14:05"
(English: "Friday, 14 March 2025, 2:05 PM"; German: ``ID``, ``Bewertung``,
"Teilnehmer/in4211", "Freitag, 14. März 2025, 14:05"; Spanish:
``Identificador``, ``Calificación``, "Participante4211", "viernes, 14 de marzo
de 2025, 14:05"), in the instructor's time zone. Moodle's importer reads that
last date with PHP's ``strtotime``, which knows English only: uploading a
worksheet in another language, rows already graded in Moodle are skipped unless
*Allow updating records that have been modified more recently in Moodle than in
the spreadsheet* is ticked (the export says so).
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


@dataclass(frozen=True)
class Language:
    """The strings of one Moodle language pack that a grading worksheet shows."""

    code: str
    identifier: str      # assign/recordid
    full_name: str       # core/fullname
    id_number: str       # core/idnumber (an identity field, when the site shows it)
    status: str          # assign/status
    group: str           # assign/submissionteam
    grade: str           # core/gradenoun (core/grade before Moodle 4.4)
    maximum: str         # assign/maxgrade
    can_change: str      # assign/gradecanbechanged
    submitted: str       # assign/lastmodifiedsubmission
    graded: str          # assign/lastmodifiedgrade
    feedback: str        # assignfeedback_comments/pluginname
    participant: str     # assign/hiddenuser, before the participant id
    yes: str
    no: str
    days: tuple[str, ...]    # Monday first
    months: tuple[str, ...]
    decimal: str         # langconfig/decsep
    # langconfig/strftimedaydatetime: {A} day, {d} day of the month (no leading zero), {B} month,
    # {b} its first three letters (the reader also takes "mar." or "março"), {Y} year,
    # {H} hour (00-23), {I} hour (1-12), {M} minutes, {p} AM/PM
    date_format: str
    blind: str = "Participant"  # assign/participant: a download's folder name with anonymous submissions

    @property
    def columns(self) -> list[str]:
        """The columns of a worksheet written without a downloaded one, in Moodle's order."""
        return [self.identifier, self.full_name, self.status, self.grade, self.maximum,
                self.can_change, self.submitted, self.graded, self.feedback]

    @property
    def grading_columns(self) -> tuple[str, ...]:
        """The columns that say nothing about who the student is (all others are identity fields)."""
        return (self.identifier, self.status, self.group, self.grade, self.maximum, self.can_change,
                self.submitted, self.graded)


ENGLISH = Language(
    "en", "Identifier", "Full name", "ID number", "Status", "Group", "Grade", "Maximum Grade",
    "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
    "Feedback comments", "Participant ", "Yes", "No",
    ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    ("January", "February", "March", "April", "May", "June", "July", "August", "September",
     "October", "November", "December"), ".", "{A}, {d} {B} {Y}, {I}:{M} {p}")
FRENCH = Language(
    "fr", "Identifiant", "Nom complet", "Numéro d'identification", "Statut", "Groupe", "Note",
    "Note maximale", "La note peut être modifiée", "Dernière modification (travail remis)",
    "Dernière modification (note)", "Feedback par commentaires", "Participant", "Oui", "Non",
    ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
     "octobre", "novembre", "décembre"), ",", "{A} {d} {B} {Y}, {H}:{M}")
GERMAN = Language(
    "de", "ID", "Vollständiger Name", "ID-Nummer", "Status", "Gruppe", "Bewertung", "Bestwertung",
    "Bewertung kann geändert werden", "Zuletzt geändert (Abgabe)", "Zuletzt geändert (Bewertung)",
    "Feedback als Kommentar", "Teilnehmer/in", "Ja", "Nein",
    ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
     "November", "Dezember"), ",", "{A}, {d}. {B} {Y}, {H}:{M}", "Teilnehmer/in")
SPANISH = Language(
    "es", "Identificador", "Nombre completo", "Número de ID", "Estado", "Grupo", "Calificación",
    "Calificación máxima", "La calificación puede ser cambiada", "Última modificación (entrega)",
    "Última modificación (calificación)", "Comentarios de retroalimentación", "Participante", "Sí", "No",
    ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
    ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
     "noviembre", "diciembre"), ",", "{A}, {d} de {B} de {Y}, {H}:{M}", "Participante")
ITALIAN = Language(
    "it", "Identificativo", "Nome", "Codice identificativo", "Stato", "Gruppo", "Valutazione",
    "Valutazione massima", "La valutazione può essere cambiata", "Ultima modifica (consegna)",
    "Ultima modifica (valutazione)", "Commenti", "Partecipante", "Sì", "No",
    ("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"),
    ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre",
     "ottobre", "novembre", "dicembre"), ",", "{A}, {d} {B} {Y}, {H}:{M}", "Partecipante")
BRAZILIAN_PORTUGUESE = Language(
    "pt_br", "Identificador", "Nome completo", "Número de identificação", "Status", "Grupo", "Nota",
    "Nota máxima", "Nota pode ser alterada", "Última modificação (envio)", "Última modificação (nota)",
    "Comentários de feedback", "Participante", "Sim", "Não",
    ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo"),
    ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
     "novembro", "dezembro"), ",", "{A}, {d} {b} {Y}, {H}:{M}", "Participante")
#: The worksheet languages this module reads and writes, by Moodle's language code.
LANGUAGES = {lang.code: lang for lang in (ENGLISH, FRENCH, GERMAN, SPANISH, ITALIAN, BRAZILIAN_PORTUGUESE)}

_TOP = re.compile(r"^(?P<prefix>.+?)_assignsubmission_(?P<plugin>[a-z0-9]+)(?:_(?P<flat>.*))?$", re.S)


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
        """Anonymous submissions: Moodle wrote "Participant" (in the downloader's language) instead
        of the name; a file name cannot hold "/", which Moodle drops ("Teilnehmer/in" → "Teilnehmerin")."""
        return _bare(self.label) in {_bare(lang.blind) for lang in LANGUAGES.values()}


def _bare(label: str) -> str:
    return label.replace("/", "").replace("\\", "").strip().casefold()


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


_DATE = re.compile(r"(?:(?P<day>[^\W\d_]+(?:-[^\W\d_]+)?),?\s+)?"  # "Friday,", "sexta-feira,"
                   r"(?P<d>\d{1,2})\.?\s+(?:de\s+)?(?P<month>[^\W\d_]+)\.?\s+(?:de\s+)?(?P<y>\d{4}),?"
                   r"\s+(?:à\s+)?(?P<H>\d{1,2})[:h](?P<M>\d{2})"
                   r"(?:\s*(?P<ampm>[AaPp][Mm]))?")
_ISO_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")


def parse_date(text: str, tz: dt.tzinfo, lang: Language | None = None) -> dt.datetime | None:
    """A worksheet date in time zone ``tz``; None for "-". Month names of ``lang`` (default: any
    language of :data:`LANGUAGES`).

    >>> parse_date("Friday, 14 March 2025, 2:05 PM", dt.timezone.utc).isoformat()
    '2025-03-14T14:05:00+00:00'
    >>> parse_date("vendredi 14 mars 2025, 14:05", dt.timezone.utc, FRENCH).isoformat()
    '2025-03-14T14:05:00+00:00'
    >>> parse_date("Freitag, 14. März 2025, 14:05", dt.timezone.utc).isoformat()
    '2025-03-14T14:05:00+00:00'
    >>> parse_date("viernes, 14 de marzo de 2025, 14:05", dt.timezone.utc).isoformat()
    '2025-03-14T14:05:00+00:00'

    Raises ``ValueError`` for a date written in a way this does not know.
    """
    text = " ".join(text.split())
    if text in ("", "-"):
        return None
    for fmt in _ISO_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    match = _DATE.fullmatch(text)
    langs = [lang] if lang is not None else list(LANGUAGES.values())
    if match:
        month = match.group("month").casefold()
        for candidate in langs:
            names = [m.casefold() for m in candidate.months]
            found = [i for i, name in enumerate(names) if name == month or name.startswith(month)]
            if len(found) != 1:
                continue
            hour, ampm = int(match.group("H")), (match.group("ampm") or "").upper()
            if ampm:
                if not 1 <= hour <= 12:
                    break
                hour = hour % 12 + (12 if ampm == "PM" else 0)
            try:
                return dt.datetime(int(match.group("y")), found[0] + 1, int(match.group("d")), hour,
                                   int(match.group("M")), tzinfo=tz)
            except ValueError:
                break
    names = " or ".join(lang.code for lang in langs)
    raise ValueError(f"date not understood: {text!r} (Moodle dates in {names} are read)")


def format_date(when: dt.datetime, lang: Language = ENGLISH) -> str:
    """A date as Moodle's worksheet writes it in ``lang`` (Moodle's ``userdate``).

    >>> format_date(dt.datetime(2025, 3, 7, 14, 5))
    'Friday, 7 March 2025, 2:05 PM'
    >>> format_date(dt.datetime(2025, 3, 7, 9, 5), FRENCH)
    'vendredi 7 mars 2025, 09:05'
    >>> format_date(dt.datetime(2025, 3, 7, 9, 5), GERMAN)
    'Freitag, 7. März 2025, 09:05'
    >>> format_date(dt.datetime(2025, 3, 7, 9, 5), SPANISH)
    'viernes, 7 de marzo de 2025, 09:05'
    >>> format_date(dt.datetime(2025, 3, 7, 9, 5), BRAZILIAN_PORTUGUESE)
    'sexta-feira, 7 mar 2025, 09:05'
    """
    return lang.date_format.format(
        A=lang.days[when.weekday()], d=when.day, B=lang.months[when.month - 1],
        b=lang.months[when.month - 1][:3], Y=when.year,
        H=f"{when.hour:02d}", I=when.hour % 12 or 12, M=f"{when.minute:02d}",
        p="AM" if when.hour < 12 else "PM")


def format_grade(value: float, lang: Language = ENGLISH) -> str:
    """A grade with Moodle's default two decimals and ``lang``'s decimal separator.

    >>> format_grade(7.5), format_grade(7.5, FRENCH)
    ('7.50', '7,50')
    """
    return f"{value:.2f}".replace(".", lang.decimal)


def read_grade(text: str) -> float | None:
    """A grade cell (decimal point or comma); None when empty.

    Moodle writes no thousands separator, but a spreadsheet that saved the worksheet may
    have added one: a (narrow) space, or the mark that is not the decimal one.

    >>> read_grade("7,50"), read_grade("1 000,00"), read_grade("1.000,50"), read_grade("1,000.50")
    (7.5, 1000.0, 1000.5, 1000.5)
    >>> read_grade("")
    """
    text = "".join(text.split()).replace("\u202f", "")
    if not text or text == "-":
        return None
    if "," in text and "." in text:  # the last mark is the decimal one
        decimal = "," if text.rindex(",") > text.rindex(".") else "."
        text = text.replace("." if decimal == "," else ",", "")
    return float(text.replace(",", "."))


@dataclass
class Worksheet:
    """A grading worksheet as downloaded: its columns and rows, in order, untouched, and its language."""

    path: Path
    columns: list[str]
    rows: list[dict[str, str]] = field(default_factory=list)
    bom: bool = False
    lang: Language = ENGLISH

    def participants(self) -> dict[str, dict[str, str]]:
        """Participant id → row."""
        key = self.lang.identifier
        return {participant_id(r[key]): r for r in self.rows if r.get(key)}

    def groups(self) -> dict[str, list[str]]:
        """Group name → participant ids, from the ``Group`` column (group submissions only)."""
        out: dict[str, list[str]] = {}
        if self.lang.group in self.columns:
            for pid, row in self.participants().items():
                if row.get(self.lang.group):
                    out.setdefault(group_key(row[self.lang.group]), []).append(pid)
        return out

    def id_numbers(self) -> dict[str, str]:
        """Participant id → the ``ID number`` column, when the site shows it."""
        key = self.lang.id_number
        if key not in self.columns:
            return {}
        return {pid: row[key].strip() for pid, row in self.participants().items()
                if row.get(key, "").strip()}

    def identity_columns(self) -> list[str]:
        """The columns that name the student (full name and the site's identity fields: e-mail,
        ID number, phone …): every column but the grading ones and the feedback."""
        keep = {*self.lang.grading_columns, self.lang.feedback}
        return [c for c in self.columns if c not in keep]


def _language(columns: list[str]) -> Language | None:
    """The language whose importer columns (identifier, grade, last modified) are all there."""
    for lang in LANGUAGES.values():
        if all(c in columns for c in (lang.identifier, lang.grade, lang.graded)):
            return lang
    return None


def read_worksheet(path: Path | str) -> Worksheet:
    """Read a grading worksheet (in a language of :data:`LANGUAGES`); a one-line error when it is not one."""
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
    lang = _language(columns)
    if lang is None:
        wanted = " / ".join(f"{known.identifier}, {known.grade}, {known.graded}"
                            for known in LANGUAGES.values())
        raise DataethicsError(f"{path}: not a Moodle grading worksheet in a language read here "
                              f"(no columns {wanted})")
    rows = [{c: (row.get(c) or "") for c in columns} for row in reader]
    return Worksheet(path, columns, rows, bom, lang)


def write_worksheet(sheet: Worksheet, out: Path) -> Path:
    """Write ``sheet`` with its own columns, in its own order (and byte-order mark, if it had one)."""
    with out.open("w", newline="", encoding="utf-8-sig" if sheet.bom else "utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=sheet.columns)
        writer.writeheader()
        writer.writerows(sheet.rows)
    return out
