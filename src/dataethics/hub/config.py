"""Settings of one course hub, and the configuration files they turn into.

This module owns *what the hub is configured with*:

* :class:`HubSettings` — who is in the class, where the hub keeps its state, the exchange,
  the ports (the hub's, and one per class member's server), the throw-away trial passwords;
  saved as JSON in the state folder so that
  ``grader/hub/jupyterhub_config.py`` and later commands read the same values;
* :func:`configure` — JupyterHub's configuration (authenticator, spawner, proxy, the
  course's environment as the single-user server, the admin service used by scripts);
* :func:`write_role_configs` — the Jupyter configuration folder of each role, put first on
  the single-user servers' ``JUPYTER_CONFIG_PATH``: nbgrader's settings (course id, exchange,
  and for the instructor the course folder, gradebook and the course's feedback
  preprocessors, read from the repository's ``nbgrader_config.py``), which nbgrader panels
  and server extensions each role gets, and JupyterLab without news or update checks; for
  students also the kernelspec that makes nbgrader's Validate use pre-warmed kernels
  (:mod:`dataethics.grading.validate`), in the folder's ``data/`` (their ``JUPYTER_PATH``).

Nothing here creates users or starts processes (see :mod:`dataethics.hub.accounts` and
:mod:`dataethics.hub.launcher`).
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dataethics import paths
from dataethics.errors import DataethicsError
from dataethics.grading.validate import KERNEL_NAME as VALIDATE_KERNEL
from dataethics.grading.validate import kernelspec

COURSE_ID = "dataethics"
#: Throw-away passwords for a local trial (printed by ``make hub``, written in grader/README.md).
#: JupyterHub's shared-password authenticator wants at least 8 characters for users and 32 for
#: admins; anyone who knows the student password can log in as any student: trials only.
TRIAL_STUDENT_PASSWORD = "dataethics-trial"
TRIAL_INSTRUCTOR_PASSWORD = "dataethics-trial-instructor-only!"
ADMIN_SERVICE = "dataethics-course"
STUDENT, INSTRUCTOR = "student", "instructor"
_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,30}")

# nbgrader's JupyterLab plugins and server extensions an instructor has and a student does not
INSTRUCTOR_LAB_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                          "@jupyter/nbgrader:course-list")
INSTRUCTOR_SERVER_EXTENSIONS = ("nbgrader.server_extensions.formgrader",
                                "nbgrader.server_extensions.course_list")
STUDENT_SERVER_EXTENSIONS = ("nbgrader.server_extensions.assignment_list",
                             "nbgrader.server_extensions.validate_assignment")
# no news feed, no "Would you like to receive official Jupyter news?" toast, no update check
LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false",
                                                                 "checkForUpdates": False}}


def write_lab_overrides(prefix: str | None = None) -> Path:
    """An environment's JupyterLab settings overrides (``make setup``): no news question, no update check."""
    target = Path(prefix or sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(LAB_OVERRIDES, indent=1) + "\n", encoding="utf-8")
    return target


def default_proxy() -> str:
    """The proxy installed from ``grader/hub/package-lock.json`` (``make hub`` runs ``npm ci``)."""
    return str(paths.repo_root() / "grader" / "hub" / "node_modules" / ".bin" / "configurable-http-proxy")


def read_names(text: str) -> list[str]:
    """Split a class list (commas, spaces or one name a line; ``#`` starts a comment).

    >>> read_names("ada, bob\\n# late joiners\\ncleo")
    ['ada', 'bob', 'cleo']
    """
    names = []
    for line in text.splitlines():
        names += [n for n in re.split(r"[\s,]+", line.split("#")[0]) if n]
    return names


