"""A class under load: 30 students on the hub, and the deadline rush.

This module owns the load side of the hub, used both by ``tests/test_hub.py`` (which
checks that every submission arrives whole, with the right owner and time) and by
``make bench-hub`` / ``dataethics hub bench`` (which reports figures, not pass/fail):

* :class:`Student` — one student's API session on their own server: fetch, edit, submit,
  the same requests JupyterLab's *Assignments* tab sends;
* :func:`start_class` — start every student's server at once and time it;
* :func:`rush` — every student clicks *Submit* within the same moment;
* :func:`inbound` — what the exchange received, by student;
* :func:`bench` — the whole benchmark on a throw-away hub.

Targets (2 cores): rush ≤ 60 s from first click to last submission, hub ≤ 500 MB,
an idle student server ≤ 250 MB.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import requests

from dataethics.errors import DataethicsError
from dataethics.hub.config import COURSE_ID, HubSettings
from dataethics.hub.launcher import Hub, trial_hub

RUSH_SECONDS, HUB_MB, SERVER_MB = 60.0, 500.0, 250.0


class Student:
    """One student's session on their own server (token auth, as their browser would be)."""

    def __init__(self, hub: Hub, user: str) -> None:
        self.user = user
        self.base = f"{hub.settings.url}/user/{user}"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"token {hub.user_token(user)}"

    def _post(self, url: str, data: dict[str, str], timeout: float) -> requests.Response:
        """POST on a new connection, closed after the reply.

        An idle kept-alive connection may have been closed by the proxy (Node closes them after
        5 s) and a POST sent on it is reset; a browser sends it again, requests does not. A
        ``Connection: close`` header alone does not help: it closes the connection *after* the
        request, which may still go out on an idle pooled one, so the pool is emptied first.
        """
        self.http.close()  # drops idle pooled connections; the session stays usable
        return self.http.post(url, data=data, timeout=timeout, headers={"Connection": "close"})

    def action(self, action: str, assignment: str, timeout: float = 120) -> dict[str, Any]:
        """POST an Assignments-tab action (``fetch``, ``submit``, ``fetch_feedback``); its JSON reply."""
        response = self._post(f"{self.base}/assignments/{action}",
                              {"course_id": COURSE_ID, "assignment_id": assignment}, timeout)
        if response.status_code != 200:
            return {"success": False, "value": f"HTTP {response.status_code}: {response.text[:300]}"}
        return dict(response.json())

    def validate(self, path: str, timeout: float = 180) -> tuple[dict[str, Any], float]:
        """Press Validate on ``path`` (nbgrader's handler); its JSON reply and the seconds it took."""
        start = time.monotonic()
        response = self._post(f"{self.base}/assignments/validate", {"path": path}, timeout)
        took = time.monotonic() - start
        if response.status_code != 200:
            return {"success": False, "value": f"HTTP {response.status_code}: {response.text[:300]}"}, took
        return dict(response.json()), took

    def notebook(self, path: str) -> nbformat.NotebookNode:
        """Read a notebook through the server's contents API."""
        response = self.http.get(f"{self.base}/api/contents/{path}", params={"content": 1}, timeout=60)
        response.raise_for_status()
        return nbformat.from_dict(response.json()["content"])

    def save(self, path: str, nb: nbformat.NotebookNode) -> None:
        """Write a notebook through the server's contents API."""
        response = self.http.put(f"{self.base}/api/contents/{path}", timeout=60,
                                 json={"type": "notebook", "format": "json", "content": nb})
        response.raise_for_status()

    def sign(self, assignment: str, marker: str) -> None:
        """Write ``marker`` as a comment at the top of the first answer cell (to trace mix-ups)."""
        path = f"{assignment}/{assignment}.ipynb"
        nb = self.notebook(path)
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = f"# {marker}\n{cell.source}"
                break
        self.save(path, nb)


def start_class(hub: Hub, users: list[str], timeout: float = 300) -> float:
    """Ask for every server at once; return the seconds until the last is ready."""
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(hub.spawn, users))
    hub.wait_ready(users, timeout=timeout)
    return time.monotonic() - start


@dataclass
class Rush:
    """What a rush of submissions did."""

    first_click: datetime
    last_reply: datetime
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def failed(self) -> dict[str, str]:
        """Students whose submit did not succeed, with the server's message."""
        return {u: str(r.get("value", ""))[-300:] for u, r in self.replies.items() if not r.get("success")}


def rush(students: list[Student], assignment: str) -> Rush:
    """Every student clicks *Submit* at the same moment (one thread each)."""
    first = datetime.now(UTC)
    with ThreadPoolExecutor(max_workers=max(1, len(students))) as pool:
        replies = list(pool.map(lambda s: s.action("submit", assignment), students))
    return Rush(first, datetime.now(UTC), {s.user: r for s, r in zip(students, replies, strict=True)})


