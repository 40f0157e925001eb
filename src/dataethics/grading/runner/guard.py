"""The in-kernel guard: the kernel's grading machinery, checked and restored between cells.

The kernel launcher (:mod:`.kernel`) calls :func:`install` after the kernel is
built and **before any student code runs**. The guard then takes a snapshot of
what the tests' verdicts depend on:

* IPython's machinery: custom exception handlers, input and AST transformers,
  event callbacks, the display hook and publisher, the traceback printers, the
  compiler, and every method of the shell's and the kernel's classes (and their
  message handlers);
* ``sys`` hooks: ``excepthook``, ``displayhook``, trace and profile functions,
  ``stdout``/``stderr``, the import system (``meta_path``, guarded modules in
  ``sys.modules``);
* ``builtins`` and the modules the tests use: ``math``, ``operator``, NumPy and
  pandas (every submodule already imported), ``dataethics.check`` and any module
  named in ``$DATAETHICS_GUARD_MODULES`` — each name, each function's code and
  defaults, and the methods of pandas' Series, DataFrame and Index classes;
* the ``assert`` statement, by a probe: ``assert False`` goes through the
  current transformers and compiler and must still raise.

The grader asks for a check through the kernel's **control channel** (a
``dataethics_guard_request``): the request never goes through the student's
input or AST transformers, event callbacks or shell, it is answered by the
kernel's control thread, and the answer lists what changed (then restored). It
also records and protects the names that locked cells bound to modules,
functions and classes (``np``, ``check``…), so an answer cannot rebind them.
When an answer comes right after a locked cell, that record is asked for in the
locked cell's own request (``RECORD``) and made by the kernel once the cell has
run, before its reply, which carries the answer (``RECORDED``): no round trip of
its own, and the check before the next locked cell confirms that the hook doing
it is still the guard's.

What it cannot stop, by design: code running in the same process can reach the
guard itself (for instance through ``gc`` or the kernel's handler table) and
make it lie. ``grader/README.md`` discusses this.
"""

from __future__ import annotations

import ast
import builtins
import itertools
import operator
import os
import sys
import threading
import types
from typing import Any

REQUEST = "dataethics_guard_request"
REPLY = "dataethics_guard_reply"
#: in a locked cell's execute_request metadata: record what the cell binds as soon as it has run
RECORD = "dataethics_guard_record"
#: in that cell's execute_reply metadata: the request's nonce, and the seconds the record took
RECORDED = "dataethics_guard_recorded"
_BUILTIN_MODULES = ("builtins", "math", "operator", "numpy", "pandas", "dataethics.check")
_SHELL_LISTS = ("input_transformers_post", "ast_transformers")
_SHELL_OBJECTS = ("custom_exceptions", "CustomTB", "InteractiveTB", "SyntaxTB", "compile",
                  "input_transformer_manager", "displayhook", "display_pub", "display_trap",
                  "builtin_trap", "events", "history_manager", "payload_manager", "kernel")
_SYS_HOOKS = ("excepthook", "displayhook", "breakpointhook", "unraisablehook", "stdout", "stderr",
              "meta_path", "path_hooks")
_PROBE = "assert False, 'probe'\n"
_SKIP_BUILTINS = {"_", "__", "___"}


def _callable_like(value: Any) -> bool:
    return callable(value) or isinstance(value, (types.ModuleType, staticmethod, classmethod,
                                                 property))


def _protectable(value: Any) -> bool:
    """A module, function or class: what the guard keeps a locked cell's name bound to."""
    return isinstance(value, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)) \
        or _function_state(value) is not None


def _import_guarded() -> None:
    """Import the modules every snapshot covers, so that their state is in it."""
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    import dataethics.check  # noqa: F401


def _function_state(value: Any) -> tuple | None:
    """What a function's behaviour depends on besides its identity (its code can be swapped)."""
    fn = getattr(value, "__func__", value)
    fn = getattr(fn, "_implementation", fn)  # NumPy's array-function dispatchers
    if isinstance(fn, types.FunctionType):
        return (fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__)
    return None


