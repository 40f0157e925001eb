"""``dataethics bench grading``: how fast the autograder is, against two baselines.

On one invented class of honest, mixed-quality submissions (no infinite loops:
they would measure the time limit, not the grader) it times

1. **plain execution**: the same notebooks run with nbclient, no grading, no
   limits, no sandbox — serially and with as many processes as the grader uses;
2. **serial nbgrader**: ``nbgrader autograde`` on the whole class;
3. **this grader**: ``dataethics grade autograde --workers N``, a whole process like
   nbgrader's (its start and imports count too).

and prints the seconds per submission, the speed-up over serial nbgrader
(target ≥ 5 on 2 workers), the ratio of the grader's wall time to plain
execution at the same parallelism (target ≤ 0.5: kernels forked from a
pre-warmed template, :mod:`~dataethics.grading.runner.prewarm`), and what the
integrity checks cost: the kernel guard's snapshot and checks as a share of the
grading time of each submission (target ≤ 15 %).

It also prints where one submission's time goes — **start** (a kernel until it
answers), **imports** (the notebook's own import lines), **run** (its cells)
and **save** (gradebook and ``autograded/``) — for a fresh kernel started by the
ordinary sandboxed launcher and for a kernel forked from a pre-warmed template
(a few submissions, one at a time; save is the mean over the graded class).
The default class is 30 submissions of ps01 (pandas and scikit-learn).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from dataethics.errors import DataethicsError

SPEEDUP_TARGET = 5.0
OVERHEAD_TARGET = 0.5
BREAKDOWN_SAMPLES = 4
CHECKS_TARGET = 0.15


def _execute(args: tuple[str, str]) -> float:
    """Run one notebook with nbclient in ``workdir``; return the seconds it took."""
    from nbclient import NotebookClient

    path, workdir = args
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=120, allow_errors=True, record_timing=False, kernel_name="python3",
                   resources={"metadata": {"path": workdir}}).execute(stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def make_class(course: Path, assignment: str, n_students: int, seed: int = 7) -> list[Path]:
    """Release ``assignment`` in ``course`` and write ``n_students`` honest submissions."""
    from dataethics.grading.course import generate_release
    from dataethics.grading.demo import make_students, submission

    release = generate_release(assignment, course)
    source_nb = next((course / "source" / assignment).glob("*.ipynb"))
    rng = random.Random(seed)
    written = []
    for student in make_students(n_students, seed):
        nb = submission("mixed", student, source_nb, release / source_nb.name, rng)
        target = course / "submitted" / student.sid / assignment / source_nb.name
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)
        written.append(target)
    return written


def _import_lines(nb: nbformat.NotebookNode) -> str:
    """The notebook's top-level import statements, as one cell."""
    import ast

    lines = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        lines += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(dict.fromkeys(lines))


def breakdown(jobs: list[tuple[str, str]], hide: list[Path], prewarmed: bool) -> dict[str, float]:
    """Mean seconds of start, imports and run per submission, one kernel at a time (sandboxed)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    from dataethics.grading.runner import prewarm
    from dataethics.grading.runner.limits import Limits
    from dataethics.grading.runner.sandbox import kernelspec_dir, sandbox_available

    sandboxed, limits = sandbox_available(), Limits()
    totals = {"start": 0.0, "imports": 0.0, "run": 0.0}
    scratch = Path(tempfile.mkdtemp(prefix="dataethics-breakdown-"))
    try:
        for i, (path, workdir) in enumerate(jobs):
            nb = nbformat.read(path, as_version=4)
            if prewarmed:
                tpl = prewarm.acquire(scratch, prewarm.preload_for([Path(path)]), hide, sandboxed)
                work = tpl.fresh_workdir(f"s{i}")
                km = prewarm.kernel_manager(tpl, work, limits)
            else:
                work = scratch / f"s{i}"
                work.mkdir()
                specs = kernelspec_dir(work, limits, hide, sandboxed)
                ksm = KernelSpecManager(kernel_dirs=[str(specs / "kernels")])
                km = KernelManager(kernel_name="dataethics-grader", transport="ipc", ip=str(work / "k"),
                                   kernel_spec_manager=ksm, connection_file=str(work / "kernel.json"))
            shutil.copytree(Path(workdir) / "data", work / "data", dirs_exist_ok=True)
            client = NotebookClient(nb, km=km, timeout=120, allow_errors=True, record_timing=False,
                                    resources={"metadata": {"path": str(work)}})
            began = time.perf_counter()
            with client.setup_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
                ready = time.perf_counter()
                client.execute_cell(nbformat.v4.new_code_cell(_import_lines(nb)), 0)
                imported = time.perf_counter()
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type == "code":
                        client.execute_cell(cell, index)
                ran = time.perf_counter()
            totals["start"] += ready - began
            totals["imports"] += imported - ready
            totals["run"] += ran - imported
    finally:
        if prewarmed:
            prewarm.close_all()
        shutil.rmtree(scratch, ignore_errors=True)
    return {k: v / len(jobs) for k, v in totals.items()}


def pin_to(cpus: str) -> set[int]:
    """Run this process, and every process it starts, on the CPUs listed ("0,1", "0-3", "0,2-3")."""
    if not hasattr(os, "sched_setaffinity"):
        raise DataethicsError("pinning to CPUs needs Linux (os.sched_setaffinity)")
    chosen: set[int] = set()
    try:
        for part in cpus.split(","):
            first, _, last = part.strip().partition("-")
            chosen.update(range(int(first), int(last or first) + 1))
    except ValueError:
        raise DataethicsError(f"--pin wants CPU numbers such as 0,1 or 0-3, not {cpus!r}") from None
    available = os.sched_getaffinity(0)
    if not chosen or not chosen <= available:
        raise DataethicsError(f"--pin {cpus}: this process may use CPUs {sorted(available)} only")
    os.sched_setaffinity(0, chosen)
    return chosen


def _cpus() -> str:
    """The machine's CPUs, and how many this process may use (``taskset`` pins it)."""
    if not hasattr(os, "sched_getaffinity"):
        return f"{os.cpu_count()} CPUs"
    usable = sorted(os.sched_getaffinity(0))
    return f"{os.cpu_count()} CPUs, {len(usable)} usable ({','.join(map(str, usable))})"


