"""The classroom on JupyterHub, end to end, with real users, a real proxy and a real browser.

One throw-away hub (``dataethics.hub.launcher.trial_hub``): an instructor, two students who
work in Chromium (driven by Playwright) and 30 more who submit at the deadline through the
same requests their *Assignments* tab sends. The tests run in order and share the hub:

1. roles: students have the Assignments tab and Validate, not Create Assignment or Formgrader;
   the instructor has formgrader; nobody gets JupyterLab's news or update check;
2. the loop: release → fetch → answer → validate → submit → collect → autograde →
   formgrader → feedback → each student reads their own score;
3. what a student cannot see: the other student's work and feedback, the instructor's
   source and gradebook (contents API, other servers, a terminal);
4. 30 students submit in the same minute: all arrive, none mixed up, times right, late flagged;
5. faults: a server killed while submitting, the hub restarted mid-class, the exchange
   full or read-only.

Needs root (users are created and removed), Debian's chromium and the proxy that
``make test-hub`` installs; run with ``make test-hub`` (marker ``hub``; plain ``pytest`` skips it).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import nbformat
import pytest
import requests
from playwright.sync_api import Browser, Page, sync_playwright

from dataethics.hub import bench
from dataethics.hub.config import COURSE_ID, TRIAL_INSTRUCTOR_PASSWORD, TRIAL_STUDENT_PASSWORD, default_proxy
from dataethics.hub.launcher import Hub, trial_hub

pytestmark = [pytest.mark.hub, pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
A = "ps00"
RUSH = [f"s{i:02d}" for i in range(1, 31)]
LATE = RUSH[-5:]  # they click after the due date



def _solutions() -> dict[str, str]:
    """The source notebook's solutions, by answer cell id (what a good student types)."""
    source = Path(__file__).resolve().parents[1] / "assignments" / "source" / A / f"{A}.ipynb"
    out = {}
    for cell in nbformat.read(source, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            out[meta["grade_id"]] = "\n".join(line for line in cell.source.splitlines()
                                              if "### BEGIN SOLUTION" not in line
                                              and "### END SOLUTION" not in line)
    return out


GOOD = {**_solutions(), "q5": "Returned orders are not revenue, and the opt-in rate counts customers, "
        "not orders: reporting the larger figures would mislead the client."}
BAD = {"q1": "def average_basket(orders):\n    return 0.0", "q5": "It is fine."}


# -- the hub and the browser -----------------------------------------------------------------------
def _require() -> None:
    """Skip (fail under CI) when the machine lacks what the hub test needs."""
    missing = [why for why, bad in [("root (the hub creates Unix users)", os.geteuid() != 0),
                                    ("Debian's chromium", CHROMIUM is None),
                                    ("the proxy (make test-hub installs it with npm)",
                                     not Path(default_proxy()).exists())] if bad]
    if missing and os.environ.get("CI") == "true":
        pytest.fail(f"the hub test needs {', '.join(missing)}", pytrace=False)
    if missing:
        pytest.skip(f"the hub test needs {', '.join(missing)}")


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    _require()
    # the hub's log (with every server's) stays in test-artifacts/ for a failure's diagnosis
    with trial_hub("dht", ["ada", "bob", *RUSH], exchange_mb=64, keep_log=ARTIFACTS / "hub.log") as h:
        yield h


def user(hub: Hub, name: str) -> str:
    """The Unix name of a class member on the trial hub."""
    return f"dht-{name}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        yield b
        b.close()


def login(browser: Browser, hub: Hub, name: str, password: str) -> Page:
    """Log in through the hub's form and wait for JupyterLab."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(90_000)
    page.goto(f"{hub.settings.url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{name}/lab**", timeout=180_000)
    page.locator(".jp-LauncherCard").first.wait_for()
    return page


@pytest.fixture(scope="module")
def pages(browser: Browser, hub: Hub) -> dict[str, Page]:
    s = hub.settings
    first = [s.instructor, user(hub, "ada"), user(hub, "bob")]
    bench.start_class(hub, first)  # all three at once; logging in then finds them running
    return {"teacher": login(browser, hub, s.instructor, TRIAL_INSTRUCTOR_PASSWORD),
            "ada": login(browser, hub, user(hub, "ada"), TRIAL_STUDENT_PASSWORD),
            "bob": login(browser, hub, user(hub, "bob"), TRIAL_STUDENT_PASSWORD)}


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"hub-{name}.png"))


_runs = iter(range(10_000))


def terminal(page: Page, hub: Hub, name: str, command: str, timeout: float = 300) -> tuple[int, str]:
    """Type ``command`` in the user's JupyterLab terminal; return its exit code and output."""
    if page.locator(".jp-Terminal").count() == 0:
        open_lab(page, hub, name)
        page.locator(".jp-LauncherCard", has_text="Terminal").first.click()
        page.locator(".jp-Terminal .xterm-helper-textarea").wait_for(state="attached")
        time.sleep(1.5)  # the shell's first prompt
    else:
        page.locator(".jp-Terminal").last.click()
    n = next(_runs)
    home = hub.settings.home(name)
    out, rc = home / f".t{n}.log", home / f".t{n}.rc"
    page.locator(".jp-Terminal .xterm-helper-textarea").last.focus()
    page.keyboard.type(f"( {command} ) > ~/.t{n}.log 2>&1; echo $? > ~/.t{n}.rc\n")
    deadline = time.monotonic() + timeout
    while not (rc.is_file() and rc.read_text().strip()):
        assert time.monotonic() < deadline, f"'{command}' did not finish in {timeout:.0f} s"
        time.sleep(0.5)
    return int(rc.read_text()), out.read_text(errors="replace")


def as_instructor(hub: Hub, command: str) -> subprocess.CompletedProcess[str]:
    """Run a shell command as the instructor with their server's environment (outside the browser)."""
    s = hub.settings
    env = [f"HOME={s.home(s.instructor)}", f"PATH={s.venv}/bin:/usr/bin:/bin",
           f"JUPYTER_CONFIG_PATH={s.role_dir('instructor')}"]
    return subprocess.run(["runuser", "-u", s.instructor, "--", "env", *env, "bash", "-c",
                           f"cd ~ && {command}"], capture_output=True, text=True, timeout=600)


def grade_cmd(hub: Hub, step: str) -> str:
    """A ``dataethics grade`` command line on the instructor's hub course."""
    return f"dataethics grade {step} --course ~/{COURSE_ID}"


def open_lab(page: Page, hub: Hub, name: str) -> None:
    """JupyterLab with a fresh workspace (the launcher, no restored tabs)."""
    page.goto(f"{hub.settings.url}/user/{name}/lab?reset")
    page.locator(".jp-LauncherCard").first.wait_for()


def open_assignments(page: Page) -> None:
    page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
    page.get_by_text("Assignment List", exact=True).click()
    page.locator("#released_assignments_list, #fetched_assignments_list").first.wait_for()


# -- 1. roles ----------------------------------------------------------------------------------------
def _nbgrader_menu(page: Page) -> list[str]:
    page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
    items = [t.strip() for t in page.locator(".lm-Menu-content .lm-Menu-itemLabel").all_inner_texts()
             if t.strip()]
    page.keyboard.press("Escape")
    return items


def test_roles_and_no_news(pages: dict[str, Page], hub: Hub) -> None:
    url = hub.settings.url
    for who, page in pages.items():
        config = json.loads(page.locator("#jupyter-config-data").text_content() or "{}")
        assert config["news"] == {"disabled": True}, who
        settings = page.request.get(f"{page.url.split('/lab')[0]}/lab/api/settings/"
                                    "@jupyterlab/apputils-extension:notification").json()
        props = settings["schema"]["properties"]
        assert props["fetchNews"]["default"] == "false" and props["checkForUpdates"]["default"] is False
        assert page.locator(".jp-Notification-Toast").count() == 0, who  # no "news?" pop-up
        menu = _nbgrader_menu(page)
        name = hub.settings.instructor if who == "teacher" else user(hub, who)
        formgrader = page.request.get(f"{url}/user/{name}/formgrader")
        if who == "teacher":
            assert {"Assignment List", "Formgrader", "Create assignment"} <= set(menu), menu
            assert formgrader.status == 200 and "Manage Assignments" in formgrader.text()
        else:
            assert menu == ["Assignment List"], menu
            assert formgrader.status == 404
            disabled = set(config["disabledExtensions"])
            assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"} <= disabled
    shot(pages["ada"], "student-lab")


# -- 2. the whole loop --------------------------------------------------------------------------------
def _cell_index(grade_id: str) -> int:
    """Position of an answer cell (the released notebook keeps the source's cells in order)."""
    source = Path(__file__).resolve().parents[1] / "assignments" / "source" / A / f"{A}.ipynb"
    cells = nbformat.read(source, as_version=4).cells
    return next(i for i, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _answer(page: Page, answers: dict[str, str]) -> None:
    """Type each answer into its cell of the open notebook, then save."""
    cells = page.locator(".jp-NotebookPanel").last.locator(".jp-Notebook .jp-Cell")
    cells.first.wait_for()
    for qid, text in answers.items():
        cell = cells.nth(_cell_index(qid))
        cell.scroll_into_view_if_needed()
        if qid == "q5":
            cell.dblclick()  # a rendered Markdown cell opens its editor on double click
        editor = cell.locator(".cm-content")
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(text)
        page.keyboard.press("Escape")
        assert text.splitlines()[0] in cell.inner_text(), qid
    page.keyboard.press("Control+s")
    page.wait_for_timeout(1500)


def _validate(page: Page) -> str:
    page.locator(".jp-NotebookPanel-toolbar").last.get_by_role("button", name="Validate").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=180_000)
    dialog.get_by_text(re.compile("Success|failed|error", re.I)).first.wait_for(timeout=180_000)
    text = dialog.inner_text()
    dialog.get_by_role("button").last.click()
    return text


def _templates(name: str) -> list[int]:
    """The pre-warmed template processes running as ``name`` (started by a Validate)."""
    import psutil

    return [p.pid for p in psutil.process_iter(["username", "cmdline"])
            if p.info["username"] == name
            and "dataethics.grading.runner.prewarm" in (p.info["cmdline"] or [])]


def test_release_fetch_answer_validate_submit(pages: dict[str, Page], hub: Hub) -> None:
    s = hub.settings
    teacher = pages["teacher"]
    rc, out = terminal(teacher, hub, s.instructor,
                       f"{grade_cmd(hub, 'release ' + A)} --to-exchange --exchange {s.exchange}")
    assert rc == 0, out
    assert (Path(s.exchange) / COURSE_ID / "outbound" / A / f"{A}.ipynb").is_file()
    for who, answers in (("ada", GOOD), ("bob", BAD)):
        page = pages[who]
        open_assignments(page)
        released = page.locator("#released_assignments_list .list_item", has_text=A)
        released.get_by_role("button", name="Fetch").click()
        page.locator("#fetched_assignments_list .list_item", has_text=A).first.wait_for()
        assert (hub.settings.home(user(hub, who)) / A / f"{A}.ipynb").is_file()
        page.goto(f"{s.url}/user/{user(hub, who)}/lab/tree/{A}/{A}.ipynb")
        page.locator(".jp-NotebookPanel .jp-Notebook").last.wait_for()
        page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").last.wait_for(timeout=120_000)
        _answer(page, answers)
        result = _validate(page)
        shot(page, f"{who}-validate")
        # the Validate button forked its kernel from the student's own pre-warmed template
        assert _templates(user(hub, who)), who
        if who == "ada":
            assert "Success" in result, result
        else:
            assert "Success" not in result and re.search("fail|error", result, re.I), result
        open_assignments(page)
        page.locator("#fetched_assignments_list .list_item", has_text=A).get_by_role(
            "button", name="Submit").click()
        page.locator("#submitted_assignments_list .list_item", has_text=A).first.wait_for()
        shot(page, f"{who}-submitted")
    arrived = bench.inbound(s, A)
    assert set(arrived) == {user(hub, "ada"), user(hub, "bob")}, arrived


def _hidden_test_lines() -> list[str]:
    """Lines of the source's hidden tests (a student's feedback must show none)."""
    source = Path(__file__).resolve().parents[1] / "assignments" / "source" / A / f"{A}.ipynb"
    lines, inside = [], False
    for cell in nbformat.read(source, as_version=4).cells:
        for line in cell.source.splitlines():
            inside = (inside or "### BEGIN HIDDEN TESTS" in line) and "### END HIDDEN TESTS" not in line
            if inside and len(line.strip()) > 15 and "BEGIN HIDDEN" not in line:
                lines.append(line.strip())
    assert lines
    return lines


def _gradebook_score(hub: Hub, student: str) -> tuple[float, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{hub.settings.course_root / 'gradebook.db'}") as gb:
        sub = gb.find_submission(A, student)
        return float(sub.score), float(sub.max_score)


def test_grade_in_formgrader_and_return_feedback(pages: dict[str, Page], hub: Hub) -> None:
    s = hub.settings
    teacher = pages["teacher"]
    rc, out = terminal(teacher, hub, s.instructor,
                       f"{grade_cmd(hub, 'collect ' + A)} --from exchange --exchange {s.exchange} && "
                       f"{grade_cmd(hub, 'autograde ' + A)} --workers 2")
    assert rc == 0, out
    assert "2 notebook(s) graded" in out, out
    ada, bob = user(hub, "ada"), user(hub, "bob")
    # formgrader: Manual Grading → ps00 → ps00 → ada's submission → 2 points and a comment on q5
    teacher.goto(f"{s.url}/user/{s.instructor}/formgrader/gradebook/{A}/{A}")
    # each row links the submission twice: "Submission #N" (names hidden) and the student's name;
    # the rows arrive after the page: "Show All Names" only reveals the rows already there
    link = teacher.locator("tr", has_text=ada).locator("a.name-shown")
    link.wait_for(state="attached")
    teacher.get_by_role("button", name="Show All Names").click()
    link.wait_for(state="visible", timeout=15_000)
    link.click()
    teacher.locator("input.score#q5").wait_for()
    # formgrader saves an edit only once its scripts have bound the fields: wait, and retry
    teacher.wait_for_load_state("networkidle")
    for _attempt in range(3):
        teacher.fill("input.score#q5", "2")
        teacher.fill("textarea.comment#q5-comment", "Clear and to the point.")
        teacher.keyboard.press("Tab")
        deadline = time.monotonic() + 15
        while _gradebook_score(hub, ada)[0] < 10 and time.monotonic() < deadline:
            time.sleep(0.5)
        if _gradebook_score(hub, ada)[0] == 10:
            break
    shot(teacher, "formgrader")
    assert _gradebook_score(hub, ada) == (10.0, 10.0)
    # nbgrader's feedback steps with the instructor's configuration (the course's preprocessors)
    rc, out = terminal(teacher, hub, s.instructor, f"dataethics hub feedback {A}")
    assert rc == 0, out
    for who, name in (("ada", ada), ("bob", bob)):
        page = pages[who]
        open_lab(page, hub, name)
        open_assignments(page)
        item = page.locator("#submitted_assignments_list .list_item", has_text=A).first
        item.get_by_role("button", name="Fetch Feedback").click()
        link = page.locator("#submitted_assignments_list a", has_text=re.compile("view feedback", re.I)).first
        link.wait_for()
        feedback = sorted((s.home(name) / A / "feedback").glob(f"*/{A}.html"))
        assert feedback, f"no feedback fetched for {who}"
        rel = feedback[-1].relative_to(s.home(name))
        page.goto(f"{s.url}/user/{name}/files/{quote(str(rel))}")
        text = page.locator("body").inner_text()
        shot(page, f"{who}-feedback")
        flat = " ".join(text.split())
        leaked = [line for line in _hidden_test_lines() if " ".join(line.split()) in flat]
        assert not leaked, leaked
        got = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", text)
        assert got, text[:500]
        assert (float(got[1]), float(got[2])) == _gradebook_score(hub, name), who
    assert _gradebook_score(hub, bob)[0] < _gradebook_score(hub, ada)[0]


# -- 3. what a student cannot see ---------------------------------------------------------------------
def test_students_cannot_see_each_other_or_the_instructor(pages: dict[str, Page], hub: Hub) -> None:
    s = hub.settings
    ada, bob, teacher = user(hub, "ada"), user(hub, "bob"), s.instructor
    course = s.course_root
    inbound = Path(s.exchange) / COURSE_ID / "inbound"
    feedback_dir = Path(s.exchange) / COURSE_ID / "feedback"
    for me, other in ((ada, bob), (bob, ada)):
        page = pages["ada" if me == ada else "bob"]
        open_lab(page, hub, me)
        # another user's server, the instructor's formgrader and files: refused by the hub
        for path in (f"/user/{other}/api/contents/{A}/{A}.ipynb", f"/user/{teacher}/formgrader",
                     f"/user/{teacher}/api/contents/{COURSE_ID}/gradebook.db"):
            response = page.request.get(f"{s.url}{path}", max_redirects=0)
            assert response.status in (302, 403, 404), (me, path, response.status)
            assert "cells" not in response.text() and "SQLite" not in response.text()
        # the own server's contents API stays inside the own home
        escape = quote(os.path.relpath(s.home(other) / A / f"{A}.ipynb", s.home(me)), safe="")
        response = page.request.get(f"{s.url}/user/{me}/api/contents/{escape}")
        assert response.status in (400, 403, 404), (me, escape, response.status)
        # a terminal: the files exist, the student may not read them
        other_sub = bench.inbound(s, A)[other][-1]
        feedback_files = sorted(feedback_dir.iterdir())
        targets = [s.home(other) / A / f"{A}.ipynb", inbound, other_sub / f"{A}.ipynb",
                   course / "source" / A / f"{A}.ipynb", course / "gradebook.db",
                   course / "feedback" / other / A / f"{A}.html", feedback_dir]
        assert all(t.exists() for t in targets) and feedback_files
        script = "\n".join(f"(cat '{t}' 2>&1 || ls '{t}' 2>&1) | head -c 300; echo ' <<{i}>>'"
                            for i, t in enumerate(targets))
        probe_sh = s.home(me) / "probe.sh"  # typed key by key, the script would take a minute
        probe_sh.write_text(script + "\n")
        shutil.chown(probe_sh, me, me)
        rc, out = terminal(page, hub, me, "bash ~/probe.sh")
        answers = re.split(r" <<\d+>>", out)
        assert len(answers) == len(targets) + 1, out
        for target, answer in zip(targets, answers, strict=False):
            assert "Permission denied" in answer, (me, str(target), answer)
            assert "nbformat" not in answer and "SQLite" not in answer
        # Python in the same terminal (what a kernel would do): the same refusal
        files = [str(targets[i]) for i in (0, 2, 3, 4, 5)]
        probe = s.home(me) / "probe.py"
        probe.write_text(f"import pathlib\nfor p in {files!r}:\n"
                         "    try:\n        pathlib.Path(p).read_bytes(); print('READ', p)\n"
                         "    except PermissionError:\n        print('DENIED', p)\n")
        shutil.chown(probe, me, me)
        rc, out = terminal(page, hub, me, "python ~/probe.py")
        assert rc == 0 and out.count("DENIED") == len(files) and "READ" not in out, out


# -- 4. a class under load ----------------------------------------------------------------------------
def test_thirty_students_submit_in_the_same_minute(hub: Hub) -> None:
    s = hub.settings
    names = [user(hub, n) for n in RUSH]
    spawn_s = bench.start_class(hub, names)
    # each server listens on its own port (with random ones, two servers started together can
    # share one: the second dies, and the hub takes the first one's answer for its own)
    ports = {n: hub.listening_ports(n) for n in names}
    assert all(ports[n] == {s.server_port(n)} for n in names), ports
    students = {n: bench.Student(hub, n) for n in names}

    def fetch_and_sign(st: bench.Student) -> str:
        reply = st.action("fetch", A)
        if not reply.get("success"):
            return str(reply.get("value"))[-300:]
        st.sign(A, f"work of {st.user}")
        return ""

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=6) as pool:
        fetched = dict(zip(names, pool.map(fetch_and_sign, students.values()), strict=True))
    assert not any(fetched.values()), {n: why for n, why in fetched.items() if why}
    on_time = [students[user(hub, n)] for n in RUSH if n not in LATE]
    late = [students[user(hub, n)] for n in LATE]
    first = bench.rush(on_time, A)
    due = datetime.now(UTC)
    time.sleep(1.5)
    second = bench.rush(late, A)
    assert not first.failed and not second.failed, {**first.failed, **second.failed}
    took = (second.last_reply - first.first_click).total_seconds()
    print(f"\n30 servers ready in {spawn_s:.0f} s; 30 submissions in {took:.0f} s")
    assert took < 60, "the rush took longer than a minute: the deadline scenario did not happen"

    arrived = bench.inbound(s, A)
    import pwd

    for n in names:
        (folder,) = arrived[n]  # exactly one submission each, none lost
        assert pwd.getpwuid(folder.stat().st_uid).pw_name == n  # written by that student's server
        stamp = bench.parse_timestamp(folder)
        window = (first, second)[n in [st.user for st in late]]
        assert window.first_click - timedelta(seconds=1) <= stamp <= window.last_reply + timedelta(seconds=1)
        assert (stamp > due) == (n in [st.user for st in late]), (n, stamp, due)
    assert not list((Path(s.exchange) / COURSE_ID / "inbound").glob(".*"))  # no staging left

    # the instructor sets the due date, collects and autogrades: every notebook is its author's
    assert as_instructor(hub, f"nbgrader db assignment add {A} --duedate='{due.isoformat()}'").returncode == 0
    out = as_instructor(hub, f"{grade_cmd(hub, 'collect ' + A)} --from exchange --exchange {s.exchange}")
    assert out.returncode == 0, out.stderr
    for n in names:
        nb = nbformat.read(s.course_root / "submitted" / n / A / f"{A}.ipynb", as_version=4)
        marks = re.findall(r"# work of (\S+)", "\n".join(c.source for c in nb.cells))
        assert marks == [n], (n, marks)
    sample = [*LATE, *RUSH[:2]]
    students_args = " ".join(f"--student {user(hub, n)}" for n in sample)
    out = as_instructor(hub, f"{grade_cmd(hub, 'autograde ' + A)} --workers 2 {students_args}")
    assert out.returncode == 0, out.stdout + out.stderr
    for n in sample:
        record = json.loads((s.course_root / "autograded" / user(hub, n) / A / "grading.json").read_text())
        flagged = any("late by" in flag for flag in record.get("flags", []))
        assert flagged == (n in LATE), (n, record.get("flags"))
    with ThreadPoolExecutor(max_workers=8) as pool:  # free the cores for the fault tests
        list(pool.map(hub.stop_server, names[3:]))


# -- 5. faults ------------------------------------------------------------------------------------------
def _student_with_a_submission(hub: Hub, short: str) -> tuple[str, bench.Student]:
    """A class member with a running server, ``A`` fetched and signed, and one submission at least.

    The rush has done all this for its students; the fault tests do not rely on it.
    """
    s = hub.settings
    name = user(hub, short)
    if not hub.ready(name):
        hub.spawn(name)
        hub.wait_ready([name])
    st = bench.Student(hub, name)
    if not (s.home(name) / A / f"{A}.ipynb").is_file():
        assert st.action("fetch", A)["success"]
        st.sign(A, f"work of {name}")
    if not bench.inbound(s, A).get(name):
        assert st.action("submit", A)["success"]
    return name, st


def test_server_killed_while_submitting_loses_nothing(hub: Hub) -> None:
    s = hub.settings
    name, st = _student_with_a_submission(hub, RUSH[0])
    before = bench.inbound(s, A)[name]
    notebook = (s.home(name) / A / f"{A}.ipynb").read_bytes()
    bulk = s.home(name) / A / "data" / "bulk"  # a large folder, so the copy takes a while
    bulk.mkdir()
    for i in range(3000):
        (bulk / f"f{i}.txt").write_bytes(os.urandom(8000))
    subprocess.run(["chown", "-R", f"{name}:{name}", str(bulk)], check=True)
    inbound = Path(s.exchange) / COURSE_ID / "inbound"
    outcome: dict[str, object] = {}

    def submit() -> None:
        try:
            outcome["reply"] = st.action("submit", A, timeout=60)
        except requests.RequestException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=submit)
    thread.start()
    deadline = time.monotonic() + 60
    while not list(inbound.glob(f".{name}+{A}+*")):
        assert time.monotonic() < deadline and thread.is_alive(), "the submit finished before the kill"
        time.sleep(0.002)
    for proc in hub.server_processes(name):
        proc.kill()
    thread.join(60)
    assert bench.inbound(s, A)[name] == before  # no half submission where collect looks
    assert (s.home(name) / A / f"{A}.ipynb").read_bytes() == notebook
    page = requests.get(f"{s.url}/user/{name}/lab", headers={"Accept": "text/html",
                        "Authorization": st.http.headers["Authorization"]}, timeout=30)
    assert page.status_code == 503 and "Your server appears to be down" in page.text
    hub.stop_server(name)
    hub.spawn(name)
    hub.wait_ready([name])
    shutil.rmtree(bulk)
    st = bench.Student(hub, name)
    assert st.action("submit", A)["success"]
    assert len(bench.inbound(s, A)[name]) == len(before) + 1
    out = as_instructor(hub, f"{grade_cmd(hub, 'collect ' + A)} --from exchange --exchange {s.exchange}")
    assert out.returncode == 0
    nb = nbformat.read(s.course_root / "submitted" / name / A / f"{A}.ipynb", as_version=4)
    assert any(f"# work of {name}" in c.source for c in nb.cells)


