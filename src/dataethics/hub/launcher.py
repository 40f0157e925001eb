"""Start, drive and stop the course hub.

This module owns the running processes:

* :class:`Hub` starts JupyterHub (``grader/hub/jupyterhub_config.py`` reading the settings
  of :mod:`dataethics.hub.config`) with its proxy, waits until it answers, restarts and
  stops it, and stops every class server it started;
* :class:`Hub` also speaks JupyterHub's REST API as the course's admin service: start or
  stop a user's server, make a user's API token, list servers;
* :func:`trial_hub` makes a throw-away hub (users, exchange, state) for tests and benchmarks.

The ``dataethics hub`` commands are in :mod:`dataethics.hub.cli`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import requests

from dataethics import paths
from dataethics.errors import DataethicsError
from dataethics.hub import accounts
from dataethics.hub.config import HubSettings, can_listen

CONFIG_FILE = paths.repo_root() / "grader" / "hub" / "jupyterhub_config.py"


class Hub:
    """A JupyterHub process for :class:`HubSettings` (prepared with :func:`accounts.prepare`)."""

    def __init__(self, settings: HubSettings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.http = requests.Session()
        self.log_path = Path(settings.state_dir) / "jupyterhub.log"
        self.exchange_mount = False  # set by trial_hub when the exchange is its own tmpfs

    # -- process ---------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        """Start JupyterHub (and its proxy) and wait until its API answers."""
        if self.running():
            return
        env = {**os.environ, "DATAETHICS_HUB_SETTINGS": str(self.settings.settings_file)}
        env.pop("JUPYTER_PLATFORM_DIRS", None)
        log = open(self.log_path, "ab")  # the hub writes to it until it stops
        self.process = subprocess.Popen(
            [str(Path(self.settings.venv) / "bin" / "jupyterhub"), "-f", str(CONFIG_FILE)],
            cwd=self.settings.state_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DataethicsError(f"JupyterHub stopped at start (exit {self.process.returncode}); "
                                      f"see {self.log_path}: {self.last_log_line()}")
            if self.answers():
                return
            time.sleep(0.3)
        self.stop()
        raise DataethicsError(f"JupyterHub did not answer within {timeout:.0f} s; see {self.log_path}")

    def last_log_line(self) -> str:
        """The last line of the hub's log (for error messages)."""
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def answers(self) -> bool:
        """Whether the hub's API answers through the proxy."""
        try:
            return self.http.get(f"{self.settings.url}/hub/api/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def running(self) -> bool:
        """Whether the hub process this object started is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30) -> None:
        """Stop JupyterHub and its proxy; users' servers keep running (see :meth:`stop_servers`)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # the proxy is the hub's child; it must not outlive it (it would keep the port)
        for proc in self.proxy_processes():
            proc.kill()
        self.process = None

    def restart(self) -> None:
        """Stop and start the hub again (servers keep running; the hub finds them again)."""
        self.stop()
        self.start()

    def proxy_processes(self) -> list[psutil.Process]:
        """The proxy processes serving this hub's port."""
        out = []
        for proc in psutil.process_iter(["cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if "configurable-http-proxy" in cmd and f"--port {self.settings.port}" in cmd:
                out.append(proc)
        return out

    def memory_mb(self) -> dict[str, float]:
        """Resident memory of the hub process and of its proxy, in MB."""
        out = {"hub": 0.0, "proxy": 0.0}
        if self.running():
            assert self.process is not None
            out["hub"] = psutil.Process(self.process.pid).memory_info().rss / 1e6
        out["proxy"] = sum(p.memory_info().rss for p in self.proxy_processes()) / 1e6
        return out

    # -- REST API ----------------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call ``/hub/api/<path>`` as the course's admin service."""
        token = self.settings.token_file.read_text(encoding="utf-8").strip()
        headers = {"Authorization": f"token {token}"}
        return self.http.request(method, f"{self.settings.url}/hub/api/{path.lstrip('/')}",
                                 headers=headers, timeout=kwargs.pop("timeout", 30), **kwargs)

    def spawn(self, user: str) -> None:
        """Ask the hub to start ``user``'s server (returns at once; see :meth:`wait_ready`)."""
        response = self.api("POST", f"users/{user}/server")
        if response.status_code not in (201, 202, 400):  # 400: already running
            raise DataethicsError(f"could not start {user}'s server: {response.status_code} {response.text}")

    def ready(self, user: str) -> bool:
        """Whether ``user``'s server is running and ready."""
        info = self.api("GET", f"users/{user}").json()
        server = (info.get("servers") or {}).get("")
        return bool(server and server.get("ready"))

    def wait_ready(self, users: list[str], timeout: float = 240) -> float:
        """Wait until every user's server is ready; return the seconds waited."""
        start = time.monotonic()
        waiting = set(users)
        while waiting:
            if time.monotonic() - start > timeout:
                raise DataethicsError(f"servers not ready after {timeout:.0f} s: {sorted(waiting)[:5]}")
            for user in sorted(waiting):
                if self.ready(user):
                    waiting.discard(user)
            time.sleep(0.5)
        return time.monotonic() - start

    def stop_server(self, user: str, timeout: float = 60) -> None:
        """Stop ``user``'s server and wait until the hub says it stopped."""
        self.api("DELETE", f"users/{user}/server")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.api("GET", f"users/{user}").json()
            if not info.get("servers"):
                return
            time.sleep(0.5)

    def stop_servers(self, timeout: float = 20) -> None:
        """Stop every class member's server at once (SIGTERM, then SIGKILL after ``timeout``).

        The hub notices on its next poll; use :meth:`stop_server` to stop one through the hub.
        """
        procs = self.server_processes()
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        _gone, alive = psutil.wait_procs(procs, timeout=timeout)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()

    def server_processes(self, user: str | None = None) -> list[psutil.Process]:
        """Single-user server processes of the class (or of one user)."""
        wanted = {user} if user else set(self.settings.users)
        out = []
        for proc in psutil.process_iter(["username", "cmdline"]):
            cmd = proc.info["cmdline"] or []
            if proc.info["username"] in wanted and any("jupyterhub-singleuser" in part for part in cmd):
                out.append(proc)
        return out

    def listening_ports(self, user: str) -> set[int]:
        """The TCP ports ``user``'s server processes listen on (their kernels' excluded)."""
        ports = set()
        for proc in self.server_processes(user):
            with contextlib.suppress(psutil.Error):
                ports |= {c.laddr.port for c in proc.net_connections(kind="tcp")
                          if c.status == psutil.CONN_LISTEN}
        return ports

    def user_token(self, user: str) -> str:
        """A new API token of ``user`` (what their browser session can do, for scripts)."""
        response = self.api("POST", f"users/{user}/tokens", json={"note": "dataethics hub script",
                                                                  "expires_in": 3600})
        if response.status_code != 201:
            raise DataethicsError(f"no token for {user}: {response.status_code} {response.text}")
        return str(response.json()["token"])


# -- command line ------------------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_block(size: int, low: int = 20000, high: int = 32000) -> int:
    """The first port of ``size`` consecutive free ports between ``low`` and ``high``.

    The block starts at a random place (two trial hubs rarely pick the same one) and lies below
    the system's range for outgoing connections, so that no connection takes a server's port.
    """
    import random

    for _ in range(50):
        base = random.randrange(low, high - size)
        if all(can_listen(p) for p in range(base, base + size)):
            return base
    raise DataethicsError(f"no {size} free ports in a row between {low} and {high}")


@contextlib.contextmanager
def trial_hub(prefix: str, students: list[str], instructor: str = "teacher",
              exchange_mb: int = 0, keep_log: Path | None = None) -> Iterator[Hub]:
    """A throw-away hub for tests and benchmarks: everything in a new folder under /tmp.

    User names are ``<prefix>-<name>``; the users, their homes, the exchange and the hub's
    state are removed at the end, and every server is stopped. With ``exchange_mb`` the
    exchange is a tmpfs of that size (so that a full or read-only exchange can be staged);
    :attr:`Hub.exchange_mount` says whether that worked. With ``keep_log`` the hub's log (which
    holds the servers' logs too) is copied there before the folder goes.
    """
    import shutil
    import tempfile

    accounts.require_root("a trial hub")
    base = Path(tempfile.mkdtemp(prefix=f"dataethics-{prefix}-", dir="/tmp"))
    os.chmod(base, 0o755)
    exchange = base / "exchange"
    exchange.mkdir()
    mounted = False
    if exchange_mb:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={exchange_mb}m,mode=1777", "tmpfs",
                                  str(exchange)], capture_output=True).returncode == 0
    settings = HubSettings(instructor=f"{prefix}-{instructor}", students=[f"{prefix}-{s}" for s in students],
                           port=_free_port(), hub_port=_free_port(), proxy_api_port=_free_port(),
                           server_port_base=_free_block(len(students) + 1),
                           state_dir=str(base / "state"), exchange=str(exchange),
                           home_base=str(base / "home"))
    hub = Hub(settings)
    hub.exchange_mount = mounted
    try:
        accounts.prepare(settings)
        hub.start()
        yield hub
    finally:
        with contextlib.suppress(Exception):
            hub.stop_servers()
        hub.stop()
        if keep_log is not None and hub.log_path.is_file():
            keep_log.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(hub.log_path, keep_log)
        accounts.teardown(settings, remove_users=True, remove_exchange=True)
        if mounted:
            subprocess.run(["umount", "-l", str(exchange)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
