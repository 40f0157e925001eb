"""The course hub's settings, role configuration and safe submit, without starting a hub (fast)."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from dataethics.cli import main
from dataethics.errors import DataethicsError
from dataethics.hub.config import (
    INSTRUCTOR,
    LAB_OVERRIDES,
    STUDENT,
    HubSettings,
    configure,
    read_names,
    role_files,
)


def test_class_lists_and_bad_names() -> None:
    assert read_names("ada, bob\n# comment\n\ncleo dan") == ["ada", "bob", "cleo", "dan"]
    with pytest.raises(DataethicsError, match="Unix user name"):
        HubSettings(students=["Ada Lovelace"])
    with pytest.raises(DataethicsError, match="twice"):
        HubSettings(students=["ada", "ada"])
    with pytest.raises(DataethicsError, match="both the instructor and a student"):
        HubSettings(instructor="ada", students=["ada"])


def test_roles_get_different_panels_and_nobody_gets_news(tmp_path: Path) -> None:
    settings = HubSettings(state_dir=str(tmp_path), exchange="/x/exchange")
    student, instructor = role_files(settings, STUDENT), role_files(settings, INSTRUCTOR)
    disabled = json.loads(student["labconfig/page_config.json"])["disabledExtensions"]
    assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"} <= set(disabled)
    assert "@jupyter/nbgrader:assignment-list" not in disabled
    assert json.loads(instructor["labconfig/page_config.json"])["disabledExtensions"] == {}
    for files in (student, instructor):
        assert json.loads(files["labconfig/default_setting_overrides.json"]) == LAB_OVERRIDES
        server = json.loads(files["jupyter_server_config.json"])
        assert server["LabApp"]["news_url"] is None
        assert server["LabApp"]["check_for_updates_class"].endswith("NeverCheckForUpdate")
    s_ext = json.loads(student["jupyter_server_config.json"])["ServerApp"]["jpserver_extensions"]
    i_ext = json.loads(instructor["jupyter_server_config.json"])["ServerApp"]["jpserver_extensions"]
    assert s_ext["nbgrader.server_extensions.formgrader"] is False
    assert s_ext["nbgrader.server_extensions.assignment_list"] is True
    assert i_ext["nbgrader.server_extensions.formgrader"] is True
    assert "SafeExchangeSubmit" in student["nbgrader_config.py"]
    assert "load_subconfig" in instructor["nbgrader_config.py"]  # the course's own settings
    assert str(settings.course_root) in instructor["nbgrader_config.py"]


def test_instructor_config_loads_the_course_settings(tmp_path: Path) -> None:
    """The generated file, read by traitlets as nbgrader does, carries the feedback preprocessors."""
    from traitlets.config.loader import PyFileConfigLoader

    settings = HubSettings(state_dir=str(tmp_path), exchange="/x/exchange", db_url="postgresql://h/db")
    (tmp_path / "nbgrader_config.py").write_text(role_files(settings, INSTRUCTOR)["nbgrader_config.py"])
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(tmp_path)).load_config()
    assert cfg.CourseDirectory.root == str(settings.course_root)
    assert cfg.CourseDirectory.db_url == "postgresql://h/db"
    assert cfg.Exchange.root == "/x/exchange" and cfg.CourseDirectory.course_id == "dataethics"
    assert "dataethics.grading.feedback.ScrubHiddenTestOutputs" in cfg.GenerateFeedback.preprocessors


def test_hub_configuration(tmp_path: Path) -> None:
    from traitlets.config import Config

    settings = HubSettings(state_dir=str(tmp_path), students=["ada", "bob"], port=8123)
    settings.token_file.write_text("secret-token")
    c = Config()
    configure(c, settings)
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8123"
    assert c.Authenticator.allowed_users == {"ada", "bob"}
    assert c.Authenticator.admin_users == {"instructor"}
    assert c.JupyterHub.cleanup_servers is False  # a hub restart keeps students' servers
    assert c.Spawner.cmd[0].endswith("/bin/jupyterhub-singleuser")
    assert c.JupyterHub.services[0]["api_token"] == "secret-token"

    class FakeSpawner:
        def __init__(self, name: str) -> None:
            self.user = type("U", (), {"name": name})()

    path = c.Spawner.environment["JUPYTER_CONFIG_PATH"]
    assert path(FakeSpawner("ada")).endswith("roles/student")
    assert path(FakeSpawner("instructor")).endswith("roles/instructor")



def test_each_server_gets_its_own_port_below_the_ephemeral_range(tmp_path: Path) -> None:
    """Random ports let two servers starting together share one (JupyterHub then believes the dead one)."""
    import logging
    import socket

    from traitlets.config import Config

    students = [f"s{i:03d}" for i in range(300)]
    settings = HubSettings(state_dir=str(tmp_path), students=students)
    c = Config()
    configure(c, settings)
    hook = c.Spawner.pre_spawn_hook

    class FakeSpawner:
        def __init__(self, name: str) -> None:
            self.user = type("U", (), {"name": name})()
            self.log = logging.getLogger("test-spawner")
            self.port = 0

    ports = {}
    for name in settings.users:
        spawner = FakeSpawner(name)
        hook(spawner)
        ports[name] = spawner.port
    assert len(set(ports.values())) == len(settings.users) == 301  # one each, none shared
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert all(1024 <= p < low for p in ports.values()), (min(ports.values()), max(ports.values()), low)
    # the hub restarted: the same student gets the same port
    again = FakeSpawner("s007")
    hook(again)
    assert again.port == ports["s007"]

    # a port another program holds: the server takes a random free one instead of failing
    with socket.socket() as holder:
        holder.bind(("", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        other = HubSettings(state_dir=str(tmp_path), students=["ada"], server_port_base=taken - 1)
        c = Config()
        configure(c, other)
        ada = FakeSpawner("ada")
        c.Spawner.pre_spawn_hook(ada)
        assert other.server_port("ada") == taken and ada.port == 0
    assert HubSettings(state_dir=str(tmp_path), server_port_base=0).server_port("student1") == 0


@pytest.mark.parametrize("kwargs", [{"server_port_base": 65534}, {"server_port_base": 80},
                                    {"server_port_base": 7999}])
def test_server_ports_must_fit_and_not_clash_with_the_hub(tmp_path: Path, kwargs: dict[str, int]) -> None:
    with pytest.raises(DataethicsError, match="port"):
        HubSettings(state_dir=str(tmp_path), **kwargs)


_HANDLER_VALIDATE = """
import json, os, sys
from jupyter_core.paths import jupyter_config_path
from nbgrader.apps import NbGrader
from nbgrader.validator import Validator
# what nbgrader's Validate button does in the student's server (validate_assignment handler)
paths = jupyter_config_path()
paths.insert(0, os.getcwd())
app = NbGrader()
app.config_file_paths.append(paths)
app.load_config_file()
print(json.dumps(bool(Validator(config=app.config).validate(sys.argv[1]).get("failed"))))
"""


def _probe(folder: Path) -> Path:
    """A notebook whose test passes only in a kernel that had scikit-learn imported before any cell."""
    from dataethics import authoring as au

    probe = au.notebook([au.tests("warm", "import sys\nassert 'sklearn' in sys.modules, 'a cold kernel'", 1)])
    probe.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return au.write(probe, folder / "probe.ipynb")


def test_students_validate_button_uses_pre_warmed_kernels_instructors_do_not(tmp_path: Path) -> None:
    """The student's role folder makes nbgrader's Validate fork its kernel from a warm template."""
    import subprocess
    import sys

    from traitlets.config import Config

    from dataethics.grading.runner.prewarm import unavailable

    settings = HubSettings(state_dir=str(tmp_path / "state"), exchange="/x/exchange", students=["ada"])
    student, instructor = role_files(settings, STUDENT), role_files(settings, INSTRUCTOR)
    spec = json.loads(student["data/kernels/dataethics-prewarm/kernel.json"])
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == "dataethics-prewarm"
    assert 'c.Execute.kernel_name = "dataethics-prewarm"' in student["nbgrader_config.py"].replace("'", '"')
    server = json.loads(student["jupyter_server_config.json"])
    assert server["KernelSpecManager"]["allowed_kernelspecs"] == ["python3"]  # not in the launcher
    assert not any(rel.startswith("data/") for rel in instructor)
    assert 'c.Execute.kernel_name = ""' in instructor["nbgrader_config.py"]  # the notebook's own kernel
    c = Config()
    configure(c, settings)
    data_path = c.Spawner.environment["JUPYTER_PATH"]

    def spawner(name: str) -> object:
        return type("S", (), {"user": type("U", (), {"name": name})()})()

    assert data_path(spawner("ada")).endswith("roles/student/data")
    assert data_path(spawner("instructor")) == ""
    if unavailable(sandboxed=False, require_sandbox=False):
        pytest.skip("pre-warmed kernels cannot run here")
    # the written folder, on the paths the hub gives a student's server: the probe passes (warm);
    # with the instructor's folder (plain nbgrader) the same probe fails (cold)
    for role, files in ((STUDENT, student), (INSTRUCTOR, instructor)):
        folder = tmp_path / role
        for rel, text in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
        if role == INSTRUCTOR:  # its own settings, with the students' later on the path (as in an image)
            own = [line for line in files["nbgrader_config.py"].splitlines() if "kernel_name" in line]
            header = "c = get_config()  # noqa: F821"
            (folder / "nbgrader_config.py").write_text("\n".join([header, *own]) + "\n")
            shutil.copytree(tmp_path / STUDENT, tmp_path / "system")
        work = tmp_path / f"work-{role}"
        work.mkdir()
        config_path = [str(folder)] + ([str(tmp_path / "system")] if role == INSTRUCTOR else [])
        env = {**os.environ, "JUPYTER_CONFIG_PATH": os.pathsep.join(config_path),
               "JUPYTER_PATH": str(tmp_path / STUDENT / "data"), "HOME": str(work)}
        done = subprocess.run([sys.executable, "-c", _HANDLER_VALIDATE, str(_probe(work))], cwd=work,
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        failed = json.loads(done.stdout.strip().splitlines()[-1])
        assert failed == (role == INSTRUCTOR), (role, done.stderr[-2000:])


def test_validate_falls_back_to_an_ordinary_kernel_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Where no template can be forked, the Validate kernelspec still validates, cold, with a warning."""
    from dataethics.grading import validate
    from dataethics.grading.runner import prewarm

    monkeypatch.setattr(prewarm, "unavailable", lambda *a, **k: "no fork on this platform")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "kernels-data"))
    validate.install_kernelspec(prefix=str(tmp_path / "prefix"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "prefix" / "share" / "jupyter"))
    with caplog.at_level("WARNING"):
        result = validate.validator(timeout=60).validate(str(_probe(tmp_path)))
    assert result["failed"], result  # it ran, in an ordinary (cold) kernel
    assert "no fork on this platform" in caplog.text


