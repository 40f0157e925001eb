"""Running one submission in a fresh, limited kernel and deciding each test cell's verdict.

:func:`run_submission` is what a worker process does for one notebook: read it,
report tampering and attacks, rebuild it from the source, execute it under the
limits (per cell, per notebook, memory, output, sandbox) and mark every test cell
that did not pass — unrun after a timeout or a crash, or after tampering — with an
error output that earns no credit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path

import nbformat

from dataethics.grading.runner.integrity import GUARD_SOURCE, GUARD_TAG, attack_report, tamper_report
from dataethics.grading.runner.kernel import TRUNCATED
from dataethics.grading.runner.limits import Limits, Outcome
from dataethics.grading.runner.notebook import error_output, read_submission, rebuild
from dataethics.grading.runner.sandbox import kernelspec_dir, sandbox_available


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
            submitted = read_submission(path)
        except ValueError as exc:  # invalid JSON, wrong schema, undecodable bytes: a flagged zero
            out.status = "invalid"
            out.flags.append(f"invalid notebook: {exc}")
    if submitted is None:  # nothing to run: the parent records a flagged zero
        out.seconds = time.perf_counter() - start
        return asdict(out)
    out.flags += tamper_report(submitted, release)
    nb, answers = rebuild(source, submitted, release, guard=GUARD_SOURCE, guard_tag=GUARD_TAG)
    out.flags += attack_report(answers)
    work = Path(task["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    data = Path(task["release"]).parent / "data"
    if data.is_dir():
        shutil.copytree(data, work / "data", dirs_exist_ok=True)
    sandboxed = bool(limits.sandbox if limits.sandbox is not None else sandbox_available())
    out.sandboxed = sandboxed
    specs = kernelspec_dir(work, limits, [Path(p) for p in task["hide"]], sandboxed)
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
            cell.outputs = [error_output(f"not run: {out.status}")]
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
                cell.outputs = [error_output("no credit: " + "; ".join(out.flags)[:200])]
    nb.cells = nb.cells[:-1]  # drop the integrity check
    out.seconds = time.perf_counter() - start
    out.executed = json.loads(nbformat.writes(nb))
    return asdict(out)


def run_student(tasks: list[dict]) -> list[dict]:
    """Worker: grade one student's notebooks of an assignment, one after the other."""
    return [run_submission(task) for task in tasks]
