"""A shared gradebook on PostgreSQL (nbgrader's ``db_url``), on a server started by the test.

Skipped when PostgreSQL's ``initdb`` and ``pg_ctl`` are not installed.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from dataethics.grading import course as course_cfg
from dataethics.grading import samples
from dataethics.grading.autograde import Limits, autograde, scores

A = "ps00"
pytestmark = pytest.mark.skipif(not (shutil.which("initdb") and shutil.which("pg_ctl")),
                                reason="PostgreSQL (initdb, pg_ctl) is not installed")


def _as_server_user(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: run it as 'nobody' then
    return ["runuser", "-u", "nobody", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    # a short path right under /tmp: the server user must reach it, and socket paths are short
    home = Path(tempfile.mkdtemp(prefix="dataethics-pg-"))
    if os.geteuid() == 0:
        shutil.chown(home, "nobody")
    data = home / "data"
    subprocess.run(_as_server_user(["initdb", "-D", str(data), "-A", "trust", "-U", "grader"]),
                   check=True, capture_output=True)
    subprocess.run(_as_server_user(["pg_ctl", "-D", str(data), "-l", str(home / "log"), "-w", "-o",
                                    f"-k {home} -c listen_addresses=''", "start"]),
                   check=True, capture_output=True)
    try:
        with psycopg.connect(host=str(home), user="grader", dbname="postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE gradebook")
        yield f"postgresql://grader@/gradebook?host={home}"
    finally:
        subprocess.run(_as_server_user(["pg_ctl", "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def test_a_class_graded_into_a_postgresql_gradebook(postgres: str, tmp_path: Path) -> None:
    from dataethics.cli import main

    course = tmp_path / "course"
    shutil.copytree(course_cfg.paths.assignments_dir() / "source" / A, course / "source" / A)
    release = course_cfg.generate_release(A, course, db_url=postgres)
    source_nb = course / "source" / A / f"{A}.ipynb"
    for sample in samples.samples_for(A):
        if sample.name in ("correct", "blank"):
            folder = course / "submitted" / sample.name / A
            folder.mkdir(parents=True)
            nbformat.write(samples.build_submission(sample, source_nb, release / f"{A}.ipynb"),
                           folder / f"{A}.ipynb")
    autograde(A, course, workers=2, limits=Limits(notebook_seconds=60), progress=False, db_url=postgres)
    got = scores(A, course, db_url=postgres)
    assert sum(got["correct"].values()) == 8 and sum(got["blank"].values()) == 0
    assert not (course / "gradebook.db").exists()  # nothing went to SQLite
    out = tmp_path / "grades.csv"
    assert main(["grade", "export", "--course", str(course), "--db-url", postgres, "--out", str(out)]) == 0
    rows = {r["student_id"]: float(r["score"]) for r in csv.DictReader(out.open())}
    assert rows == {"correct": 8.0, "blank": 0.0}
