"""Notebook hygiene: lessons keep clean, ordered outputs; assignments keep none."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from dataethics import notebooks, paths

ROOT = paths.repo_root()
LESSONS = notebooks.lessons()
SOURCES = notebooks.source_notebooks()
SECRET_PATTERNS = [r"/root/", r"/home/\w+", r"/Users/\w+", r"C:\\\\Users", r"/tmp/"]


def _ids(items: list[Path]) -> list[str]:
    return [p.relative_to(ROOT).as_posix() for p in items]


def test_there_is_a_lesson_per_module() -> None:
    assert [p.name[:2] for p in LESSONS][:1] == ["00"]


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_lesson_executed_in_order_without_errors(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), \
        "re-run the lesson top to bottom (make outputs)"
    for cell in code:
        for out in cell.outputs:
            assert out.output_type != "error", cell.source[:80]
            assert not (out.output_type == "stream" and out.name == "stderr"), \
                f"stderr output in: {cell.source[:80]}"
            if "data" in out:
                assert "image/svg+xml" not in out.data, "use PNG figures (nbval compares SVG)"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_lesson_outputs_hold_no_local_paths(path: Path) -> None:
    text = json.dumps([c.get("outputs", []) for c in nbformat.read(path, as_version=4).cells])
    for pattern in SECRET_PATTERNS:
        assert not re.search(pattern, text), f"output contains a local path ({pattern})"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_lesson_has_the_course_anatomy(path: Path) -> None:
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells
                     if c.cell_type == "markdown")
    for heading in ("Learning objectives", "Key points", "Further reading", "En bref"):
        assert heading in text, f"section '{heading}' missing"
    assert "import sys" not in "".join(c.source for c in nbformat.read(path, 4).cells)


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_lesson_figures_end_with_show_and_have_alt_text(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        has_png = any("image/png" in out.get("data", {}) for out in cell.outputs)
        if has_png:
            assert cell.source.rstrip().endswith("plt.show()"), cell.source[:80]
            assert "alt" in cell.metadata.get("mystnb", {}).get("image", {}) or \
                cell.metadata.get("mystnb", {}).get("figure", {}).get("caption"), \
                f"figure without alt text (cell metadata mystnb.image.alt): {cell.source[:60]}"


@pytest.mark.parametrize("path", SOURCES, ids=_ids(SOURCES))
def test_assignment_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:80]


@pytest.mark.parametrize("path", SOURCES, ids=_ids(SOURCES))
def test_assignment_nbgrader_metadata_is_valid(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    ids, graded, written = [], 0, 0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if not meta:
            continue
        assert meta.get("schema_version") == 3
        ids.append(meta["grade_id"])
        if meta.get("grade"):
            assert meta.get("points", 0) > 0, meta["grade_id"]
            graded += 1
            if cell.cell_type == "markdown":
                written += 1
        if meta.get("solution") and cell.cell_type == "code":
            assert "### BEGIN SOLUTION" in cell.source, meta["grade_id"]
        if meta.get("grade") and cell.cell_type == "code":
            assert meta.get("locked"), f"{meta['grade_id']}: test cells must be locked"
    assert len(ids) == len(set(ids)), "grade_id values must be unique"
    assert graded >= 4 and written >= 1
    assert "### BEGIN HIDDEN TESTS" in "".join(c.source for c in nb.cells)


@pytest.mark.parametrize("path", SOURCES, ids=_ids(SOURCES))
def test_assignment_has_instructor_notes_outside_source(path: Path) -> None:
    notes = ROOT / "assignments" / "instructor" / f"{path.parent.name}.md"
    assert notes.is_file(), "instructor notes missing"
    text = notes.read_text(encoding="utf-8")
    for heading in ("Answer key", "Rubric", "Objectives", "Timing", "Pitfalls"):
        assert heading in text, f"{notes.name}: '{heading}' missing"
    assert not list(path.parent.glob("*.md")), "no notes inside the source folder (it is released)"


@pytest.mark.parametrize("path", SOURCES, ids=_ids(SOURCES))
def test_assignment_cells_do_not_catch_keyboard_interrupt(path: Path) -> None:
    for cell in nbformat.read(path, as_version=4).cells:
        assert "KeyboardInterrupt" not in cell.source
        assert not re.search(r"except\s*:", cell.source), "bare except swallows interrupts"


def test_ruff_is_clean_on_code_and_notebooks() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    out = subprocess.run([str(ruff), "check", str(ROOT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]