def _load() -> str:
    """The 1-minute load average, or a dash where the system has none."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "-"


def _timed(cmd: list[str], what: str, cwd: Path | None = None) -> float:
    """Seconds a command took as a whole process; a one-line error naming ``what`` if it failed."""
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:  # a failed run would make any speed-up meaningless
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise DataethicsError(f"{what} failed: {last}")
    return seconds


def _run_nbgrader(assignment: str, course: Path) -> float:
    """Seconds of serial ``nbgrader autograde`` on the class in ``course``."""
    return _timed([sys.executable, "-m", "nbgrader", "autograde", assignment,
                   f"--CourseDirectory.root={course}", "--log-level=ERROR"], "the nbgrader baseline", course)


def _run_ours(assignment: str, course: Path, workers: int, expected: int) -> tuple[float, list]:
    """Seconds of ``dataethics grade autograde`` as a whole process (its start and imports count,
    as nbgrader's do), and the outcomes it recorded."""
    from dataethics.grading.runner.limits import Outcome

    seconds = _timed([sys.executable, "-m", "dataethics", "grade", "autograde", assignment,
                      "--course", str(course), "--workers", str(workers)], "the grader")
    fields = {f.name for f in dataclasses.fields(Outcome)}
    outcomes = [Outcome(**{k: v for k, v in o.items() if k in fields})
                for p in sorted((course / "autograded").glob(f"*/{assignment}/grading.json"))
                for o in json.loads(p.read_text(encoding="utf-8")).get("outcomes", [])]
    if len(outcomes) != expected:
        raise DataethicsError(f"the grader recorded {len(outcomes)} of {expected} submissions")
    return seconds, outcomes


def bench(assignment: str = "ps01", n_students: int = 30, workers: int = 2, rounds: int = 1,
          pin: str | None = None) -> bool:
    """Run the timings, print them; return True when every target is met and no honest work is flagged.

    With ``rounds`` > 1 the parallel plain run and both graders are timed that many times, on
    fresh copies of the class, the graders taking turns going first; the targets are judged
    on the medians of the rounds' speed-ups and ratios. ``pin`` ("0,1", "2-3") runs everything
    on those CPUs only, as ``taskset -c`` would: every process started inherits it.
    """
    for name, value in (("rounds", rounds), ("students", n_students), ("workers", workers)):
        if value < 1:
            raise DataethicsError(f"{name} must be at least 1, not {value}")
    if pin is not None:
        pin_to(pin)
    load_before = _load()
    plain_name = f"plain nbclient, {workers} process{'' if workers == 1 else 'es'}"
    ours_name = f"dataethics grade autograde, {workers} worker{'' if workers == 1 else 's'}"
    from dataethics.grading.course import generate_release
    from dataethics.grading.runner.notebook import rebuild

    root = Path(tempfile.mkdtemp(prefix="dataethics-bench-"))
    try:
        ours, theirs, plain = root / "ours", root / "nbgrader", root / "plain"
        subs = make_class(ours, assignment, n_students)
        shutil.copytree(ours, theirs, ignore=shutil.ignore_patterns("gradebook.db"))
        generate_release(assignment, theirs, source_root=theirs)
        # the plain baseline runs the very notebooks the grader runs (source + the student's answers)
        source_nb = next((ours / "source" / assignment).glob("*.ipynb"))
        release_nb = ours / "release" / assignment / source_nb.name
        jobs = []
        for sub in subs:
            nb, _ = rebuild(nbformat.read(source_nb, 4), nbformat.read(sub, 4), nbformat.read(release_nb, 4))
            work = plain / sub.parent.parent.name
            shutil.copytree(ours / "release" / assignment, work)
            nbformat.write(nb, work / "run.ipynb")
            jobs.append((str(work / "run.ipynb"), str(work)))
        steps = tqdm(total=1 + 3 * rounds + 2, desc="bench grading", unit="step")
        start = time.perf_counter()
        for job in tqdm(jobs, desc="plain nbclient, serial", unit="nb", leave=False):
            _execute(job)
        serial = time.perf_counter() - start
        steps.update()
        # classes untouched by any grader: each round grades fresh copies of them
        ours_class, theirs_class = root / "ours-class", root / "nbgrader-class"
        shutil.copytree(ours, ours_class)
        shutil.copytree(theirs, theirs_class)
        rounds_done: list[dict[str, float]] = []
        outcomes: list = []
        every: list = []  # the outcomes of all rounds
        for r in range(rounds):
            for path, fresh in ((ours, ours_class), (theirs, theirs_class)):
                shutil.rmtree(path)
                shutil.copytree(fresh, path)
            timings = {"plain nbclient, serial": serial}
            start = time.perf_counter()
            with ProcessPoolExecutor(max_workers=workers) as pool:
                list(pool.map(_execute, jobs))
            timings[plain_name] = time.perf_counter() - start
            steps.update()
            # the two graders take turns going first, so that a drift of the machine's speed
            # falls on both
            for which in (("nbgrader", "ours") if r % 2 == 0 else ("ours", "nbgrader")):
                if which == "nbgrader":
                    timings["nbgrader autograde, serial"] = _run_nbgrader(assignment, theirs)
                else:
                    seconds, outcomes = _run_ours(assignment, ours, workers, len(subs))
                    every += outcomes
                    timings[ours_name] = seconds
                steps.update()
            rounds_done.append(timings)
        hide = [ours, plain]
        sample = jobs[:BREAKDOWN_SAMPLES]
        parts = {}
        for name, warm in (("fresh kernel (ordinary launcher)", False),
                           ("pre-warmed fork (this grader)", True)):
            parts[name] = breakdown(sample, hide, prewarmed=warm)
            steps.update()
        steps.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    n = len(subs)
    print(f"\n{n} submissions of {assignment}; sandbox: {'yes' if outcomes[0].sandboxed else 'no'}")
    print(f"machine: {_cpus()}; load average {load_before} before, {_load()} after "
          "(other work on the machine slows every row)")
    speedups, ratios = [], []
    for r, timings in enumerate(rounds_done, 1):
        print(f"{'round ' + str(r) if rounds > 1 else 'run':40} {'wall s':>8} {'s/submission':>13}")
        for name, sec in timings.items():
            print(f"{name:40} {sec:8.1f} {sec / n:13.2f}")
        speedups.append(timings["nbgrader autograde, serial"] / timings[ours_name])
        ratios.append(timings[ours_name] / timings[plain_name])
        if rounds > 1:
            print(f"{'':40} speed-up {speedups[-1]:.2f}x, ratio {ratios[-1]:.2f}")
    speedup, overhead = statistics.median(speedups), statistics.median(ratios)
    what = f"median of {rounds} rounds" if rounds > 1 else "one run"
    print(f"speed-up over serial nbgrader: {speedup:.2f}x ({what}; target >= {SPEEDUP_TARGET})")
    print(f"ratio grader / {plain_name}: {overhead:.2f} "
          f"({what}; target <= {OVERHEAD_TARGET})")
    if (n, workers) != (30, 2):
        print(f"(the targets are set for 30 submissions and 2 workers; this run: {n} and {workers})")
    flagged = [o for o in every if o.flags]
    print(f"flags on this honest class: {len(flagged)} of {len(every)} gradings"
          + (f" (first: {flagged[0].student}: {flagged[0].flags[0][:120]})" if flagged else ""))
    kernels = sorted({o.kernel for o in outcomes if o.kernel})
    print(f"kernels: {'; '.join(kernels) or 'none started'}")
    print(f"\nper submission, s (mean of {len(sample)}, one at a time; save: mean of the class)")
    print(f"{'':36} {'start':>7} {'imports':>8} {'run':>7} {'save':>7}")
    mean_save = sum(o.save_seconds for o in outcomes) / len(outcomes)
    for name, part in parts.items():
        print(f"{name:36} {part['start']:7.2f} {part['imports']:8.2f} {part['run']:7.2f} {mean_save:7.2f}")
    checks = sum(o.guard_seconds for o in every)
    graded = sum(o.seconds for o in every)
    share = checks / graded if graded else 0.0
    print(f"integrity checks (kernel guard: snapshot and checks): {checks:.2f} s of {graded:.1f} s "
          f"of grading, {100 * share:.1f} % (target <= {100 * CHECKS_TARGET:.0f} %)")
    return (speedup >= SPEEDUP_TARGET and overhead <= OVERHEAD_TARGET and share <= CHECKS_TARGET
            and not flagged)
