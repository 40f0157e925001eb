"""Sample submissions of every assignment grade as expected: by the course's grader, and by plain nbgrader."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI

from dataethics.grading import course as course_cfg
from dataethics.grading import samples
from dataethics.grading.autograde import autograde, scores

IDS = course_cfg.assignment_ids()
CASES = [(a, s) for a in IDS for s in samples.samples_for(a)]


def _submit_samples(course: Path, assignment: str, names: set[str] | None = None,
                    with_data: bool = False) -> None:
    """Write the samples of ``assignment`` as submissions of students named after them."""
    release = course_cfg.generate_release(assignment, course)
    source_nb = next((course / "source" / assignment).glob("*.ipynb"))
    for sample in samples.samples_for(assignment):
        if names is not None and sample.name not in names:
            continue
        target = course / "submitted" / sample.name / assignment / source_nb.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(samples.build_submission(sample, source_nb, release / source_nb.name), target)
        if with_data and (release / "data").is_dir():  # plain nbgrader runs in the submission's folder
            shutil.copytree(release / "data", target.parent / "data", dirs_exist_ok=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, float]]:
    """Autograde every sample of every assignment with the course's grader: (assignment, sample) → scores."""
    course = tmp_path_factory.mktemp("course")
    found: dict[tuple[str, str], dict[str, float]] = {}
    for assignment in IDS:
        _submit_samples(course, assignment)
        outcomes = autograde(assignment, course, workers=2, progress=False)
        assert all(o.status == "ok" for o in outcomes), [(o.student, o.status, o.flags) for o in outcomes]
        for student, got in scores(assignment, course).items():
            found[(assignment, student)] = got
    return found


def test_plain_nbgrader_grades_the_samples_alike(tmp_path: Path) -> None:
    """The repository's notebooks also grade right with plain `nbgrader autograde` (ps00's samples)."""
    course = tmp_path / "course"
    api = NbGraderAPI(config=course_cfg.course_config(course))
    _submit_samples(course, "ps00", {"correct", "blank", "hardcoded"}, with_data=True)
    expected = {s.name: s.expected for s in samples.samples_for("ps00")}
    for student in ("correct", "blank", "hardcoded"):
        result = api.autograde("ps00", student)
        assert result["success"], result.get("error", "")[-2000:]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in ("correct", "blank", "hardcoded"):
            sub = gb.find_submission("ps00", student)
            got = {g.name: g.score for nb in sub.notebooks for g in nb.grades if g.cell_type == "code"}
            assert got == pytest.approx(expected[student]), student


@pytest.mark.parametrize("case", CASES, ids=[f"{a}-{s.name}" for a, s in CASES])
def test_sample_earns_the_expected_points(case: tuple[str, samples.Sample],
                                          graded: dict[tuple[str, str], dict[str, float]]) -> None:
    assignment, sample = case
    got = graded[(assignment, sample.name)]
    assert got == pytest.approx(sample.expected), f"{sample.description}: {got}"


def test_every_assignment_has_a_hardcoded_sample() -> None:
    for assignment in IDS:
        names = {s.name for s in samples.samples_for(assignment)}
        assert "hardcoded" in names, f"{assignment}: add grader/samples/{assignment}/hardcoded.json"


def test_hardcoded_samples_earn_nothing_on_what_they_hardcode() -> None:
    for assignment in IDS:
        for sample in samples.samples_for(assignment):
            if sample.name == "hardcoded":
                assert sample.expected is not None
                zeroes = [k for k, v in sample.expected.items() if v == 0]
                assert zeroes, f"{assignment}: a hard-coded answer must lose points"


def test_sample_files_are_valid(tmp_path: Path) -> None:
    bad = tmp_path / "ps00"
    bad.mkdir()
    (bad / "broken.json").write_text("{not json")
    from dataethics.errors import DataethicsError

    with pytest.raises(DataethicsError, match="not valid JSON"):
        samples.samples_for("ps00", samples_root=tmp_path)
