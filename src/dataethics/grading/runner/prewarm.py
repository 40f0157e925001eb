"""Pre-warmed kernels: pay the interpreter start and the heavy imports once per worker, not per student.

Why: most of a ps01 submission's grading time is a new Python process importing ipykernel,
numpy, pandas, scikit-learn and matplotlib — the same work for every student. Here each
grading worker keeps one *template* process that has done those imports and forks one
fresh kernel per submission. A worker launches its template as soon as it starts
(:func:`warm`), so that the imports overlap the grader's own preparations. The template
runs no student code, so every child starts from the same clean state.

Isolation (what a student can leave behind, and why the next one does not see it):

* **Memory and Python state** — each kernel is its own forked process: a student's
  monkeypatches, threads, globals and allocations live in that process only and disappear
  with it. The template never runs student code; the next child is forked from it, not
  from the previous kernel. ``random`` and numpy's global generator are reseeded in each
  child (a fork would otherwise share the template's state).
* **Processes** — the child starts a new session (so interrupts and kills reach its whole
  process group) and the template is a *child subreaper*: anything a kernel leaves running,
  even after ``setsid`` or a double fork, is re-parented to the template, which kills every
  descendant before the next fork. Inside the sandbox the template also has its own PID
  namespace: students cannot see or signal the grader, other workers or other students.
* **Files** — each child gets its own work folder (cwd, ``HOME``, ``TMPDIR``,
  ``MPLCONFIGDIR``, ``IPYTHONDIR`` inside it) and connection file. Before the next fork the
  previous folder is deleted, as is anything else written in the worker's folder,
  ``/dev/shm`` and System V IPC objects (the template has its own IPC namespace).
* **Limits** — the child sets its own address-space limit (``RLIMIT_AS``), no core files,
  one BLAS/OpenMP thread and the output cap, exactly as the ordinary launcher
  (:mod:`dataethics.grading.runner.kernel`) does.
* **The template itself** — it runs inside the same bubblewrap sandbox as an ordinary
  grading kernel (read-only system, no network, course and grader folders hidden), is not
  ptrace-able (``PR_SET_DUMPABLE`` 0, so a kernel cannot write into its memory), has no
  writable folder on its ``sys.path`` (``python -s -P``), and refuses to fork while it has
  more than one thread. A kernel can still kill it (same user): that ends that student's
  own kernel and the next submission starts a new template.

Where the fast path cannot be used — no ``fork`` (not Linux), no bubblewrap for
autograding, a kernel that is not Python, a template that fails to start — the grader
uses the ordinary launcher and says why (:func:`unavailable`).

The host side (:class:`Template`, :class:`PrewarmKernelManager`) plugs into
``jupyter_client`` as a kernel provisioner, so nbclient — and nbgrader's own ``Execute``
preprocessor, for students' Validate — drive a forked kernel like any other.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import gc
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import DottedObjectName, default

from dataethics.grading.runner.notebook import imported_modules

# what a template imports when it does not know the notebooks (Validate on a hub): the course's libraries
BASE_PRELOAD = ("numpy", "pandas", "sklearn", "sklearn.base", "sklearn.linear_model", "sklearn.metrics",
                "sklearn.model_selection", "sklearn.pipeline", "sklearn.preprocessing", "matplotlib",
                "matplotlib.pyplot", "scipy.stats")
KERNEL_MODULES = ("dataethics.grading.runner.kernel", "dataethics.grading.runner.guard", "dataethics.check",
                  "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger", "ipykernel.iostream",
                  "ipykernel.zmqshell", "IPython.core.interactiveshell", "jupyter_client.session", "zmq",
                  "tornado.ioloop", "tornado.platform.asyncio", "IPython.core.completerlib",
                  "IPython.core.debugger", "IPython.extensions.storemagic", "sqlite3", "pdb",
                  # the kernel's guard imports the inline backend, which imports matplotlib (most of
                  # its cost): matplotlib and pyplot here. Not the backend itself: imported in the
                  # kernel, it registers its callbacks there, before the guard's snapshot
                  "matplotlib", "matplotlib.pyplot")
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
TEMPLATE_DIR = ".template"
READY_SECONDS = 120.0
PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 4, 36


# --------------------------------------------------------------------------------------------
# inside the sandbox: the template process (``python -s -P -m dataethics.grading.runner.prewarm``)
# --------------------------------------------------------------------------------------------

def _prctl(option: int, value: int) -> bool:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _descendants(root: int) -> list[int]:
    """Every live process below ``root`` (read from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def _reap_zombies() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_everything_below(me: int) -> int:
    """SIGKILL every descendant until none is left (a process may fork while we kill)."""
    killed = 0
    for _ in range(200):
        _reap_zombies()
        pids = _descendants(me)
        if not pids:
            return killed
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        time.sleep(0.005)
    return killed


def _clean_shared_memory() -> None:
    """Inside the sandbox only: /dev/shm and System V IPC belong to this template's namespaces."""
    shm = Path("/dev/shm")
    if shm.is_dir():
        for entry in shm.iterdir():
            with contextlib.suppress(OSError):
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    ipcrm = shutil.which("ipcrm")
    if ipcrm and _ipc_objects():
        subprocess.run([ipcrm, "--all"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def _ipc_objects() -> bool:
    """Whether this IPC namespace holds any System V object (``/proc/sysvipc`` lists them).

    Forking ``ipcrm`` from a template of a few hundred MB costs more than the rest of a
    clean-up, and a kernel almost never leaves such an object: look first.
    """
    for kind in ("shm", "sem", "msg"):
        try:
            with open(f"/proc/sysvipc/{kind}", encoding="ascii", errors="replace") as table:
                if len(table.readlines()) > 1:  # a header line, then one line per object
                    return True
        except OSError:  # cannot tell: clean up anyway
            return True
    return False


def _child(req: dict[str, Any]) -> None:
    """In the forked child: become a fresh, limited kernel for one submission. Never returns."""
    code = 1
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 1 << 16)  # the template's protocol pipes, anything else inherited
        _prctl(PR_SET_DUMPABLE, 1)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
        import resource

        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        if int(req["memory_mb"]) > 0:
            limit = int(req["memory_mb"]) * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        import random

        random.seed()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        sys.argv = sys.argv[:1]
        if req.get("grading"):  # the same entry point as the ordinary launcher: caps, then the guard
            from dataethics.grading.runner.kernel import start_kernel

            start_kernel(req["connection_file"], int(req["output_chars"]), int(req["message_chars"]))
        else:  # a student's own Validate: an ordinary kernel
            from ipykernel import kernelapp

            sys.argv += ["-f", req["connection_file"], "--HistoryManager.hist_file=:memory:"]
            kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: B036 - nothing may return into the template's loop
        code = 1
    finally:
        os._exit(code)


def _raise_for_warmup() -> None:
    raise RuntimeError("a traceback formatted once in the template")


def _warm_tracebacks() -> None:
    """Fill, once in the template, the caches behind the first traceback of every kernel.

    IPython formats a cell's error with ``stack_data`` and pygments, which it imports on
    first use (pygments compiles its Python lexer's patterns then), and calls
    ``inspect.getmodule`` for each frame, whose first call on a file that is no module (a
    cell's code) walks every loaded module to map their files: with pandas and
    scikit-learn loaded, the three cost a kernel 0.05 to 0.15 s of CPU at its first
    error; ``stack_data`` also parses each file a traceback passes through, such as the
    course's test helper :mod:`dataethics.check` at each failed test. Done here, a forked
    kernel inherits them. These are caches of library code only (modules' files, compiled
    patterns, parsed sources); no kernel's traceback reads differently.
    """
    import inspect

    from IPython.core import ultratb

    try:
        from ipykernel.zmqshell import ZMQInteractiveShell

        theme = ZMQInteractiveShell.class_traits()["colors"].default()
    except Exception:  # an ipykernel without that trait: the lexer and the caches still warm
        theme = "neutral"
    formatter = ultratb.AutoFormattedTB(mode="Context", theme_name=theme)
    raisers = [_raise_for_warmup]
    helper = sys.modules.get("dataethics.check")
    if helper is not None:  # the course's test helper: the traceback of every failed test passes through it
        raisers.append(lambda: helper.check(0, 1, name="warm-up"))
    for raiser in raisers:
        try:
            raiser()
        except Exception as exc:
            formatter.structured_traceback(type(exc), exc, exc.__traceback__)
    # a cell's code object: its file is no module's, so this maps every loaded module's file
    inspect.getmodule(compile("pass", "<dataethics warm-up>", "exec"))


def _serve(preload: list[str], sandboxed: bool) -> None:
    """The template: import, report, then fork one kernel per request (JSON lines on stdin)."""
    proto_in, proto_out = os.fdopen(os.dup(0), "rb", buffering=0), os.fdopen(os.dup(1), "wb", buffering=0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)  # anything a library prints goes to the log, never into the protocol
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader, not a terminal, controls it
    reaper = _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_DUMPABLE, 0)
    for var in THREAD_VARS:
        os.environ[var] = "1"
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    import importlib

    loaded, failed = [], []
    for name in (*KERNEL_MODULES, *preload):
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception as exc:  # a missing optional library only costs its import later
            failed.append(f"{name}: {type(exc).__name__}")
    try:
        _warm_tracebacks()
    except Exception as exc:  # each kernel then pays for its own first traceback
        failed.append(f"traceback warm-up: {type(exc).__name__}")
    try:  # the guard's module snapshot, taken once here rather than in every kernel
        from dataethics.grading.runner import guard

        guard.prepare([name for name in preload if name in sys.modules])
    except Exception as exc:  # each kernel's guard then takes its own
        failed.append(f"guard snapshot: {type(exc).__name__}")
    gc.collect()
    gc.freeze()  # the children share these objects; no collection will touch (copy) them
    me = os.getpid()

    def send(obj: dict[str, Any]) -> None:
        proto_out.write((json.dumps(obj) + "\n").encode())

    send({"ready": True, "pid": me, "threads": _threads(), "subreaper": reaper, "loaded": loaded,
          "failed": failed})
    kernels: dict[int, int | None] = {}
    while True:
        line = proto_in.readline()
        if not line:
            break
        req = json.loads(line)
        op = req.get("op")
        try:
            if op == "fork":
                _kill_everything_below(me)
                kernels.clear()
                if sandboxed:
                    _clean_shared_memory()
                threads = _threads()
                if threads != 1:
                    send({"error": f"the template has {threads} threads; it only forks with one"})
                    continue
                pid = os.fork()
                if pid == 0:
                    _child(req)
                kernels[pid] = None
                send({"pid": pid})
            elif op == "poll":
                pid = int(req["pid"])
                if kernels.get(pid) is None and pid in kernels:
                    with contextlib.suppress(ChildProcessError):
                        done, status = os.waitpid(pid, os.WNOHANG)
                        if done:
                            kernels[pid] = os.waitstatus_to_exitcode(status)
                send({"code": kernels.get(pid, -9)})
            elif op == "signal":
                pid, sig = int(req["pid"]), int(req["sig"])
                try:
                    os.killpg(pid, sig)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.kill(pid, sig)
                send({"ok": True})
            elif op == "reap":
                killed = _kill_everything_below(me)
                kernels.clear()
                if sandboxed:
                    _clean_shared_memory()
                send({"killed": killed})
            elif op == "exit":
                _kill_everything_below(me)
                send({"ok": True})
                break
            else:
                send({"error": f"unknown request {op!r}"})
        except Exception as exc:  # report, keep serving
            send({"error": f"{type(exc).__name__}: {exc}"})
    _kill_everything_below(me)  # the grader went away: so do the kernels


# --------------------------------------------------------------------------------------------
# host side: one Template per worker, a Popen-like handle per kernel, the kernel provisioner
# --------------------------------------------------------------------------------------------

class TemplateError(RuntimeError):
    """The template could not start or answer: the caller falls back to an ordinary kernel."""


def preload_for(notebooks: list[Path] | None = None) -> list[str]:
    """The modules a template imports besides :data:`KERNEL_MODULES`: what ``notebooks``
    import, or, with no notebook to read (Validate on a hub), the course's libraries.

    Each template pays its imports once; importing a library no notebook uses would cost every
    template (scikit-learn alone is about 0.9 s of CPU) and save nothing. A student who imports
    something else pays for it in their own kernel, as under plain nbgrader.
    """
    names: list[str] = []
    read_any = False  # a notebook with code cells was read
    for path in notebooks or []:
        try:
            cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
        except (OSError, ValueError):
            continue
        for cell in cells:
            if cell.get("cell_type") != "code":
                continue
            src = "".join(cell.get("source", ""))
            read_any = True
            try:
                tree = ast.parse(src)
            except SyntaxError:
                continue
            names += imported_modules(tree)
    if not read_any:
        names = list(BASE_PRELOAD)
    return list(dict.fromkeys(n for n in names if not n.startswith("dataethics.grading")))


def _host_pid(template_host_pid: int, ns_pid: int) -> int | None:
    """The host's pid of the template's child ``ns_pid`` (the template has its own PID namespace)."""
    try:
        tasks = os.listdir(f"/proc/{template_host_pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            kids = Path(f"/proc/{template_host_pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for kid in kids:
            try:
                status = Path(f"/proc/{kid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("NSpid:") and int(line.split()[-1]) == ns_pid:
                    return int(kid)
    return None


def _find_template(outer: int, deadline: float) -> int | None:
    """The host pid of the template under bwrap (bwrap → its init → the template)."""
    while time.monotonic() < deadline:
        for pid in [outer, *_descendants(outer)]:
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"dataethics.grading.runner.prewarm" in cmd and b"bwrap" not in cmd.split(b"\0")[0]:
                return pid
        time.sleep(0.01)
    return None


class Template:
    """A pre-warmed template process and the folder its kernels work in (one kernel at a time).

    ``root`` is this template's folder: the only writable place inside its sandbox. Each
    kernel works in ``root/<name>``; :meth:`fresh_workdir` deletes everything the previous
    kernel left there (and the template kills what it left running) before the next fork.
    """

    def __init__(self, root: Path, preload: list[str], hide: list[Path] | None = None,
                 sandboxed: bool = True) -> None:
        self.root = Path(root)
        self.preload = list(preload)
        self.hide = [Path(p) for p in hide or []]
        self.sandboxed = sandboxed
        self.proc: subprocess.Popen | None = None
        self.host_pid: int | None = None
        self.info: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.owner: int | None = None  # the thread whose submission uses it
        self.launched = 0.0  # time.monotonic() at launch
        self.creator = os.getpid()  # a forked worker inherits this object, not the process

    @property
    def key(self) -> tuple:
        return (tuple(self.preload), tuple(map(str, self.hide)), self.sandboxed)

    def start(self) -> None:
        """Start the template and wait until it has imported everything."""
        self.launch()
        self.wait_ready()

    @property
    def ready(self) -> bool:
        """Whether the template has reported that its imports are done."""
        return bool(self.info)

    def launch(self) -> None:
        """Start the template process without waiting for its imports (:meth:`wait_ready` waits)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tpl = self.root / TEMPLATE_DIR
        tpl.mkdir(exist_ok=True)
        cmd = [sys.executable, "-s", "-P", "-m", "dataethics.grading.runner.prewarm",
               json.dumps(self.preload), "sandbox" if self.sandboxed else "plain"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "PYTHON"))}
        env.update({"HOME": str(tpl), "MPLCONFIGDIR": str(tpl / "mpl"), "TMPDIR": str(tpl),
                    "IPYTHONDIR": str(tpl / "ipython"), "MPLBACKEND": INLINE_BACKEND,
                    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
                    **dict.fromkeys(THREAD_VARS, "1")})  # before numpy loads: BLAS starts no threads
        if self.sandboxed:
            argv = [shutil.which("bwrap") or "bwrap", "--ro-bind", "/", "/", "--dev", "/dev",
                    "--proc", "/proc"]
            for path in self.hide:
                if path.exists():
                    argv += ["--tmpfs", str(path)]
            argv += ["--bind", str(self.root), str(self.root), "--unshare-net", "--unshare-pid",
                     "--unshare-ipc", "--die-with-parent", "--chdir", str(self.root), "--", *cmd]
        else:
            argv = cmd
        log = open(self.root.parent / f"{self.root.name}.log", "ab")
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                         env=env, cwd=str(self.root), start_new_session=True, bufsize=0)
        finally:
            log.close()
        self.launched = time.monotonic()

    def wait_ready(self) -> None:
        """Wait until the launched template reports its imports done; raise :class:`TemplateError` if not."""
        assert self.proc is not None and self.proc.stdout is not None
        tpl = self.root / TEMPLATE_DIR
        deadline = self.launched + READY_SECONDS
        ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        line = self.proc.stdout.readline() if ready else b""  # type: ignore[union-attr]
        if not line:
            self.close()
            raise TemplateError(f"the template did not start (see {self.root.parent / self.root.name}.log)")
        self.info = json.loads(line)
        if self.info.get("threads", 1) != 1:
            self.close()
            raise TemplateError(f"the template runs {self.info['threads']} threads after its imports")
        self.host_pid = (_find_template(self.proc.pid, deadline) if self.sandboxed else self.proc.pid)
        self.pristine: set[Path] = {p.relative_to(tpl) for p in tpl.rglob("*")}

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def request(self, **req: Any) -> dict[str, Any]:
        """One request, one answer (serialised: nbclient's thread and the watchdog both ask)."""
        with self.lock:
            if not self.alive():
                raise TemplateError("the template is not running")
            assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
            try:
                self.proc.stdin.write((json.dumps(req) + "\n").encode())
                self.proc.stdin.flush()
                ready, _, _ = select.select([self.proc.stdout], [], [], 30)
                line = self.proc.stdout.readline() if ready else b""
            except (BrokenPipeError, OSError) as exc:
                raise TemplateError(f"the template stopped answering: {exc}") from exc
            if not line:
                raise TemplateError("the template stopped answering")
            answer = json.loads(line)
            if "error" in answer:
                raise TemplateError(answer["error"])
            return answer

    def fresh_workdir(self, name: str) -> Path:
        """Kill what the last kernel left running, delete what it left on disk; return a new folder."""
        if self.alive():
            self.request(op="reap")
        for entry in self.root.iterdir():
            if entry.name != TEMPLATE_DIR:
                _remove(entry)
        tpl = self.root / TEMPLATE_DIR
        if tpl.is_dir():  # a kernel could write here too: keep only what the template itself made
            for entry in sorted(tpl.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if entry.relative_to(tpl) not in self.pristine:
                    _remove(entry)
        work = self.root / name
        work.mkdir(parents=True)
        return work

    def fork(self, work: Path, connection_file: str, env: dict[str, str], memory_mb: int = 0,
             output_chars: int = 0, message_chars: int = 0, grading: bool = True) -> ForkedKernel:
        """Fork one kernel working in ``work`` (from :meth:`fresh_workdir`).

        ``grading``: start it as the grading launcher does (output and message caps, the
        guard); otherwise as an ordinary IPython kernel (a student's Validate).
        """
        answer = self.request(op="fork", cwd=str(work), connection_file=connection_file, env=env,
                              memory_mb=memory_mb, output_chars=output_chars,
                              message_chars=message_chars, grading=grading)
        ns_pid = int(answer["pid"])
        host = _host_pid(self.host_pid, ns_pid) if self.sandboxed and self.host_pid else ns_pid
        return ForkedKernel(self, ns_pid, host)

    def close(self) -> None:
        """Stop the template and every kernel it forked."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(Exception):
            assert proc.stdin is not None
            proc.stdin.write(b'{"op": "exit"}\n')
            proc.stdin.close()
            proc.wait(5 if self.ready else 0)  # still importing: it would not read the request yet
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for stream in (proc.stdout, proc.stdin):
            with contextlib.suppress(Exception):
                stream.close()  # type: ignore[union-attr]


def _remove(path: Path) -> None:
    def unlock(func: Any, name: str, _exc: Any) -> None:  # a kernel may chmod its files read-only
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(name), 0o700)
            os.chmod(name, 0o700)
        with contextlib.suppress(OSError):
            func(name)

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=unlock)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


class ForkedKernel:
    """A :class:`subprocess.Popen`-like handle on a forked kernel; signals go through the template.

    ``pid`` is the host's pid of the kernel (the leader of its own process group), or None
    when it cannot be known; the template is the kernel's parent and answers :meth:`poll`.
    """

    stdin = stdout = stderr = None

    def __init__(self, template: Template, ns_pid: int, host_pid: int | None) -> None:
        self.template, self.ns_pid, self.pid = template, ns_pid, host_pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self.template.request(op="poll", pid=self.ns_pid)["code"]
            except TemplateError:
                self.returncode = -9  # no template, no kernel (bwrap's namespace is gone)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("kernel", timeout or 0)
            time.sleep(0.02)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(TemplateError):
                self.template.request(op="signal", pid=self.ns_pid, sig=int(sig))

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class PrewarmProvisioner(LocalProvisioner):
    """A jupyter_client kernel provisioner that forks the kernel from a template.

    The template is the manager's (``km.template``) or, when a kernelspec names this
    provisioner (students' Validate), this process's :func:`shared_template`.
    """

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        km = self.parent
        if getattr(km, "template", None) is None:  # Validate: keep the kernelspec's command as a fallback
            return await super().pre_launch(**kwargs)
        kwargs.pop("extra_arguments", None)
        km.write_connection_file()
        self.connection_info = km.get_connection_info()
        env = dict(kwargs.pop("env", None) or os.environ)
        return {**kwargs, "cmd": [], "env": env}

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        km = self.parent
        template = getattr(km, "template", None)
        if template is None:  # a student's Validate: the shared template, or an ordinary kernel
            reason = unavailable(sandboxed=False, require_sandbox=False)
            if reason is None:
                try:
                    template = shared_template()
                except TemplateError as exc:
                    reason = str(exc)
            if template is None:
                self.log.warning("dataethics: no pre-warmed kernel (%s): an ordinary one validates", reason)
                return await super().launch_kernel(cmd, **kwargs)
        work = Path(kwargs.get("cwd") or getattr(km, "work", None) or os.getcwd())
        grading = getattr(km, "limits", None)
        env = kernel_env(work, {**(kwargs.get("env") or {}), **getattr(km, "extra_env", {})},
                         isolate=grading is not None)
        if grading is None:
            self.process = template.fork(work, km.connection_file, env, grading=False)
            if getattr(km, "template", None) is None:
                _shared_kernel(self.process)
                # nbgrader's Validate makes its own asynchronous manager (its configuration cannot
                # name another): its client, made after this launch, takes the fast-ready check
                factory = getattr(km, "client_factory", None)
                if isinstance(factory, type) and issubclass(factory, AsyncKernelClient):
                    km.client_factory = FastReadyClient
        else:
            self.process = template.fork(work, km.connection_file, env, grading.memory_mb,
                                         grading.kernel_output_chars, grading.message_chars)
        self.pid, self.pgid, self.cwd = self.process.pid, None, str(work)
        return self.connection_info


def kernel_env(work: Path, base: dict[str, str], isolate: bool = True) -> dict[str, str]:
    """A forked kernel's environment; ``isolate``: home, temp and config folders inside ``work``."""
    env = {k: v for k, v in base.items() if not k.startswith("JPY_PARENT")}
    env["MPLBACKEND"] = INLINE_BACKEND
    if isolate:  # no grader secrets (gradebook URL, export key, hub tokens) in a student's kernel
        env = {k: v for k, v in env.items() if k == "DATAETHICS_GUARD_MODULES" or not (
            k.startswith(("DATAETHICS_", "JPY_", "JUPYTERHUB_"))
            or any(s in k.upper() for s in ("TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")))}
    if isolate:  # as the ordinary sandboxed grading kernel gets them
        env.update({"HOME": str(work), "MPLCONFIGDIR": str(work / ".mpl"), "TMPDIR": str(work),
                    "IPYTHONDIR": str(work / ".ipython"), **dict.fromkeys(THREAD_VARS, "1")})
    return env


class FastReadyClient(AsyncKernelClient):
    """A kernel client that is ready as soon as IOPub carries the idle status of its kernel_info.

    jupyter_client's own check ends by waiting 0.2 s for IOPub to fall silent, on every kernel
    start; seeing the idle status that follows the kernel_info request proves the same thing
    (IOPub is connected) without the wait. Its sockets retry connecting every 10 ms, not ZeroMQ's
    100 ms: a forked kernel listens about a tenth of a second after the fork.
    """

    def start_channels(self, *args: Any, **kwargs: Any) -> None:
        """Start the channels, on sockets that retry connecting every 10 ms."""
        import zmq

        self.context.setsockopt(zmq.RECONNECT_IVL, 10)  # default options of the sockets made next
        super().start_channels(*args, **kwargs)

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        from queue import Empty

        from jupyter_core.utils import ensure_async

        deadline = time.monotonic() + (timeout if timeout is not None else 60.0)
        sent: set[str] = set()  # a slow kernel answers an earlier request: any of ours will do
        while True:
            sent.add(self.kernel_info())
            try:
                reply = await ensure_async(self.shell_channel.get_msg(timeout=1))
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply" \
                    and reply["parent_header"].get("msg_id") in sent:
                # IOPub may have connected after that status went out: then ask again, soon
                until = time.monotonic() + 0.05
                while time.monotonic() < until:
                    try:
                        msg = await ensure_async(self.iopub_channel.get_msg(timeout=until - time.monotonic()))
                    except Empty:
                        break
                    if msg["msg_type"] == "status" and msg["parent_header"].get("msg_id") in sent \
                            and msg["content"].get("execution_state") == "idle":
                        self._handle_kernel_info_reply(reply)
                        return
            if not await ensure_async(self.is_alive()):
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    wait_for_ready = _async_wait_for_ready


class PrewarmKernelManager(AsyncKernelManager):
    """An (asynchronous) KernelManager whose Python kernel is forked from a template, interrupted by SIGINT.

    Asynchronous, as the grader's ordinary manager: nbclient's own cell limit then
    interrupts the kernel (a blocking client would hold nbclient's event loop).
    """

    client_class = DottedObjectName("dataethics.grading.runner.prewarm.FastReadyClient")

    @default("client_factory")
    def _fast_ready_client(self) -> type:
        # AsyncKernelManager redefines ``client_factory`` with a fixed default, so that
        # ``client_class`` alone would still give jupyter_client's own (slower to be ready) client
        return FastReadyClient

    template: Template | None = None
    work: Path | None = None
    limits: Any = None  # a grading kernel's Limits; None: an ordinary kernel
    extra_env: dict[str, str] = {}  # replaced per kernel, never mutated

    @property
    def kernel_spec(self) -> KernelSpec:
        return KernelSpec(argv=["(forked from a pre-warmed template)"], display_name="grader",
                          language="python", interrupt_mode="signal", metadata={})

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        """Wait until the kernel has exited, asking its template every 5 ms (not jupyter_client's 100 ms).

        A poll is one short request to the template, and a killed kernel is gone within a few
        milliseconds: the default interval alone cost each submission a tenth of a second.
        """
        while await self._async_is_alive():
            await asyncio.sleep(min(pollinterval, 0.005))

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or str(uuid.uuid4())
            self.provisioner = PrewarmProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec,
                                                  parent=self)
        return await super()._async_pre_start_kernel(**kw)


def kernel_manager(template: Template, work: Path, limits: Any, env: dict[str, str] | None = None,
                   **kwargs: Any) -> PrewarmKernelManager:
    """A ``KernelManager`` for one grading kernel forked from ``template``, working in ``work``.

    ``limits`` is the submission's :class:`~.limits.Limits`; ``env`` is added to the kernel's
    environment (as a kernelspec's ``env``).
    """
    km = PrewarmKernelManager(transport="ipc", ip=str(work / "k"),
                              connection_file=str(work / "kernel.json"), **kwargs)
    km.template, km.work, km.limits = template, work, limits
    km.extra_env = {"NBGRADER_EXECUTION": "autograde", **(env or {})}
    return km


# --------------------------------------------------------------------------------------------
# a pool of templates per process (grading workers, Dask workers, a Jupyter server)
# --------------------------------------------------------------------------------------------

_POOL: list[Template] = []
PREWARMED = "pre-warmed kernel (forked from a template)"
FRESH = "fresh kernel"
_POOL_LOCK = threading.Lock()


def unavailable(sandboxed: bool, language: str = "python", require_sandbox: bool = True) -> str | None:
    """Why the fast path cannot be used here (None: it can)."""
    if os.environ.get("DATAETHICS_PREWARM", "1").lower() in ("0", "no", "off", "false"):
        return "turned off (DATAETHICS_PREWARM=0)"
    if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        return f"no fork-based kernels on {sys.platform}"
    if language.lower() != "python":
        return f"the kernel is {language}, not Python"
    if require_sandbox and not sandboxed:
        return "no bubblewrap sandbox"
    return None


def _free(tpl: Template) -> bool:
    """Usable by this thread: nobody's, this thread's (its last submission is over) or a dead thread's."""
    return tpl.owner in (None, threading.get_ident()) or tpl.owner not in {
        th.ident for th in threading.enumerate()}


def acquire(scratch: Path, preload: list[str], hide: list[Path], sandboxed: bool) -> Template:
    """A started template of this process for these settings, owned by the calling thread.

    A thread keeps its template until it asks again (its previous kernel is then over), so
    no release call is needed; other threads get their own template.
    """
    want = (tuple(preload), tuple(map(str, hide)), sandboxed)
    scratch = Path(scratch).resolve()
    me = threading.get_ident()
    with _POOL_LOCK:
        _forget_inherited()
        for tpl in [t for t in _POOL if _free(t)]:
            if tpl.key != want or not tpl.alive() or tpl.root.parent.resolve() != scratch:
                tpl.close()
                _POOL.remove(tpl)
        mine = [t for t in _POOL if _free(t)]
        if mine:
            tpl = mine[0]
        else:
            tpl = Template(scratch / f"w-{os.getpid()}-{len(_POOL)}", preload, hide, sandboxed)
            _POOL.append(tpl)
        tpl.owner = me
    try:
        if tpl.proc is None:
            tpl.start()
        elif not tpl.ready:  # launched ahead by warm(): it may still be importing
            tpl.wait_ready()
    except BaseException:
        with _POOL_LOCK:
            _POOL.remove(tpl)
        raise
    return tpl


def _forget_inherited() -> None:
    """Drop templates a forked process inherited from its parent: they are the parent's to use."""
    _POOL[:] = [t for t in _POOL if t.creator == os.getpid()]


def warm(scratch: Path | str, preload: list[str], hide: list[Path | str], sandboxed: bool) -> None:
    """Launch this process's template now, without waiting: it imports while the grader prepares.

    Meant as a worker pool's initializer. :func:`acquire` with the same settings then takes
    it (and waits for the rest of its start); with other settings it is replaced. Where the
    fast path cannot be used, or the launch fails, nothing happens here and the first
    submission says why, as usual.
    """
    try:  # a pool initializer that raises would break the whole pool: never raise
        if unavailable(sandboxed) is not None:
            return
        tpl = Template(Path(scratch).resolve() / f"w-{os.getpid()}-0", preload, [Path(p) for p in hide],
                       sandboxed)
        with _POOL_LOCK:
            _forget_inherited()
            if _POOL:
                return
            _POOL.append(tpl)
        try:
            tpl.launch()
        except Exception:
            with _POOL_LOCK:
                _POOL.remove(tpl)
    except Exception:  # the first submission starts a template the usual way
        pass


def close_all() -> None:
    """Stop every template of this process (at exit)."""
    with _POOL_LOCK:
        for tpl in _POOL:
            tpl.close()
        _POOL.clear()


@dataclass
class PrewarmRun:
    """One submission's place on the fast path: its template, its fresh work folder, a note."""

    template: Template
    work: Path
    note: str = PREWARMED

    def kernel_manager(self, limits: Any, guard_modules: list[str] | None = None) -> PrewarmKernelManager:
        """The kernel manager nbclient drives (the kernel is forked when nbclient starts it)."""
        return kernel_manager(self.template, self.work, limits,
                              {"DATAETHICS_GUARD_MODULES": ",".join(guard_modules or [])})


def begin(task: dict[str, Any], sandboxed: bool) -> tuple[PrewarmRun | None, str]:
    """Put one grading task on the fast path, or say why it runs in a fresh kernel.

    ``task`` is the worker's task (``source``, ``workdir``, ``hide``, optional ``scratch``).
    Returns ``(run, note)``; ``run`` is None on the ordinary path and ``note`` says why.
    """
    language = _language(task.get("source"))
    reason = unavailable(sandboxed, language)
    if reason:
        return None, f"{FRESH} ({reason})"
    scratch = Path(task.get("scratch") or Path(task["workdir"]).parent.parent)
    hide = [Path(p) for p in task.get("hide", [])]
    try:
        preload = task.get("preload") or _preload_cached(task.get("source"))
        tpl = acquire(scratch, preload, hide, sandboxed)
        name = "-".join(Path(task["workdir"]).parts[-2:]) or "work"
        return PrewarmRun(tpl, tpl.fresh_workdir(name)), PREWARMED
    except (TemplateError, OSError) as exc:
        return None, f"{FRESH} (the pre-warmed template failed: {str(exc)[:120]})"


_PRELOADS: dict[str, list[str]] = {}


def _preload_cached(source: str | None) -> list[str]:
    if source not in _PRELOADS:
        _PRELOADS[str(source)] = preload_for([Path(source)] if source else [])
    return _PRELOADS[str(source)]


def _language(source: str | None) -> str:
    """The kernel language of a notebook (python when it does not say)."""
    try:
        meta = json.loads(Path(source).read_text(encoding="utf-8")).get("metadata", {}) if source else {}
    except (OSError, ValueError):
        return "python"
    return (meta.get("kernelspec", {}).get("language") or meta.get("language_info", {}).get("name")
            or "python")


_SHARED: dict[str, Template] = {}
_SHARED_USE: dict[str, Any] = {"last": 0.0, "kernels": [], "watching": False}
#: a Validate template unused this long (seconds) is stopped, and its memory freed; the next
#: Validate starts a new one. ``DATAETHICS_VALIDATE_IDLE`` changes it (0: never stop).
VALIDATE_IDLE_SECONDS = 600.0


def _validate_idle() -> float:
    try:
        return float(os.environ.get("DATAETHICS_VALIDATE_IDLE", VALIDATE_IDLE_SECONDS))
    except ValueError:
        return VALIDATE_IDLE_SECONDS


def shared_template() -> Template:
    """This process's template for validating students' notebooks (no sandbox: their own files).

    A server keeps it between Validates; once it has been unused for
    :data:`VALIDATE_IDLE_SECONDS` with no kernel of it running, a watcher thread stops it.
    """
    with _POOL_LOCK:
        tpl = _SHARED.get("validate")
        if tpl is None or not tpl.alive():
            import tempfile

            tpl = Template(Path(tempfile.mkdtemp(prefix="dataethics-validate-")) / "t", preload_for(),
                           sandboxed=False)
            tpl.start()
            _SHARED["validate"] = tpl
        _SHARED_USE["last"] = time.monotonic()
        idle = _validate_idle()
        if idle > 0 and not _SHARED_USE["watching"]:
            _SHARED_USE["watching"] = True
            threading.Thread(target=_watch_idle, args=(idle,), name="dataethics-validate-idle",
                             daemon=True).start()
        return tpl


def _shared_kernel(kernel: ForkedKernel) -> None:
    """Remember a Validate kernel: its template is not stopped while it runs."""
    with _POOL_LOCK:
        _SHARED_USE["kernels"] = [k for k in _SHARED_USE["kernels"] if k.returncode is None] + [kernel]
        _SHARED_USE["last"] = time.monotonic()


def _stop_if_idle(idle: float) -> bool:
    """Stop the Validate template if it has been unused for ``idle`` seconds; True if it is stopped."""
    with _POOL_LOCK:
        tpl = _SHARED.get("validate")
        if tpl is None or not tpl.alive():
            return True
        if time.monotonic() - _SHARED_USE["last"] < idle:
            return False
        if any(k.poll() is None for k in _SHARED_USE["kernels"]):
            _SHARED_USE["last"] = time.monotonic()  # a long validation: look again later
            return False
        _SHARED.pop("validate", None)
        _SHARED_USE["kernels"] = []
    tpl.close()
    shutil.rmtree(tpl.root.parent, ignore_errors=True)
    return True


def _watch_idle(idle: float) -> None:
    while True:
        time.sleep(min(30.0, max(idle / 4, 0.05)))
        if _stop_if_idle(idle):
            with _POOL_LOCK:
                if "validate" not in _SHARED:
                    _SHARED_USE["watching"] = False
                    return


def _atexit() -> None:
    close_all()
    for tpl in _SHARED.values():
        tpl.close()


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]), sys.argv[2] == "sandbox")
else:
    import atexit
    from multiprocessing import util as _mp_util

    atexit.register(_atexit)
    _mp_util.Finalize(None, _atexit, exitpriority=10)  # worker processes skip atexit