class Guard:
    """A snapshot of the kernel's machinery, and the check that compares and restores it."""

    def __init__(self, kernel: Any, modules: list[str] | None = None) -> None:
        import time

        began = time.perf_counter()
        _import_guarded()
        for name in modules or []:
            try:
                __import__(name)
            except Exception:  # a module the tests name but this environment lacks: not guarded
                pass
        try:
            from matplotlib_inline import backend_inline
            self.allowed_callbacks = {id(backend_inline.flush_figures), id(backend_inline.configure_once)}
        except Exception:  # no inline backend: nothing to allow
            self.allowed_callbacks = set()
        self.kernel = kernel
        self.shell = kernel.shell
        self.checks = 0
        roots = (*_BUILTIN_MODULES, *(modules or []))
        self.modules = _matching_modules(roots)
        self.records = [_module_record(name, mod) for name, mod in self.modules.items()]
        self.functions: dict[tuple[Any, str], tuple] = {}  # the classes' functions
        import pandas as pd

        classes: list[type] = []
        for obj in (self.shell, kernel, self.shell.displayhook, self.shell.display_pub,
                    self.shell.compile, self.shell.input_transformer_manager, self.shell.events,
                    kernel.session, sys.stdout, pd.Series([], dtype=float), pd.DataFrame(),
                    pd.Index([])):
            for cls in type(obj).__mro__:
                if cls is not object and cls not in classes and not _is_builtin_type(cls):
                    classes.append(cls)
        self.classes = {cls: dict(vars(cls)) for cls in classes}
        for cls, values in self.classes.items():
            for key, value in values.items():
                state = _function_state(value)
                if state is not None:
                    self.functions[(cls, key)] = state
        self._prepare_fast_checks()
        traits = vars(self.shell).get("_trait_values", {})
        self.shell_objects = {k: (k in vars(self.shell) or k in traits, self._get(self.shell, k))
                              for k in _SHELL_OBJECTS}
        self.shell_lists = {k: (self._get(self.shell, k), list(self._get(self.shell, k) or []))
                            for k in _SHELL_LISTS}
        manager = self.shell.input_transformer_manager
        self.manager_lists = {k: (getattr(manager, k), list(getattr(manager, k)))
                              for k in ("cleanup_transforms", "line_transforms", "token_transformers")}
        self.callbacks = {e: list(cbs) for e, cbs in self.shell.events.callbacks.items()}
        self.shell_vars = {k: v for k, v in vars(self.shell).items() if _callable_like(v)}
        self.kernel_vars = {k: v for k, v in vars(kernel).items() if _callable_like(v)}
        self.handlers = {"shell_handlers": dict(kernel.shell_handlers),
                         "control_handlers": dict(kernel.control_handlers)}
        self.sys_hooks = {k: getattr(sys, k) for k in _SYS_HOOKS}
        self.sys_lists = {k: list(getattr(sys, k)) for k in ("meta_path", "path_hooks")}
        self.builtins = dict(vars(builtins))
        self.compile = builtins.compile
        self.exec = builtins.exec
        self.protected: dict[str, Any] = {}
        self.names_before: dict[str, int] = {}
        #: seconds the snapshot took (an upper bound: the imports would mostly happen anyway)
        self.install_seconds = time.perf_counter() - began

    def _prepare_fast_checks(self) -> None:
        """Tuples that let a check compare thousands of entries at C speed (the common, clean case).

        The modules' columns come ready from their records (a template prepares them once);
        only the classes' functions are gathered here. A function bound in several modules (numpy
        and pandas re-export about half of theirs) is compared once.
        """
        own = _columns(list(self.functions.values()))
        prepared = _PREPARED_FUNCTIONS.get("columns")
        if prepared is not None and _PREPARED_FUNCTIONS["names"] == {r.name for r in self.records}:
            # the template's columns, and those of the modules this kernel snapshot again (the
            # kernel's start adds IPython's names to builtins): a function object's own state is
            # what a check compares, whichever module binds it
            again = [r.columns for r in self.records if r is not _PREPARED.get(r.name)]
            modules = tuple(prepared[i] + tuple(itertools.chain(*(c[i] for c in again))) for i in range(4))
        else:
            modules = _unique_functions([r.columns for r in self.records])
        self.fast_functions = tuple(own[i] + modules[i] for i in range(4))

    @staticmethod
    def _get(obj: Any, name: str) -> Any:
        if name in vars(obj):
            return vars(obj)[name]
        traits = vars(obj).get("_trait_values", {})
        return traits[name] if name in traits else getattr(obj, name, None)

    @staticmethod
    def _set(obj: Any, name: str, value: Any) -> None:
        traits = vars(obj).get("_trait_values", {})
        if name in traits:  # a trait: put the very object back (validation would copy a list)
            traits[name] = value
        else:
            setattr(obj, name, value)

    # -- the check -------------------------------------------------------------------------
    def record_only(self, binds: list[str] | tuple[str, ...] = ()) -> list[str]:
        """After a locked cell that an answer follows: protect the names it bound, check nothing else.

        The next full :meth:`check` comes before the next locked cell; the grader counts what
        it finds against this cell too.
        """
        self.checks += 1
        self._accept_rebinding(binds)
        self._record_names()
        self.names_before = {k: id(v) for k, v in self.shell.user_ns.items()}
        return []

    def check(self, record: bool = False, binds: list[str] | tuple[str, ...] = ()) -> list[str]:
        """Compare the machinery with the snapshot, restore it, and say what had changed.

        ``binds`` names what the locked cell that just ran binds in its own source: a
        protected name among them that changed since the last check was rebound by that
        cell, not by the student, and is protected with its new value.
        """
        changes: list[str] = []
        if record:
            self._accept_rebinding(binds)
        self.checks += 1
        probe = self._probe()
        self._check_sys(changes)
        self._check_builtins(changes)
        self._check_shell(changes)
        self._check_kernel(changes)
        self._check_modules(changes)
        self._check_classes(changes)
        self._check_functions(changes)
        self._check_names(changes)
        if probe:
            changes.append(f"the assert statement no longer works ({probe})")
            again = self._probe()
            if again:
                changes.append(f"the grader could not restore the assert statement ({again})")
        if record:
            self._record_names()
        self.names_before = {k: id(v) for k, v in self.shell.user_ns.items()}
        return changes

    def _probe(self) -> str:
        """Run ``assert False`` through the current transformers and compiler: it must raise."""
        try:
            cell = self.shell.transform_cell(_PROBE)
            tree = self.shell.compile.ast_parse(cell)
            tree = self.shell.transform_ast(tree)
            if not any(isinstance(n, ast.Assert) for n in ast.walk(tree)):
                return "a transformer removes it"
            code = self.compile(tree, "<grader-probe>", "exec")
            self.exec(code, {"__builtins__": builtins})
        except AssertionError:
            return ""
        except Exception as exc:  # the pipeline itself was broken
            return f"{type(exc).__name__}"
        return "it did not raise"

    def _check_sys(self, changes: list[str]) -> None:
        for name, value in self.sys_hooks.items():
            if getattr(sys, name) is not value:
                changes.append(f"replaced sys.{name}")
                setattr(sys, name, value)
        for name, items in self.sys_lists.items():
            current = getattr(sys, name)
            if [id(x) for x in current] != [id(x) for x in items]:
                changes.append(f"changed sys.{name}")
                current[:] = items
        if sys.gettrace() is not None:
            changes.append("set a trace function (sys.settrace)")
            sys.settrace(None)
        if sys.getprofile() is not None:
            changes.append("set a profile function (sys.setprofile)")
            sys.setprofile(None)
        if threading.gettrace() is not None or threading.getprofile() is not None:
            changes.append("set a trace or profile function for threads")
            threading.settrace(None)  # type: ignore[arg-type]
            threading.setprofile(None)  # type: ignore[arg-type]
        for name, mod in self.modules.items():
            if sys.modules.get(name) is not mod:
                changes.append(f"replaced the module {name} in sys.modules")
                sys.modules[name] = mod

    def _check_builtins(self, changes: list[str]) -> None:
        current = vars(builtins)
        for name, value in self.builtins.items():
            if name in _SKIP_BUILTINS:
                continue
            if current.get(name, _MISSING) is not value:
                changes.append(f"replaced the built-in {name}")
                current[name] = value

    def _check_shell(self, changes: list[str]) -> None:
        shell = self.shell
        if tuple(shell.custom_exceptions) != tuple(self.shell_objects["custom_exceptions"][1]):
            changes.append("installed a custom exception handler (set_custom_exc)")
        for name, (own, value) in self.shell_objects.items():
            if own and self._get(shell, name) is not value:
                if name != "custom_exceptions":
                    changes.append(f"replaced the shell's {name}")
                self._set(shell, name, value)
            elif not own and name in vars(shell):
                changes.append(f"replaced the shell's {name}")
                delattr(shell, name)
        for name, (obj, items) in self.shell_lists.items():
            current = self._get(shell, name)
            if current is not obj or [id(x) for x in current] != [id(x) for x in items]:
                kind = "AST" if name == "ast_transformers" else "input"
                changes.append(f"changed the {kind} transformers ({name})")
                obj[:] = items
                self._set(shell, name, obj)
        manager = shell.input_transformer_manager
        for name, (obj, items) in self.manager_lists.items():
            current = getattr(manager, name)
            if current is not obj or [id(x) for x in current] != [id(x) for x in items]:
                changes.append(f"changed the input transformers ({name})")
                obj[:] = items
                setattr(manager, name, obj)
        callbacks = shell.events.callbacks
        for event in set(callbacks) | set(self.callbacks):
            now, then = callbacks.get(event, []), self.callbacks.get(event, [])
            extra = [cb for cb in now if cb not in then and id(cb) not in self.allowed_callbacks]
            if extra or any(cb not in now for cb in then):
                changes.append(f"changed the '{event}' event callbacks")
                callbacks[event] = [*then, *[cb for cb in now if id(cb) in self.allowed_callbacks
                                             and cb not in then]]
        for name, value in list(vars(shell).items()):
            if _callable_like(value) and self.shell_vars.get(name, _MISSING) is not value \
                    and name not in self.shell_objects:
                if name in self.shell_vars:
                    changes.append(f"replaced the shell's {name}")
                    setattr(shell, name, self.shell_vars[name])
                elif any(name in vars(cls) for cls in type(shell).__mro__):
                    changes.append(f"replaced the shell's {name}")
                    delattr(shell, name)

    def _check_kernel(self, changes: list[str]) -> None:
        kernel = self.kernel
        for table, saved in self.handlers.items():
            current = getattr(kernel, table)
            changed = sorted(k for k in set(current) | set(saved)
                             if current.get(k, _MISSING) is not saved.get(k, _MISSING))
            if changed:
                changes.append(f"changed the kernel's {table} ({', '.join(changed)[:80]})")
                current.clear()
                current.update(saved)
        for name, value in list(vars(kernel).items()):
            if _callable_like(value) and self.kernel_vars.get(name, _MISSING) is not value:
                if name in self.kernel_vars:
                    changes.append(f"replaced the kernel's {name}")
                    setattr(kernel, name, self.kernel_vars[name])
                elif any(name in vars(cls) for cls in type(kernel).__mro__):
                    changes.append(f"replaced the kernel's {name}")
                    delattr(kernel, name)

    def _check_modules(self, changes: list[str]) -> None:
        builtin_names = self.builtins.keys()
        for rec in self.records:
            if rec.untouched():  # the common case: nothing to look at more closely
                continue
            current = rec.current
            if not rec.callables_intact():
                for key, value in rec.values.items():
                    if current.get(key, _MISSING) is not value and _callable_like(value):
                        changes.append(f"replaced {rec.name}.{key}")
                        current[key] = value
            # the same names in the same order (C speed); else compare as sets: a built-in shadowed?
            if not rec.names_intact() and current.keys() != rec.keyset:
                for key in sorted((current.keys() - rec.keyset) & builtin_names):
                    changes.append(f"shadowed the built-in {key} in {rec.name}")
                    del current[key]

    def _check_classes(self, changes: list[str]) -> None:
        for cls, saved in self.classes.items():
            current = vars(cls)
            for key, value in saved.items():
                if current.get(key, _MISSING) is not value and _callable_like(value):
                    changes.append(f"replaced {cls.__module__}.{cls.__qualname__}.{key}")
                    setattr(cls, key, value)
            for key in [k for k in current if k not in saved]:
                if _callable_like(current[key]):
                    changes.append(f"added {cls.__qualname__}.{key}")
                    delattr(cls, key)

    def _check_functions(self, changes: list[str]) -> None:
        fns, codes, defaults_, kwdefaults_ = self.fast_functions
        if all(map(operator.is_, map(_CODE, fns), codes)) \
                and all(map(operator.is_, map(_DEFAULTS, fns), defaults_)) \
                and all(map(operator.is_, map(_KWDEFAULTS, fns), kwdefaults_)):
            return
        owned = [((rec.name, key), state) for rec in self.records for key, state in rec.states.items()]
        for (owner, key), (fn, code, defaults, kwdefaults) in [*owned, *self.functions.items()]:
            if fn.__code__ is not code or fn.__defaults__ is not defaults \
                    or fn.__kwdefaults__ is not kwdefaults:
                where = owner if isinstance(owner, str) else owner.__qualname__
                changes.append(f"rewrote the code of {where}.{key}")
                fn.__code__, fn.__defaults__, fn.__kwdefaults__ = code, defaults, kwdefaults

    # -- names bound by locked cells ---------------------------------------------------------
    def _record_names(self) -> None:
        """Protect the names the locked cell that just ran bound to modules, functions and classes.

        Names that changed since the previous check are the locked cell's: the grader checks
        before a locked cell whenever an answer cell ran in between.
        """
        for name, value in self.shell.user_ns.items():
            if name.startswith("_") or name in self.protected or self.names_before.get(name) == id(value):
                continue
            if _protectable(value):
                self.protected[name] = value

    def _accept_rebinding(self, binds: list[str] | tuple[str, ...]) -> None:
        ns = self.shell.user_ns
        for name in binds:
            if name not in self.protected or name not in ns:
                continue
            value = ns[name]
            if self.names_before.get(name) == id(value):
                continue  # not rebound by this cell
            if _protectable(value):
                self.protected[name] = value
            else:  # now plain data, which the guard does not protect
                del self.protected[name]

    def _check_names(self, changes: list[str]) -> None:
        ns = self.shell.user_ns
        for name, value in self.protected.items():
            if ns.get(name, _MISSING) is not value:
                changes.append(f"rebound '{name}', which the tests use")
                ns[name] = value

    # -- the control-channel handler ----------------------------------------------------------
    def handle(self, stream: Any, ident: Any, parent: dict) -> None:
        """Answer a ``dataethics_guard_request`` on the control channel."""
        content = parent.get("content", {})
        try:
            binds = [str(b) for b in content.get("binds") or []][:1000]
            changes = self.check(record=bool(content.get("record")), binds=binds)
            error = ""
        except Exception as exc:  # a check that cannot run is itself a finding
            changes, error = [f"the grader's check failed ({type(exc).__name__}: {exc})"[:200]], "x"
        self.kernel.session.send(stream, REPLY, {"nonce": content.get("nonce"), "changes": changes,
                                                 "checks": self.checks, "error": error,
                                                 "install_seconds": self.install_seconds},
                                 parent, ident=ident)


