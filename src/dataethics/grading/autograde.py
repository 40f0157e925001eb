"""Parallel, sandboxed autograding of a class on top of nbgrader's gradebook.

This module owns the class-level work: one task per student, the worker pool, the
gradebook writes and ``autograded/<student>/<assignment>/grading.json``. Running one
submission is :mod:`dataethics.grading.runner`'s job. For each student, a worker process:

1. reads the submitted notebook (a missing, empty or invalid file is a flagged zero);
2. compares it with the *released* notebook to report tampering (edited or deleted
   locked cells, changed cell types, reordered cells) and scans the answers for
   attacks (exiting the kernel, catching interrupts, replacing library functions,
   reading instructor files);
3. rebuilds the notebook from the instructor's source — locked cells and hidden
   tests come from the source, only the student's answer cells are taken — so no
   edit of a test can earn points;
4. runs it with nbclient in a fresh kernel: a per-cell and a per-notebook time
   limit (the kernel is killed, not only interrupted), a memory limit, no network,
   and, where ``bwrap`` exists, a sandbox that cannot see the course folder
   (source, gradebook) or the grader's files;
5. marks cells left unrun by a timeout or a crash as failed, and runs a final
   integrity check: if library functions the tests rely on were replaced, every
   test cell is failed.

The parent process then records grades through nbgrader's own ``SaveAutoGrades``
and ``LimitOutput`` preprocessors, one student at a time (SQLite has one writer),
and writes ``autograded/<student>/<assignment>/``. Other students are never
affected by one student's failure.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import nbformat
from tqdm.auto import tqdm

from dataethics import paths
from dataethics.errors import DataethicsError
from dataethics.grading import quiet_gradebook_notices
from dataethics.grading.runner.execute import run_student
from dataethics.grading.runner.limits import Limits, Outcome
from dataethics.grading.runner.notebook import (
    error_output,
    find_submission,
    grading_template,
    rebuild,
    test_modules,
    test_names,
)
from dataethics.grading.runner.prewarm import preload_for, warm
from dataethics.grading.runner.sandbox import sandbox_available

__all__ = ["Limits", "Outcome", "autograde", "sandbox_available", "scores", "submission_time"]


def submission_time(folder: Path) -> datetime.datetime | None:
    """The submission time nbgrader's exchange recorded in ``timestamp.txt``, if any."""
    from nbgrader.utils import parse_utc

    path = folder / "timestamp.txt"
    try:
        return parse_utc(path.read_text(encoding="utf-8").strip()) if path.is_file() else None
    except (ValueError, OSError):  # an unreadable stamp is not the student's fault: ignore it
        return None


@dataclass
class _Saving:
    """What every save of one run shares: the course, its release, the open gradebook."""

    course_root: Path
    release_dir: Path
    sources: list[Path]  # the grading templates
    db_url: str
    gradebook: Any
    config: Any = None   # the course's nbgrader config, read at the first late submission

    def late_config(self) -> Any:
        from dataethics.grading.course import course_config

        if self.config is None:
            self.config = course_config(self.course_root, self.db_url)
        return self.config


def _save(out: Outcome, run: _Saving) -> None:
    """Record one notebook's grades with nbgrader's preprocessors and write its autograded copy.

    nbgrader's ``LimitOutput``, ``SaveAutoGrades`` (on the run's open gradebook, one
    transaction per notebook: :mod:`~dataethics.grading.gradebook`) and
    ``AssignLatePenalties`` (its late-submission plugin, as the course configures it) run here.
    """
    from nbgrader.preprocessors import AssignLatePenalties, LimitOutput

    from dataethics.grading.gradebook import SaveAutoGradesOnce, one_transaction

    began = time.perf_counter()
    assignment, gb = out.assignment, run.gradebook
    stamp = submission_time(run.course_root / "submitted" / out.student / assignment)
    if out.executed is None:  # nothing ran (missing, invalid) or the worker failed: no credit
        source = next(s for s in run.sources if s.stem == out.notebook)
        nb, _ = rebuild(nbformat.read(source, 4), None,
                        nbformat.read(run.release_dir / f"{out.notebook}.ipynb", 4))
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
                cell.outputs = [error_output("no credit: " + "; ".join(out.flags))]
    else:
        nb = nbformat.from_dict(out.executed)
    resources = {"nbgrader": {"db_url": run.db_url, "assignment": assignment,
                              "notebook": out.notebook, "student": out.student}}
    nb, resources = LimitOutput().preprocess(nb, resources)
    with one_transaction(gb):  # the student, the submission and its scores: one commit
        gb.update_or_create_student(out.student)
        # as nbgrader's autograde does: with the submission time, the due date can be checked
        sub = gb.update_or_create_submission(assignment, out.student,
                                             **({"timestamp": stamp} if stamp is not None else {}))
        late = sub.total_seconds_late if stamp is not None else 0
        nb, resources = SaveAutoGradesOnce(gb).preprocess(nb, resources)
    if late > 0:
        out.flags.append(f"late by {late / 3600:.1f} h")
    if stamp is not None:
        nb, resources = AssignLatePenalties(config=run.late_config()).preprocess(nb, resources)
        gb.db.expire_all()  # nbgrader wrote the penalty through its own connection
        penalty = gb.find_submission_notebook(out.notebook, assignment, out.student).late_submission_penalty
        if penalty:
            out.flags.append(f"late penalty: {penalty:g} point(s) taken off")
    out.flags = [f[:600] for f in out.flags[:50]]  # grading.json stays small
    target = run.course_root / "autograded" / out.student / assignment / f"{out.notebook}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    data = run.release_dir / "data"
    if data.is_dir():
        shutil.copytree(data, target.parent / "data", dirs_exist_ok=True)
    out.executed = None
    out.save_seconds = time.perf_counter() - began
    (target.parent / "grading.json").write_text(json.dumps(asdict(out), indent=1))


