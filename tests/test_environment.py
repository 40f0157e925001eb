"""The pinned pip requirements, environment.yml and the package agree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pip_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            assert version, f"{path.name}: '{line}' is not pinned with =="
            pins[name.lower().replace("_", "-")] = version
    return pins


def _conda_pins(path: Path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    pins: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                if "==" in line:
                    name, version = line.split("==")
                    pins[name.lower()] = version
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*=?=?\s*([0-9][^\s]*)?", dep)
        assert match, f"environment.yml: cannot read '{dep}'"
        name, version = match.groups()
        if name not in ("python", "pip"):
            assert version, f"environment.yml: '{dep}' is not pinned"
            pins[name.lower()] = version
    return pins


def test_environment_yml_matches_requirements() -> None:
    pip = _pip_pins(ROOT / "requirements.txt")
    conda = _conda_pins(ROOT / "environment.yml")
    assert conda == pip, {k: (pip.get(k), conda.get(k)) for k in pip.keys() | conda.keys()
                          if pip.get(k) != conda.get(k)}


def test_requirements_agree_with_constraints() -> None:
    pip = _pip_pins(ROOT / "requirements.txt")
    lock = _pip_pins(ROOT / "constraints.txt")
    lock = {k.lower(): v for k, v in lock.items()}
    for name, version in pip.items():
        assert lock.get(name) == version, f"{name}: requirements {version}, constraints {lock.get(name)}"


def test_installed_versions_are_the_pinned_ones() -> None:
    from importlib.metadata import version

    for name, pinned in _pip_pins(ROOT / "requirements.txt").items():
        assert version(name) == pinned, f"{name} {version(name)} installed, {pinned} pinned"


def test_package_imports_without_path_tricks() -> None:
    out = subprocess.run([sys.executable, "-c", "import dataethics, sys; print(dataethics.__file__)"],
                         cwd="/", capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("src/dataethics/__init__.py")


def test_only_one_top_level_import_name() -> None:
    tops = [p.name for p in (ROOT / "src").iterdir() if not p.name.endswith(".egg-info")
            and not p.name.startswith(".")]
    assert tops == ["dataethics"]


def test_nbgrader_extensions_enabled() -> None:
    out = subprocess.run([str(Path(sys.executable).parent / "jupyter"), "server", "extension",
                          "list"], capture_output=True, text=True)
    text = out.stdout + out.stderr
    for ext in ("formgrader", "assignment_list", "validate_assignment"):
        assert re.search(rf"nbgrader\.server_extensions\.{ext}\s.*enabled", text), text


def test_licences_present() -> None:
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert "Attribution 4.0" in (ROOT / "LICENSE-CONTENT.md").read_text()


def test_jupyter_processes_skip_the_slow_iri_grammar() -> None:
    """`make setup` removes rfc3987-syntax, which jsonschema imports eagerly when present.

    Compiling its grammars costs seconds in every process that imports nbformat or starts a
    Jupyter server (each student's server on the hub); every install recipe removes it.
    """
    probe = ("import sys, nbformat, jsonschema, jupyter_events.validators; "
             "print('rfc3987_syntax' in sys.modules)")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False", loaded.stdout + loaded.stderr
    for recipe in ("Makefile", "postBuild", "grader/hub/Dockerfile", "grader/hub/tljh.md"):
        text = (ROOT / recipe).read_text()
        assert re.search(r"pip uninstall (--quiet )?--yes rfc3987-syntax", text), recipe
