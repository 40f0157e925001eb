"""The class's Unix accounts, nbgrader's shared exchange and the instructor's course folder.

This module owns everything the hub creates on the machine (run as root):

* one Unix user per person (``useradd``), home folder private (``0700``) so that students
  cannot read each other's work nor the instructor's source and gradebook; users it created
  carry :data:`MARKER` in their comment field and only those are ever removed;
* the exchange with the permissions nbgrader documents: the root writable by everyone
  (here ``1777``, so nobody can rename or delete another's folder), the course folder owned
  by the instructor with ``inbound`` ``2733`` (students write, cannot list), ``outbound``
  ``0755`` and ``feedback`` ``0711``, made in advance so no student can claim the course's
  name first;
* the instructor's nbgrader course (a copy of the repository's ``assignments/source``),
  the state folder and the role configuration folders, with their owners and modes.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from dataethics import paths
from dataethics.errors import DataethicsError
from dataethics.hub.config import COURSE_ID, INSTRUCTOR, STUDENT, HubSettings, write_role_configs

MARKER = "dataethics course hub"


def require_root(what: str = "the course hub") -> None:
    """Stop with a one-line error unless running as root."""
    if os.geteuid() != 0:
        raise DataethicsError(f"{what} creates Unix users and starts servers as them: run it as root "
                              "(sudo make hub)")


def closed_folders(path: Path | str) -> list[Path]:
    """The folders on the way to ``path`` that other users cannot enter (no ``o+x``).

    Students' servers run the course's environment, so every folder above it must be
    searchable by them.
    """
    path = Path(path).resolve()
    return [p for p in [path, *path.parents] if p.is_dir() and not p.stat().st_mode & stat.S_IXOTH]


def runtime_paths(settings: HubSettings) -> list[Path]:
    """What students' servers execute: the course's environment and the Python it was made from."""
    venv_python = Path(settings.venv) / "bin" / "python"
    base = Path(sys.base_prefix) if Path(settings.venv).resolve() == Path(sys.prefix).resolve() else None
    found = [Path(settings.venv) / "bin", venv_python.resolve().parent]
    return found + ([base.resolve() / "lib"] if base else [])


def open_for_others(settings: HubSettings) -> list[tuple[str, int]]:
    """Let other users *enter* (``o+x``, never list) the folders on the way to the environment.

    Returns ``(folder, old mode)`` pairs, also saved in the state folder so that
    :func:`teardown` puts the modes back.
    """
    changed: list[tuple[str, int]] = []
    for target in runtime_paths(settings):
        for folder in closed_folders(target):
            mode = stat.S_IMODE(folder.stat().st_mode)
            os.chmod(folder, mode | stat.S_IXOTH)
            changed.append((str(folder), mode))
    if changed:
        record = Path(settings.state_dir) / "opened-folders.json"
        old = json.loads(record.read_text()) if record.is_file() else []
        record.write_text(json.dumps(old + changed), encoding="utf-8")
    return changed


def restore_folders(settings: HubSettings) -> None:
    """Put back the modes :func:`open_for_others` changed."""
    record = Path(settings.state_dir) / "opened-folders.json"
    if record.is_file():
        for folder, mode in reversed(json.loads(record.read_text())):
            if os.path.isdir(folder):
                os.chmod(folder, mode)


def user_exists(name: str) -> bool:
    """Whether a Unix user ``name`` exists."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def created_by_hub(name: str) -> bool:
    """Whether ``name`` is a user this module created (its comment field is :data:`MARKER`)."""
    try:
        return pwd.getpwnam(name).pw_gecos == MARKER
    except KeyError:
        return False


def ensure_user(name: str, home_base: Path | str) -> bool:
    """Create the Unix user ``name`` (own group, bash, private home); return True if created.

    An existing account is used as it is (its home is still made private).
    """
    created = False
    if not user_exists(name):
        home = Path(home_base) / name
        Path(home_base).mkdir(parents=True, exist_ok=True)
        out = subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash",
                              "--user-group", "--comment", MARKER, name],
                             capture_output=True, text=True)
        if out.returncode != 0 and not user_exists(name):
            raise DataethicsError(f"useradd {name} failed: {out.stderr.strip()}")
        created = True
    home = Path(pwd.getpwnam(name).pw_dir)
    if home.is_dir():
        os.chmod(home, 0o700)
    return created


