"""The limits of one submission's run and the record of what happened to it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Limits:
    """Resource limits of one submission's run."""

    notebook_seconds: float = 180.0
    cell_seconds: float = 60.0
    memory_mb: int = 3072
    max_output_chars: int = 20_000       # kept of each text output (and MIME type) in the notebook
    max_image_chars: int = 400_000       # kept of each image (base64); bigger ones are removed
    max_notebook_chars: int = 1_500_000  # all outputs of a notebook together
    max_outputs_per_cell: int = 200
    kernel_output_chars: int = 1_000_000  # printed by the whole notebook before the kernel stops sending
    message_chars: int = 2_000_000       # the kernel replaces any bigger display/result/error message
    max_answer_chars: int = 50_000       # an answer cell longer than this is not graded
    max_submission_bytes: int = 20_000_000  # a bigger submitted file is not read
    kill_grace: float = 3.0              # seconds past the cell limit before the kernel is killed
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
    guard_seconds: float = 0.0  # time spent checking the kernel's machinery
    kernel: str = ""            # how the kernel started: pre-warmed fork, or fresh (and why)
    earlier: bool = False       # recorded by an earlier run and not graded again (resumed)
    save_seconds: float = 0.0   # time the grading process took to record it (gradebook, files)
    executed: dict | None = None  # the executed notebook as JSON