class _Missing:
    pass


class _ModuleRecord:
    """One guarded module's snapshot, with what lets a check compare it at C speed.

    ``values`` is the module's namespace as it was, ``states`` its functions' code and
    defaults; ``callables``/``getter`` pick the values a check compares by identity, ``keys``
    the names in their order, ``columns`` the functions' states as four parallel tuples.
    """

    __slots__ = ("name", "module", "current", "values", "ordered", "states", "getter", "callables",
                 "keys", "keyset", "columns")

    def __init__(self, name: str, module: types.ModuleType) -> None:
        self.name, self.module, self.current = name, module, vars(module)
        self.values = dict(self.current)
        self.ordered = tuple(self.values.values())
        self.states = {}
        for key, value in self.values.items():
            state = _function_state(value)
            if state is not None:
                self.states[key] = state
        names = tuple(k for k, v in self.values.items() if _callable_like(v))
        self.getter = _getter(names)
        self.callables = tuple(self.values[k] for k in names)
        self.keys = tuple(self.values)
        self.keyset = frozenset(self.keys)
        self.columns = _columns(list(self.states.values()))

    def callables_intact(self) -> bool:
        """Every callable still bound to the very object it was (no name deleted)."""
        try:
            return all(map(operator.is_, self.getter(self.current), self.callables))
        except KeyError:  # a function deleted from the module
            return False

    def names_intact(self) -> bool:
        """The same names, the same objects, in the same order: nothing added or removed."""
        return len(self.current) == len(self.keys) and all(map(operator.is_, self.current, self.keys))

    def functions_intact(self) -> bool:
        """Every function's code and defaults are the very objects they were."""
        fns, codes, defaults, kwdefaults = self.columns
        return all(map(operator.is_, map(_CODE, fns), codes)) \
            and all(map(operator.is_, map(_DEFAULTS, fns), defaults)) \
            and all(map(operator.is_, map(_KWDEFAULTS, fns), kwdefaults))

    def untouched(self) -> bool:
        """The same names bound to the same objects, in the same order (C speed, no hashing)."""
        return self.names_intact() and all(map(operator.is_, self.current.values(), self.ordered))

    def exact(self) -> bool:
        """Whether the module is still exactly as this snapshot has it, functions' code included."""
        return self.untouched() and self.functions_intact()


