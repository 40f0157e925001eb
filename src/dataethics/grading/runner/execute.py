"""Running one submission in a fresh, limited kernel and deciding each test cell's verdict.

:func:`run_submission` is what a worker process does for one notebook: read it,
report tampering and attacks, rebuild it from the source, execute it under the
limits, and decide each test cell's verdict.

A test cell **passes only if** the kernel's ``execute_reply`` for it says ``ok``,
no error output was produced, and the guard (:mod:`.guard`), asked through the
kernel's control channel before the cell (when an answer ran since the last
check) and after it, found the kernel's machinery untouched. Missing error
output never counts as success. A failing cell gets an error output saying why,
so that nbgrader's ``SaveAutoGrades`` scores it zero; after tampering every later
test cell scores zero.

Every output is capped on arrival (:class:`GradingClient`): text to
``max_output_chars``, images to ``max_image_chars``, the whole notebook to
``max_notebook_chars``, with a visible marker; other cells' outputs cannot be
updated; widgets' output hooks are ignored. The per-cell limit is enforced
twice: nbclient interrupts the kernel, and a watchdog kills it a few seconds
later if the cell still runs (a loop that swallows interrupts).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path
from queue import Empty
from typing import Any

import nbformat
from nbclient import NotebookClient

from dataethics.grading.runner.guard import RECORD, RECORDED, REPLY, REQUEST
from dataethics.grading.runner.integrity import attack_report, tamper_report
from dataethics.grading.runner.kernel import TRUNCATED
from dataethics.grading.runner.limits import Limits, Outcome
from dataethics.grading.runner.notebook import (
    bound_names,
    error_output,
    oversized_answers,
    read_submission,
    read_trusted,
    rebuild,
    test_names,
)
from dataethics.grading.runner.prewarm import begin as begin_prewarmed
from dataethics.grading.runner.sandbox import kernelspec_dir, sandbox_available

TAMPERED = "tampered with the grader"
_TEXT_KEYS = ("text", "evalue")
_KEEP_MIME = ("text/plain", "text/markdown", "text/latex")


def _marker(chars: int) -> str:
    return f"[output truncated by the grader: {chars} characters over the limit]"


def cap_output(out: nbformat.NotebookNode, limits: Limits) -> int:
    """Cap one output in place (every type and MIME type); return its size in characters.

    A capped output carries a visible "truncated by the grader" marker.
    """
    kind = out.get("output_type")
    limit = limits.max_output_chars
    if kind == "stream":
        text = out.get("text", "")
        if len(text) > limit:
            out["text"] = text[:limit] + "\n" + _marker(len(text) - limit) + "\n"
        return len(out["text"])
    if kind == "error":
        out["ename"] = str(out.get("ename", ""))[:200]
        evalue = str(out.get("evalue", ""))
        if len(evalue) > limit:
            evalue = evalue[:limit] + " " + _marker(len(evalue) - limit)
        out["evalue"] = evalue
        frames, total, kept = out.get("traceback", []), 0, []
        for frame in frames[:60]:
            frame = str(frame)
            if total + len(frame) > limit:
                kept.append(_marker(sum(len(str(f)) for f in frames) - total))
                break
            kept.append(frame)
            total += len(frame)
        out["traceback"] = kept
        return len(out["evalue"]) + total
    data = out.get("data")
    if not isinstance(data, dict):
        return 0
    size = 0
    for mime in list(data):
        if mime not in data:  # text/plain may have been rewritten below
            continue
        value = data[mime]
        text = value if isinstance(value, str) else json.dumps(value)
        if mime.startswith("image/") and len(text) <= limits.max_image_chars:
            size += len(text)
            continue
        if len(text) <= limit:
            size += len(text)
            continue
        if mime in _KEEP_MIME:
            data[mime] = text[:limit] + "\n" + _marker(len(text) - limit)
            size += limit
        else:  # HTML, images, JSON, anything else: cut, it would not render; say so
            del data[mime]
            note = f"[{mime} output of {len(text)} characters removed by the grader]"
            plain = data.get("text/plain", "")
            data["text/plain"] = (plain[:limit] + "\n" + note) if isinstance(plain, str) else note
            size += len(data["text/plain"])
    meta = out.get("metadata", {})
    if len(json.dumps(meta, default=str)) > 2_000:
        out["metadata"] = {}
    return size


class GradingClient(NotebookClient):
    """nbclient with every output capped on arrival and nothing reaching other cells' outputs."""

    def __init__(self, *args: Any, limits: Limits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.used = 0
        self.current = -1
        self.cut = False
        self.replies: dict[int, str] = {}
        self.reply_errors: dict[int, str] = {}  # cell → the exception the kernel's reply names
        self.install_seconds: float | None = None  # from the kernel's first answer
        self.recorded: dict[int, Any] = {}  # cell → the record its reply carried (see .guard.RECORD)
        self.record_next: dict | None = None  # to ask for in the next execute_request
        self.interrupted = -1
        self.on_cell_executed = self._record_reply

    def _record_reply(self, cell: nbformat.NotebookNode, cell_index: int,
                      execute_reply: dict | None) -> None:
        content = (execute_reply or {}).get("content", {})
        self.recorded[cell_index] = ((execute_reply or {}).get("metadata") or {}).get(RECORDED)
        self.replies[cell_index] = content.get("status") or "none"
        if content.get("status") == "error":
            self.reply_errors[cell_index] = str(content.get("ename") or "")

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> Any:
        """Keep an output only within the notebook's budget, and capped."""
        if self.used >= self.limits.max_notebook_chars or len(outs) >= self.limits.max_outputs_per_cell:
            self.cut = True
            if not (outs and outs[-1].get("text") == TRUNCATED):
                outs.append(nbformat.v4.new_output("stream", name="stdout", text=TRUNCATED))
            return None
        out = super().output(outs, msg, None, cell_index)  # no display ids: no later updates
        if out is not None:
            self.used += cap_output(out, self.limits)
            if "by the grader" in json.dumps(out):
                self.cut = True
        return out

    async def _async_handle_timeout(self, timeout: int, cell: Any = None) -> None:
        """Interrupt the kernel once at the cell limit (the watchdog kills it if that fails).

        nbclient calls the *synchronous* ``interrupt_kernel`` from its event loop, which does
        not reach the kernel: the manager's asynchronous method is awaited instead.
        """
        if self.interrupted == self.current:
            await asyncio.sleep(0.2)
            return None
        self.interrupted = self.current
        provisioner = getattr(self.km, "provisioner", None)
        if getattr(self.km.kernel_spec, "interrupt_mode", "signal") == "signal" and provisioner:
            await provisioner.send_signal(signal.SIGINT)
            return None
        interrupt = getattr(self.km, "_async_interrupt_kernel", None)
        if interrupt is None:
            return await super()._async_handle_timeout(timeout, cell)
        await interrupt()
        return None

    def handle_comm_msg(self, outs: list, msg: dict, cell_index: int) -> None:
        """Widgets are not run by the grader (their output hooks could write anywhere)."""

    def _update_display_id(self, display_id: str, msg: dict) -> None:
        """Display updates are ignored: no output is ever changed after it was capped."""


async def _guard(client: GradingClient, record: bool, binds: list[str] | None = None) -> list[str]:
    """Ask the kernel's guard, on the control channel, what changed; an unanswered request is a finding.

    ``binds`` are the names the locked cell that just ran binds in its own source. (When an
    answer comes next, that cell's request asks for the record itself: see ``RECORD``.)
    """
    from jupyter_core.utils import ensure_async

    kc = client.kc
    nonce = secrets.token_hex(8)
    msg = kc.session.msg(REQUEST, {"nonce": nonce, "record": record, "binds": binds or []})
    kc.control_channel.send(msg)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            wait = max(0.1, deadline - time.monotonic())
            reply = await ensure_async(kc.control_channel.get_msg(timeout=wait))
        except Empty:
            break
        if reply.get("parent_header", {}).get("msg_id") != msg["header"]["msg_id"]:
            continue
        content = reply.get("content", {})
        if reply.get("msg_type") != REPLY or content.get("nonce") != nonce:
            return ["the grader's check got a forged answer"]
        if client.install_seconds is None:  # the kernel's snapshot time counts as the checks' cost
            client.install_seconds = float(content.get("install_seconds") or 0)
        return [str(c)[:200] for c in content.get("changes", [])][:20]
    return ["the grader's check got no answer from the kernel"]


def _is_test(cell: nbformat.NotebookNode) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _is_answer(cell: nbformat.NotebookNode) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


def run_submission(task: dict) -> dict:
    """Worker: prepare, check and execute one student's notebook. Returns an Outcome as a dict."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    limits = Limits(**task["limits"])
    out = Outcome(task["student"], task["assignment"], task["notebook"])
    start = time.perf_counter()
    source, release = read_trusted(task["source"]), read_trusted(task["release"])  # read-only
    path = Path(task["submitted"]) if task["submitted"] else None
    submitted = None
    if path is None or not path.is_file():
        out.status = "missing"
        out.flags.append("missing notebook" + (f" (found {task['other_files']})"
                                               if task.get("other_files") else ""))
    else:
        if task.get("renamed_from"):
            out.flags.append(f"wrong file name: {task['renamed_from']}")
        elif task.get("other_files"):
            out.flags.append(f"extra notebook(s) not graded: {task['other_files']}"[:300])
        try:
            submitted = read_submission(path, limits.max_submission_bytes)
        except ValueError as exc:  # invalid JSON, wrong schema, undecodable bytes: a flagged zero
            out.status = "invalid"
            out.flags.append(f"invalid notebook: {exc}")
    if submitted is None:  # nothing to run: the parent records a flagged zero
        out.seconds = time.perf_counter() - start
        return asdict(out)
    out.flags += tamper_report(submitted, release)
    too_big = oversized_answers(submitted, limits.max_answer_chars)
    out.flags += [f"answer {gid} is too long (over {limits.max_answer_chars} characters): not graded"
                  for gid in too_big]
    nb, answers = rebuild(source, submitted, release, skip=set(too_big))
    names = set(task["test_names"]) if "test_names" in task else test_names(source)
    out.flags += attack_report(answers, names)
    sandboxed = bool(limits.sandbox if limits.sandbox is not None else sandbox_available())
    out.sandboxed = sandboxed
    # a kernel forked from this worker's pre-warmed template when possible (see .prewarm)
    fast, out.kernel = begin_prewarmed(task, sandboxed)
    work = fast.work if fast else Path(task["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    data = Path(task["release"]).parent / "data"
    if data.is_dir():
        shutil.copytree(data, work / "data", dirs_exist_ok=True)
    if fast:
        km = fast.kernel_manager(limits, task.get("guard_modules", []))
    else:
        specs = kernelspec_dir(work, limits, [Path(p) for p in task["hide"]], sandboxed,
                               guard_modules=task.get("guard_modules", []))
        ksm = KernelSpecManager(kernel_dirs=[str(specs / "kernels")])
        # the asynchronous manager: nbclient's loop awaits its interrupt (the synchronous one's
        # interrupt, called from that loop, never reached the kernel: --cell-seconds was ignored)
        km = AsyncKernelManager(kernel_name="dataethics-grader", kernel_spec_manager=ksm,
                           transport="ipc", ip=str(work / "k"),
                           connection_file=str(work / "kernel.json"))
    # "immediate": once the last cell has run, the kernel is killed, not asked to exit and awaited
    client = GradingClient(nb, km=km, timeout=max(1, int(limits.cell_seconds)), allow_errors=True,
                           record_timing=False, interrupt_on_timeout=True, limits=limits,
                           shutdown_kernel="immediate",
                           resources={"metadata": {"path": str(work)}})
    state: dict[str, Any] = {"ran_upto": -1, "error": None, "cell_started": None,
                             "tampered_at": None, "guard_seconds": 0.0, "unchecked_from": None}
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    next_code = dict(zip(code_cells, [*code_cells[1:], None], strict=True))
    last_locked = max((i for i in code_cells if not _is_answer(nb.cells[i])), default=-1)

    def note(changes: list[str], index: int) -> None:
        if not changes:
            return
        if state["tampered_at"] is None:  # from the first cell that ran since the last full check
            first = state["unchecked_from"]
            state["tampered_at"] = index if first is None else min(first, index)
        gid = nb.cells[index].metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
        flag = f"{TAMPERED} (found at {gid}): " + "; ".join(dict.fromkeys(changes))
        out.flags.append(flag[:600])

    async def guard(index: int, record: bool, binds: list[str] | None = None) -> None:
        began = time.perf_counter()
        note(await _guard(client, record=record, binds=binds), index)
        state["guard_seconds"] += time.perf_counter() - began
        state["unchecked_from"] = None

    def recorded(index: int, nonce: str) -> None:
        """Take the answer to a record asked for in cell ``index``'s own request."""
        answer = client.recorded.get(index)
        if not isinstance(answer, dict) or answer.get("nonce") != nonce:
            note(["the grader's check got no answer from the kernel"], index)
            return
        state["guard_seconds"] += float(answer.get("seconds") or 0)
        if client.install_seconds is None:
            client.install_seconds = float(answer.get("install_seconds") or 0)

    async def execute_all() -> None:
        async with client.async_setup_kernel():
            channel = client.kc.shell_channel
            send = channel.send

            def send_with_record(msg: dict) -> None:  # a record asked for rides in the request
                if client.record_next is not None and msg["header"]["msg_type"] == "execute_request":
                    msg["metadata"][RECORD], client.record_next = client.record_next, None
                send(msg)

            channel.send = send_with_record
            dirty = False  # an answer ran since the last check
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                if dirty and not _is_answer(cell):
                    await guard(index, record=False)
                client.current = index
                if state["unchecked_from"] is None:
                    state["unchecked_from"] = index
                # after each locked cell: protect the names it bound. When an answer comes next
                # and a locked cell later, a full check runs before that locked cell and blames
                # what it finds on this cell too: only a record here, made by the kernel right
                # after the cell ran, before its reply (no round trip of its own)
                after = next_code.get(index)
                light = not _is_answer(cell) and after is not None and _is_answer(nb.cells[after]) \
                    and index < last_locked
                nonce = secrets.token_hex(8) if light else ""
                client.record_next = {"nonce": nonce, "binds": bound_names(cell.source)} if light else None
                state["cell_started"] = time.monotonic()
                await client.async_execute_cell(cell, index)
                state["cell_started"] = None
                state["ran_upto"] = index
                client.record_next = None
                if _is_answer(cell):
                    dirty = True
                elif light:
                    recorded(index, nonce)
                    dirty = False
                else:
                    await guard(index, record=True, binds=bound_names(cell.source))
                    dirty = False

    def run() -> None:
        try:
            asyncio.run(execute_all())
        except BaseException as exc:  # reported to the main thread below
            state["error"] = exc

    # nbclient can wait forever for a killed kernel's messages, so it runs in a thread that the
    # worker abandons at a time limit, after killing the kernel's process group
    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    deadline = time.monotonic() + limits.notebook_seconds
    dead_since = None
    stuck = False
    while runner.is_alive() and time.monotonic() < deadline:
        runner.join(0.25)
        started = state["cell_started"]
        # nbclient interrupts at the cell limit; a cell still running a little later swallowed it
        if started is not None and time.monotonic() - started > limits.cell_seconds + limits.kill_grace:
            stuck = True
            break
        # a kernel that exited (os._exit, a crash) is noticed here, not at the notebook limit
        if runner.is_alive() and km.has_kernel and not _alive(km):
            dead_since = dead_since or time.monotonic()
            if time.monotonic() - dead_since > 3:
                break
    if runner.is_alive():
        if stuck:
            out.status = "timeout"
            out.flags.append(f"a cell exceeded {limits.cell_seconds:g} s and ignored the interrupt: "
                             "the kernel was stopped")
        elif dead_since is not None:
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
            out.flags.append(f"a cell exceeded {limits.cell_seconds:g} s")
        elif isinstance(exc, DeadKernelError):
            out.status = "crash"
            out.flags.append("the kernel died (exit, crash or memory limit)")
        elif exc is not None:
            out.status = "crash"
            out.flags.append(f"execution failed: {type(exc).__name__}")
        try:
            if km.has_kernel and _alive(km):  # nbclient shuts it down; make sure
                os.killpg(os.getpgid(km.provisioner.process.pid), signal.SIGKILL)  # type: ignore[union-attr]
        except Exception:  # already dead
            pass
    out.flags += limit_flags(nb, client.reply_errors, limits, out.status)
    if client.cut:
        out.flags.append("huge output (truncated)")
    _verdicts(nb, client.replies, state["ran_upto"], state["tampered_at"], out)
    out.seconds = time.perf_counter() - start
    out.guard_seconds = state["guard_seconds"] + (client.install_seconds or 0.0)
    result = asdict(out)  # before the notebook goes in: asdict would deep-copy it
    result["executed"] = nb  # a dict; the parent validates it when it writes the graded copy
    return result


def limit_flags(nb: nbformat.NotebookNode, reply_errors: dict[int, str], limits: Limits,
                status: str = "ok") -> list[str]:
    """Flags for a cell stopped by the memory limit or interrupted at the cell limit.

    The exception is read from the cell's error output and from the kernel's reply: at the
    memory limit, formatting the traceback can itself run out of memory, and the cell then
    has no error output (only the reply names ``MemoryError``).
    """
    raised = set(reply_errors.values())
    raised.update(o.get("ename") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    flags = []
    if "KeyboardInterrupt" in raised and status == "ok":
        flags.append(f"a cell exceeded {limits.cell_seconds:g} s and was interrupted")
    if "MemoryError" in raised:
        flags.append(f"memory limit ({limits.memory_mb} MB) reached: MemoryError")
    return flags


def _alive(km: Any) -> bool:
    """Whether the kernel's process still runs (works for synchronous and asynchronous managers)."""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    if process is None or not hasattr(process, "poll"):
        alive = km.is_alive()
        return alive if isinstance(alive, bool) else True
    return process.poll() is None


def _verdicts(nb: nbformat.NotebookNode, replies: dict[int, str], ran_upto: int,
              tampered_at: int | None, out: Outcome) -> None:
    """Give every test cell that did not pass an error output stating why (nbgrader then scores 0).

    The kernel's verdict decides: nbgrader would also score 0 a passing cell that wrote to
    stderr, so the stderr streams of a passing test cell are kept as stdout.
    """
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if index > ran_upto:
            cell.outputs = [error_output(f"not run: {out.status}")]
            continue
        if not _is_test(cell):
            continue
        reason = ""
        if tampered_at is not None and index >= tampered_at:
            reason = f"no credit: this submission {TAMPERED} (see the flags)"
        elif replies.get(index) != "ok":
            reason = f"the kernel reported this cell as failed (execute_reply: {replies.get(index)})"
        if reason:
            cell.outputs.append(error_output(reason))
        else:  # passed: a warning on stderr (pandas, NumPy) must not make nbgrader score it 0
            for output in cell.outputs:
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"


def run_student(tasks: list[dict]) -> list[dict]:
    """Worker: grade one student's notebooks of an assignment, one after the other."""
    return [run_submission(task) for task in tasks]
