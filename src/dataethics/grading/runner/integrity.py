"""Integrity of a submission, read from the files: what the student changed, and suspicious code.

* :func:`tamper_report` compares a submission with the released notebook (edited or
  deleted locked cells and test cells, changed cell types, reordered cells);
* :func:`attack_report` scans the student's answers statically for attacks on the grader.

Both only *flag*: scores come from running the rebuilt notebook, and the kernel's
machinery is checked while it runs by :mod:`.guard`. The static scan knows the guard's
patterns (exception handlers, transformers, hooks, rewriting code…) so that an instructor
sees them even when an attack is written to slip past the kernel-side check.
"""

from __future__ import annotations

import ast

import nbformat

from dataethics.grading.runner.notebook import cells_by_id

NETWORK_MODULES = {"socket", "urllib", "http", "requests", "ftplib", "smtplib", "httpx", "aiohttp"}
#: names whose use in an answer is reported (never decisive alone): what they can do to the grader
SUSPICIOUS_NAMES = {
    "set_custom_exc": "installs a custom exception handler",
    "input_transformers_cleanup": "changes IPython's input transformers",
    "input_transformers_post": "changes IPython's input transformers",
    "input_transformer_manager": "changes IPython's input transformers",
    "ast_transformers": "changes IPython's AST transformers",
    "showtraceback": "replaces the traceback display",
    "_showtraceback": "replaces the traceback display",
    "CustomTB": "replaces the traceback display",
    "InteractiveTB": "replaces the traceback display",
    "excepthook": "replaces sys.excepthook",
    "displayhook": "replaces the display hook",
    "display_pub": "replaces the display publisher",
    "settrace": "sets a trace function",
    "setprofile": "sets a profile function",
    "_getframe": "inspects the interpreter's frames",
    "f_back": "inspects the interpreter's frames",
    "f_globals": "inspects the interpreter's frames",
    "__code__": "rewrites code objects",
    "__closure__": "reads closures",
    "__globals__": "reaches functions' globals",
    "__builtins__": "changes the built-ins",
    "control_handlers": "reaches the kernel's message handlers",
    "shell_handlers": "reaches the kernel's message handlers",
    "addaudithook": "installs an audit hook",
    "get_referrers": "searches the interpreter's objects (gc)",
    "get_objects": "searches the interpreter's objects (gc)",
    "ctypes": "uses ctypes",
    "_ih": "reads the cell history",
    "history_manager": "reads the cell history",
    "meta_path": "changes the import system",
}
ATTACK_CALLS = {("sys", "exit"): "calls sys.exit()", ("os", "_exit"): "calls os._exit()",
                ("os", "kill"): "sends signals", ("os", "killpg"): "sends signals",
                ("os", "system"): "runs shell commands", ("os", "fork"): "forks the process",
                ("os", "forkpty"): "forks the process", ("os", "register_at_fork"): "forks the process",
                ("subprocess", None): "runs subprocesses"}
#: modules whose import alone is reported (a variable of the same name is not)
SUSPICIOUS_MODULES = {"signal": "handles signals"}


def _top_level(tree: ast.AST) -> list[ast.AST]:
    """The nodes of a module outside function, class and lambda bodies (what binds globals)."""
    found: list[ast.AST] = []
    todo = list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        found.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))
    return found


def tamper_report(submitted: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """Differences between a submission and the released notebook that the student should not make."""
    flags = []
    sub, rel = cells_by_id(submitted), cells_by_id(release)
    for gid, cell in rel.items():
        meta = cell.metadata["nbgrader"]
        is_test = bool(meta.get("grade")) and not meta.get("solution")
        if gid not in sub:
            kind = "test cell" if is_test else "cell"
            flags.append(f"deleted {kind} {gid}")
            continue
        if sub[gid].cell_type != cell.cell_type:
            flags.append(f"changed the type of cell {gid}")
        elif meta.get("locked") and sub[gid].source.strip() != cell.source.strip():
            flags.append(f"edited locked cell {gid}")
        elif is_test and sub[gid].source.strip() != cell.source.strip():
            flags.append(f"edited test cell {gid} (not locked)")
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in submitted.cells]
    twice = sorted({g for g in ids if g and ids.count(g) > 1})
    if twice:
        flags.append(f"duplicated cell(s) {', '.join(twice)[:100]}")
    order_rel = [g for g in rel if g in sub]
    order_sub = [g for g in sub if g in rel]
    if order_rel != order_sub:
        flags.append("reordered cells")
    return flags


def attack_report(answers: dict[str, str], test_names: set[str] | None = None) -> list[str]:
    r"""Static scan of the student's code answers for attacks on the grader.

    ``test_names`` are the names the locked cells bind (``check``, ``np``…): an answer that
    assigns or defines one of them at its top level is reported (re-importing the same module
    is not, nor a local variable of the same name inside a function).

    >>> attack_report({"q1": "import os\nif os.fork() == 0: pass"})
    ['q1: forks the process']
    >>> attack_report({"q1": "def f(signal):\n    check = signal.mean()\n    return check"}, {"check"})
    []
    >>> attack_report({"q1": "check = print"}, {"check"})
    ["q1: rebinds 'check', which the tests use"]
    """
    flags = []
    test_names = test_names or set()
    for gid, src in answers.items():
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in _top_level(tree):
            bound = [t.id for t in (node.targets if isinstance(node, ast.Assign) else [])
                     if isinstance(t, ast.Name)]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.append(node.name)
            for name in sorted(set(bound) & test_names):
                flags.append(f"{gid}: rebinds '{name}', which the tests use")
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
                for module in sorted({n.split(".")[0] for n in names} & SUSPICIOUS_MODULES.keys()):
                    flags.append(f"{gid}: suspicious code: {SUSPICIOUS_MODULES[module]} "
                                 f"(import {module})")
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
            word = node.attr if isinstance(node, ast.Attribute) else (
                node.id if isinstance(node, ast.Name) else None)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                word = next((a.name.split(".")[-1] for a in node.names
                             if a.name.split(".")[-1] in SUSPICIOUS_NAMES), word)
                if isinstance(node, ast.ImportFrom) and node.module in SUSPICIOUS_NAMES:
                    word = node.module
            if word in SUSPICIOUS_NAMES:
                flags.append(f"{gid}: suspicious code: {SUSPICIOUS_NAMES[word]} ({word})")
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(f, ast.FunctionDef) and f.name in ("__eq__", "__ne__", "__bool__")
                    for f in node.body):
                flags.append(f"{gid}: suspicious code: class {node.name} redefines equality "
                             "(an object equal to everything fools plain tests)")
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("exec", "eval", "compile",
                                                                                 "__import__"):
                flags.append(f"{gid}: suspicious code: runs generated code ({node.func.id})")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and any(
                    s in node.value for s in ("gradebook", "source/", "grader/", "/truth",
                                              "dataethics-grade", "submitted/", "autograded/")):
                flags.append(f"{gid}: reads instructor files ({node.value[:40]!r})")
    return sorted(set(flags))