#: module snapshots a pre-warmed template took before forking (shared copy-on-write by its kernels)
_PREPARED: dict[str, _ModuleRecord] = {}
#: their modules' names and, once per function, the functions' states as four columns
_PREPARED_FUNCTIONS: dict[str, Any] = {}


def _columns(states: list[tuple]) -> tuple[tuple, tuple, tuple, tuple]:
    """Functions' states ``(fn, code, defaults, kwdefaults)`` as four parallel tuples."""
    if not states:
        return (), (), (), ()
    fns, codes, defaults, kwdefaults = (tuple(column) for column in zip(*states, strict=True))
    return fns, codes, defaults, kwdefaults


def _unique_functions(columns: list[tuple[tuple, tuple, tuple, tuple]]) -> tuple[tuple, tuple, tuple, tuple]:
    """Several records' function columns end to end, each function once.

    Every state recorded for one function is its state at the time (a snapshot is taken
    before any student code), so keeping one entry per function loses nothing.
    """
    fns, codes, defaults, kwdefaults = (itertools.chain(*(c[i] for c in columns)) for i in range(4))
    unique = dict(zip(fns, zip(codes, defaults, kwdefaults, strict=True), strict=True))
    return _columns([(fn, *state) for fn, state in unique.items()])


def _matching_modules(roots: tuple[str, ...] | list[str]) -> dict[str, types.ModuleType]:
    exact, prefixes = set(roots), tuple(r + "." for r in roots)
    return {name: mod for name, mod in list(sys.modules.items())
            if isinstance(mod, types.ModuleType) and (name in exact or name.startswith(prefixes))}


