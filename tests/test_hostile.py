"""Hostile submissions: none earns more than a blank notebook, each is flagged, the class finishes.

One case is one row of :data:`CASES`: a name, the code put in answer cells, and what must
happen. Answers are written against the *released stubs* of an assignment, so the same
case runs on ps00 and on a module assignment without knowing their function names:

* ``{stub}`` is the released stub of that answer cell (``def f(...): ... raise
  NotImplementedError()``) and ``{solution}`` the instructor's answer;
* ``RETURN(expr)`` in a stub position means the stub with its ``raise`` replaced by
  ``return expr`` (the function answers with ``expr``).

Keys of ``answers``: ``first`` and ``last`` (answer cells), ``all`` (every code answer).
A hostile case starts from the blank (released) notebook — the attack is all it has —
and must score at most what the blank scores, with a flag containing ``flag``. An honest
case starts from the correct answers, adds ordinary code, and must earn full marks with
no flag at all. Cases marked ``both`` also run on the module assignment.

Every case of an assignment is graded in one parallel ``autograde`` run with short limits.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from dataethics.grading import course as course_cfg
from dataethics.grading import samples
from dataethics.grading.autograde import Limits, autograde, sandbox_available, scores

MODULE = "ps03"  # the module assignment: only its stubs' shape is relied on
STUB_RAISE = "raise NotImplementedError()"
KILL_GRACE = 2
BIG = 5 * 2**20  # no file the grader writes for one submission may be larger


@dataclass(frozen=True)
class Case:
    """One submission: what its answer cells hold and what must come of it."""

    name: str
    answers: dict[str, str] = field(default_factory=dict)
    flag: str = ""           # a hostile case's flags must contain this (case-insensitive)
    honest: bool = False     # honest: full marks and no flag
    both: bool = False       # also run on the module assignment
    build: Callable[[nbformat.NotebookNode], object] | None = None  # file-level changes


# answers the grader's in-band record (see runner.guard.RECORD) without recording anything
FAKE_RECORD = ("_k = get_ipython().kernel\n"
               "def _fake(parent, md, reply):\n"
               "    ask = (parent.get('metadata') or {}).get('dataethics_guard_record') or {}\n"
               "    return {**md, 'dataethics_guard_recorded': {'nonce': ask.get('nonce')}}\n"
               "_k.finish_metadata = _fake\n")


def _returning(expr: str) -> str:
    return "RETURN(" + expr + ")"


LIAR = ("class Liar(float):\n    def __eq__(self, other): return True\n    def __ne__(self, other): "
        "return False\n    def __hash__(self): return 0\n")
NOP = "lambda *a, **k: None"
HIDDEN_HANDLER = base64.b64encode(b"get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)")
STEAL = ("import base64 as _b64\n"
         "def _steal():\n"
         "    hist = get_ipython().history_manager.input_hist_raw\n"
         "    return _b64.b64encode(hist[-1].encode()).decode()\n"
         "def _raise(text):\n"
         "    raise ValueError(text)\n")


def _edit(gid: str, source: str) -> Callable[[nbformat.NotebookNode], nbformat.NotebookNode]:
    def change(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == gid:
                cell.source = source
        return nb
    return change


def _first_test(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
                and not c.metadata["nbgrader"].get("solution"))


def _edit_first_test(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    _first_test(nb).source = "assert True"
    return nb


def _unlock_and_edit_first_test(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cell = _first_test(nb)
    cell.metadata["nbgrader"]["locked"] = False
    cell.source = "pass"
    return nb


def _delete_tests(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.cells = [c for c in nb.cells if not (c.metadata.get("nbgrader", {}).get("grade")
                                            and not c.metadata["nbgrader"].get("solution"))]
    return nb


def _tests_to_markdown(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            cell.cell_type = "markdown"
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    return nb


def _duplicate_answers(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    import copy

    extra = [copy.deepcopy(c) for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    for cell in extra:
        cell.source = "pass"
    nb.cells += extra
    return nb


CASES: list[Case] = [
    # -- the verdict: silencing errors, rewriting tests, faking equality ------------------------
    Case("custom_exception_handler", {"first": f"get_ipython().set_custom_exc((BaseException,), {NOP})"
                                               "\n{stub}"}, "tampered with the grader", both=True),
    Case("obfuscated_handler", {"first": "getattr(get_ipython(), 'set_' + 'custom_exc')((Exception,), "
                                         f"{NOP})\n{{stub}}"}, "custom exception handler", both=True),
    Case("silent_traceback", {"first": f"ip = get_ipython()\nip.showtraceback = {NOP}\n"
                                       f"ip._showtraceback = {NOP}\n{{stub}}"},
         "tampered with the grader", both=True),
    Case("post_run_clears_errors", {"first": "def _ok(result):\n    result.error_in_exec = None\n"
                                             "    result.error_before_exec = None\n"
                                             "get_ipython().events.register('post_run_cell', _ok)\n"
                                             f"get_ipython().showtraceback = {NOP}\n{{stub}}"},
         "event callbacks", both=True),
    Case("input_transformer_drops_checks",
         {"first": "def _drop(lines):\n    return [ln for ln in lines if 'check' not in ln "
                   "and 'assert' not in ln]\nget_ipython().input_transformers_cleanup.append(_drop)\n"
                   "{stub}"}, "input transformers", both=True),
    Case("ast_transformer_drops_asserts",
         {"first": "import ast\nclass _Drop(ast.NodeTransformer):\n"
                   "    def visit_Expr(self, node):\n        return ast.Pass()\n"
                   "    def visit_Assert(self, node):\n        return ast.Pass()\n"
                   "get_ipython().ast_transformers.append(_Drop())\n{stub}"}, "AST transformers",
         both=True),
    Case("sys_excepthook", {"first": f"import sys\nsys.excepthook = {NOP}\n"
                                     f"get_ipython().showtraceback = {NOP}\n{{stub}}"},
         "tampered with the grader"),
    Case("trace_function", {"first": "import sys\nsys.settrace(lambda *a: None)\n{stub}"},
         "trace function"),
    Case("builtins_abs", {"first": "import builtins\nbuiltins.abs = lambda x: 0\n{stub}",
                          "all": _returning("0.0")}, "built-in abs", both=True),
    Case("math_isnan", {"first": "import math\nmath.isnan = lambda x: True\n{stub}",
                        "all": _returning("float('nan')")}, "math.isnan", both=True),
    Case("numpy_isclose", {"first": "import numpy\nnumpy.isclose = lambda *a, **k: True\n"
                                    "numpy.allclose = lambda *a, **k: True\n{stub}",
                           "all": _returning("0.0")}, "numpy.isclose"),
    Case("pandas_equals", {"first": "import pandas\npandas.Series.equals = lambda *a, **k: True\n"
                                    "pandas.DataFrame.equals = lambda *a, **k: True\n{stub}"},
         "Series.equals"),
    Case("check_module_patched", {"first": "import dataethics.check as _c\n"
                                           f"_c.check = _c.check_series = _c.check_type = {NOP}\n"
                                           "_c.check_frame = _c.check\n{stub}"},
         "dataethics.check.check", both=True),
    Case("check_rebound", {"first": f"check = check_series = check_type = {NOP}\n{{stub}}"},
         "'check'", both=True),
    Case("check_code_swapped", {"first": "import dataethics.check as _c\n"
                                         "_c._fail.__code__ = (lambda *a, **k: None).__code__\n{stub}",
                                "all": _returning("0.0")}, "rewrote the code", both=True),
    Case("check_module_replaced", {"first": "import sys, types\n_f = types.ModuleType('dataethics.check')\n"
                                            f"_f.check = _f.check_series = _f.check_type = {NOP}\n"
                                            "sys.modules['dataethics.check'] = _f\n{stub}"},
         "sys.modules"),
    Case("numpy_rebound", {"first": "import types\nnp = types.SimpleNamespace(isclose=lambda *a: True)\n"
                                    "{stub}"}, "rebound 'np'"),
    Case("fakes_the_guards_record", {"first": FAKE_RECORD + "{stub}"}, "finish_metadata", both=True),
    Case("exec_base64", {"first": "import base64\nexec(base64.b64decode("
                                  f"{HIDDEN_HANDLER!r}"
                                  "))\n{stub}"}, "custom exception handler"),
    Case("always_equal_float", {"first": LIAR + "{stub}", "all": _returning("Liar(0.0)")},
         "redefines equality", both=True),
    Case("always_equal_frame", {"first": "import pandas as _pd\nclass Frame(_pd.DataFrame):\n"
                                         "    def __eq__(self, other): return True\n"
                                         "    def equals(self, other): return True\n{stub}",
                                "all": _returning("Frame()")}, "redefines equality"),
    # -- leaking hidden tests through feedback ---------------------------------------------------
    Case("prints_running_cell", {"first": STEAL + _returning("print(_steal())")}, "cell history",
         both=True),
    Case("stashes_then_prints_later", {"first": STEAL + "_stash = []\n"
                                                + _returning("_stash.append(_steal())"),
                                       "last": "print(_stash)\n{stub}"}, "cell history"),
    Case("raises_running_cell", {"first": STEAL + _returning("_raise(_steal())")},
         "cell history"),
    # -- limits: time, memory, output ------------------------------------------------------------
    Case("endless_loop", {"first": "while True:\n    pass\n{stub}"}, "exceeded", both=True),
    Case("swallows_interrupts", {"first": "while True:\n    try:\n        pass\n"
                                          "    except KeyboardInterrupt:\n        pass\n{stub}"},
         "interrupt"),
    Case("ignores_sigint", {"first": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                     "while True:\n    pass\n{stub}"}, "exceeded"),
    Case("memory_bomb", {"first": "hoard = []\nwhile True:\n    hoard.append(bytearray(50 * 2**20))\n"
                                  "{stub}"}, "memory"),
    # memory filled to the last few kilobytes: formatting the traceback fails too, so the cell
    # has no error output; the kernel's reply still names MemoryError
    Case("memory_bomb_no_headroom", {"first": "hoard = []\nfor size in (50 * 2**20, 2**20, 2**16):\n"
                                              "    try:\n        while True:\n"
                                              "            hoard.append(bytearray(size))\n"
                                              "    except MemoryError:\n        pass\n"
                                              "x = bytearray(10**12)\n{stub}"}, "memory"),
    Case("huge_html", {"first": "from IPython.display import HTML, display\n"
                                "display(HTML('<b>x</b>' * 8_000_000))\n{stub}"}, "huge output"),
    Case("huge_image", {"first": "import base64, os\nfrom IPython.display import display\n"
                                 "display({'image/png': base64.b64encode(os.urandom(6 * 2**20)).decode()},"
                                 " raw=True)\n{stub}"}, "huge output"),
    Case("huge_json", {"first": "from IPython.display import display\n"
                                "display({'application/json': {'k': list(range(400_000))}}, raw=True)\n"
                                "{stub}"}, "huge output"),
    Case("huge_error", {"first": "{stub}\nraise ValueError('x' * 30_000_000)"}, "huge output"),
    Case("many_prints", {"first": "for i in range(400_000):\n    print(i)\n{stub}"}, "huge output"),
    Case("huge_answer", {"first": "# " + "x" * 60_000 + "\n{stub}"}, "too long"),
    # -- the process, the files, the network ----------------------------------------------------
    Case("sys_exit", {"first": "import sys\nsys.exit(0)"}, "sys.exit"),
    Case("os_exit", {"first": "import os\nos._exit(0)"}, "os._exit", both=True),
    Case("kills_parent", {"first": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"},
         "sends signals"),
    Case("kills_own_group", {"first": "import os, signal\nos.killpg(0, signal.SIGKILL)"},
         "sends signals"),
    Case("forks", {"first": "import os, time\nif os.fork() == 0:\n    time.sleep(600)\n{stub}"},
         "forks"),
    Case("reads_instructor_files", {"first": "import glob\nprint(glob.glob('/**/gradebook.db', "
                                             "recursive=False))\n{stub}"}, "instructor files"),
    Case("writes_other_students", {"first": "import glob\nfor p in glob.glob('/tmp/dataethics-grade-*/*'):\n"
                                            "    open(p + '/x', 'w').write('x')\n{stub}"},
         "instructor files"),
    Case("network", {"first": "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 80), 2)\n"
                              "except OSError:\n    pass\n{stub}"}, "network"),
    # -- the notebook file ----------------------------------------------------------------------
    Case("edited_locked_test", build=_edit_first_test, flag="edited locked cell"),
    Case("edited_unlocked_test", build=_unlock_and_edit_first_test, flag="edited"),
    Case("deleted_tests", build=_delete_tests, flag="deleted test cell"),
    Case("tests_made_markdown", build=_tests_to_markdown, flag="changed the type"),
    Case("duplicated_answers", build=_duplicate_answers, flag="duplicated"),
    Case("invalid_json", build=lambda nb: b'{"cells": [', flag="invalid notebook"),
    Case("empty_file", build=lambda nb: b"", flag="invalid notebook"),
    Case("binary_file", build=lambda nb: bytes(range(256)) * 64, flag="invalid notebook"),
    Case("missing_notebook", build=lambda nb: None, flag="missing notebook"),
    Case("renamed_and_extra", build=lambda nb: {"mine.ipynb": nb, "copy.ipynb": nb},
         flag="missing notebook"),
    # -- honest work: never flagged ----------------------------------------------------------------
    Case("honest_plot", {"first": "import matplotlib.pyplot as plt\n{solution}\n"
                                  "plt.plot([1, 2, 3], [2, 1, 3])\nplt.title('a look')\nplt.show()"},
         honest=True, both=True),
    Case("honest_prints", {"all": "{solution}\nprint('done with this question')"}, honest=True),
    Case("honest_helpers_and_classes", {"first": "class Note:\n    def __init__(self, text):\n"
                                                 "        self.text = text\n\n"
                                                 "def _helper(x):\n    return x\n\n{solution}\n"
                                                 "print(Note(_helper('ok')).text)"},
         honest=True, both=True),
    Case("honest_imports", {"first": "import collections\nimport math\nimport statistics\n"
                                     "from itertools import chain\n{solution}"}, honest=True),
    Case("honest_try_except", {"first": "try:\n    int('not a number')\nexcept ValueError:\n"
                                        "    print('not a number, as expected')\n{solution}"},
         honest=True, both=True),
    Case("honest_display", {"first": "from IPython.display import display\nimport pandas as pd\n"
                                     "display(pd.DataFrame({'a': [1, 2]}))\n{solution}"}, honest=True),
]


def _ids(nb: nbformat.NotebookNode) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def _fill(template: str, stub: str, solution: str) -> str:
    """Put an assignment's stub or solution into a case's answer template."""
    head, found, tail = template.partition("RETURN(")
    if found:  # RETURN(expr) ends the template: the stub, answering with expr
        expr = tail[:-1]
        template = head + (stub.replace(STUB_RAISE, "return " + expr) if STUB_RAISE in stub else stub)
    return template.replace("{stub}", stub).replace("{solution}", solution)


def _submission(case: Case, assignment: str, course: Path) -> object:
    source = course / "source" / assignment / f"{assignment}.ipynb"
    release = course / "release" / assignment / f"{assignment}.ipynb"
    by_name = {s.name: s for s in samples.samples_for(assignment, source_root=course)}
    correct = samples.build_submission(by_name["correct"], source, release)
    nb = samples.build_submission(by_name["correct" if case.honest else "blank"], source, release)
    stubs = {c.metadata["nbgrader"]["grade_id"]: c.source
             for c in nbformat.read(release, 4).cells if c.metadata.get("nbgrader", {}).get("grade_id")}
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in correct.cells
                 if c.metadata.get("nbgrader", {}).get("grade_id")}
    ids = _ids(nb)
    targets = {"first": [ids[0]], "last": [ids[-1]], "all": ids}
    for key in ("all", "first", "last"):
        if key in case.answers:
            for gid in targets[key]:
                if key == "all" and "first" in case.answers and gid == ids[0]:
                    inner = _fill(case.answers["all"], stubs[gid], solutions[gid])
                    code = _fill(case.answers["first"], inner, solutions[gid])
                else:
                    code = _fill(case.answers[key], stubs[gid], solutions[gid])
                _edit(gid, code)(nb)
    return case.build(nb) if case.build else nb


def _write(content: object, folder: Path, assignment: str) -> None:
    folder.mkdir(parents=True)
    if content is None:
        return
    plain = isinstance(content, (bytes, nbformat.NotebookNode))
    files = {f"{assignment}.ipynb": content} if plain else content
    for name, item in files.items():
        if isinstance(item, bytes):
            (folder / name).write_bytes(item)
        else:
            nbformat.write(item, folder / name)


def _grade(assignment: str, cases: list[Case], root: Path) -> dict:
    course = root / assignment
    shutil.copytree(course_cfg.paths.assignments_dir() / "source" / assignment,
                    course / "source" / assignment)
    course_cfg.generate_release(assignment, course)
    for case in cases:
        _write(_submission(case, assignment, course), course / "submitted" / case.name / assignment,
               assignment)
    for name in ("blank", "correct"):
        _write(_submission(Case(name, honest=name == "correct"), assignment, course),
               course / "submitted" / name / assignment, assignment)
    # the 2-second cell limit is shown on its own (tests/test_grading_nbgrader.py); here a
    # little more room keeps honest cells safe on a loaded machine
    limits = Limits(notebook_seconds=60, cell_seconds=4, memory_mb=1500, kill_grace=KILL_GRACE)
    outcomes = {o.student: o for o in autograde(assignment, course, workers=2, limits=limits,
                                                progress=False)}
    from dataethics.grading.feedback import generate_feedback

    generate_feedback(assignment, course)
    return {"course": course, "outcomes": outcomes, "scores": scores(assignment, course)}


def _cases(assignment: str) -> list[Case]:
    chosen = [c for c in CASES if assignment == "ps00" or c.both]
    if not sandbox_available():  # without bubblewrap a killed parent is the grader's own worker
        chosen = [c for c in chosen if c.name not in ("kills_parent", "kills_own_group")]
    return chosen


@pytest.fixture(scope="module", params=["ps00", MODULE])
def graded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    result = _grade(request.param, _cases(request.param), tmp_path_factory.mktemp("hostile"))
    result["assignment"] = request.param
    return result


def test_the_table_is_large_enough() -> None:
    assert len([c for c in CASES if not c.honest]) >= 30
    assert len({c.name for c in CASES}) == len(CASES)


def test_every_hostile_case_earns_no_more_than_a_blank_notebook_and_is_flagged(graded: dict) -> None:
    got, outcomes = graded["scores"], graded["outcomes"]
    blank = sum(got["blank"].values())
    assert sum(got["correct"].values()) > blank  # the assignment's tests do tell answers apart
    problems = []
    for case in _cases(graded["assignment"]):
        if case.honest:
            continue
        flags = " | ".join(outcomes[case.name].flags)
        total = sum(got.get(case.name, {}).values())
        if total > blank or case.flag.lower() not in flags.lower():
            problems.append(f"{case.name}: {total} > {blank}? flags: {flags[:300]}")
    assert not problems, "\n".join(problems)


def test_honest_work_is_never_flagged(graded: dict) -> None:
    got, outcomes = graded["scores"], graded["outcomes"]
    full = sum(got["correct"].values())
    for case in _cases(graded["assignment"]):
        if case.honest:
            assert outcomes[case.name].flags == [], (case.name, outcomes[case.name].flags)
            assert sum(got[case.name].values()) == full, case.name
    assert outcomes["correct"].flags == [] and outcomes["blank"].flags == []


def test_the_whole_class_finishes_with_records(graded: dict) -> None:
    course = graded["course"]
    for case in [*_cases(graded["assignment"]), Case("blank"), Case("correct")]:
        record = course / "autograded" / case.name / graded["assignment"] / "grading.json"
        data = json.loads(record.read_text())
        assert {"status", "flags", "seconds"} <= set(data), case.name


def test_no_file_written_for_a_submission_is_over_5_mb(graded: dict) -> None:
    course = graded["course"]
    written = [p for stage in ("autograded", "feedback") for p in (course / stage).rglob("*")
               if p.is_file() and p.parent.name != "data"]
    assert len(written) > len(_cases(graded["assignment"]))
    big = {str(p.relative_to(course)): p.stat().st_size for p in written if p.stat().st_size > BIG}
    assert not big, big
    for name in ("huge_html", "huge_json", "huge_image"):
        if name in graded["outcomes"]:
            text = (course / "autograded" / name / graded["assignment"] /
                    f"{graded['assignment']}.ipynb").read_text()
            assert "truncated by the grader" in text or "removed by the grader" in text, name


def test_feedback_shows_no_hidden_test_in_any_encoding(graded: dict) -> None:
    from dataethics.grading.feedback import find_leaks, hidden_test_lines

    course, assignment = graded["course"], graded["assignment"]
    hidden = hidden_test_lines(course / "source" / assignment / f"{assignment}.ipynb")
    assert len(hidden) >= 5
    pages = sorted((course / "feedback").rglob("*.html"))
    assert find_leaks(pages, hidden) == {}
    for page in pages:  # base64 of the running cell, printed or raised by the student's code
        text = page.read_text(encoding="utf-8", errors="replace")
        for token in re.findall(r"[A-Za-z0-9+/]{40,}={0,2}", text):
            try:
                decoded = base64.b64decode(token + "=" * (-len(token) % 4)).decode("utf-8", "ignore")
            except ValueError:
                continue
            assert not any(line in decoded for line in hidden), page


def test_an_endless_loop_is_stopped_at_the_cell_limit(graded: dict) -> None:
    outcome = graded["outcomes"]["endless_loop"]
    assert outcome.seconds < 30, outcome.seconds
    assert outcome.status in ("ok", "timeout")


@pytest.mark.parametrize("assignment", course_cfg.assignment_ids())
def test_the_static_scan_flags_no_solution_and_no_honest_sample(assignment: str) -> None:
    """Solutions, partly right and hard-coded answers are honest code: the scan says nothing of them."""
    from dataethics.grading.runner.integrity import attack_report
    from dataethics.grading.runner.notebook import test_names

    source_nb = next((course_cfg.paths.assignments_dir() / "source" / assignment).glob("*.ipynb"))
    source = nbformat.read(source_nb, 4)
    solutions = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            solutions[meta["grade_id"]] = "\n".join(
                ln for ln in cell.source.splitlines()
                if ln.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    assert solutions
    names = test_names(source)
    for sample in samples.samples_for(assignment):
        if sample.name in ("blank", "liar"):  # the liar's always-equal class is meant to be flagged
            continue
        answers = {**solutions, **sample.cells}
        assert attack_report(answers, names) == [], (assignment, sample.name)
