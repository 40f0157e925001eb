"""The grading kernel's launcher: limits, output caps and the guard, then an ordinary IPython kernel.

``python -m dataethics.grading.runner.kernel MEMORY_MB CONNECTION_FILE [OUTPUT_CHARS [MESSAGE_CHARS]]``

1. sets the address-space limit and keeps numerical libraries to one thread;
2. caps what the kernel sends: all printed text together (:func:`cap_output`, ``OUTPUT_CHARS``)
   and every other output message — displays, results, errors, of any MIME type
   (:func:`cap_messages`, ``MESSAGE_CHARS`` per message) — with a visible marker;
3. builds the kernel, keeps no second copy of each error's traceback in its history
   (:func:`_history_entry`), then installs the guard (:mod:`.guard`) before any student code runs;
4. starts the kernel in this process.

``NBGRADER_EXECUTION`` is ``autograde`` in the kernel, as under nbgrader (the kernelspec sets it).
"""

from __future__ import annotations

import os
import resource
import sys
import types
from typing import Any

TRUNCATED = "\n[output truncated by the grader]\n"
_CAPPED_TYPES = {"display_data", "execute_result", "update_display_data", "error"}


def cap_output(stream_class: type, limit: int) -> None:
    """Let at most ``limit`` characters through all instances of ``stream_class`` together.

    The class is patched before the kernel starts, so that IPython, which wraps
    each stream's ``write`` around every cell, wraps the capped one.
    """
    original = stream_class.write
    state = {"sent": 0, "cut": False}

    def write(self: object, text: str) -> int:
        state["sent"] += len(text)
        if state["sent"] <= limit:
            return original(self, text)
        if not state["cut"]:
            state["cut"] = True
            original(self, TRUNCATED)
        return len(text)

    stream_class.write = write


def _size(value: Any, depth: int = 0) -> int:
    """Characters of text in a message's content (strings in nested dicts and lists)."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if depth > 6:
        return 0
    if isinstance(value, dict):
        return sum(len(str(k)) + _size(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return sum(_size(v, depth + 1) for v in value)
    return 8


def cap_messages(session_class: type, limit: int) -> None:
    """Replace any display, result or error message over ``limit`` characters by a marker."""
    original = session_class.send

    def send(self: Any, stream: Any, msg_or_type: Any, content: Any = None, *args: Any,
             **kwargs: Any) -> Any:
        if isinstance(msg_or_type, dict):
            kind, body = msg_or_type.get("header", {}).get("msg_type"), msg_or_type.get("content")
        else:
            kind, body = msg_or_type, content
        if kind in _CAPPED_TYPES and isinstance(body, dict) and _size(body) > limit:
            note = f"[output of {_size(body)} characters truncated by the grader]"
            if kind == "error":
                small = {"ename": str(body.get("ename", "Error"))[:100], "evalue": note,
                         "traceback": [note]}
            else:
                small = {k: v for k, v in body.items() if k not in ("data", "metadata")}
                small.update({"data": {"text/plain": note}, "metadata": {}})
            if isinstance(msg_or_type, dict):
                msg_or_type = {**msg_or_type, "content": small}
            else:
                content = small
        return original(self, stream, msg_or_type, content, *args, **kwargs)

    session_class.send = send


def _history_entry(self: Any, exception: BaseException, *args: Any, **kwargs: Any) -> dict:
    """What a grading kernel keeps of an error in its history: its name and message.

    IPython 9 formats the traceback of every error twice: once for the cell's output, once
    more to keep in the kernel's history (``history_manager.exceptions``, read only by the
    ``%notebook`` export). Nobody reads a grading kernel's history, and the second copy
    cost a failed test about as much as the first (14 ms for an unanswered question's
    ``NotImplementedError``, 28 ms for a failed check). The output is unchanged.
    """
    return {"ename": type(exception).__name__, "evalue": str(exception), "traceback": []}


def start_kernel(connection_file: str, output_chars: int = 1_000_000,
                 message_chars: int = 2_000_000) -> None:
    """Cap the outputs, build the kernel, install the guard, run the kernel (never returns).

    Every way of starting a grading kernel (this launcher, a pre-warmed fork) ends here,
    so that no kernel runs student code without its output caps and its guard.
    """
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    os.environ.pop("JPY_PARENT_PID", None)  # in a PID namespace the parent is pid 1: do not poll it
    from ipykernel.iostream import OutStream
    from ipykernel.kernelapp import IPKernelApp
    from jupyter_client.session import Session

    from dataethics.grading.runner.guard import install

    cap_output(OutStream, output_chars)
    cap_messages(Session, message_chars)
    app = IPKernelApp.instance()
    # no history file: nobody reads a grading kernel's history, and SQLite on disk costs each kernel
    app.initialize(["-f", connection_file, "--HistoryManager.hist_file=:memory:"])
    shell = app.kernel.shell
    if hasattr(shell, "_format_exception_for_storage"):  # before the guard: it protects this too
        shell._format_exception_for_storage = types.MethodType(_history_entry, shell)
    install(app.kernel)
    app.start()


def main() -> None:
    """Apply the limits given on the command line and start the kernel."""
    memory_mb, connection_file = int(sys.argv[1]), sys.argv[2]
    output_chars = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    message_chars = int(sys.argv[4]) if len(sys.argv) > 4 else 2_000_000
    limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    sys.argv = sys.argv[:1]
    start_kernel(connection_file, output_chars, message_chars)


if __name__ == "__main__":
    main()