def test_hub_restart_mid_class_keeps_servers_and_submissions(hub: Hub) -> None:
    s = hub.settings
    name, st = _student_with_a_submission(hub, RUSH[1])
    pids = sorted(p.pid for p in hub.server_processes(name))
    submitted = {k: list(v) for k, v in bench.inbound(s, A).items()}
    hub.stop()
    with pytest.raises(requests.ConnectionError):
        st.action("submit", A, timeout=10)  # the hub is down: the browser cannot reach the server
    hub.start()
    assert sorted(p.pid for p in hub.server_processes(name)) == pids  # the server kept running
    assert hub.ready(name)
    assert st.action("submit", A)["success"]
    after = bench.inbound(s, A)
    assert len(after[name]) == len(submitted[name]) + 1
    assert all(set(v) <= set(after[k]) for k, v in submitted.items())


def _fill(exchange: Path) -> Path:
    """Fill the exchange's file system to the last byte (as root, in a hidden file)."""
    filler = exchange / ".filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    return filler


def test_exchange_full_or_read_only_gives_a_clear_message(hub: Hub) -> None:
    s = hub.settings
    if not hub.exchange_mount:
        pytest.skip("could not mount a tmpfs for the exchange (needs root in a mount namespace)")
    name, st = _student_with_a_submission(hub, RUSH[2])
    exchange = Path(s.exchange)
    before = bench.inbound(s, A)[name]
    notebook = (s.home(name) / A / f"{A}.ipynb").read_bytes()
    hidden = set((exchange / COURSE_ID / "inbound").glob(".*"))
    filler = _fill(exchange)
    try:
        reply = st.action("submit", A)
    finally:
        filler.unlink()
    assert not reply["success"]
    assert "disk is full" in reply["value"] and "earlier submissions are kept" in reply["value"]
    assert bench.inbound(s, A)[name] == before
    assert set((exchange / COURSE_ID / "inbound").glob(".*")) == hidden  # its staging copy was removed
    subprocess.run(["mount", "-o", "remount,ro", str(exchange)], check=True)
    try:
        reply = st.action("submit", A)
        assert not reply["success"]
        assert re.search(r"Unwritable directory, please contact your instructor|read-only", reply["value"])
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(exchange)], check=True)
    assert bench.inbound(s, A)[name] == before
    assert (s.home(name) / A / f"{A}.ipynb").read_bytes() == notebook
    assert st.action("submit", A)["success"]  # and once the disk is back, it goes through
    assert len(bench.inbound(s, A)[name]) == len(before) + 1
