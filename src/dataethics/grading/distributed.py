"""Autograding on an existing Dask cluster (``--scheduler tcp://host:8786`` or ``$DATAETHICS_SCHEDULER``).

The instructor's process stays the only writer of the gradebook: it sends each student's
task to the cluster, receives the graded notebooks back and saves them one at a time, as
the local pool does. The cluster is whatever the institution already runs — a
``dask-jobqueue`` cluster on SLURM, Dask on Kubernetes, or ``dask scheduler`` and
``dask worker`` started by hand (``grader/README.md``) — as long as its workers have this
course's Python environment (and bubblewrap, for the sandbox).

Tasks carry the files they need (the grading template, the released notebook, the
student's notebooks; the assignment's ``data/`` once per worker), so workers need no shared
filesystem. On a worker, a submission runs exactly as on the instructor's machine:
:func:`dataethics.grading.runner.execute.run_student`, sandboxed, on the pre-warmed path
when available, in a scratch folder of that worker.

**A worker that dies mid-submission** (a node pre-empted, killed or out of memory): the
scheduler hands the task to another worker, where it notices — from a mark it left on the
scheduler when it started — that this attempt already began once, and stops at once. The
client then submits the student once more, as a new attempt; if that attempt's worker
dies too, the student is flagged ("the grading worker died twice") and the run goes on.
Whatever the scheduler's own ``allowed-failures`` setting, a submission is thus graded at
most twice and saved once.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dataethics.errors import DataethicsError

SCHEDULER_ENV = "DATAETHICS_SCHEDULER"
LOST = "dataethics-attempt-lost"
DIED_TWICE = "the grading worker died twice while grading this submission (not graded)"
_SCRATCH: dict[str, Path] = {}
_SCRATCH_LOCK = threading.Lock()


def scheduler_address(option: str | None = None) -> str | None:
    """The scheduler to use: the command-line option, else ``$DATAETHICS_SCHEDULER``, else none."""
    address = option or os.environ.get(SCHEDULER_ENV) or None
    if address and "://" not in address:
        raise DataethicsError(f"scheduler address '{address}' needs a protocol, e.g. tcp://host:8786")
    return address


def _read(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return base64.b64encode(Path(path).read_bytes()).decode()
    except OSError:  # vanished since the task was made: the worker reports it missing
        return None


def pack(tasks: list[dict]) -> list[dict]:
    """The student's tasks with the files' contents instead of paths on the instructor's machine."""
    packed = []
    for task in tasks:
        packed.append({**task, "source_b64": _read(task["source"]), "release_b64": _read(task["release"]),
                       "submitted_b64": _read(task["submitted"]),
                       "submitted_name": Path(task["submitted"]).name if task["submitted"] else None})
    return packed


def data_files(release: str) -> dict[str, bytes]:
    """The assignment's ``data/`` folder beside the released notebook, as ``{relative path: bytes}``."""
    root = Path(release).parent / "data"
    if not root.is_dir():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _worker_scratch() -> Path:
    """This worker process's scratch folder (removed when the process exits)."""
    with _SCRATCH_LOCK:
        if "root" not in _SCRATCH:
            import atexit

            root = Path(tempfile.mkdtemp(prefix="dataethics-dask-"))
            atexit.register(shutil.rmtree, root, ignore_errors=True)
            _SCRATCH["root"] = root
        return _SCRATCH["root"]


def _unpack(packed: list[dict], data: dict[str, bytes], scratch: Path) -> list[dict]:
    """Write a student's files under ``scratch``; return the tasks with paths on this worker."""
    digest = hashlib.sha256(b"".join(k.encode() + v for k, v in sorted(data.items()))).hexdigest()[:16]
    tasks = []
    for task in packed:
        tag = hashlib.sha256((task["source_b64"] or "").encode() + (task["release_b64"] or "").encode()
                             ).hexdigest()[:16]
        files = scratch / "files" / f"{tag}-{digest}"
        release = files / "release" / Path(task["release"]).name
        source = files / "source" / Path(task["source"]).name
        if not release.is_file():
            tmp = scratch / "files" / f".{uuid.uuid4().hex}"
            (tmp / "release").mkdir(parents=True)
            (tmp / "source").mkdir()
            (tmp / "release" / release.name).write_bytes(base64.b64decode(task["release_b64"] or ""))
            (tmp / "source" / source.name).write_bytes(base64.b64decode(task["source_b64"] or ""))
            for name, content in data.items():
                target = tmp / "release" / "data" / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
            try:
                tmp.rename(files)
            except OSError:  # another thread of this worker got there first
                shutil.rmtree(tmp, ignore_errors=True)
        submitted = None
        if task["submitted_b64"] is not None:
            folder = scratch / "submitted" / task["student"]
            folder.mkdir(parents=True, exist_ok=True)
            submitted = folder / task["submitted_name"]
            submitted.write_bytes(base64.b64decode(task["submitted_b64"]))
        keep = {k: v for k, v in task.items() if not k.endswith("_b64") and k != "submitted_name"}
        hide = [str(scratch)] + [p for p in task.get("hide", []) if Path(p).exists()]
        tasks.append({**keep, "source": str(source), "release": str(release),
                      "submitted": str(submitted) if submitted else None, "hide": hide,
                      "scratch": str(scratch / "work"),
                      "workdir": str(scratch / "work" / task["student"] / task["notebook"])})
    return tasks


