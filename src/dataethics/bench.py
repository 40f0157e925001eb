"""``make bench``: wall time and peak kernel memory per lesson, and other costs.

``dataethics bench grading`` times the autograder against serial nbgrader and
plain execution (see :mod:`dataethics.grading.bench`).

Budgets (per lesson): 20 s wall, 500 MB peak resident memory of the kernel.
The numbers vary with the machine's load; the table is for people, the
tests only check that notebooks run.
"""

from __future__ import annotations

import argparse
import importlib
import time

from tqdm.auto import tqdm

from dataethics import notebooks

LESSON_SECONDS = 20.0
LESSON_MB = 500.0


def bench_lessons() -> bool:
    """Run every lesson once, print a table; return True if all are within budget."""
    rows = []
    for path in tqdm(notebooks.lessons(), desc="lessons", unit="nb"):
        result = notebooks.execute(path, measure=True)
        ok = result.seconds <= LESSON_SECONDS and result.peak_mb <= LESSON_MB
        rows.append((path.name, result.seconds, result.peak_mb, ok))
    print(f"\n{'lesson':40} {'wall s':>8} {'peak MB':>9}  budget ({LESSON_SECONDS:.0f} s, "
          f"{LESSON_MB:.0f} MB)")
    for name, sec, mb, ok in rows:
        print(f"{name:40} {sec:8.1f} {mb:9.0f}  {'ok' if ok else 'OVER'}")
    return all(r[3] for r in rows)


def bench_assignments() -> bool:
    """Run every assignment source notebook once and print its time and memory."""
    print(f"\n{'assignment source':40} {'wall s':>8} {'peak MB':>9}")
    for path in tqdm(notebooks.source_notebooks(), desc="assignments", unit="nb"):
        result = notebooks.execute(path, measure=True)
        print(f"{path.parent.name + '/' + path.name:40} {result.seconds:8.1f} "
              f"{result.peak_mb:9.0f}")
    return True


def main(args: argparse.Namespace) -> int:
    """Run the benchmarks named in ``args.what``; return 0 (1 if a budget is exceeded)."""
    ok = True
    for what in args.what:
        start = time.perf_counter()
        if what == "lessons":
            ok &= bench_lessons()
        elif what == "assignments":
            ok &= bench_assignments()
        else:
            # the site benchmark lives with the site build
            module = {"site": "dataethics.site", "grading": "dataethics.grading.bench"}.get(what)
            if module is None:
                raise ValueError(f"unknown benchmark '{what}' "
                                 "(choose lessons, assignments, site, grading)")
            bench = importlib.import_module(module).bench
            if what == "grading":
                ok &= bool(bench(rounds=getattr(args, "rounds", 1), n_students=getattr(args, "students", 30),
                                 workers=getattr(args, "workers", 2), pin=getattr(args, "pin", None)))
            else:
                ok &= bool(bench())
        print(f"[{what}: {time.perf_counter() - start:.1f} s]")
    return 0 if ok else 1
