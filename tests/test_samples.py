"""Sample submissions of every assignment are graded as expected by nbgrader's autograde."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI

from dataethics.grading import course as course_cfg
from dataethics.grading import samples

IDS = course_cfg.assignment_ids()
CASES = [(a, s) for a in IDS for s in samples.samples_for(a)]


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, float]]:
    """Autograde every sample of every assignment once; map (assignment, sample) to scores."""
    course = tmp_path_factory.mktemp("course")
    api = NbGraderAPI(config=course_cfg.course_config(course))
    scores: dict[tuple[str, str], dict[str, float]] = {}
    for assignment in IDS:
        release = course_cfg.generate_release(assignment, course)
        source_nb = next((course / "source" / assignment).glob("*.ipynb"))
        release_nb = release / source_nb.name
        for sample in samples.samples_for(assignment):
            student = sample.name
            target = course / "submitted" / student / assignment / source_nb.name
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(samples.build_submission(sample, source_nb, release_nb), target)
            for item in (release / "data").glob("*") if (release / "data").is_dir() else []:
                (target.parent / "data").mkdir(exist_ok=True)
                (target.parent / "data" / item.name).write_bytes(item.read_bytes())
            result = api.autograde(assignment, student)
            assert result["success"], result.get("error", "")[-2000:]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for assignment, sample in CASES:
            sub = gb.find_submission(assignment, sample.name)
            scores[(assignment, sample.name)] = {
                g.name: g.score for nb in sub.notebooks for g in nb.grades
                if g.cell_type == "code"}
    return scores


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
