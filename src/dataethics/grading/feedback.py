"""Student feedback that never shows hidden tests, not even inside tracebacks.

nbgrader's ``ClearHiddenTests`` removes the hidden-test region from a cell's
*source*, but the cell's *outputs* were produced by running that region: when a
hidden assert fails, IPython's traceback quotes the failing line and a few lines
around it. :class:`ScrubHiddenTestOutputs` runs before ``ClearHiddenTests`` and

* replaces the error of a hidden test that failed by its exception name and a
  neutral message (no code, and no assertion message, which may hold expected
  values);
* removes from every other output any line that quotes hidden-test code.

:func:`generate_feedback` runs nbgrader's own ``generate_feedback`` with these
preprocessors, for one student or the whole class.
"""

from __future__ import annotations

import re
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import Bool

from dataethics.errors import DataethicsError

BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CELL_FRAME = re.compile(r"Cell In\s*\[\d*\],\s*line (\d+)")
# an IPython traceback line: optional arrow, the line number, then the code
CODE_LINE = re.compile(r"^\s*(?:-*>)?\s*\d+\s(.*)$")
HIDDEN_FAILED = ("{ename}: a hidden test failed.\n"
                 "Hidden tests run your code on inputs you have not seen:\n"
                 "check the question's edge cases and try your answer on new data.")


def hidden_region(source: str) -> tuple[set[int], list[str]]:
    """Return the 1-based line numbers of the hidden region of ``source`` and its code lines.

    >>> hidden_region("a = 1\\n### BEGIN HIDDEN TESTS\\nassert a == 1\\n### END HIDDEN TESTS")
    ({2, 3, 4}, ['assert a == 1'])
    """
    numbers: set[int] = set()
    code: list[str] = []
    inside = False
    for number, line in enumerate(source.split("\n"), start=1):
        if BEGIN in line:
            inside = True
        if inside:
            numbers.add(number)
            if BEGIN not in line and END not in line and line.strip():
                code.append(line.strip())
        if END in line:
            inside = False
    return numbers, code


def _quotes_hidden(line: str, hidden: list[str]) -> bool:
    """True when a traceback or output line quotes a hidden-test line."""
    text = ANSI.sub("", line)
    if BEGIN in text or END in text:
        return True
    match = CODE_LINE.match(text)
    code = (match.group(1) if match else text).strip()
    if not code:
        return False
    return any(code == h or (len(h) >= 12 and h in text) for h in hidden)


def _scrub_text(text: str, hidden: list[str]) -> str:
    return "\n".join(ln for ln in text.split("\n") if not _quotes_hidden(ln, hidden))


def scrub_outputs(cell: NotebookNode) -> bool:
    """Scrub hidden-test code out of one cell's outputs, in place; True if the cell has hidden tests."""
    numbers, hidden = hidden_region(cell.get("source", ""))
    if not numbers:
        return False
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "error":
            frames = [CELL_FRAME.search(ANSI.sub("", entry)) for entry in out.get("traceback", [])]
            first = next((int(m.group(1)) for m in frames if m), None)
            if first is None or first in numbers:
                out["traceback"] = [HIDDEN_FAILED.format(ename=out.get("ename", "Error"))]
                out["evalue"] = ""
            else:
                out["traceback"] = [_scrub_text(t, hidden) for t in out.get("traceback", [])]
                out["evalue"] = _scrub_text(out.get("evalue", ""), hidden)
        elif kind == "stream":
            out["text"] = _scrub_text(out.get("text", ""), hidden)
        elif kind in ("display_data", "execute_result"):
            data = out.get("data", {})
            for mime in list(data):
                if mime.startswith("text/") and isinstance(data[mime], str):
                    data[mime] = _scrub_text(data[mime], hidden)
    return True


class ScrubHiddenTestOutputs(Preprocessor):
    """nbconvert preprocessor: remove hidden-test code from outputs (run before ``ClearHiddenTests``)."""

    # nbconvert registers preprocessors disabled unless they say otherwise (as nbgrader's do)
    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int
                        ) -> tuple[NotebookNode, dict]:
        """Scrub one cell."""
        if cell.cell_type == "code":
            scrub_outputs(cell)
        return cell, resources


def generate_feedback(assignment: str, course_root: Path, student: str | None = None,
                      db_url: str | None = None, progress: bool = False) -> list[Path]:
    """Write feedback HTML for one student or every autograded student; return the files.

    Students are done one by one (with a progress bar if asked), so that one
    broken notebook does not stop the others; the failures are then reported in
    one :class:`DataethicsError` line.
    """
    from nbgrader.apps import NbGraderAPI
    from tqdm.auto import tqdm

    from dataethics.grading.course import course_config, nbgrader_reason

    course_root = Path(course_root).resolve()
    graded = course_root / "autograded"
    students = [student] if student else sorted(p.parent.name for p in graded.glob(f"*/{assignment}"))
    if not students or not (graded / students[0] / assignment).is_dir():
        raise DataethicsError(f"nothing autograded for '{assignment}' in {graded}: run autograde first")
    api = NbGraderAPI(config=course_config(course_root, db_url=db_url))
    failed = {}
    for who in tqdm(students, desc=f"feedback {assignment}", unit="student", disable=not progress):
        result = api.generate_feedback(assignment, who)
        if not result.get("success"):
            failed[who] = nbgrader_reason(result)
    if failed:
        names = ", ".join(sorted(failed))
        raise DataethicsError(f"no feedback for {names}: {next(iter(failed.values()))[:160]}")
    who = student or "*"
    return sorted((course_root / "feedback").glob(f"{who}/{assignment}/*.html"))


def _notebook_text(nb: NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        parts.append(cell.source)
        for out in cell.get("outputs", []):
            parts += [out.get("text", ""), out.get("evalue", ""), *out.get("traceback", [])]
            parts += [v for k, v in out.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def readable_text(path: Path) -> str:
    """What a person can read in a notebook, HTML page or text file (markup and escapes removed)."""
    import html

    import nbformat

    path = Path(path)
    if path.suffix == ".ipynb":
        return ANSI.sub("", _notebook_text(nbformat.read(path, as_version=4)))
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix in (".html", ".htm"):
        text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return text


def hidden_test_lines(source: Path, min_length: int = 8) -> set[str]:
    """Code lines of the hidden tests of ``source`` that its visible part does not contain anyway."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    hidden: set[str] = set()
    shown: list[str] = []
    for cell in nb.cells:
        numbers, code = hidden_region(cell.source)
        hidden |= {ln for ln in code if len(ln) >= min_length}
        shown += [ln for i, ln in enumerate(cell.source.split("\n"), start=1) if i not in numbers]
    visible = "\n".join(shown)
    return {ln for ln in hidden if ln not in visible}


def find_leaks(paths: list[Path], hidden: set[str]) -> dict[Path, list[str]]:
    """Files among ``paths`` that quote hidden-test lines, with the lines they quote."""
    found = {}
    for path in paths:
        text = readable_text(path)
        quoted = sorted(ln for ln in hidden if ln in text)
        if quoted:
            found[Path(path)] = quoted
    return found
