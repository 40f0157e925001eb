"""Start an IPython kernel under resource limits (used inside the grading sandbox).

``python -m dataethics.grading.kernel_launcher MEMORY_MB CONNECTION_FILE`` sets the
address-space limit, keeps numerical libraries to one thread, then replaces
itself with ``ipykernel_launcher``.
"""

from __future__ import annotations

import os
import resource
import sys


def main() -> None:
    """Apply the limits given on the command line and exec the kernel."""
    memory_mb, connection_file = int(sys.argv[1]), sys.argv[2]
    limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file])


if __name__ == "__main__":
    main()
