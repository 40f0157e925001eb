"""Every assignment: the source passes its tests, the student version fails them."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

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


def test_unknown_assignment_is_a_clear_error(tmp_path: Path) -> None:
    from dataethics.errors import UnknownAssignmentError

    with pytest.raises(UnknownAssignmentError, match="unknown assignment 'ps99'"):
        course_cfg.generate_release("ps99", tmp_path)