def test_role_config_command_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hub", "role-config", "student", "--out", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "labconfig" / "page_config.json").is_file()
    assert "JUPYTER_PATH" in capsys.readouterr().out  # where Validate's kernelspec must go
    assert (tmp_path / "s" / "data" / "kernels" / "dataethics-prewarm" / "kernel.json").is_file()
    assert main(["hub", "down", "--state-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no hub settings"), err
    assert main(["hub", "feedback", "ps00", "--course", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing autograded" in err[0], err


# -- the safe submit ----------------------------------------------------------------------------------
@pytest.fixture
def exchange_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """An exchange with one released assignment and a student's fetched copy (current user)."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import ExchangeFetchAssignment, ExchangeReleaseAssignment
    from traitlets.config import Config

    exchange, course, home = tmp_path / "exchange", tmp_path / "course", tmp_path / "home"
    for folder in (exchange, course / "release" / "hw", home):
        folder.mkdir(parents=True)
    os.chmod(exchange, 0o1777)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, course / "release" / "hw" / "hw.ipynb")
    cfg = Config()
    cfg.Exchange.root = str(exchange)
    cfg.CourseDirectory.course_id = "dataethics"
    cfg.CourseDirectory.root = str(course)
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id = "hw"
    auth = Authenticator(config=cfg)
    ExchangeReleaseAssignment(coursedir=coursedir, authenticator=auth, config=cfg).start()
    cfg.CourseDirectory.root = str(home)
    cfg.Exchange.cache = str(tmp_path / "cache")
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id = "hw"
    monkeypatch.chdir(home)
    ExchangeFetchAssignment(coursedir=coursedir, authenticator=Authenticator(config=cfg), config=cfg).start()
    return {"cfg": cfg, "coursedir": coursedir, "inbound": exchange / "dataethics" / "inbound"}


def _submit(setup: dict[str, object]) -> None:
    from nbgrader.auth import Authenticator

    from dataethics.hub.exchange import SafeExchangeSubmit

    cfg = setup["cfg"]
    SafeExchangeSubmit(coursedir=setup["coursedir"], authenticator=Authenticator(config=cfg),
                       config=cfg).start()


def test_safe_submit_writes_whole_submissions(exchange_setup: dict[str, object]) -> None:
    _submit(exchange_setup)
    inbound = exchange_setup["inbound"]
    (only,) = list(inbound.iterdir())  # type: ignore[union-attr]
    assert not only.name.startswith(".") and "+hw+" in only.name
    assert (only / "hw.ipynb").is_file() and (only / "timestamp.txt").read_text()


def test_safe_submit_leaves_nothing_half_written(exchange_setup: dict[str, object],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from nbgrader.exchange import ExchangeError
    from nbgrader.exchange.default import ExchangeSubmit

    _submit(exchange_setup)  # an earlier, complete submission
    inbound: Path = exchange_setup["inbound"]  # type: ignore[assignment]
    before = sorted(inbound.iterdir())

    def copy_then_fail(self: ExchangeSubmit, src: str, dest: str, log: object = None) -> None:
        shutil.copytree(src, dest)  # part of the copy happened …
        raise OSError(errno.ENOSPC, "No space left on device")  # … then the disk filled up

    monkeypatch.setattr(ExchangeSubmit, "do_copy", copy_then_fail)
    with pytest.raises(ExchangeError, match="disk is full.*earlier submissions are kept"):
        _submit(exchange_setup)
    assert sorted(inbound.iterdir()) == before  # no new folder, hidden or not


@pytest.mark.parametrize(("code", "words"), [(errno.EROFS, "read-only"), (errno.EACCES, "may not write"),
                                             (errno.EIO, "could not be written")])
def test_submit_errors_are_explained(code: int, words: str) -> None:
    from dataethics.hub.exchange import explain

    message = explain(OSError(code, os.strerror(code)), "ps01")
    assert words in message and "ps01" in message and "Tell your instructor" in message


def test_a_copy_that_failed_file_by_file_is_explained_too() -> None:
    from dataethics.hub.exchange import explain

    exc = shutil.Error([("a/ps01.ipynb", "b/ps01.ipynb", "[Errno 28] No space left on device")])
    assert "disk is full" in explain(exc, "ps01")


def test_hub_up_arguments_become_settings(tmp_path: Path) -> None:
    import argparse

    from dataethics.hub.cli import add_parser, settings_from_args

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    (tmp_path / "class.txt").write_text("cleo\n# left\ndan\n")
    args = parser.parse_args(["hub", "up", "--students", "ada,bob",
                              "--students-file", str(tmp_path / "class.txt"), "--port", "8100",
                              "--server-ports", "21000", "--state-dir", str(tmp_path)])
    settings = settings_from_args(args)
    assert settings.students == ["ada", "bob", "cleo", "dan"] and settings.port == 8100
    assert [settings.server_port(u) for u in settings.users] == [21000, 21001, 21002, 21003, 21004]
    default = settings_from_args(parser.parse_args(["hub", "up", "--state-dir", str(tmp_path)]))
    assert default.server_port("instructor") == 20000
    with pytest.raises(DataethicsError, match="class list not found"):
        settings_from_args(parser.parse_args(["hub", "up", "--students-file", str(tmp_path / "none.txt")]))
