"""Every assignment: the source passes its tests, the student version fails them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from dataethics import paths
from dataethics.grading import course as course_cfg
from dataethics.grading.feedback import find_leaks, hidden_test_lines

IDS = course_cfg.assignment_ids()
LEAKS = ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def test_at_least_the_warm_up_exists() -> None:
    assert "ps00" in IDS


@pytest.mark.parametrize("assignment", IDS)
def test_source_passes_and_release_fails(assignment: str, course_copy: Path) -> None:
    source_nbs = sorted((course_copy / "source" / assignment).glob("*.ipynb"))
    assert source_nbs
    for nb_path in source_nbs:
        result = course_cfg.validate(nb_path)
        assert result == {}, f"source does not pass its own tests: {str(result)[:2000]}"

    release = course_cfg.generate_release(assignment, course_copy, source_root=course_copy)
    released = sorted(release.glob("*.ipynb"))
    assert [p.name for p in released] == [p.name for p in source_nbs]
    for nb_path in released:
        text = nb_path.read_text(encoding="utf-8")
        for marker in LEAKS:
            assert marker not in text, f"{marker} leaked into the release"
        hidden = hidden_test_lines(course_copy / "source" / assignment / nb_path.name)
        assert hidden and find_leaks([nb_path], hidden) == {}
        nb = nbformat.reads(text, as_version=4)
        # the released data folder travels with the notebook
        for match in re.findall(r"data/([\w.-]+\.csv)", text):
            assert (release / "data" / match).is_file(), f"data/{match} not released"
        assert any("NotImplementedError" in c.source for c in nb.cells)
        result = course_cfg.validate(nb_path, invert=True)
        assert result == {}, f"student version passes some tests: {str(result)[:2000]}"


def function_bindings(source: str) -> dict[str, str]:
    """Names a cell binds at top level to a function, class or module, with how it binds them."""
    found: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = ast.unparse(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                found[name] = f"{getattr(node, 'module', None)}:{alias.name}"
        elif isinstance(node, ast.Assign) and isinstance(node.value, (ast.Attribute, ast.Name, ast.Lambda)):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = ast.unparse(node.value)
    return found


@pytest.mark.parametrize("assignment", IDS)
def test_test_cells_never_rebind_a_function_an_earlier_test_cell_bound(assignment: str) -> None:
    """The grader protects the functions, classes and modules locked cells bind: a later test cell
    that binds the same name to something else (``builder`` = two generators) is flagged."""
    for path in sorted((paths.assignments_dir() / "source" / assignment).glob("*.ipynb")):
        owner: dict[str, tuple[str, str]] = {}
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            locked = meta.get("locked") or meta.get("grade")
            if cell.cell_type != "code" or meta.get("solution") or not locked:
                continue
            for name, how in function_bindings(cell.source).items():
                first = owner.setdefault(name, (meta.get("grade_id", "?"), how))
                assert first[1] == how, (f"{path.name}: {meta.get('grade_id')} rebinds {name!r}, bound "
                                         f"by {first[0]}: give it a name of its own")


def test_unknown_assignment_is_a_clear_error(tmp_path: Path) -> None:
    from dataethics.errors import UnknownAssignmentError

    with pytest.raises(UnknownAssignmentError, match="unknown assignment 'ps99'"):
        course_cfg.generate_release("ps99", tmp_path)
