"""Running and inspecting notebooks with nbformat and nbclient.

Used by the benchmark, the tests and the tool that refreshes the lessons'
stored outputs (``make outputs``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

from dataethics import paths


@dataclass
class RunResult:
    """What one notebook run produced and cost."""

    notebook: nbformat.NotebookNode
    seconds: float
    peak_mb: float


class _PeakMemory(threading.Thread):
    """Poll a process tree's resident memory until stopped; keep the peak."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            proc = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop_event.is_set():
            try:
                rss = proc.memory_info().rss
                rss += sum(c.memory_info().rss for c in proc.children(recursive=True))
                self.peak = max(self.peak, rss)
            except psutil.Error:
                break
            time.sleep(self.every)

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        return self.peak / 2**20


def stored_text(path: Path, collapse: bool = True) -> tuple[str, str, str]:
    """A notebook's markdown, code and stored text outputs, for tests that quote lessons.

    With ``collapse`` the markdown's runs of white space become single spaces, so a
    sentence can be searched across line breaks.

    >>> md, code, out = stored_text(lessons()[0])
    >>> "En bref" in md and "import" in code and len(out) > 0
    True
    """
    nb = nbformat.read(Path(path), as_version=4)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    if collapse:
        md = " ".join(md.split())
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    out = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                    for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    return md, code, out


def lessons() -> list[Path]:
    """Return the lesson notebooks of ``course/`` in order."""
    return sorted(paths.course_dir().glob("[0-9][0-9]-*.ipynb"))


def source_notebooks() -> list[Path]:
    """Return every assignment source notebook, ``assignments/source/<id>/<name>.ipynb``."""
    return sorted(paths.assignments_dir().glob("source/*/*.ipynb"))


def execute(path: Path, timeout: int = 120, measure: bool = False) -> RunResult:
    """Execute a notebook in its own folder with a fresh kernel; return it with its cost.

    Timing metadata is not recorded, so two runs give the same file.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    watcher: _PeakMemory | None = None
    with client.setup_kernel():
        if measure:
            pid = client.km.provisioner.process.pid  # type: ignore[union-attr]
            watcher = _PeakMemory(pid)
            watcher.start()
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        client.set_widgets_metadata()
    seconds = time.perf_counter() - start
    peak = watcher.stop() if watcher else 0.0
    return RunResult(nb, seconds, peak)


def refresh_outputs(path: Path, timeout: int = 120) -> RunResult:
    """Re-execute a lesson top to bottom and write it back with its new outputs."""
    result = execute(path, timeout=timeout)
    nbformat.write(result.notebook, path)
    return result


def clear_outputs(path: Path) -> bool:
    """Strip outputs and execution counts from a notebook; return True if it changed."""
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            cell.outputs, cell.execution_count, changed = [], None, True
    if changed:
        nbformat.write(nb, path)
    return changed