def inbound(settings: HubSettings, assignment: str) -> dict[str, list[Path]]:
    """The exchange's submissions of ``assignment`` by student (what ``collect`` would see)."""
    folder = Path(settings.exchange) / COURSE_ID / "inbound"
    out: dict[str, list[Path]] = {}
    for path in sorted(folder.glob(f"*+{assignment}+*")):
        out.setdefault(path.name.split("+")[0], []).append(path)
    return out


def parse_timestamp(path: Path) -> datetime:
    """The time nbgrader recorded in a submission's ``timestamp.txt``."""
    from nbgrader.utils import parse_utc

    stamp = parse_utc((path / "timestamp.txt").read_text().strip())
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def release_as_instructor(hub: Hub, assignment: str) -> None:
    """Generate and release ``assignment`` as the instructor with nbgrader (for the benchmark)."""
    settings = hub.settings
    env = {"HOME": str(settings.home(settings.instructor)), "PATH": f"{settings.venv}/bin:/usr/bin:/bin",
           "JUPYTER_CONFIG_PATH": str(settings.role_dir("instructor"))}
    for step in ("generate_assignment", "release_assignment"):
        out = subprocess.run(["runuser", "-u", settings.instructor, "--", "env", *[f"{k}={v}" for k, v in
                              env.items()], f"{settings.venv}/bin/nbgrader", step, assignment, "--force"],
                             cwd=env["HOME"], capture_output=True, text=True)
        if out.returncode != 0:
            raise DataethicsError(f"nbgrader {step} failed: {out.stderr.strip().splitlines()[-1:]}")


def bench(students: int = 30, assignment: str = "ps00") -> bool:
    """Run the benchmark on a throw-away hub and print its figures; True if within the targets."""
    names = [f"s{i:02d}" for i in range(1, students + 1)]
    with trial_hub("dhb", names) as hub:
        users = hub.settings.students
        release_as_instructor(hub, assignment)
        print(f"class of {students} on {hub.settings.url} (2 cores shared with everything else)")
        spawn_s = start_class(hub, users)
        time.sleep(10)  # let the servers settle before measuring idle memory
        server_mb = sorted(sum(p.memory_info().rss for p in hub.server_processes(u)) / 1e6 for u in users)
        class_ = [Student(hub, u) for u in users]
        with ThreadPoolExecutor(max_workers=8) as pool:
            fetched = list(pool.map(lambda s: s.action("fetch", assignment), class_))
        failed = [str(r.get("value"))[-200:] for r in fetched if not r.get("success")]
        if failed:
            raise DataethicsError(f"{len(failed)} student(s) could not fetch {assignment}: {failed[0]}")
        # Validate, as a student presses it: the first starts the server's template, later ones fork
        validate_s = [class_[0].validate(f"{assignment}/{assignment}.ipynb")[1] for _ in range(3)]
        tree = [q for p in hub.server_processes(users[0]) for q in (p, *p.children(recursive=True))]
        validated_mb = sum(q.memory_info().rss for q in {q.pid: q for q in tree}.values()) / 1e6
        result = rush(class_, assignment)
        arrived = inbound(hub.settings, assignment)
        last = max(parse_timestamp(p) for paths in arrived.values() for p in paths)
        rush_s = max((last - result.first_click).total_seconds(), 0.0)
        memory = hub.memory_mb()
    median = statistics.median(server_mb)
    rows = [("start 30 servers (s)" if students == 30 else f"start {students} servers (s)", spawn_s, None),
            ("rush: first click → last submission (s)", rush_s, RUSH_SECONDS),
            ("hub memory (MB)", memory["hub"], HUB_MB),
            ("proxy memory (MB)", memory["proxy"], None),
            ("idle student server, median (MB)", median, SERVER_MB),
            ("idle student server, largest (MB)", server_mb[-1], SERVER_MB),
            ("Validate, first press (s)", validate_s[0], None),
            ("Validate, later presses, mean (s)", statistics.mean(validate_s[1:]), None),
            ("a server after Validate, with its template (MB)", validated_mb, None)]
    print(f"\n{'measure':42} {'value':>8}  target")
    for name, value, target in rows:
        verdict = "" if target is None else f"≤ {target:.0f} " + ("ok" if value <= target else "OVER")
        print(f"{name:42} {value:8.1f}  {verdict}")
    print(f"submissions in the exchange: {sum(len(v) for v in arrived.values())} of {students}; "
          f"failed submits: {len(result.failed)}")
    return (rush_s <= RUSH_SECONDS and memory["hub"] <= HUB_MB and median <= SERVER_MB
            and len(arrived) == students and not result.failed)
