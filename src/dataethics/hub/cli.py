"""The ``dataethics hub`` command line: ``up``, ``down``, ``role-config``, ``feedback``, ``bench``.

``make hub`` is ``dataethics hub up``. The running processes are :mod:`dataethics.hub.launcher`'s;
this module only reads arguments and calls it, :mod:`.accounts`, :mod:`.exchange` and :mod:`.bench`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from dataethics import paths
from dataethics.errors import DataethicsError
from dataethics.hub import accounts
from dataethics.hub.config import HubSettings, read_names


def settings_from_args(args: argparse.Namespace) -> HubSettings:
    """Build :class:`HubSettings` from ``dataethics hub up`` arguments."""
    students = read_names(args.students or "")
    if args.students_file:
        path = Path(args.students_file)
        if not path.is_file():
            raise DataethicsError(f"class list not found: {path}")
        students += read_names(path.read_text(encoding="utf-8"))
    kwargs: dict[str, Any] = {"instructor": args.instructor, "ip": args.ip, "port": args.port,
                              "state_dir": args.state_dir, "exchange": args.exchange,
                              "home_base": args.home_base, "db_url": args.db_url or "",
                              "server_port_base": args.server_ports}
    if students:
        kwargs["students"] = students
    return HubSettings(**kwargs)


def _up(args: argparse.Namespace) -> int:
    from dataethics.hub.launcher import Hub  # requests and psutil: only for the commands that run a hub

    settings = settings_from_args(args)
    created = accounts.prepare(settings)
    hub = Hub(settings)
    hub.start()
    print(f"course hub: {settings.url}  (log: {hub.log_path}; Ctrl-C stops it and the servers)")
    print(f"  instructor {settings.instructor!r}, password {settings.instructor_password!r}")
    print(f"  students {', '.join(settings.students)}; password {settings.student_password!r}")
    print("  these are throw-away trial passwords: see grader/hub/authenticators.md before real use")
    if created:
        print(f"  Unix users created: {', '.join(created)} (remove: dataethics hub down --remove-users)")
    try:
        while hub.running():
            time.sleep(1)
        print(f"JupyterHub stopped: {hub.last_log_line()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping the class's servers and the hub …")
        return 0
    finally:
        hub.stop_servers()
        hub.stop()


def _down(args: argparse.Namespace) -> int:
    from dataethics.hub.launcher import Hub

    settings = HubSettings.load(Path(args.state_dir) / "settings.json")
    accounts.require_root()
    pid_file = Path(settings.state_dir) / "jupyterhub.pid"
    hub = Hub(settings)
    if pid_file.is_file():
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (ValueError, ProcessLookupError):
            pass
    hub.stop_servers()
    removed = accounts.teardown(settings, args.remove_users, args.remove_exchange)
    print(f"hub stopped; state {settings.state_dir} removed"
          + (f"; users removed: {', '.join(removed)}" if removed else ""))
    return 0


def _role_config(args: argparse.Namespace) -> int:
    from dataethics.hub.config import role_files

    settings = HubSettings(exchange=args.exchange, db_url=args.db_url or "", repo=args.course_config_dir)
    out = Path(args.out)
    for rel, text in role_files(settings, args.role, course_root=args.course_root).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text, encoding="utf-8")
    print(f"{args.role}'s Jupyter configuration written to {out} (put it on JUPYTER_CONFIG_PATH)")
    if (out / "data").is_dir():
        print(f"its data/ folder holds the kernelspec of the pre-warmed Validate: put {out / 'data'} on "
              "JUPYTER_PATH, or run `dataethics validate --install-kernelspec --prefix <sys.prefix>`")
    return 0


def _feedback(args: argparse.Namespace) -> int:
    from dataethics.hub.exchange import return_feedback

    students = return_feedback(args.assignment, args.course)
    print(f"feedback on {args.assignment} released to the exchange for {len(students)} student(s); "
          "they fetch it from their Assignments tab")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from dataethics.hub.bench import bench

    return 0 if bench(students=args.students) else 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``hub`` command group on the main parser."""
    hub = sub.add_parser("hub", help="the course's classroom on JupyterHub (run as root)",
                         description="The course's classroom on JupyterHub: an instructor, students "
                         "(real Unix users), nbgrader's exchange and this course's grader. "
                         "Run as root; grader/README.md, 'Classroom on JupyterHub', is the guide.")
    hsub = hub.add_subparsers(dest="action", required=True)
    defaults = HubSettings.__dataclass_fields__
    p = hsub.add_parser("up", help="create the class's users and exchange, start the hub (Ctrl-C stops)",
                        epilog="example: sudo .venv/bin/dataethics hub up --students ada,bob,cleo")
    p.add_argument("--instructor", default=defaults["instructor"].default,
                   help="instructor's user name (default: instructor)")
    p.add_argument("--students", help="students' user names, comma separated "
                   "(default: student1,student2,student3)")
    p.add_argument("--students-file", help="a file with one student user name a line")
    p.add_argument("--ip", default=defaults["ip"].default, help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=defaults["port"].default, help="port (default: 8000)")
    p.add_argument("--server-ports", type=int, default=defaults["server_port_base"].default,
                   help="first port of the servers' block, one port per class member in order "
                        "(default: 20000; 0: random ports)")
    p.add_argument("--state-dir", default=defaults["state_dir"].default,
                   help="hub's database, secrets and role settings (default: /srv/dataethics-hub)")
    p.add_argument("--exchange", default=defaults["exchange"].default,
                   help="nbgrader's exchange folder (default: /srv/nbgrader/exchange)")
    p.add_argument("--home-base", default=defaults["home_base"].default,
                   help="where new users' homes go (default: /home)")
    p.add_argument("--db-url", help="the instructor's gradebook, e.g. postgresql://host/dataethics "
                   "(default: SQLite in the instructor's course folder)")
    p.set_defaults(func=_up)
    p = hsub.add_parser("down", help="stop the class's servers and remove the hub's state")
    p.add_argument("--state-dir", default=defaults["state_dir"].default, help="as given to `hub up`")
    p.add_argument("--remove-users", action="store_true",
                   help="also delete the Unix users the hub created, with their homes")
    p.add_argument("--remove-exchange", action="store_true", help="also delete the course's exchange folder")
    p.set_defaults(func=_down)
    p = hsub.add_parser("role-config", help="write one role's Jupyter configuration (for images, TLJH, "
                        "Zero to JupyterHub)")
    p.add_argument("role", choices=["student", "instructor"])
    p.add_argument("--out", required=True, help="folder to write (e.g. /etc/jupyter in an image)")
    p.add_argument("--exchange", default=defaults["exchange"].default,
                   help="nbgrader's exchange folder (default: /srv/nbgrader/exchange)")
    p.add_argument("--course-root", default="~/dataethics", help="instructor's course folder "
                   "(default: ~/dataethics, in each instructor's home)")
    p.add_argument("--course-config-dir", default=str(paths.repo_root()),
                   help="folder holding the course's nbgrader_config.py (default: this repository)")
    p.add_argument("--db-url", help="the instructor's gradebook, e.g. postgresql://host/dataethics")
    p.set_defaults(func=_role_config)
    p = hsub.add_parser("feedback", help="instructor: generate feedback with nbgrader and release it to "
                        "the exchange", epilog="example: dataethics hub feedback ps00")
    p.add_argument("assignment", help="assignment id, e.g. ps00")
    p.add_argument("--course", default="~/dataethics", help="course folder (default: ~/dataethics)")
    p.set_defaults(func=_feedback)
    p = hsub.add_parser("bench", help="30 students: server start time, submission rush, memory (root)")
    p.add_argument("--students", type=int, default=30, help="size of the class (default: 30)")
    p.set_defaults(func=_bench)
