"""Student feedback that never shows hidden tests, nor anything produced while they ran.

nbgrader's ``ClearHiddenTests`` removes the hidden-test region from a cell's
*source*, but the cell's *outputs* were produced by running that region: a
traceback quotes the failing line, and a student's code can read the running
cell (history, frames) and print it, encoded, then or in a later cell.
:class:`ScrubHiddenTestOutputs` runs before ``ClearHiddenTests``: a test cell
shows pass or fail and only text its visible source states; every cell that ran
after hidden-test code entered the kernel shows no output at all.

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


AFTER_HIDDEN = ("[Outputs of this cell are not shown in the feedback: it ran after hidden tests. "
                "Run your notebook to see them.]")
TEST_FAILED = "This test cell failed."
HIDDEN_NOTE = "This cell also has hidden tests: they run your code on inputs you have not seen."
_SAFE_ENAMES = {"AssertionError", "ValueError", "TypeError", "NameError", "KeyError", "IndexError",
                "AttributeError", "ZeroDivisionError", "NotImplementedError", "GradingError"}


VISIBLE_FAILED = "A visible test of this cell failed: run the cell in your notebook to see why."


def _literals(source: str) -> list[str]:
    """The string literals of some Python code (implicitly concatenated ones joined)."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _visible_message(out: NotebookNode, literals: list[str]) -> str:
    """The part of a failure's message that a string literal of the visible tests states."""
    evalue = ANSI.sub("", str(out.get("evalue", "")))
    if out.get("ename") == "GradingError" and evalue.startswith(("no credit", "not run", "the kernel")):
        return evalue.split(" (")[0]
    hint = evalue.split("Hint: ", 1)[1].strip() if "Hint: " in evalue else ""
    if hint and any(hint == lit.strip() for lit in literals):
        return f"Hint: {hint}"
    if evalue and any(evalue == lit.strip() for lit in literals):
        return evalue
    return ""


def _failed_in_hidden(out: NotebookNode, numbers: set[int]) -> bool:
    """True when the first line of the cell in the error's traceback is in the hidden region."""
    frames = [CELL_FRAME.search(ANSI.sub("", str(entry))) for entry in out.get("traceback", [])]
    first = next((int(m.group(1)) for m in frames if m), None)
    return first is None or first in numbers


def feedback_outputs(cell: NotebookNode, after_hidden: bool) -> list[NotebookNode]:
    """What the student may see of one cell's outputs (see :class:`ScrubHiddenTestOutputs`)."""
    from nbformat.v4 import new_output

    numbers, _ = hidden_region(cell.get("source", ""))
    outputs = cell.get("outputs", [])
    if not numbers and not after_hidden:
        return outputs
    errors = [o for o in outputs if o.get("output_type") == "error"]
    is_test = bool(cell.metadata.get("nbgrader", {}).get("grade"))
    if not is_test:
        return [new_output("stream", name="stdout", text=AFTER_HIDDEN + "\n")] if outputs else []
    if not errors:
        return []
    visible = "\n".join(ln for i, ln in enumerate(cell.source.split("\n"), start=1) if i not in numbers)
    literals = _literals(visible)
    ename = next((o.get("ename") for o in errors if o.get("ename") in _SAFE_ENAMES), "Error")
    message = next((m for m in (_visible_message(o, literals) for o in errors) if m), "")
    if numbers and _failed_in_hidden(errors[0], numbers):
        lines = [TEST_FAILED, HIDDEN_FAILED.format(ename=ename), message]
    elif message:
        lines = [TEST_FAILED, f"{ename}: {message}", HIDDEN_NOTE if numbers else ""]
    else:
        lines = [TEST_FAILED, f"{ename}: {VISIBLE_FAILED}"]
    text = "\n".join(ln for ln in lines if ln)
    return [new_output("error", ename=ename, evalue=message, traceback=[text])]


class ScrubHiddenTestOutputs(Preprocessor):
    """nbconvert preprocessor: nothing produced while hidden tests were in the kernel reaches feedback.

    Runs before ``ClearHiddenTests``. For a test cell the student sees the points (nbgrader's
    template), pass or fail, and for a failure a fixed sentence plus only the part of the
    message that the cell's *visible* source states word for word (a check's hint). Cells
    that ran after the first cell with hidden tests show no outputs at all: code that read a
    hidden test while it ran could print it later, in any encoding. Cells before it are
    shown as they are (capped by the autograder).
    """

    # nbconvert registers preprocessors disabled unless they say otherwise (as nbgrader's do)
    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        """Scrub every cell, in order."""
        after_hidden = False
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            has_hidden = bool(hidden_region(cell.get("source", ""))[0])
            cell.outputs = feedback_outputs(cell, after_hidden)
            after_hidden = after_hidden or has_hidden
        return nb, resources


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


def _own_code(path: Path) -> str:
    """The answers of the student a feedback page belongs to (``feedback/<student>/<a>/<nb>.html``)."""
    path = Path(path)
    if len(path.parts) < 4 or path.parts[-4] != "feedback":
        return ""
    submitted = path.parents[3] / "submitted" / path.parts[-3] / path.parts[-2] / (path.stem + ".ipynb")
    try:
        return readable_text(submitted)
    except Exception:  # no readable submission: nothing of theirs to set aside
        return ""


def find_leaks(paths: list[Path], hidden: set[str]) -> dict[Path, list[str]]:
    """Files among ``paths`` that quote hidden-test lines, with the lines they quote.

    A feedback page shows the student's own code: a line they wrote themselves that happens
    to equal a hidden-test line is not a leak.
    """
    found = {}
    for path in paths:
        text = readable_text(path)
        own = _own_code(path)
        quoted = sorted(ln for ln in hidden if ln in text and ln not in own)
        if quoted:
            found[Path(path)] = quoted
    return found