def grade_remote(packed: list[dict], data: dict[str, bytes], attempt: list[str]) -> Any:
    """On a Dask worker: grade one student's notebooks; :data:`LOST` if this attempt ran before.

    ``attempt`` names this attempt on the scheduler: an attempt that finds its own mark
    already there was started by a worker that died, and stops without grading.
    """
    from distributed import get_client

    client = get_client()
    if client.get_metadata(attempt, default=None) is not None:
        return LOST
    client.set_metadata(attempt, "started")
    from dataethics.grading.runner.execute import run_student

    scratch = _worker_scratch()
    tasks = _unpack(packed, data, scratch)
    try:
        return run_student(tasks)
    finally:
        shutil.rmtree(scratch / "submitted" / packed[0]["student"], ignore_errors=True)
        shutil.rmtree(scratch / "work" / packed[0]["student"], ignore_errors=True)


def run_on_cluster(jobs: dict[str, list[dict]], address: str,
                   task: Any = grade_remote) -> Iterator[tuple[list[dict], list[dict] | Exception]]:
    """Grade every student's job on the cluster at ``address``; yield ``(tasks, results)`` as they finish.

    ``results`` are outcome dicts as :func:`~dataethics.grading.runner.execute.run_student`
    returns them, or the exception that stopped that student's task. ``task`` is the
    function run on the workers (replaceable for tests).
    """
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - a pinned requirement
        raise DataethicsError("grading on a cluster needs dask's 'distributed' package") from exc

    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise DataethicsError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
    run = uuid.uuid4().hex[:12]
    try:
        datas: dict[str, Any] = {}
        meta: dict[Any, tuple[str, int]] = {}

        def submit(student: str, attempt: int) -> Any:
            tasks = jobs[student]
            release = tasks[0]["release"]
            if release not in datas:  # data/ is sent once to every worker (a lost worker loses no data)
                datas[release] = client.scatter([data_files(release)], broadcast=True, hash=False)[0]
            mark = ["dataethics", run, student, str(attempt)]
            future = client.submit(task, pack(tasks), datas[release], mark, pure=False, retries=0,
                                   key=f"dataethics-grade-{student}-{run}-{attempt}")
            meta[future] = (student, attempt)
            return future

        pending = as_completed([submit(student, 1) for student in jobs])
        for future in pending:
            student, attempt = meta.pop(future)
            try:
                result = future.result()
            except Exception as exc:  # KilledWorker, a lost connection, or the task's own error
                result = LOST if _is_worker_loss(exc) else exc
            if result == LOST:
                datas.pop(jobs[student][0]["release"], None)  # its copies may have died too: send again
                if attempt == 1:
                    pending.add(submit(student, 2))
                    continue
                result = RuntimeError(DIED_TWICE)
            future.release()
            yield jobs[student], result
    finally:
        with contextlib.suppress(Exception):
            client.run_on_scheduler(_forget, run)
        client.close()


def _forget(run: str, dask_scheduler: Any = None) -> None:
    """On the scheduler: remove this run's attempt marks."""
    if dask_scheduler is not None:
        dask_scheduler.task_metadata.get("dataethics", {}).pop(run, None)


def _is_worker_loss(exc: BaseException) -> bool:
    """A worker (or every copy of the task's data) was lost, as opposed to the task failing."""
    from distributed import KilledWorker
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError

    return isinstance(exc, (KilledWorker, CommClosedError, FutureCancelledError))