def remove_user(name: str) -> bool:
    """Delete a user this module created, with its home; others are left alone. True if removed."""
    if not created_by_hub(name):
        return False
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
    out = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
    if out.returncode not in (0, 12):  # 12: home could not be removed (already gone)
        raise DataethicsError(f"userdel {name} failed: {out.stderr.strip()}")
    try:
        grp.getgrnam(name)
        subprocess.run(["groupdel", name], capture_output=True)
    except KeyError:
        pass
    return True


def _ids(user: str) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _chown_tree(path: Path, user: str) -> None:
    uid, gid = _ids(user)
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


def setup_exchange(settings: HubSettings) -> Path:
    """Create the exchange and the course's folders in it (nbgrader's modes); return the course folder."""
    root = Path(settings.exchange)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o1777)
    uid, gid = _ids(settings.instructor)
    course = root / COURSE_ID
    modes = {course: 0o755, course / "outbound": 0o755, course / "inbound": 0o2733,
             course / "feedback": 0o711}
    for folder, mode in modes.items():
        folder.mkdir(exist_ok=True)
        st = folder.stat()
        if st.st_uid != uid:
            if any(folder.iterdir()) and folder != course:
                raise DataethicsError(f"{folder} belongs to another user and is not empty: "
                                      "check who made it before the hub did")
            os.chown(folder, uid, gid)
        os.chmod(folder, mode)
    return course


def setup_course(settings: HubSettings) -> Path:
    """Give the instructor a course folder with the assignments' sources (kept if present)."""
    course = settings.course_root
    source = course / "source"
    if not source.is_dir():
        source.mkdir(parents=True)
        repo_source = Path(settings.repo) / "assignments" / "source"
        if not repo_source.is_dir():
            repo_source = paths.assignments_dir() / "source"
        shutil.copytree(repo_source, source, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    _chown_tree(course, settings.instructor)
    os.chmod(course, 0o700)
    return course


def setup_state(settings: HubSettings) -> None:
    """The state folder (entered by all, listed by root only), the admin token and the role folders."""
    state = Path(settings.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o711)
    if not settings.token_file.is_file():
        settings.token_file.write_text(secrets.token_hex(32), encoding="utf-8")
    os.chmod(settings.token_file, 0o600)
    settings.save()
    folders = write_role_configs(settings)
    os.chmod(folders[STUDENT].parent, 0o711)
    _chown_tree(folders[STUDENT], "root")
    for root, _dirs, files in os.walk(folders[STUDENT]):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    _chown_tree(folders[INSTRUCTOR], settings.instructor)
    os.chmod(folders[INSTRUCTOR], 0o700)


def prepare(settings: HubSettings) -> list[str]:
    """Everything the hub needs on the machine; return the users created now."""
    require_root()
    if not Path(settings.proxy).exists():
        raise DataethicsError(f"JupyterHub's proxy is missing ({settings.proxy}): run `make hub`, which "
                              "installs it with npm from grader/hub/package-lock.json")
    created = [name for name in settings.users if ensure_user(name, settings.home_base)]
    setup_state(settings)
    for folder, _mode in open_for_others(settings):
        print(f"note: other users may now enter {folder} (o+x, no listing) to run the course's "
              "Python; `dataethics hub down` puts the mode back")
    setup_exchange(settings)
    setup_course(settings)
    return created


def teardown(settings: HubSettings, remove_users: bool = False, remove_exchange: bool = False) -> list[str]:
    """Remove the hub's state folder, and on request its users and exchange; return removed users."""
    require_root()
    removed = [name for name in settings.users if remove_users and remove_user(name)]
    restore_folders(settings)
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    if remove_exchange:
        shutil.rmtree(Path(settings.exchange) / COURSE_ID, ignore_errors=True)
    return removed
