"""Unit tests of the package's shared helpers (checklist, plot style, notebooks, CLI)."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import matplotlib as mpl
import nbformat
import pytest

import dataethics
from dataethics import authoring, checklist, notebooks, plotting

DOCTESTED = ["dataethics.authoring", "dataethics.checklist", "dataethics.plotting",
             "dataethics.data.schema", "dataethics.paths", "dataethics.survival",
             "dataethics.grading.exports", "dataethics.grading.collect", "dataethics.grading.feedback",
             "dataethics.grading.lms.common", "dataethics.grading.lms.moodle",
             "dataethics.grading.lms.canvas",
             "dataethics.grading.report", "dataethics.grading.course", "dataethics.grading.resume",
             "dataethics.check",
             "dataethics.grading.runner.integrity", "dataethics.notebooks",
             "dataethics.grading.runner.notebook"]


@pytest.mark.parametrize("module", DOCTESTED)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0


def test_checklist_covers_every_module() -> None:
    for module in ("m1", "m2", "m3", "m4"):
        assert checklist.items_for(module), module
    assert len(checklist.as_frame()) == len(checklist.CHECKLIST)
    codes = [item.code for item in checklist.CHECKLIST]
    assert len(codes) == len(set(codes))


def test_course_style_uses_the_colour_blind_palette() -> None:
    plotting.use_course_style()
    colours = [c["color"] for c in mpl.rcParams["axes.prop_cycle"]]
    assert colours[:3] == ["#0072B2", "#E69F00", "#009E73"]


def _tiny_notebook(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "tiny.ipynb"
    authoring.write(authoring.notebook([authoring.code(source)]), path)
    return path


def test_execute_measures_and_refresh_is_reproducible(tmp_path: Path) -> None:
    path = _tiny_notebook(tmp_path, "x = bytearray(50_000_000)\nlen(x)")
    result = notebooks.execute(path, measure=True)
    assert result.notebook.cells[0].outputs[0]["data"]["text/plain"] == "50000000"
    assert result.peak_mb > 50 and result.seconds > 0
    notebooks.refresh_outputs(path)
    first = path.read_text()
    notebooks.refresh_outputs(path)
    assert path.read_text() == first, "two runs must give the same file (no timing metadata)"
    assert notebooks.clear_outputs(path) is True
    assert nbformat.read(path, 4).cells[0].outputs == []
    assert notebooks.clear_outputs(path) is False


@pytest.mark.parametrize("module", ["dataethics", "dataethics.cli"])
def test_bench_rejects_an_unknown_target(module: str) -> None:
    out = subprocess.run([sys.executable, "-m", module, "bench", "nope"], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.startswith("error: unknown benchmark")


def test_bench_grading_refuses_zero_rounds_before_any_work() -> None:
    out = subprocess.run([sys.executable, "-m", "dataethics", "bench", "grading", "--rounds", "0"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.strip() == "error: rounds must be at least 1, not 0"


@pytest.mark.parametrize("action", ["release", "collect", "autograde", "feedback", "report", "export",
                                    "purge", "demo"])
def test_every_grading_command_explains_itself(action: str, capsys: pytest.CaptureFixture[str]) -> None:
    from dataethics.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["grade", action, "--help"])
    text = capsys.readouterr().out
    assert stop.value.code == 0
    assert f"usage: dataethics grade {action}" in text
    assert ("--out" if action == "demo" else "--course") in text  # the demo writes its own course


def _imports_of(path: Path, package_root: Path) -> set[str]:
    """The ``dataethics`` modules a source file imports, at any depth (function bodies too)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("dataethics")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dataethics"):
            found.add(node.module)
            # `from dataethics.grading import course` imports the submodule `course`
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def test_no_import_cycles_between_modules() -> None:
    """No module imports, even lazily inside a function, a module that imports it back."""
    package_root = Path(dataethics.__file__).parent
    modules = {}
    for path in package_root.rglob("*.py"):
        parts = path.relative_to(package_root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {name: {m for m in _imports_of(path, package_root) if m in modules and m != name}
             for name, path in modules.items()}
    # a package's __init__ being imported with its submodules is not a cycle: drop parent edges
    graph = {name: {m for m in deps if not name.startswith(m + ".")} for name, deps in graph.items()}
    cycles = []

    def visit(node: str, stack: list[str], done: set[str]) -> None:
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in done:
            return
        for dep in sorted(graph[node]):
            visit(dep, [*stack, node], done)
        done.add(node)

    done: set[str] = set()
    for name in sorted(graph):
        visit(name, [], done)
    assert not cycles, "import cycles: " + "; ".join(" → ".join(c) for c in cycles)
