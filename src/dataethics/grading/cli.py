"""``dataethics grade …``: the instructor's commands (release, autograde, scores, export, purge)."""

from __future__ import annotations

import argparse
import csv
import hashlib
import hmac
import os
import shutil
import sys
import time
from pathlib import Path

from dataethics import paths
from dataethics.errors import DataethicsError


def _root(args: argparse.Namespace) -> Path:
    return Path(args.course) if args.course else paths.assignments_dir()


def _release(args: argparse.Namespace) -> int:
    from dataethics.grading.assignments import assignment_ids, generate_release

    root = _root(args)
    ids = assignment_ids(root) if args.all or not args.assignment else [args.assignment]
    for assignment in ids:
        print(f"released {assignment}: {generate_release(assignment, root, source_root=root)}")
    return 0


def _autograde(args: argparse.Namespace) -> int:
    from dataethics.grading.autograde import Limits, autograde

    limits = Limits(notebook_seconds=args.notebook_seconds, cell_seconds=args.cell_seconds,
                    memory_mb=args.memory_mb)
    outcomes = autograde(args.assignment, _root(args), workers=args.workers, limits=limits)
    flagged = [o for o in outcomes if o.flags or o.status != "ok"]
    print(f"{len(outcomes)} notebook(s) graded, {len(flagged)} flagged")
    for o in flagged:
        print(f"  {o.student}: {o.status}; {'; '.join(o.flags)}")
    return 0


def pseudonym(student: str, key: bytes) -> str:
    """Keyed hash (HMAC-SHA-256) of a student id, 16 hex digits.

    >>> pseudonym("ann", b"k") == pseudonym("ann", b"k") != pseudonym("bob", b"k")
    True
    """
    return hmac.new(key, student.encode(), hashlib.sha256).hexdigest()[:16]


def _export(args: argparse.Namespace) -> int:
    from nbgrader.api import Gradebook

    root = _root(args)
    key = None
    if args.pseudonymise:
        source = os.environ.get("DATAETHICS_EXPORT_KEY")
        if args.key_file:
            source = Path(args.key_file).read_text(encoding="utf-8").strip()
        if not source:
            raise DataethicsError("--pseudonymise needs --key-file or $DATAETHICS_EXPORT_KEY")
        key = source.encode()
    rows = []
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for assignment in gb.assignments:
            for student in gb.students:
                try:
                    sub = gb.find_submission(assignment.name, student.id)
                    score = sub.score
                except Exception:  # no submission: zero
                    score = 0.0
                rows.append((assignment.name, student.id, score, assignment.max_score))
    out = Path(args.out)
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        if args.format == "moodle":
            w.writerow(["ID number", "Assignment", "Grade", "Maximum"])
        elif args.format == "canvas":
            w.writerow(["SIS User ID", "Assignment", "Score", "Points Possible"])
        else:
            w.writerow(["student_id", "assignment", "score", "max_score"])
        for assignment, student, score, max_score in rows:
            who = pseudonym(student, key) if key else student
            w.writerow([who, assignment, f"{score:g}", f"{max_score:g}"])
    print(f"{len(rows)} grade(s) written to {out}")
    return 0


def _purge(args: argparse.Namespace) -> int:
    root = _root(args)
    limit = time.time() - args.older_than * 86400
    victims = [p for stage in ("submitted", "autograded", "feedback") if (root / stage).is_dir()
               for p in (root / stage).glob("*/*") if p.is_dir() and p.stat().st_mtime < limit]
    for p in victims:
        print(("deleting " if args.yes else "would delete ") + str(p))
        if args.yes:
            shutil.rmtree(p)
    if not args.yes:
        print(f"{len(victims)} folder(s) older than {args.older_than} days (dry run; add --yes)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``grade`` command group on the main parser."""
    grade = sub.add_parser("grade", help="instructor's grading pipeline (on nbgrader)")
    gsub = grade.add_subparsers(dest="action", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--course", help="nbgrader course folder (default: assignments/)")

    p = gsub.add_parser("release", help="generate student versions (nbgrader generate_assignment)")
    p.add_argument("assignment", nargs="?")
    p.add_argument("--all", action="store_true")
    common(p)
    p.set_defaults(func=_release)
    p = gsub.add_parser("autograde", help="grade every submission in parallel, sandboxed")
    p.add_argument("assignment")
    p.add_argument("--workers", type=int, default=None, help="default: one per core")
    p.add_argument("--notebook-seconds", type=float, default=180)
    p.add_argument("--cell-seconds", type=float, default=60)
    p.add_argument("--memory-mb", type=int, default=3072)
    common(p)
    p.set_defaults(func=_autograde)
    p = gsub.add_parser("export", help="grades as CSV (nbgrader, moodle or canvas layout)")
    p.add_argument("--format", choices=["nbgrader", "moodle", "canvas"], default="nbgrader")
    p.add_argument("--out", default="grades.csv")
    p.add_argument("--pseudonymise", action="store_true", help="replace ids by a keyed hash")
    p.add_argument("--key-file", help="file holding the secret key (never commit it)")
    common(p)
    p.set_defaults(func=_export)
    p = gsub.add_parser("purge", help="delete submissions older than a retention period")
    p.add_argument("--older-than", type=int, required=True, help="days")
    p.add_argument("--yes", action="store_true", help="really delete (default: dry run)")
    common(p)
    p.set_defaults(func=_purge)


if __name__ == "__main__":
    from dataethics.cli import main

    sys.exit(main(["grade", *sys.argv[1:]]))