def _save_or_flag(out: Outcome, run: _Saving) -> bool:
    """:func:`_save`; if that fails, undo this notebook's writes, flag it and go on with the class.

    The student is then not recorded as graded, so the next run grades them again.
    """
    try:
        _save(out, run)
        return True
    except Exception as exc:  # a database or disk error: this student only
        run.gradebook.db.rollback()
        why = f"grades not saved ({type(exc).__name__}: {str(exc)[:200]}): run autograde again"
        out.status, out.executed = "crash", None
        out.flags.append(why)
        tqdm.write(f"warning: {out.student}/{out.notebook}: {why}")
        return False


def autograde(assignment: str, course_root: Path | None = None, students: list[str] | None = None,
              workers: int | None = None, limits: Limits | None = None,
              progress: bool = True, db_url: str | None = None, scheduler: str | None = None,
              force: bool = False) -> list[Outcome]:
    """Autograde every submission of ``assignment`` in parallel; record grades in the gradebook.

    Returns one :class:`Outcome` per student and notebook. Requires
    ``<course_root>/source/<assignment>`` and ``submitted/<student>/<assignment>/``;
    the released version is generated if missing. Grades go to ``db_url`` (default:
    :func:`~dataethics.grading.course.gradebook_url`).

    Students already graded with the same submission, tests and limits (an interrupted
    run, resumed) are not graded again unless ``force``: their outcomes come back with
    ``earlier=True`` (see :mod:`~dataethics.grading.resume`). With ``scheduler`` (or
    ``$DATAETHICS_SCHEDULER``) the submissions run on that Dask cluster
    (:mod:`~dataethics.grading.distributed`); this process still writes every grade.
    """
    from dataethics.grading.course import check_assignment, generate_release, gradebook_url
    from dataethics.grading.distributed import DIED_TWICE, run_on_cluster, scheduler_address
    from dataethics.grading.resume import fingerprint, graded_before, mark_graded

    course_root = Path(course_root).resolve() if course_root is not None else paths.assignments_dir()
    check_assignment(assignment, course_root)
    sources = sorted((course_root / "source" / assignment).glob("*.ipynb"))
    sub_root = course_root / "submitted"
    if students is None:
        students = sorted(p.name for p in sub_root.iterdir() if (p / assignment).is_dir()) \
            if sub_root.is_dir() else []
    if not students:
        raise DataethicsError(f"no submissions of '{assignment}' in {sub_root}")
    unknown = [s for s in students if not (sub_root / s / assignment).is_dir()]
    if unknown:
        raise DataethicsError(f"no submission folder {sub_root}/<student>/{assignment} for "
                              f"{', '.join(unknown)}")
    limits = limits or Limits()
    workers = workers or os.cpu_count() or 1
    address = scheduler_address(scheduler)
    scratch = Path(tempfile.mkdtemp(prefix="dataethics-grade-"))
    # other students' work folders are hidden too (each kernel sees only its own)
    hide = [str(course_root), str(paths.grader_dir().resolve()), str(scratch)]
    preload = preload_for(sources)  # what the templates import: the same for every notebook
    # the workers start now, and their templates import while this process prepares the run
    # (no more workers than students: each idle one would still start a template)
    pool = None if address else _start_pool(min(workers, len(students)), scratch, preload, hide, limits)
    saving: _Saving | None = None
    try:
        release_dir = course_root / "release" / assignment
        if not release_dir.is_dir() or not _in_gradebook(assignment, gradebook_url(course_root, db_url)):
            generate_release(assignment, course_root, source_root=course_root, db_url=db_url)
        db_url = gradebook_url(course_root, db_url)
        templates = [grading_template(src, assignment, db_url, scratch / "templates" / src.name)
                     for src in sources]
        names = [src.name for src in sources]
        # what the locked cells import and define: read once per notebook, not once per student
        locked = {}
        for template in templates:
            template_nb = nbformat.read(template, 4)
            locked[template] = (test_modules(template_nb), sorted(test_names(template_nb)))
        jobs: dict[str, list[dict]] = {}  # one job per student: their notebooks, one after the other
        for student in students:
            folder = sub_root / student / assignment
            for src, template in zip(sources, templates, strict=True):
                found, renamed, others = find_submission(folder, src.name, names)
                jobs.setdefault(student, []).append({
                    "student": student, "assignment": assignment, "notebook": src.stem,
                    "source": str(template), "release": str(release_dir / src.name),
                    "guard_modules": locked[template][0], "test_names": locked[template][1],
                    "submitted": str(found) if found else None, "renamed_from": renamed,
                    "other_files": ", ".join(others), "limits": asdict(limits), "hide": hide,
                    "preload": preload, "workdir": str(scratch / student / src.stem)})
        prints = {s: fingerprint(sub_root / s / assignment, sources, asdict(limits)) for s in jobs}
        earlier = {} if force else graded_before(course_root, assignment, prints, db_url)
        outcomes: list[Outcome] = [o for student in earlier for o in earlier[student]]
        jobs = {s: tasks for s, tasks in jobs.items() if s not in earlier}
        from dataethics.grading.gradebook import open_gradebook

        saving = _Saving(course_root, release_dir, templates, db_url, open_gradebook(db_url))
        finished = run_on_cluster(jobs, address) if pool is None else _run_locally(jobs, pool)
        bar = tqdm(finished, total=len(jobs), desc=f"autograde {assignment}", unit="student",
                   disable=not progress or not jobs)
        for tasks, got in bar:  # grades are saved while the other workers go on
            if isinstance(got, BaseException):  # a worker died: flag this student, keep the others
                why = str(got) if str(got) == DIED_TWICE else f"grader worker failed: {type(got).__name__}"
                results = [Outcome(t["student"], assignment, t["notebook"], status="crash", flags=[why])
                           for t in tasks]
            else:
                results = [Outcome(**r) for r in got]
            saved = all([_save_or_flag(result, saving) for result in results])
            outcomes += results
            student = tasks[0]["student"]
            if saved:  # last, atomically: this student is graded (an interrupted run resumes after it)
                mark_graded(course_root, assignment, student, results, prints[student])
    finally:
        if pool is not None:  # students not started yet are cancelled (Ctrl-C, an error)
            pool.shutdown(wait=True, cancel_futures=True)
        if saving is not None:
            saving.gradebook.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return sorted(outcomes, key=lambda o: (o.student, o.notebook))


