"""The sandbox of a grading kernel: bubblewrap, and the kernelspec that applies the limits."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

from dataethics.grading.runner.limits import Limits


@functools.cache
def sandbox_available() -> bool:
    """True when bubblewrap can start a process here (probed once per process)."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False
    probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--unshare-net", "true"],
                           capture_output=True)
    return probe.returncode == 0


def kernelspec_dir(work: Path, limits: Limits, hide: list[Path], sandboxed: bool,
                   guard_modules: list[str] | None = None) -> Path:
    """Write a kernelspec whose argv applies the limits (and the sandbox); return its folder.

    The kernel's environment has ``NBGRADER_EXECUTION=autograde`` (as under nbgrader) and
    ``DATAETHICS_GUARD_MODULES``, the modules the tests import, which the guard watches.
    """
    launcher = [sys.executable, "-m", "dataethics.grading.runner.kernel", str(limits.memory_mb),
                "{connection_file}", str(limits.kernel_output_chars), str(limits.message_chars)]
    if sandboxed:
        # the whole system read-only (the venv may live anywhere, /tmp included), minus the
        # hidden folders; only the submission's own work folder is writable
        argv = [shutil.which("bwrap") or "bwrap", "--ro-bind", "/", "/", "--dev", "/dev",
                "--proc", "/proc"]
        for path in hide:
            if path.exists():
                argv += ["--tmpfs", str(path)]
        # its own PID namespace: kill(-1) or the parent's pid reach only this sandbox (the
        # launcher turns off ipykernel's parent polling, which would take pid 1 for a dead parent)
        argv += ["--bind", str(work), str(work), "--unshare-net", "--unshare-pid", "--die-with-parent",
                 "--setenv", "HOME", str(work), "--setenv", "MPLCONFIGDIR", str(work / ".mpl"),
                 "--setenv", "TMPDIR", str(work), "--setenv", "IPYTHONDIR", str(work / ".ipython"),
                 "--chdir", str(work), "--"] + launcher
    else:
        argv = launcher
    spec = work / "kernels" / "kernels" / "dataethics-grader"
    spec.mkdir(parents=True, exist_ok=True)
    env = {"NBGRADER_EXECUTION": "autograde",
           "DATAETHICS_GUARD_MODULES": ",".join(guard_modules or [])}
    # interrupts travel as a control message: a signal to bubblewrap's process group does not
    # reach a kernel in its own PID namespace, and the kernel sends SIGINT to itself just as well
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "grader",
                                                  "language": "python", "env": env,
                                                  "interrupt_mode": "message"}))
    return work / "kernels"