def _module_record(name: str, mod: types.ModuleType) -> _ModuleRecord:
    """A module's snapshot: the template's copy when still exact, else a new one."""
    cached = _PREPARED.get(name)
    if cached is not None and cached.module is mod and cached.current is vars(mod) and cached.exact():
        return cached
    return _ModuleRecord(name, mod)


def prepare(modules: list[str] | tuple[str, ...] = ()) -> int:
    """In a pre-warmed template, before it forks: snapshot the guarded modules once for all kernels.

    Each kernel's guard then only confirms the snapshot is still exact (:meth:`_ModuleRecord.exact`)
    instead of copying every module again. Returns the number of modules prepared.
    """
    _import_guarded()
    for name, mod in _matching_modules((*_BUILTIN_MODULES, *modules)).items():
        _PREPARED[name] = _ModuleRecord(name, mod)
    _PREPARED_FUNCTIONS["names"] = set(_PREPARED)
    _PREPARED_FUNCTIONS["columns"] = _unique_functions([r.columns for r in _PREPARED.values()])
    return len(_PREPARED)


_CODE = operator.attrgetter("__code__")
_DEFAULTS = operator.attrgetter("__defaults__")
_KWDEFAULTS = operator.attrgetter("__kwdefaults__")


def _getter(keys: tuple[str, ...]) -> Any:
    """A C-level function returning the values of ``keys`` in a mapping, always as a tuple."""
    if len(keys) > 1:
        return operator.itemgetter(*keys)
    if len(keys) == 1:
        one = operator.itemgetter(keys[0])
        return lambda mapping: (one(mapping),)
    return lambda mapping: ()


