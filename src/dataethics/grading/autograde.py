"""Parallel, sandboxed autograding on top of nbgrader's gradebook.

For each student, a worker process:

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

import ast
import copy
import datetime
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_output
from tqdm.auto import tqdm

from dataethics import paths
from dataethics.errors import DataethicsError
from dataethics.grading import quiet_gradebook_notices
from dataethics.grading.kernel_launcher import TRUNCATED

GUARD_TAG = "dataethics-integrity-check"
GUARD_SOURCE = """
import builtins as _b, numpy as _np, pandas as _pd
_checks = [
    not bool(_np.isclose(0.0, 1.0)), not bool(_np.allclose([0.0], [1.0])),
    not _pd.Series([1]).equals(_pd.Series([2])), _b.len([1, 2]) == 2, _b.abs(-1) == 1,
    not _b.all([False]), _b.any([True]), _b.isinstance(1, int), _b.sorted([2, 1]) == [1, 2],
]
try:
    assert False
    _checks.append(False)
except AssertionError:
    _checks.append(True)
# the result, not a print: printed output may be cut by the output cap
"INTEGRITY " + ("OK" if all(_checks) else "BROKEN")
"""
NETWORK_MODULES = {"socket", "urllib", "http", "requests", "ftplib", "smtplib", "httpx", "aiohttp"}
ATTACK_CALLS = {("sys", "exit"): "calls sys.exit()", ("os", "_exit"): "calls os._exit()",
                ("os", "kill"): "sends signals", ("os", "system"): "runs shell commands",
                ("subprocess", None): "runs subprocesses"}


@dataclass
class Limits:
    """Resource limits of one submission's run."""

    notebook_seconds: float = 180.0
    cell_seconds: float = 60.0
    memory_mb: int = 3072
    max_output_chars: int = 20_000       # kept of each output in the autograded notebook
    kernel_output_chars: int = 1_000_000  # printed by the whole notebook before the kernel stops sending
    sandbox: bool | None = None  # None: use bwrap when it is installed


@dataclass
class Outcome:
    """What happened to one student's notebook."""

    student: str
    assignment: str
    notebook: str
    status: str = "ok"          # ok, timeout, crash, memory, invalid, missing
    flags: list[str] = field(default_factory=list)
    seconds: float = 0.0
    sandboxed: bool = False
    executed: dict | None = None  # the executed notebook as JSON


def _cells_by_id(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")}


def tamper_report(submitted: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """Differences between a submission and the released notebook that the student should not make."""
    flags = []
    sub, rel = _cells_by_id(submitted), _cells_by_id(release)
    for gid, cell in rel.items():
        meta = cell.metadata["nbgrader"]
        if gid not in sub:
            kind = "test cell" if meta.get("grade") and not meta.get("solution") else "cell"
            flags.append(f"deleted {kind} {gid}")
            continue
        if sub[gid].cell_type != cell.cell_type:
            flags.append(f"changed the type of cell {gid}")
        elif meta.get("locked") and sub[gid].source.strip() != cell.source.strip():
            flags.append(f"edited locked cell {gid}")
    order_rel = [g for g in rel if g in sub]
    order_sub = [g for g in sub if g in rel]
    if order_rel != order_sub:
        flags.append("reordered cells")
    return flags


def attack_report(answers: dict[str, str]) -> list[str]:
    """Static scan of the student's code answers for attacks on the grader."""
    flags = []
    for gid, src in answers.items():
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                for (mod, attr), what in ATTACK_CALLS.items():
                    if node.value.id == mod and (attr is None or node.attr == attr):
                        flags.append(f"{gid}: {what}")
            if isinstance(node, ast.Name) and node.id == "subprocess":
                flags.append(f"{gid}: runs subprocesses")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom)
                                                        and node.module else [])
                net = sorted({n.split(".")[0] for n in names} & NETWORK_MODULES)
                if net:
                    flags.append(f"{gid}: uses the network ({', '.join(net)})")
            if isinstance(node, ast.ExceptHandler):
                names = ast.unparse(node.type) if node.type is not None else "bare"
                if "KeyboardInterrupt" in names or "BaseException" in names or names == "bare":
                    flags.append(f"{gid}: catches interrupts ({names} except)")
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and \
                            t.value.id in {"np", "numpy", "pd", "pandas", "builtins", "math", "sklearn"}:
                        flags.append(f"{gid}: replaces {t.value.id}.{t.attr}")
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setattr":
                flags.append(f"{gid}: calls setattr()")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and any(
                    s in node.value for s in ("gradebook", "source/", "grader/", "/truth")):
                flags.append(f"{gid}: reads instructor files ({node.value[:40]!r})")
    return sorted(set(flags))


