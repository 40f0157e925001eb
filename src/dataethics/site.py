"""``make site``: build the course website with Sphinx, MyST-NB and the book theme.

The build is offline and uses the lessons' stored outputs (no execution).
It stages a source folder under ``_build/site-src`` from ``course/`` (lessons,
glossary, references) and ``site/`` (configuration, home page, syllabus),
adds the student versions of the assignments as downloadable zip files, runs
Sphinx with warnings as errors, and checks that every expected page exists.

Usage: ``python -m dataethics.site [--out DIR]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat

from dataethics import notebooks, paths
from dataethics.errors import DataethicsError

COURSE_PAGES = ("glossary.md", "references.md")
SITE_PAGES = ("index.md", "syllabus.md")


def _assignment_summary(nb_path: Path) -> tuple[str, str]:
    """Title and first paragraph of an assignment's opening cell."""
    first = next(c for c in nbformat.read(nb_path, as_version=4).cells if c.cell_type == "markdown")
    lines = first.source.splitlines()
    title = next((ln.lstrip("# ").strip() for ln in lines if ln.startswith("#")), nb_path.stem)
    body = " ".join(ln.strip() for ln in lines if ln.strip() and not ln.startswith("#"))
    return title, body.split("**What to submit.**")[0].strip()


def _stage_assignments(stage: Path) -> list[str]:
    """Generate student versions, zip them into ``stage/downloads`` and write assignments.md."""
    from dataethics.grading.course import assignment_ids, generate_release

    downloads = stage / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    lines = ["# Assignments", "",
             "Student versions of the assignments, as nbgrader releases them: the notebook and its",
             "`data/` folder. Unzip, open the notebook in JupyterLab, and click **Validate** before",
             "submitting to your instructor. Solutions and hidden tests are not included.", ""]
    ids = assignment_ids()
    with tempfile.TemporaryDirectory() as tmp:
        for assignment in ids:
            release = generate_release(assignment, Path(tmp) / "course")
            archive = downloads / f"{assignment}.zip"
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
                for item in sorted(release.rglob("*")):
                    if item.is_file():
                        zf.write(item, Path(assignment) / item.relative_to(release))
            nb_path = next(release.glob("*.ipynb"))
            title, body = _assignment_summary(nb_path)
            link = f"{{download}}`Download {assignment} (notebook and data) <downloads/{assignment}.zip>`"
            lines += [f"## {title}", "", body, "", link, ""]
    (stage / "assignments.md").write_text("\n".join(lines), encoding="utf-8")
    return ids


def stage(root: Path, stage_dir: Path) -> list[str]:
    """Assemble the Sphinx source folder; return the page names expected in the output."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    site, course = root / "site", root / "course"
    shutil.copy(site / "conf.py", stage_dir / "conf.py")
    shutil.copytree(site / "_static", stage_dir / "_static")
    for name in SITE_PAGES:
        shutil.copy(site / name, stage_dir / name)
    for name in COURSE_PAGES:
        shutil.copy(course / name, stage_dir / name)
    lessons = notebooks.lessons()
    if not lessons:
        raise DataethicsError("no lesson notebooks found in course/ — nothing to build")
    for nb in lessons:
        shutil.copy(nb, stage_dir / nb.name)
    _stage_assignments(stage_dir)
    toc = ["", "```{toctree}", ":hidden:", ":caption: Lessons", ""]
    toc += [nb.stem for nb in lessons] + ["```", "", "```{toctree}", ":hidden:",
                                         ":caption: Course", "", "syllabus", "assignments",
                                         "glossary", "references", "```", ""]
    with (stage_dir / "index.md").open("a", encoding="utf-8") as fh:
        fh.write("\n".join(toc))
    return ["index", "syllabus", "assignments", "glossary", "references"] + [nb.stem for nb in lessons]


def build(out: Path | None = None, quiet: bool = True) -> Path:
    """Build the site into ``out`` (default ``_build/site``); raise on any warning or missing page."""
    from sphinx.cmd.build import build_main

    root = paths.repo_root()
    out = Path(out) if out is not None else root / "_build" / "site"
    stage_dir = out.parent / (out.name + "-src")
    pages = stage(root, stage_dir)
    if out.exists():
        shutil.rmtree(out)
    args = ["-W", "--keep-going", "-b", "html", "-d", str(out.parent / (out.name + "-doctrees")),
            str(stage_dir), str(out)]
    if quiet:
        args.insert(0, "-q")
    status = build_main(args)
    if status != 0:
        raise DataethicsError(f"Sphinx failed (exit {status}); see the warnings above")
    missing = [p for p in pages if not (out / f"{p}.html").is_file()]
    if missing:
        raise DataethicsError(f"the site build is incomplete: no page for {missing}")
    return out


def bench() -> bool:
    """Print the time of a full site build (``dataethics bench site``)."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        build(Path(tmp) / "site")
        print(f"site build: {time.perf_counter() - start:.1f} s")
    return True


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m dataethics.site", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder (default _build/site)")
    args = parser.parse_args(argv)
    print("building the site (stored outputs, no execution)…", flush=True)
    try:
        out = build(args.out, quiet=True)
    except DataethicsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"site built: {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
