"""The website builds offline from stored outputs and leaks nothing instructor-only."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import nbformat
import pytest

from dataethics import notebooks, paths, site
from dataethics.errors import DataethicsError

ROOT = paths.repo_root()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return site.build(tmp_path_factory.mktemp("site") / "html")


def test_every_lesson_and_course_page_is_built(built: Path) -> None:
    for nb in notebooks.lessons():
        assert (built / f"{nb.stem}.html").is_file(), nb.name
    for page in ("index", "syllabus", "assignments", "datasets", "glossary", "references"):
        assert (built / f"{page}.html").is_file(), page


def test_every_datasheet_is_a_page_and_assignments_link_to_them(built: Path, root: Path) -> None:
    for sheet in (root / "datasets" / "datasheets").glob("*.md"):
        assert (built / "datasheets" / f"{sheet.stem}.html").is_file(), sheet.name
    page = (built / "assignments.html").read_text(encoding="utf-8")
    assert 'href="datasheets/' in page
    assert 'href="data/' not in page, "a link to a released data/ folder is dead on the site"


def test_lessons_are_rendered_from_stored_outputs(built: Path) -> None:
    html = (built / "01-smart-data.html").read_text(encoding="utf-8")
    assert html.count("<img") >= 3, "figures from stored outputs missing"
    assert "records kept after cleaning" in html


def test_figures_have_alt_text(built: Path) -> None:
    for page in built.glob("[0-9][0-9]-*.html"):
        for tag in re.findall(r"<img[^>]*>", page.read_text(encoding="utf-8")):
            alt = re.search(r'alt="([^"]*)"', tag)
            assert alt and len(alt.group(1)) > 20, f"{page.name}: {tag[:120]}"


def test_practice_solutions_are_folded(built: Path) -> None:
    for nb in notebooks.lessons():
        html = (built / f"{nb.stem}.html").read_text(encoding="utf-8")
        tagged = sum("hide-input" in c.metadata.get("tags", [])
                     for c in nbformat.read(nb, as_version=4).cells)
        assert html.count('<details class="admonition hide above-input">') == tagged, nb.name


def _secrets() -> list[str]:
    """Text that must never reach the site: solutions, hidden tests, instructor notes."""
    found = ["### BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"]
    public = []  # what students see anyway: visible tests and the code around the solutions
    for nb_path in notebooks.source_notebooks():
        for cell in nbformat.read(nb_path, as_version=4).cells:
            text = cell.source.split("### BEGIN HIDDEN TESTS")[0]
            if "### BEGIN SOLUTION" in text:
                text = text.split("### BEGIN SOLUTION")[0] + text.split("### END SOLUTION")[-1]
            public.append(text)
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution") and cell.cell_type == "code":
                inside = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
                found += [ln.strip() for ln in inside.splitlines() if len(ln.strip()) > 25]
            if "### BEGIN HIDDEN TESTS" in cell.source:
                hidden = cell.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
                found += [ln.strip() for ln in hidden.splitlines() if len(ln.strip()) > 25]
    for notes in (ROOT / "assignments" / "instructor").glob("*.md"):
        found += [ln.strip() for ln in notes.read_text(encoding="utf-8").splitlines()
                  if len(ln.strip()) > 40 and not ln.startswith("|")]
    # a lesson may teach a technique an assignment then asks for: lesson text is public by design
    lessons = "\n".join(c.source for nb in notebooks.lessons()
                        for c in nbformat.read(nb, as_version=4).cells)
    visible = "\n".join(public)
    return sorted({line for line in found if line not in lessons and line not in visible})


def test_nothing_instructor_only_reaches_the_site(built: Path) -> None:
    secrets = _secrets()
    assert len(secrets) > 50
    texts = {}
    for path in built.rglob("*"):
        if path.suffix in {".html", ".js", ".txt", ".ipynb", ".md"}:
            texts[path] = path.read_text(encoding="utf-8", errors="replace")
        elif path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                for name in zf.namelist():
                    texts[Path(f"{path}!{name}")] = zf.read(name).decode("utf-8", errors="replace")
    assert any(str(p).endswith(".zip!ps00/ps00.ipynb") for p in texts), "assignment zips missing"
    for path, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"{path}: leaks {secret[:60]!r}"


def test_assignment_downloads_are_self_contained(built: Path) -> None:
    for archive in (built / "_downloads").rglob("*.zip"):
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
        assert any(n.endswith(".ipynb") for n in names)
        assert any("/data/" in n and n.endswith(".csv") for n in names), archive.name


def test_a_missing_lesson_folder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notebooks, "lessons", lambda: [])
    with pytest.raises(DataethicsError, match="no lesson notebooks"):
        site.stage(ROOT, tmp_path / "stage")