def _start_pool(workers: int, scratch: Path, preload: list[str], hide: list[str],
                limits: Limits) -> ProcessPoolExecutor:
    """The grading workers, started now; each launches its pre-warmed template as it starts.

    A template takes a couple of seconds to import the course's libraries: launched here,
    it does so while the grading process reads the gradebook and prepares the students' tasks.
    """
    sandboxed = bool(limits.sandbox if limits.sandbox is not None else sandbox_available())
    pool = ProcessPoolExecutor(max_workers=workers, initializer=warm,
                               initargs=(str(scratch), preload, hide, sandboxed))
    for _ in range(workers):  # a pool starts its processes on demand: ask for all of them now
        pool.submit(int)
    return pool


def _run_locally(jobs: dict[str, list[dict]], pool: ProcessPoolExecutor
                 ) -> Iterator[tuple[list[dict], Any]]:
    """Grade each student's job on ``pool``; yield ``(tasks, results)`` as they end.

    ``results`` is the list of outcome dicts, or the exception that stopped the worker.
    """
    futures = {pool.submit(run_student, tasks): tasks for tasks in jobs.values()}
    for future in as_completed(futures):
        try:
            got: Any = future.result()
        except Exception as exc:
            got = exc
        yield futures[future], got


def _in_gradebook(assignment: str, db_url: str) -> bool:
    """True when nbgrader's gradebook knows ``assignment`` (a release alone is not enough)."""
    from nbgrader.api import Gradebook, MissingEntry

    if db_url.startswith("sqlite:///") and not Path(db_url.removeprefix("sqlite:///")).is_file():
        return False
    quiet_gradebook_notices()
    with Gradebook(db_url) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            return False
    return True


def scores(assignment: str, course_root: Path | None = None,
           db_url: str | None = None) -> dict[str, dict[str, float]]:
    """Autograded score of every test cell, per student: ``{student: {grade_id: points}}``."""
    from nbgrader.api import Gradebook

    from dataethics.grading.course import gradebook_url

    course_root = Path(course_root) if course_root is not None else paths.assignments_dir()
    result: dict[str, dict[str, float]] = {}
    with Gradebook(gradebook_url(course_root, db_url)) as gb:
        for sub in gb.assignment_submissions(assignment):
            result[sub.student.id] = {g.name: g.score for nb in sub.notebooks for g in nb.grades
                                      if g.cell_type == "code"}
    return result
