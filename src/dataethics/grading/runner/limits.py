"""The limits of one submission's run and the record of what happened to it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Limits:
    """Resource limits of one submission's run."""

    notebook_seconds: float = 180.0
    cell_seconds: float = 60.0
    memory_mb: int = 3072
    max_output_chars: int = 20_000       # kept of each output in the autograded notebook
    kernel_output_chars: int = 1_000_000  # printed by the whole notebook before the kernel stops sending
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
    executed: dict | None = None  # the executed notebook as JSON