_MISSING = _Missing()


def _is_builtin_type(cls: type) -> bool:
    """Immutable (C) types — ``dict``, ``float``, ``ndarray`` — cannot be changed from Python."""
    return bool(cls.__flags__ & (1 << 8))  # Py_TPFLAGS_IMMUTABLETYPE


def _record_after_cell(guard: Guard, original: Any) -> Any:
    """The kernel's ``finish_metadata``, which also runs a record a locked cell's request asks for.

    ipykernel calls it once a cell has run, before it sends the cell's reply: a record asked
    for there protects what that cell bound before any later cell can run, with no round
    trip on the control channel. Its answer rides in the reply's metadata; a reply without
    it is a finding for the grader.
    """
    import time

    def finish_metadata(parent: dict, metadata: dict, reply_content: dict) -> dict:
        metadata = original(parent, metadata, reply_content)
        request = (parent.get("metadata") or {}).get(RECORD)
        if isinstance(request, dict) and parent.get("header", {}).get("msg_type") == "execute_request":
            began = time.perf_counter()
            binds = [str(b) for b in request.get("binds") or []][:1000]
            try:
                guard.record_only(binds)
                nonce = request.get("nonce")
            except Exception:  # the grader sees no answer: a finding
                nonce = None
            metadata = {**metadata, RECORDED: {"nonce": nonce, "seconds": time.perf_counter() - began,
                                               "install_seconds": guard.install_seconds}}
        return metadata

    return finish_metadata


def install(kernel: Any) -> Guard:
    """Snapshot the kernel's machinery and answer guard requests on its control channel and,
    for records, in the replies to locked cells."""
    modules = [m for m in os.environ.get("DATAETHICS_GUARD_MODULES", "").split(",") if m]
    guard = Guard(kernel, modules)
    handler = guard.handle  # one bound method, so that its identity can be checked
    kernel.control_handlers[REQUEST] = handler
    guard.handlers["control_handlers"][REQUEST] = handler
    finish = _record_after_cell(guard, kernel.finish_metadata)
    kernel.finish_metadata = finish  # protected from now on, as the snapshot's own
    guard.kernel_vars["finish_metadata"] = finish
    return guard
