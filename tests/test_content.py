"""The course's content agrees with itself: objectives, answer keys, datasheets and links.

Every lesson, assignment, instructor notes file and datasheet present is discovered, so a new
module is covered as soon as its files exist. The formats read here are the shared ones:

1. each lesson's learning objectives map to graded items of its assignment (the notes' table
   ``## Objectives → graded items``);
2. every key figure of an answer key is recomputed from the executed source notebook
   (``## Key figures (recomputed by the tests)``);
3. every figure of a datasheet is recomputed from the data
   (``## Figures checked against the data``);
4. lessons and assignments link only to files that travel with them.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient

from dataethics import data, paths

ROOT = paths.repo_root()
COURSE = ROOT / "course"
SOURCE = ROOT / "assignments" / "source"
NOTES = ROOT / "assignments" / "instructor"
SHEETS = ROOT / "datasets" / "datasheets"

LESSONS = sorted(COURSE.glob("[0-9][0-9]-*.ipynb"))
ASSIGNMENTS = sorted(p.name for p in SOURCE.iterdir() if p.is_dir() and re.match(r"ps\d\d", p.name))
DATASHEETS = sorted(SHEETS.glob("*.md"))

OBJECTIVES_HEADING = "## Objectives → graded items"
FIGURES_HEADING = "## Key figures (recomputed by the tests)"
SHEET_HEADING = "## Figures checked against the data"
MARKER = "@@key-figure@@"


# ---------------------------------------------------------------- parsing helpers

def section(text: str, heading: str) -> str | None:
    """The body of the section that starts with the line ``heading`` (up to the next ``## ``)."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == heading)
    except StopIteration:
        return None
    body = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        body.append(line)
    return "\n".join(body)


def table_rows(body: str, columns: list[str]) -> list[list[str]]:
    """Rows of the first markdown table in ``body`` whose header is ``columns``."""
    rows: list[list[str]] = []
    header_seen = False
    for line in body.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            if header_seen and rows:
                break
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if not header_seen:
            if [c.lower() for c in cells] == columns:
                header_seen = True
            continue
        if all(set(c) <= set("-: ") for c in cells):
            continue
        rows.append(cells)
    return rows


def unquote(cell: str) -> str:
    """A table cell without the backticks around it."""
    cell = cell.strip()
    return cell[1:-1] if len(cell) >= 2 and cell[0] == cell[-1] == "`" else cell


def lesson_number(path: Path) -> str:
    return path.name[:2]


def assignment_for(number: str) -> str | None:
    """The assignment of lesson ``number``: the folder named ``ps<number>`` or ``ps<number>-…``."""
    found = [a for a in ASSIGNMENTS if a == f"ps{number}" or a.startswith(f"ps{number}-")]
    return found[0] if len(found) == 1 else None


def objectives(lesson: Path) -> list[str]:
    """The numbered items of the lesson's "Learning objectives" box, in order."""
    nb = nbformat.read(lesson, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and re.search(r"^#+\s*Learning objectives", cell.source,
                                                      re.MULTILINE):
            numbered = re.findall(r"^\s*\d+\.\s+(.+)$", cell.source, re.MULTILINE)
            labelled = re.findall(r"^\s*[-*]\s+(?:\*\*)?O\d+\b(?:\*\*)?\s*(.+)$", cell.source,
                                  re.MULTILINE)
            return numbered or labelled
    return []


def graded_ids(assignment: str) -> set[str]:
    """Grade ids of the graded cells (points > 0) of an assignment's source notebooks."""
    ids = set()
    for path in sorted((SOURCE / assignment).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and float(meta.get("points", 0)) > 0:
                ids.add(meta["grade_id"])
    return ids


def figure_rows(path: Path, heading: str) -> list[tuple[str, str, str]]:
    body = section(path.read_text(encoding="utf-8"), heading)
    if body is None:
        return []
    return [(r[0], unquote(r[1]), unquote(r[2])) for r in table_rows(body, ["figure", "expression", "value"])
            if len(r) == 3]


def same_figure(got: Any, written: str) -> tuple[bool, str]:
    """Compare a computed figure with its written value, at the precision written."""
    text = written.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return False, f"computed {got!r} (not a number), written {text}"
        if isinstance(got, float) and math.isnan(got):
            return False, f"computed NaN, written {text}"
        decimals = len(text.split(".")[1]) if "." in text else 0
        ok = abs(float(got) - float(text)) <= 0.5 * 10 ** -decimals + 1e-9
        return ok, f"computed {got!r}, written {text} (compared to {decimals} decimal(s))"
    return str(got).strip() == text, f"computed {str(got)!r}, written {text!r}"


def to_plain(value: Any) -> Any:
    """A JSON-friendly version of a computed figure."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


# ---------------------------------------------------------------- 0. discovery

def test_content_is_discovered() -> None:
    assert len(LESSONS) >= 5 and "ps00" in ASSIGNMENTS and len(DATASHEETS) >= 5


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_every_lesson_has_its_assignment_and_notes(lesson: Path) -> None:
    assignment = assignment_for(lesson_number(lesson))
    assert assignment, f"{lesson.name}: no assignment folder assignments/source/ps{lesson_number(lesson)}"
    assert (NOTES / f"{assignment}.md").is_file(), f"{assignment}: no instructor notes"


# ---------------------------------------------------------------- 1. objectives → graded items

@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_every_objective_maps_to_a_graded_item(lesson: Path) -> None:
    goals = objectives(lesson)
    assert goals, f"{lesson.name}: no numbered list in a 'Learning objectives' box"
    assignment = assignment_for(lesson_number(lesson))
    assert assignment, f"{lesson.name}: no assignment"
    check_objective_map(goals, assignment)


#: Assignments no lesson maps to (a capstone): their notebook states its own objectives.
WITHOUT_LESSON = [a for a in ASSIGNMENTS
                  if a not in {assignment_for(lesson_number(lesson)) for lesson in LESSONS}]


@pytest.mark.parametrize("assignment", WITHOUT_LESSON)
def test_every_objective_of_a_capstone_maps_to_a_graded_item(assignment: str) -> None:
    notebook = sorted((SOURCE / assignment).glob("*.ipynb"))[0]
    goals = objectives(notebook)
    assert goals, f"{notebook.name}: no lesson, and no 'Learning objectives' box of its own"
    check_objective_map(goals, assignment)


def check_objective_map(goals: list[str], assignment: str) -> None:
    """The notes of ``assignment`` map each of ``goals`` (O1, O2, …) to graded cells."""
    notes = NOTES / f"{assignment}.md"
    body = section(notes.read_text(encoding="utf-8"), OBJECTIVES_HEADING)
    assert body is not None, f"{notes.name}: no section '{OBJECTIVES_HEADING}'"
    rows = table_rows(body, ["objective", "graded items"])
    mapped = {}
    for row in rows:
        match = re.match(r"O(\d+)\b", row[0])
        assert match, f"{notes.name}: objective cell {row[0]!r} does not start with O1, O2, …"
        mapped[int(match.group(1))] = re.findall(r"`([^`]+)`", row[1])
    assert sorted(mapped) == list(range(1, len(goals) + 1)), (
        f"{notes.name}: the table lists objectives {sorted(mapped)}, the objectives are {len(goals)}")
    graded = graded_ids(assignment)
    for number, items in sorted(mapped.items()):
        assert items, f"{notes.name}: objective O{number} has no graded item"
        unknown = [i for i in items if i not in graded]
        assert not unknown, (f"{notes.name}: O{number} lists {unknown}, which are not graded cells "
                             f"of {assignment} (graded: {sorted(graded)})")


# ---------------------------------------------------------------- 2. key figures of answer keys

KEY_FIGURES = [(a, row) for a in ASSIGNMENTS if (NOTES / f"{a}.md").is_file()
               for row in figure_rows(NOTES / f"{a}.md", FIGURES_HEADING)]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_answer_key_has_key_figures(assignment: str) -> None:
    notes = NOTES / f"{assignment}.md"
    assert notes.is_file(), f"{assignment}: no instructor notes"
    assert section(notes.read_text(encoding="utf-8"), FIGURES_HEADING) is not None, \
        f"{notes.name}: no section '{FIGURES_HEADING}'"
    assert figure_rows(notes, FIGURES_HEADING), f"{notes.name}: the key-figures table is empty"


def evaluate_in_notebook(notebook: Path, expressions: list[str]) -> list[dict[str, Any]]:
    """Execute ``notebook`` in its folder, then evaluate each expression in its namespace."""
    nb = nbformat.read(notebook, as_version=4)
    for i, expression in enumerate(expressions):
        nb.cells.append(nbformat.v4.new_code_cell(
            "import json as _json\n"
            "try:\n"
            f"    _value = ({expression})\n"
            "    _value = _value.item() if hasattr(_value, 'item') and not isinstance(_value, str)"
            " and getattr(_value, 'ndim', 1) == 0 else _value\n"
            "    _value = _value if isinstance(_value, (bool, int, float, str)) else str(_value)\n"
            f"    print({MARKER!r} + _json.dumps({{'i': {i}, 'value': _value}}))\n"
            "except Exception as _error:\n"
            f"    print({MARKER!r} + _json.dumps({{'i': {i}, 'error': repr(_error)}}))\n"))
    client = NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(notebook.parent)}})
    client.execute()
    results: dict[int, dict[str, Any]] = {}
    for cell in nb.cells[-len(expressions):] if expressions else []:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if line.startswith(MARKER):
                    found = json.loads(line[len(MARKER):])
                    results[found["i"]] = found
    return [results.get(i, {"error": "no output"}) for i in range(len(expressions))]


@pytest.fixture(scope="module")
def computed_key_figures() -> dict[str, list[dict[str, Any]]]:
    """Each assignment's source notebook executed once, with its key figures evaluated."""
    cache: dict[str, list[dict[str, Any]]] = {}

    def get(assignment: str) -> list[dict[str, Any]]:
        if assignment not in cache:
            notebooks = sorted((SOURCE / assignment).glob("*.ipynb"))
            expressions = [row[1] for a, row in KEY_FIGURES if a == assignment]
            cache[assignment] = evaluate_in_notebook(notebooks[0], expressions)
        return cache[assignment]

    return get  # type: ignore[return-value]


@pytest.mark.slow
@pytest.mark.parametrize("case", KEY_FIGURES, ids=[f"{a}-{row[0]}" for a, row in KEY_FIGURES])
def test_key_figure_comes_from_the_solution(case: tuple[str, tuple[str, str, str]],
                                            computed_key_figures: Any) -> None:
    assignment, (figure, expression, written) = case
    position = [row for a, row in KEY_FIGURES if a == assignment].index((figure, expression, written))
    result = computed_key_figures(assignment)[position]
    assert "error" not in result, f"{assignment} '{figure}': `{expression}` failed: {result.get('error')}"
    ok, message = same_figure(result["value"], written)
    assert ok, f"{assignment} notes, '{figure}': {message}"


# ---------------------------------------------------------------- 3. datasheet figures

SHEET_FIGURES = [(p.stem, row) for p in DATASHEETS for row in figure_rows(p, SHEET_HEADING)]


@pytest.mark.parametrize("sheet", DATASHEETS, ids=[p.stem for p in DATASHEETS])
def test_every_datasheet_checks_its_figures(sheet: Path) -> None:
    assert sheet.stem in data.list_datasets(), f"{sheet.name}: no registered dataset '{sheet.stem}'"
    rows = figure_rows(sheet, SHEET_HEADING)
    assert rows, f"{sheet.name}: no table under '{SHEET_HEADING}'"
    assert any(expr.replace(" ", "") in ("len(df)", "df.shape[0]") for _, expr, _ in rows), \
        f"{sheet.name}: the figures do not include the row count (`len(df)`)"


@pytest.fixture(scope="module")
def frames() -> dict[str, dict[str, Any]]:
    cache: dict[str, dict[str, Any]] = {}

    def scope(name: str) -> dict[str, Any]:
        if name not in cache:
            labels = data.load_labels(name) if data.get(name).labels else None
            cache[name] = {"df": data.load(name), "labels": labels, "load": data.load,
                           "pd": pd, "np": np}
        return cache[name]

    return scope  # type: ignore[return-value]


@pytest.mark.parametrize("case", SHEET_FIGURES, ids=[f"{n}-{row[0]}" for n, row in SHEET_FIGURES])
def test_datasheet_figure_equals_the_data(case: tuple[str, tuple[str, str, str]], frames: Any) -> None:
    name, (figure, expression, written) = case
    namespace = dict(frames(name))
    value = to_plain(eval(expression, namespace))  # the expressions are the authors' own
    ok, message = same_figure(value, written)
    assert ok, f"datasheet {name}, '{figure}': {message}"


# ---------------------------------------------------------------- 4. links travel with the file

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|(?:href|src)=\"([^\"]+)\"")
NOTEBOOKS = LESSONS + sorted(SOURCE.glob("*/*.ipynb"))


def relative_links(notebook: Path) -> list[str]:
    links = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "markdown":
            continue
        for match in LINK.finditer(cell.source):
            target = match.group(1) or match.group(2)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
                continue
            links.append(target.split("#")[0])
    return links


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_links_resolve_to_files_that_travel_with_the_notebook(notebook: Path) -> None:
    home = COURSE if notebook.parent == COURSE else notebook.parent
    for target in relative_links(notebook):
        resolved = (notebook.parent / target).resolve()
        assert resolved.is_relative_to(home.resolve()), \
            f"{notebook.name}: link {target!r} leaves {home.relative_to(ROOT)}/, so it is dead once shipped"
        assert resolved.is_file(), f"{notebook.name}: link {target!r} points to no file"


SHIPPED_SHEETS = sorted(SOURCE.glob("*/data/*.md"))


@pytest.mark.parametrize("copy", SHIPPED_SHEETS,
                         ids=[f"{p.parent.parent.name}-{p.stem}" for p in SHIPPED_SHEETS])
def test_shipped_datasheets_are_the_datasheet(copy: Path) -> None:
    original = SHEETS / copy.name
    assert original.is_file(), f"{copy.relative_to(ROOT)}: no datasheet {copy.name} to copy"
    assert copy.read_bytes() == original.read_bytes(), \
        f"{copy.relative_to(ROOT)} differs from datasets/datasheets/{copy.name}: copy it again"
