"""Integrity of a submission: what the student changed that they should not have, and attacks.

* :func:`tamper_report` compares a submission with the released notebook (edited or
  deleted locked cells, changed cell types, reordered cells);
* :func:`attack_report` scans the student's answers statically for attacks on the grader;
* :data:`GUARD_SOURCE` is the integrity check run in the kernel after the last cell.
"""

from __future__ import annotations

import ast

import nbformat

from dataethics.grading.runner.notebook import cells_by_id

GUARD_TAG = "dataethics-integrity-check"
GUARD_SOURCE = """
import builtins as _b, numpy as _np, pandas as _pd
_checks = [
    not bool(_np.isclose(0.0, 1.0)), not bool(_np.allclose([0.0], [1.0])),
    not _pd.Series([1]).equals(_pd.Series([2])), _b.len([1, 2]) == 2, _b.abs(-1) == 1,
    not _b.all([False]), _b.any([True]), _b.isinstance(1, int), _b.sorted([2, 1]) == [1, 2],
]
try:
    assert False
    _checks.append(False)
except AssertionError:
    _checks.append(True)
# the result, not a print: printed output may be cut by the output cap
"INTEGRITY " + ("OK" if all(_checks) else "BROKEN")
"""
NETWORK_MODULES = {"socket", "urllib", "http", "requests", "ftplib", "smtplib", "httpx", "aiohttp"}
ATTACK_CALLS = {("sys", "exit"): "calls sys.exit()", ("os", "_exit"): "calls os._exit()",
                ("os", "kill"): "sends signals", ("os", "system"): "runs shell commands",
                ("subprocess", None): "runs subprocesses"}


def tamper_report(submitted: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """Differences between a submission and the released notebook that the student should not make."""
    flags = []
    sub, rel = cells_by_id(submitted), cells_by_id(release)
    for gid, cell in rel.items():
        meta = cell.metadata["nbgrader"]
        if gid not in sub:
            kind = "test cell" if meta.get("grade") and not meta.get("solution") else "cell"
            flags.append(f"deleted {kind} {gid}")
            continue
        if sub[gid].cell_type != cell.cell_type:
            flags.append(f"changed the type of cell {gid}")
        elif meta.get("locked") and sub[gid].source.strip() != cell.source.strip():
            flags.append(f"edited locked cell {gid}")
    order_rel = [g for g in rel if g in sub]
    order_sub = [g for g in sub if g in rel]
    if order_rel != order_sub:
        flags.append("reordered cells")
    return flags


def attack_report(answers: dict[str, str]) -> list[str]:
    """Static scan of the student's code answers for attacks on the grader."""
    flags = []
    for gid, src in answers.items():
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                for (mod, attr), what in ATTACK_CALLS.items():
                    if node.value.id == mod and (attr is None or node.attr == attr):
                        flags.append(f"{gid}: {what}")
            if isinstance(node, ast.Name) and node.id == "subprocess":
                flags.append(f"{gid}: runs subprocesses")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom)
                                                        and node.module else [])
                net = sorted({n.split(".")[0] for n in names} & NETWORK_MODULES)
                if net:
                    flags.append(f"{gid}: uses the network ({', '.join(net)})")
            if isinstance(node, ast.ExceptHandler):
                names = ast.unparse(node.type) if node.type is not None else "bare"
                if "KeyboardInterrupt" in names or "BaseException" in names or names == "bare":
                    flags.append(f"{gid}: catches interrupts ({names} except)")
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and \
                            t.value.id in {"np", "numpy", "pd", "pandas", "builtins", "math", "sklearn"}:
                        flags.append(f"{gid}: replaces {t.value.id}.{t.attr}")
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setattr":
                flags.append(f"{gid}: calls setattr()")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and any(
                    s in node.value for s in ("gradebook", "source/", "grader/", "/truth")):
                flags.append(f"{gid}: reads instructor files ({node.value[:40]!r})")
    return sorted(set(flags))