def rebuild(source: nbformat.NotebookNode, submitted: nbformat.NotebookNode | None,
            release: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, dict[str, str]]:
    """The notebook to run: the source's structure with the student's answer cells."""
    sub = _cells_by_id(submitted) if submitted is not None else {}
    rel = _cells_by_id(release)
    nb = copy.deepcopy(source)
    answers: dict[str, str] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if not meta.get("solution"):
            continue
        theirs = sub.get(gid)
        if theirs is not None and theirs.cell_type == cell.cell_type:
            cell.source = theirs.source
        else:
            cell.source = rel[gid].source if gid in rel else ""
        if cell.cell_type == "code":
            answers[gid] = cell.source
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    guard = new_code_cell(GUARD_SOURCE.strip(), metadata={"tags": [GUARD_TAG]})
    nb.cells.append(guard)
    return nb, answers


def _error(text: str) -> nbformat.NotebookNode:
    return new_output("error", ename="GradingError", evalue=text, traceback=[f"GradingError: {text}"])


def sandbox_available() -> bool:
    """True when bubblewrap can start a process here."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False
    import subprocess

    probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--unshare-net", "true"],
                           capture_output=True)
    return probe.returncode == 0


def _kernelspec_dir(work: Path, limits: Limits, hide: list[Path], sandboxed: bool) -> Path:
    """Write a kernelspec whose argv applies the limits (and the sandbox)."""
    launcher = [sys.executable, "-m", "dataethics.grading.kernel_launcher", str(limits.memory_mb),
                "{connection_file}", str(limits.kernel_output_chars)]
    if sandboxed:
        # the whole system read-only (the venv may live anywhere, /tmp included), minus the
        # hidden folders; only the submission's own work folder is writable
        argv = [shutil.which("bwrap") or "bwrap", "--ro-bind", "/", "/", "--dev", "/dev",
                "--proc", "/proc"]
        for path in hide:
            if path.exists():
                argv += ["--tmpfs", str(path)]
        # no --unshare-pid: ipykernel would take bwrap (pid 1) for a dead parent and exit
        argv += ["--bind", str(work), str(work), "--unshare-net", "--die-with-parent",
                 "--setenv", "HOME", str(work), "--setenv", "MPLCONFIGDIR", str(work / ".mpl"),
                 "--setenv", "TMPDIR", str(work), "--setenv", "IPYTHONDIR", str(work / ".ipython"),
                 "--chdir", str(work), "--"] + launcher
    else:
        argv = launcher
    spec = work / "kernels" / "kernels" / "dataethics-grader"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "grader",
                                                  "language": "python"}))
    return work / "kernels"


def run_submission(task: dict) -> dict:
    """Worker: prepare, check and execute one student's notebook. Returns an Outcome as a dict."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    limits = Limits(**task["limits"])
    out = Outcome(task["student"], task["assignment"], task["notebook"])
    start = time.perf_counter()
    source = nbformat.read(task["source"], as_version=4)
    release = nbformat.read(task["release"], as_version=4)
    path = Path(task["submitted"]) if task["submitted"] else None
    submitted = None
    if path is None or not path.is_file():
        out.status = "missing"
        out.flags.append("missing notebook" + (f" (found {task['other_files']})"
                                               if task.get("other_files") else ""))
    else:
        if task.get("renamed_from"):
            out.flags.append(f"wrong file name: {task['renamed_from']}")
        try:
            text = path.read_text(encoding="utf-8")
            if not text.strip():
                raise ValueError("empty file")
            submitted = nbformat.reads(text, as_version=4)
            nbformat.validate(submitted)
        except Exception as exc:  # invalid JSON, wrong schema, undecodable bytes: a flagged zero
            out.status = "invalid"
            out.flags.append(f"invalid notebook: {str(exc).splitlines()[0][:120]}")
            submitted = None
    if submitted is None:  # nothing to run: the parent records a flagged zero
        out.seconds = time.perf_counter() - start
        return asdict(out)
    out.flags += tamper_report(submitted, release)
    nb, answers = rebuild(source, submitted, release)
    out.flags += attack_report(answers)
    work = Path(task["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    data = Path(task["release"]).parent / "data"
    if data.is_dir():
        shutil.copytree(data, work / "data", dirs_exist_ok=True)
    sandboxed = bool(limits.sandbox if limits.sandbox is not None else sandbox_available())
    out.sandboxed = sandboxed
    specs = _kernelspec_dir(work, limits, [Path(p) for p in task["hide"]], sandboxed)
    ksm = KernelSpecManager(kernel_dirs=[str(specs / "kernels")])
    km = KernelManager(kernel_name="dataethics-grader", kernel_spec_manager=ksm,
                       transport="ipc", ip=str(work / "k"),
                       connection_file=str(work / "kernel.json"))
    client = NotebookClient(nb, km=km, timeout=int(limits.cell_seconds), allow_errors=True,
                            record_timing=False, interrupt_on_timeout=True,
                            resources={"metadata": {"path": str(work)}})
    state = {"ran_upto": -1, "error": None}

    def execute_all() -> None:
        try:
            with client.setup_kernel():
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    client.execute_cell(cell, index)
                    state["ran_upto"] = index
        except BaseException as exc:  # reported to the main thread below
            state["error"] = exc

    # nbclient can wait forever for a killed kernel's messages, so it runs in a thread that the
    # worker abandons at the notebook's time limit, after killing the kernel's process group
    runner = threading.Thread(target=execute_all, daemon=True)
    runner.start()
    deadline = time.monotonic() + limits.notebook_seconds
    dead_since = None
    while runner.is_alive() and time.monotonic() < deadline:
        runner.join(0.5)
        # a kernel that exited (os._exit, a crash) is noticed here, not at the notebook limit
        if runner.is_alive() and km.has_kernel and not km.is_alive():
            dead_since = dead_since or time.monotonic()
            if time.monotonic() - dead_since > 3:
                break
    if runner.is_alive():
        if dead_since is not None:
            out.status = "crash"
            out.flags.append("the kernel died (exit, crash or memory limit)")
        else:
            out.status = "timeout"
            out.flags.append(f"notebook time limit ({limits.notebook_seconds:.0f} s) reached")
        try:
            pid = km.provisioner.process.pid  # type: ignore[union-attr]
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except Exception:  # the kernel may be gone already
            pass
    else:
        exc = state["error"]
        if isinstance(exc, CellTimeoutError):
            out.status = "timeout"
            out.flags.append(f"a cell exceeded {limits.cell_seconds:.0f} s")
        elif isinstance(exc, DeadKernelError):
            out.status = "crash"
            out.flags.append("the kernel died (exit, crash or memory limit)")
        elif exc is not None:
            out.status = "crash"
            out.flags.append(f"execution failed: {type(exc).__name__}")
        try:
            if km.has_kernel:
                km.shutdown_kernel(now=True)
        except Exception:  # already dead
            pass
    if any(o.get("ename") == "MemoryError" for c in nb.cells if c.cell_type == "code" for o in c.outputs):
        out.flags.append(f"memory limit ({limits.memory_mb} MB) reached: MemoryError")
    ran_upto = state["ran_upto"]
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and index > ran_upto:
            cell.outputs = [_error(f"not run: {out.status}")]
    for cell in nb.cells:  # keep outputs small before they travel back to the parent
        if cell.cell_type == "code":
            for o in cell.outputs:
                if o.get("output_type") != "stream":
                    continue
                huge = TRUNCATED.strip() in o.get("text", "")
                if len(o.get("text", "")) > limits.max_output_chars:
                    o["text"] = o["text"][: limits.max_output_chars] + "\n[output truncated]\n"
                    huge = True
                if huge and "huge output (truncated)" not in out.flags:
                    out.flags.append("huge output (truncated)")
    guard = nb.cells[-1]
    guard_text = "".join(o.get("data", {}).get("text/plain", "") for o in guard.outputs
                         if o.get("output_type") == "execute_result")
    if out.status == "ok" and "INTEGRITY OK" not in guard_text:
        out.flags.append("tampering: library functions used by the tests were replaced")
    if any(f.startswith("tampering") for f in out.flags):
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and cell.cell_type == "code":
                cell.outputs = [_error("no credit: " + "; ".join(out.flags)[:200])]
    nb.cells = nb.cells[:-1]  # drop the integrity check
    out.seconds = time.perf_counter() - start
    out.executed = json.loads(nbformat.writes(nb))
    return asdict(out)


def run_student(tasks: list[dict]) -> list[dict]:
    """Worker: grade one student's notebooks of an assignment, one after the other."""
    return [run_submission(task) for task in tasks]


def _find_submission(folder: Path, expected: str) -> tuple[Path | None, str | None, list[str]]:
    """The expected notebook, or a lone notebook under another name (renamed), and other files."""
    target = folder / expected
    others = sorted(p.name for p in folder.glob("*.ipynb") if p.name != expected)
    if target.is_file():
        return target, None, others
    if len(others) == 1:
        return folder / others[0], others[0], others
    return None, None, others


def submission_time(folder: Path) -> datetime.datetime | None:
    """The submission time nbgrader's exchange recorded in ``timestamp.txt``, if any."""
    from nbgrader.utils import parse_utc

    path = folder / "timestamp.txt"
    try:
        return parse_utc(path.read_text(encoding="utf-8").strip()) if path.is_file() else None
    except (ValueError, OSError):  # an unreadable stamp is not the student's fault: ignore it
        return None


def _save(out: Outcome, course_root: Path, release_dir: Path, sources: list[Path], db_url: str) -> None:
    """Record one notebook's grades with nbgrader's preprocessors and write its autograded copy."""
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import LimitOutput, SaveAutoGrades

    assignment = out.assignment
    stamp = submission_time(course_root / "submitted" / out.student / assignment)
    quiet_gradebook_notices()
    with Gradebook(db_url) as gb:
        gb.update_or_create_student(out.student)
        # as nbgrader's autograde does: with the submission time, the due date can be checked
        sub = gb.update_or_create_submission(assignment, out.student,
                                             **({"timestamp": stamp} if stamp is not None else {}))
        if stamp is not None and sub.total_seconds_late > 0:
            out.flags.append(f"late by {sub.total_seconds_late / 3600:.1f} h")
    if out.executed is None:  # nothing ran (missing, invalid) or the worker failed: no credit
        source = next(s for s in sources if s.stem == out.notebook)
        nb, _ = rebuild(nbformat.read(source, 4), None,
                        nbformat.read(release_dir / f"{out.notebook}.ipynb", 4))
        nb.cells = nb.cells[:-1]
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
                cell.outputs = [_error("no credit: " + "; ".join(out.flags))]
    else:
        nb = nbformat.reads(json.dumps(out.executed), as_version=4)
    resources = {"nbgrader": {"db_url": db_url, "assignment": assignment,
                              "notebook": out.notebook, "student": out.student}}
    nb, resources = LimitOutput().preprocess(nb, resources)
    nb, resources = SaveAutoGrades().preprocess(nb, resources)
    target = course_root / "autograded" / out.student / assignment / f"{out.notebook}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    data = release_dir / "data"
    if data.is_dir():
        shutil.copytree(data, target.parent / "data", dirs_exist_ok=True)
    out.executed = None
    (target.parent / "grading.json").write_text(json.dumps(asdict(out), indent=1))


def autograde(assignment: str, course_root: Path | None = None, students: list[str] | None = None,
              workers: int | None = None, limits: Limits | None = None,
              progress: bool = True, db_url: str | None = None) -> list[Outcome]:
    """Autograde every submission of ``assignment`` in parallel; record grades in the gradebook.

    Returns one :class:`Outcome` per student and notebook. Requires
    ``<course_root>/source/<assignment>`` and ``submitted/<student>/<assignment>/``;
    the released version is generated if missing. Grades go to ``db_url`` (default:
    :func:`~dataethics.grading.course.gradebook_url`).
    """
    from dataethics.grading.course import check_assignment, generate_release, gradebook_url

    course_root = Path(course_root).resolve() if course_root is not None else paths.assignments_dir()
    check_assignment(assignment, course_root)
    release_dir = course_root / "release" / assignment
    if not release_dir.is_dir():
        generate_release(assignment, course_root, source_root=course_root, db_url=db_url)
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
    scratch = Path(tempfile.mkdtemp(prefix="dataethics-grade-"))
    # other students' work folders are hidden too (each kernel sees only its own)
    hide = [str(course_root), str(paths.grader_dir().resolve()), str(scratch)]
    jobs: dict[str, list[dict]] = {}  # one job per student: their notebooks, one after the other
    for student in students:
        folder = sub_root / student / assignment
        for src in sources:
            found, renamed, others = _find_submission(folder, src.name)
            jobs.setdefault(student, []).append({
                "student": student, "assignment": assignment, "notebook": src.stem,
                "source": str(src), "release": str(release_dir / src.name),
                "submitted": str(found) if found else None, "renamed_from": renamed,
                "other_files": ", ".join(others), "limits": asdict(limits), "hide": hide,
                "workdir": str(scratch / student / src.stem)})
    outcomes: list[Outcome] = []
    workers = workers or os.cpu_count() or 1
    db_url = gradebook_url(course_root, db_url)
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(run_student, tasks): tasks for tasks in jobs.values()}
            bar = tqdm(as_completed(futures), total=len(futures), desc=f"autograde {assignment}",
                       unit="student", disable=not progress)
            for future in bar:  # grades are saved while the other workers go on
                tasks = futures[future]
                try:
                    results = [Outcome(**r) for r in future.result()]
                except Exception as exc:  # a worker died: flag this student, keep the others
                    results = [Outcome(t["student"], assignment, t["notebook"], status="crash",
                                       flags=[f"grader worker failed: {type(exc).__name__}"])
                               for t in tasks]
                for result in results:
                    _save(result, course_root, release_dir, sources, db_url)
                    outcomes.append(result)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return sorted(outcomes, key=lambda o: (o.student, o.notebook))


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
