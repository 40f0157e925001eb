"""Start an IPython kernel under resource limits (used inside the grading sandbox).

``python -m dataethics.grading.runner.kernel MEMORY_MB CONNECTION_FILE [OUTPUT_CHARS]``
sets the address-space limit, keeps numerical libraries to one thread, caps
the output (:func:`cap_output`: a notebook that prints millions of lines stops
sending them after ``OUTPUT_CHARS`` characters instead of flooding the grader),
then starts an ordinary IPython kernel in this process.
"""

from __future__ import annotations

import os
import resource
import sys

TRUNCATED = "\n[output truncated by the grader]\n"


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


def main() -> None:
    """Apply the limits given on the command line and run the kernel."""
    memory_mb, connection_file = int(sys.argv[1]), sys.argv[2]
    output_chars = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    from ipykernel import kernelapp
    from ipykernel.iostream import OutStream

    cap_output(OutStream, output_chars)
    sys.argv = [sys.argv[0], "-f", connection_file]
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
