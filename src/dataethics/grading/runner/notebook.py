"""The notebook to run: reading a submission, finding it by file name, rebuilding it from the source.

A submission is never run as handed in: :func:`rebuild` takes the instructor's
source (locked cells, hidden tests) and puts only the student's answer cells in it.
"""

from __future__ import annotations

import ast
import copy
import functools
from pathlib import Path

import nbformat
from nbformat.v4 import new_output


def cells_by_id(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """The cells of ``nb`` that carry an nbgrader ``grade_id``, by id."""
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")}


def error_output(text: str) -> nbformat.NotebookNode:
    """An error output that tells the instructor (and the student) why a cell earned nothing."""
    return new_output("error", ename="GradingError", evalue=text, traceback=[f"GradingError: {text}"])


def rebuild(source: nbformat.NotebookNode, submitted: nbformat.NotebookNode | None,
            release: nbformat.NotebookNode, skip: set[str] | None = None
            ) -> tuple[nbformat.NotebookNode, dict[str, str]]:
    """The notebook to run: the source's structure with the student's answer cells.

    ``source`` is best the grading template (:func:`grading_template`:
    the source as nbgrader's gradebook holds it, AUTOTEST lines expanded, checksums set), so that
    an unchanged answer keeps its checksum and nbgrader grades it zero without manual grading.
    Answers in ``skip`` are taken from the release (as if unanswered). Returns the notebook and
    the student's code answers by grade id.
    """
    skip = skip or set()
    sub = cells_by_id(submitted) if submitted is not None else {}
    rel = cells_by_id(release)
    nb = copy.deepcopy(source)
    answers: dict[str, str] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if not meta.get("solution"):
            continue
        theirs = sub.get(gid) if gid not in skip else None
        if theirs is not None and theirs.cell_type == cell.cell_type:
            cell.source = theirs.source
        else:
            cell.source = rel[gid].source if gid in rel else ""
        if cell.cell_type == "code":
            answers[gid] = cell.source
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb, answers


def oversized_answers(submitted: nbformat.NotebookNode, limit: int) -> list[str]:
    """Grade ids of answer cells longer than ``limit`` characters (they are not graded)."""
    return [gid for gid, cell in cells_by_id(submitted).items()
            if cell.metadata["nbgrader"].get("solution") and len(cell.source) > limit]


def find_submission(folder: Path, expected: str, names: list[str] | None = None
                    ) -> tuple[Path | None, str | None, list[str]]:
    """The submitted file of notebook ``expected`` among the assignment's notebooks ``names``.

    Notebooks are matched by file name, as nbgrader does. A lone notebook under another
    name is taken for a renamed copy only when the assignment has exactly one notebook.
    Returns the file (or None), the name it was renamed from, and the other ``.ipynb`` files.
    """
    names = names or [expected]
    target = folder / expected
    others = sorted(p.name for p in folder.glob("*.ipynb") if p.name not in names)
    if target.is_file():
        return target, None, others
    if len(names) == 1 and len(others) == 1 and (folder / others[0]).is_file():
        return folder / others[0], others[0], others
    return None, None, others


def read_submission(path: Path, max_bytes: int = 20_000_000) -> nbformat.NotebookNode:
    """Read and validate a submitted notebook; raise ``ValueError`` with a one-line reason."""
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"file too large ({size / 1e6:.1f} MB; limit {max_bytes / 1e6:.0f} MB)")
    try:
        text = path.read_text(encoding="utf-8")
        if not text.strip():
            raise ValueError("empty file")
        invalid: dict[str, Exception] = {}
        nb = nbformat.reads(text, as_version=4, capture_validation_error=invalid)
        if invalid:
            raise invalid["ValidationError"]
    except Exception as exc:  # invalid JSON, wrong schema, undecodable bytes
        raise ValueError(str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__) from None
    return nb


def read_trusted(path: str | Path) -> nbformat.NotebookNode:
    """The instructor's grading template or release, read once per process while the file is unchanged.

    The same object is returned to every caller: treat it as read-only (:func:`rebuild` copies).
    """
    stat = Path(path).stat()
    return _read_trusted(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _read_trusted(path: str, _mtime_ns: int, _size: int) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def grading_template(source: Path, assignment: str, db_url: str, target: Path) -> Path:
    """Write the notebook every submission of ``source`` is rebuilt from; return its path.

    It is the instructor's source passed through nbgrader's own ``OverwriteCells`` (locked
    and test cells as the gradebook holds them — with ``### AUTOTEST`` lines expanded by
    ``generate_assignment`` — and every graded cell's checksum) and ``CheckCellMetadata``.
    """
    from nbgrader.preprocessors import CheckCellMetadata, OverwriteCells

    nb = nbformat.read(source, as_version=4)
    resources = {"nbgrader": {"db_url": db_url, "assignment": assignment, "notebook": source.stem}}
    nb, resources = OverwriteCells().preprocess(nb, resources)
    nb, resources = CheckCellMetadata().preprocess(nb, resources)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return target


def bound_names(source: str) -> list[str]:
    r"""The names a cell's own code binds at its top level (assignments, ``def``, ``class``, imports).

    A locked cell may rebind a name an earlier locked cell bound (a test defining its own
    helper again): the guard accepts such a rebinding only for names the cell's source binds,
    so a student's function called by a test cannot rebind ``check`` or ``np`` unnoticed.

    >>> bound_names("import numpy as np\nfrom math import isclose\nx, (y, z) = 1, (2, 3)\ndef f(): g = 1")
    ['np', 'isclose', 'x', 'y', 'z', 'f']
    >>> bound_names("this is not Python")
    []
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):  # magics and the like: nothing bound that the guard accepts
        return []
    names: list[str] = []

    def targets(node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                targets(elt)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.extend((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                targets(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets(node.target)
    return list(dict.fromkeys(names))


def _locked_trees(nb: nbformat.NotebookNode) -> list[ast.Module]:
    """The parsed code of the locked code cells (setup and tests); cells that do not parse are left out."""
    trees = []
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        try:
            trees.append(ast.parse(cell.source))
        except SyntaxError:
            continue
    return trees


def test_names(nb: nbformat.NotebookNode) -> set[str]:
    """Names the locked code cells bind by import or definition (``np``, ``check``…)."""
    names: set[str] = set()
    for tree in _locked_trees(nb):
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
    return names


def test_modules(nb: nbformat.NotebookNode) -> list[str]:
    """Modules imported by the locked code cells (setup and tests): the guard watches them."""
    found: list[str] = []
    for tree in _locked_trees(nb):
        found += imported_modules(tree)
    return sorted(set(found))


def imported_modules(tree: ast.AST) -> list[str]:
    r"""Absolute module names a piece of code imports, anywhere in it.

    >>> import ast
    >>> imported_modules(ast.parse("import numpy as np\nfrom pandas import Series\nfrom . import x"))
    ['numpy', 'pandas']
    """
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module)
    return found