@dataclass
class HubSettings:
    """One course hub: the class, its folders and ports.

    ``state_dir`` holds JupyterHub's database, cookie secret and the admin service's token
    (root only), the role configuration folders and ``settings.json``.
    """

    instructor: str = "instructor"
    students: list[str] = field(default_factory=lambda: ["student1", "student2", "student3"])
    ip: str = "127.0.0.1"
    port: int = 8000
    hub_port: int = 8081
    proxy_api_port: int = 8001
    #: each class member's server listens on ``server_port_base`` + their place in :attr:`users`
    #: (see :meth:`server_port`); 0 lets each server take a random free port
    server_port_base: int = 20000
    state_dir: str = "/srv/dataethics-hub"
    exchange: str = "/srv/nbgrader/exchange"
    home_base: str = "/home"
    student_password: str = TRIAL_STUDENT_PASSWORD
    instructor_password: str = TRIAL_INSTRUCTOR_PASSWORD
    db_url: str = ""
    venv: str = sys.prefix
    repo: str = field(default_factory=lambda: str(paths.repo_root()))
    proxy: str = field(default_factory=default_proxy)
    start_timeout: int = 180

    def __post_init__(self) -> None:
        for name in [self.instructor, *self.students]:
            if not _NAME.fullmatch(name):
                raise DataethicsError(f"'{name}' cannot be a Unix user name (lower-case letters, "
                                      "digits, '-' and '_', at most 31 characters)")
        if len(set(self.students)) != len(self.students):
            raise DataethicsError("a student is listed twice")
        if self.instructor in self.students:
            raise DataethicsError(f"'{self.instructor}' is both the instructor and a student")
        if self.server_port_base:
            block = range(self.server_port_base, self.server_port_base + len(self.users))
            if block.start < 1024 or block.stop > 65536:
                raise DataethicsError(f"server ports {block.start}-{block.stop - 1}: "
                                      "not between 1024 and 65535")
            clash = [p for p in (self.port, self.hub_port, self.proxy_api_port) if p in block]
            if clash:
                raise DataethicsError(f"port {clash[0]} is both the hub's and a class member's server's")
        if len(self.student_password) < 8 or len(self.instructor_password) < 32:
            raise DataethicsError("passwords: at least 8 characters for students, 32 for the instructor")

    # -- where things are ------------------------------------------------------------------
    @property
    def users(self) -> list[str]:
        """The instructor, then the students."""
        return [self.instructor, *self.students]

    @property
    def url(self) -> str:
        """The address people open."""
        return f"http://{self.ip}:{self.port}"

    def home(self, user: str) -> Path:
        """Home folder of a user the hub creates."""
        return Path(self.home_base) / user

    @property
    def course_root(self) -> Path:
        """The instructor's nbgrader course folder (``source/``, ``submitted/``, gradebook …)."""
        return self.home(self.instructor) / COURSE_ID

    def role(self, user: str) -> str:
        """``instructor`` or ``student``."""
        return INSTRUCTOR if user == self.instructor else STUDENT

    def server_port(self, user: str) -> int:
        """The port of ``user``'s server (0: a random free one).

        Each class member has their own port, in a block that should lie below the range the
        system hands out for outgoing connections and kernels (``ip_local_port_range``, by default
        32768-60999). With random ports two servers starting at the same moment can be given the
        same one: the second cannot listen and stops, but JupyterHub, which accepts any answer
        that is not an error 5xx, takes the first server's *404* for its own and reports it
        ready; the student's requests then fail until the hub notices the dead process.
        """
        if not self.server_port_base or user not in self.users:
            return 0
        return self.server_port_base + self.users.index(user)

    def role_dir(self, role: str) -> Path:
        """The Jupyter configuration folder of a role."""
        return Path(self.state_dir) / "roles" / role

    @property
    def settings_file(self) -> Path:
        """Where :meth:`save` writes."""
        return Path(self.state_dir) / "settings.json"

    @property
    def token_file(self) -> Path:
        """The admin service's API token (root only)."""
        return Path(self.state_dir) / "api_token"

    # -- persistence -------------------------------------------------------------------------
    def save(self) -> Path:
        """Write ``settings.json`` in the state folder (no secrets besides the trial passwords)."""
        self.settings_file.parent.mkdir(parents=True, exist_ok=True)
        self.settings_file.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")
        os.chmod(self.settings_file, 0o600)
        return self.settings_file

    @classmethod
    def load(cls, path: Path | str) -> HubSettings:
        """Read settings written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise DataethicsError(f"no hub settings at {path}: run `make hub` (dataethics hub up) first")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        known = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in data.items() if k in known})


# -- the role folders ---------------------------------------------------------------------------
def _nbgrader_config(settings: HubSettings, role: str, course_root: str | None = None) -> str:
    lines = ['"""nbgrader settings of the course hub (written by `dataethics hub`; do not edit)."""',
             "import os", "", "c = get_config()  # noqa: F821"]
    if role == INSTRUCTOR:
        # the course's own settings (stubs, time limits, feedback preprocessors), then this hub's
        lines.append(f"load_subconfig({str(Path(settings.repo) / 'nbgrader_config.py')!r})  # noqa: F821")
        if course_root and course_root.startswith("~"):
            lines.append(f"c.CourseDirectory.root = os.path.expanduser({course_root!r})")
        else:
            lines.append(f"c.CourseDirectory.root = {course_root or str(settings.course_root)!r}")
        # the notebook's own kernel, even where the students' settings (an image's /etc/jupyter)
        # come later on the path and name the pre-warmed Validate kernel
        lines.append('c.Execute.kernel_name = ""')
        if settings.db_url:
            lines.append(f"c.CourseDirectory.db_url = {settings.db_url!r}")
        else:  # the grading commands' variable, e.g. set from a secret by the deployment
            lines += ['if os.environ.get("DATAETHICS_DB_URL"):',
                      '    c.CourseDirectory.db_url = os.environ["DATAETHICS_DB_URL"]']
    else:
        lines += ["c.ExecutePreprocessor.timeout = 60",
                  "# Validate runs the notebook in a kernel forked from a pre-warmed template",
                  "# (grader/README.md, *Validate for students*); the kernelspec is on JUPYTER_PATH",
                  f"c.Execute.kernel_name = {VALIDATE_KERNEL!r}",
                  "# a submission reaches the exchange whole or not at all, with a plain message",
                  'c.ExchangeFactory.submit = "dataethics.hub.exchange.SafeExchangeSubmit"']
    lines += [f"c.CourseDirectory.course_id = {COURSE_ID!r}", f"c.Exchange.root = {settings.exchange!r}"]
    return "\n".join(lines) + "\n"


def role_files(settings: HubSettings, role: str, course_root: str | None = None) -> dict[str, str]:
    """The files of a role's Jupyter configuration folder, by relative path.

    ``course_root`` replaces the instructor's course folder (``~`` is expanded by each server).
    """
    instructor = role == INSTRUCTOR
    extensions = {name: instructor for name in INSTRUCTOR_SERVER_EXTENSIONS}
    extensions.update({name: True for name in STUDENT_SERVER_EXTENSIONS})
    extensions["jupyter_lsp"] = False  # not used by the course; saves memory on every server
    # terminals: a plain (non-login) shell keeps the course's environment first on PATH
    server: dict[str, Any] = {
        "ServerApp": {"jpserver_extensions": extensions,
                      "terminado_settings": {"shell_command": ["/bin/bash"]}},
        "LabApp": {"news_url": None,
                   "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate"}}
    disabled = {} if instructor else {plugin: True for plugin in INSTRUCTOR_LAB_PLUGINS}
    files = {
        "nbgrader_config.py": _nbgrader_config(settings, role, course_root),
        "labconfig/page_config.json": json.dumps({"disabledExtensions": disabled}, indent=1),
        "labconfig/default_setting_overrides.json": json.dumps(LAB_OVERRIDES, indent=1),
    }
    if not instructor:
        # Validate's kernelspec (found through JUPYTER_PATH = <folder>/data, set by the hub), kept
        # out of the launcher: students open notebooks with the ordinary Python kernel
        files[f"data/kernels/{VALIDATE_KERNEL}/kernel.json"] = json.dumps(kernelspec(), indent=1)
        server["KernelSpecManager"] = {"allowed_kernelspecs": ["python3"]}
    files["jupyter_server_config.json"] = json.dumps(server, indent=1)
    return files


def write_role_configs(settings: HubSettings) -> dict[str, Path]:
    """Write each role's configuration folder; return the folders by role.

    Ownership and modes are set by :func:`dataethics.hub.accounts.prepare` (the instructor's
    folder may name a gradebook with a password, so only the instructor reads it).
    """
    out = {}
    for role in (STUDENT, INSTRUCTOR):
        folder = settings.role_dir(role)
        for rel, text in role_files(settings, role).items():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        out[role] = folder
    return out


# -- JupyterHub ---------------------------------------------------------------------------------
def configure(c: Any, settings: HubSettings) -> None:
    """Fill JupyterHub's config object ``c`` for ``settings`` (called by jupyterhub_config.py)."""
    state = Path(settings.state_dir)
    venv_bin = Path(settings.venv) / "bin"
    c.JupyterHub.bind_url = settings.url
    c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{settings.hub_port}"
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
    # students keep their running servers (and open notebooks) when the hub restarts
    c.JupyterHub.cleanup_servers = False
    c.JupyterHub.concurrent_spawn_limit = max(100, len(settings.students) + 1)
    c.ConfigurableHTTPProxy.command = [settings.proxy]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"

    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = settings.student_password
    c.SharedPasswordAuthenticator.admin_password = settings.instructor_password
    c.Authenticator.admin_users = {settings.instructor}
    c.Authenticator.allowed_users = set(settings.students)

    # scripts (the tests, the benchmark, `dataethics hub`) talk to the hub as this service
    if settings.token_file.is_file():
        token = settings.token_file.read_text(encoding="utf-8").strip()
        c.JupyterHub.services = [{"name": ADMIN_SERVICE, "api_token": token}]
        c.JupyterHub.load_roles = [{"name": ADMIN_SERVICE, "services": [ADMIN_SERVICE],
                                    "scopes": ["admin:users", "admin:servers", "tokens", "read:hub"]}]

    c.JupyterHub.spawner_class = "localprocess"
    c.Spawner.cmd = [str(venv_bin / "jupyterhub-singleuser")]
    c.Spawner.default_url = "/lab"
    c.Spawner.start_timeout = settings.start_timeout
    c.Spawner.http_timeout = settings.start_timeout
    roles = {role: str(settings.role_dir(role)) for role in (STUDENT, INSTRUCTOR)}

    def config_path(spawner: Any) -> str:
        return roles[settings.role(spawner.user.name)]

    def data_path(spawner: Any) -> str:  # students: the kernelspec of the pre-warmed Validate
        role = settings.role(spawner.user.name)
        return str(settings.role_dir(role) / "data") if role == STUDENT else ""

    c.Spawner.environment = {
        "PATH": os.pathsep.join([str(venv_bin), "/usr/local/bin", "/usr/bin", "/bin"]),
        "JUPYTER_CONFIG_PATH": config_path,
        "JUPYTER_PATH": data_path,
    }
    c.Spawner.pre_spawn_hook = port_hook(settings)


def can_listen(port: int) -> bool:
    """Whether a server could listen on ``port`` now (as it would: with ``SO_REUSEADDR``)."""
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError:
            return False
    return True


def port_hook(settings: HubSettings) -> Any:
    """A JupyterHub ``pre_spawn_hook`` giving each server its own port (:meth:`HubSettings.server_port`).

    When that port is taken by another program the server gets a random free one, and the hub's
    log says so.
    """

    def choose_port(spawner: Any) -> None:
        port = settings.server_port(spawner.user.name)
        if port and not can_listen(port):
            spawner.log.warning("port %d of %s's server is taken by another program; using a random one",
                                port, spawner.user.name)
            port = 0
        spawner.port = port  # 0: the spawner picks a random free port

    return choose_port
