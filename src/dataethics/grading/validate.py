"""Students' Validate on the pre-warmed path: nbgrader's own validation, a kernel forked in milliseconds.

``dataethics validate NOTEBOOK…`` runs nbgrader's ``Validator`` (the same checks and
messages as nbgrader's Validate button and ``nbgrader validate``) with the notebook's
kernel forked from a template process that has already imported ipykernel, numpy,
pandas, scikit-learn and matplotlib (:mod:`dataethics.grading.runner.prewarm`). The first
notebook pays for starting the template; every later one in the same process only for
running its own cells.

Where students work on a Jupyter server (the course hub), the template lives in that
server process and nbgrader's Validate button uses it, through standard Jupyter hooks
(``grader/README.md``, *Validate for students*):

* the kernel provisioner ``dataethics-prewarm`` (an entry point of this package) forks
  kernels from the template; :func:`install_kernelspec` writes the kernelspec
  ``dataethics-prewarm`` that names it;
* ``c.Execute.kernel_name = "dataethics-prewarm"`` in the students' ``nbgrader_config.py``
  makes nbgrader's Validate run notebooks with it;
* the server extension in this module (``jupyter server extension enable
  dataethics.grading.validate``) starts the template when the server starts, so that even
  the first Validate is warm.

The student's own kernel is an ordinary, unsandboxed IPython kernel with the student's
environment, as nbgrader's Validate gives: it validates their own files on their own
server. Grading limits and the sandbox apply to autograding, not here.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from dataethics.errors import DataethicsError

KERNEL_NAME = "dataethics-prewarm"
PROVISIONER = "dataethics-prewarm"


def kernelspec() -> dict[str, Any]:
    """The kernelspec whose kernels are forked by the ``dataethics-prewarm`` provisioner."""
    return {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (pre-warmed)", "language": "python",
            "interrupt_mode": "signal",
            "metadata": {"kernel_provisioner": {"provisioner_name": PROVISIONER}}}


def install_kernelspec(prefix: str | None = None, user: bool = False) -> Path:
    """Install the ``dataethics-prewarm`` kernelspec (into ``prefix``, the user's, or the system's)."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / KERNEL_NAME
        folder.mkdir()
        (folder / "kernel.json").write_text(json.dumps(kernelspec(), indent=1))
        return Path(KernelSpecManager().install_kernel_spec(str(folder), KERNEL_NAME, user=user,
                                                            prefix=prefix))


def _ensure_kernelspec() -> None:
    """Make the kernelspec findable in this process (a private copy when it is not installed)."""
    from jupyter_client.kernelspec import KernelSpecManager

    if KERNEL_NAME in KernelSpecManager().find_kernel_specs():
        return
    root = Path(tempfile.mkdtemp(prefix="dataethics-kernels-"))
    (root / "kernels" / KERNEL_NAME).mkdir(parents=True)
    (root / "kernels" / KERNEL_NAME / "kernel.json").write_text(json.dumps(kernelspec()))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("JUPYTER_PATH")]))


def _provisioner_registered() -> bool:
    from importlib.metadata import entry_points

    return any(ep.name == PROVISIONER for ep in entry_points(group="jupyter_client.kernel_provisioners"))


def validator(timeout: int = 60) -> Any:
    """nbgrader's ``Validator``, configured to run notebooks in pre-warmed kernels."""
    from nbgrader.validator import Validator
    from traitlets.config import Config

    if not _provisioner_registered():
        raise DataethicsError("the 'dataethics-prewarm' kernel provisioner is not registered: "
                              "reinstall the package (pip install -e .)")
    _ensure_kernelspec()
    config = Config()
    config.Execute.kernel_name = KERNEL_NAME
    config.Execute.timeout = timeout
    return Validator(config=config)


def validate(path: Path, timeout: int = 60) -> dict[str, Any]:
    """Validate one notebook as nbgrader's Validate does; return nbgrader's result dictionary."""
    path = Path(path)
    if not path.is_file():
        raise DataethicsError(f"notebook not found: {path}")
    return validator(timeout).validate(str(path.resolve()))


def warm_up() -> None:
    """Start this process's template now (in the background), not at the first Validate."""
    from dataethics.grading.runner.prewarm import shared_template, unavailable

    if unavailable(sandboxed=False, require_sandbox=False) is None:
        threading.Thread(target=shared_template, name="dataethics-prewarm", daemon=True).start()


def main(notebooks: list[str], timeout: int = 60) -> int:
    """``dataethics validate``: validate each notebook, print nbgrader's report and the time taken."""
    from dataethics.grading.runner.prewarm import unavailable

    reason = unavailable(sandboxed=False, require_sandbox=False)
    if reason:
        raise DataethicsError(f"pre-warmed kernels are not available here ({reason}): "
                              "use nbgrader validate")
    check = validator(timeout)
    ok = True
    for name in notebooks:
        path = Path(name)
        if not path.is_file():
            raise DataethicsError(f"notebook not found: {path}")
        start = time.perf_counter()
        result = check.validate(str(path.resolve()))
        took = time.perf_counter() - start
        print(f"== {path} ({took:.1f} s)")
        _print(check, result)
        ok &= not any(result.get(k) for k in ("failed", "changed", "type_changed"))
    return 0 if ok else 1


def _print(check: Any, result: dict[str, Any]) -> None:
    """nbgrader's wording for a validation result (as its ``validate_and_print`` writes it)."""
    if result.get("type_changed"):
        check._print_num_type_changed(len(result["type_changed"]))
        for cell in result["type_changed"]:
            check._print_type_changed(cell["old_type"], cell["new_type"], cell["source"])
    elif result.get("changed"):
        check._print_num_changed(len(result["changed"]))
        for cell in result["changed"]:
            check._print_changed(cell["source"])
    else:
        failed = result.get("failed", [])
        check._print_num_failed(len(failed))
        for cell in failed:
            check._print_error(cell["source"], cell.get("raw_error", cell.get("error", "")))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "dataethics.grading.validate"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Jupyter server extension: start the Validate template with the server."""
    warm_up()
    serverapp.log.info("dataethics: pre-warmed kernels for nbgrader's Validate (kernel %s)", KERNEL_NAME)
