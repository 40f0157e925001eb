"""``dataethics grade …``: the instructor's commands.

release → collect → autograde → (formgrader) → feedback → report → export → purge,
and ``demo``, which runs them all on an invented class.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections import Counter
from pathlib import Path

from dataethics import paths
from dataethics.errors import DataethicsError


def _root(args: argparse.Namespace) -> Path:
    return Path(args.course) if args.course else paths.assignments_dir()


def _release(args: argparse.Namespace) -> int:
    from dataethics.grading.course import assignment_ids, generate_release

    root = _root(args)
    repo = paths.assignments_dir()
    if args.all or not args.assignment:
        ids = sorted(set(assignment_ids(root)) | set(assignment_ids(repo)))
    else:
        ids = [args.assignment]
    for assignment in ids:
        # the course folder's own source wins; an assignment it lacks comes from the repository
        source_root = root if (root / "source" / assignment).is_dir() else repo
        release = generate_release(assignment, root, source_root=source_root, db_url=args.db_url)
        print(f"released {assignment}: {release}")
        if args.to_exchange:
            from dataethics.grading.exchange import release_to_exchange

            release_to_exchange(assignment, root, Path(args.exchange) if args.exchange else None,
                                args.db_url)
            print("  and put in nbgrader's exchange for students to fetch")
    return 0


def _autograde(args: argparse.Namespace) -> int:
    from dataethics.grading.autograde import Limits, autograde

    limits = Limits(notebook_seconds=args.notebook_seconds, cell_seconds=args.cell_seconds,
                    memory_mb=args.memory_mb)
    start = time.perf_counter()
    outcomes = autograde(args.assignment, _root(args), students=args.student or None,
                         workers=args.workers, limits=limits, db_url=args.db_url,
                         scheduler=args.scheduler, force=args.force)
    took = time.perf_counter() - start
    earlier = [o for o in outcomes if o.earlier]
    graded = [o for o in outcomes if not o.earlier]
    flagged = [o for o in outcomes if o.flags or o.status != "ok"]
    print(f"{len(graded)} notebook(s) graded in {took:.0f} s ({took / max(1, len(graded)):.1f} s per "
          f"submission), {len(flagged)} flagged")
    if earlier:
        print(f"{len(earlier)} notebook(s) already graded by an earlier run, unchanged: skipped "
              "(--force grades them again)")
    for how, count in Counter(o.kernel for o in graded if o.kernel).most_common():
        print(f"kernels: {count} x {how}")
    for o in flagged:
        print(f"  {o.student}: {o.status}; {'; '.join(o.flags)}")
    return 0


def _key(args: argparse.Namespace) -> bytes | None:
    if not args.pseudonymise:
        return None
    source = os.environ.get("DATAETHICS_EXPORT_KEY")
    if args.key_file:
        path = Path(args.key_file)
        if not path.is_file():
            raise DataethicsError(f"key file not found: {path}")
        source = path.read_text(encoding="utf-8").strip()
    if not source:
        raise DataethicsError("--pseudonymise needs --key-file or $DATAETHICS_EXPORT_KEY")
    return source.encode()


def _lms_ids(pairs: list[str] | None) -> dict[str, str]:
    ids = {}
    for pair in pairs or []:
        assignment, sep, lms_id = pair.partition("=")
        if not sep or not assignment.strip() or not lms_id.strip().isdigit():
            raise DataethicsError(f"--lms-assignment wants ASSIGNMENT=NUMBER, e.g. ps01=4312 (got '{pair}')")
        ids[assignment.strip()] = lms_id.strip()
    return ids


def _export(args: argparse.Namespace) -> int:
    from dataethics.grading.collect import local_timezone
    from dataethics.grading.exports import export_grades
    from dataethics.grading.lms.common import read_mapping

    got = export_grades(_root(args), Path(args.out), args.format, _key(args), args.db_url,
                        mapping=read_mapping(args.mapping),
                        template=Path(args.template) if args.template else None,
                        assignment=args.assignment, lms_ids=_lms_ids(args.lms_assignment),
                        tz=local_timezone(args.timezone), language=args.language)
    print(f"grades written to {got.path} ({args.format} layout"
          f"{', pseudonymised' if args.pseudonymise else ''})")
    for note in got.notes:
        print(f"  {note}")
    if got.left_out:
        print(f"  left out (the LMS does not know them: not in the mapping, or still anonymous): "
              f"{', '.join(got.left_out)}")
    return 0


def _collect(args: argparse.Namespace) -> int:
    from dataethics.grading.collect import collect_lms
    from dataethics.grading.exchange import collect_exchange

    if args.source == "exchange":
        students = collect_exchange(args.assignment, _root(args),
                                    Path(args.exchange) if args.exchange else None, args.db_url)
        print(f"collected {len(students)} submission(s) of {args.assignment} from the exchange")
        return 0
    if not args.zip:
        raise DataethicsError(f"collecting from {args.source} needs --zip FILE (the LMS download)")
    if args.worksheet and args.source != "moodle":
        raise DataethicsError("--worksheet is Moodle's grading worksheet: use it with --from moodle")
    got = collect_lms(args.assignment, Path(args.zip), _root(args), args.source,
                      Path(args.mapping) if args.mapping else None,
                      Path(args.worksheet) if args.worksheet else None, args.timezone, args.due_date,
                      args.db_url, group_assignment=args.group_assignment)
    print(f"collected {len(got.students)} student(s) of {args.assignment} from {Path(args.zip).name}")
    if got.late:
        print(f"  late: {', '.join(got.late)}")
    if got.aside:
        print(f"  put aside in lms-aside/{args.assignment}/ (not graded, never exported): "
              f"{', '.join(got.aside)}")
    for line in got.report.lines:
        print(f"  {'[needs you] ' if line.needs_instructor else ''}{line.file}: {line.action} — "
              f"{line.reason}")
    print(f"collect report: {got.report_file}")
    return got.exit_code


def _feedback(args: argparse.Namespace) -> int:
    from dataethics.grading.feedback import generate_feedback

    files = generate_feedback(args.assignment, _root(args), args.student, args.db_url, progress=True)
    print(f"{len(files)} feedback page(s) in {_root(args) / 'feedback'} (hidden tests removed)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from dataethics.grading.report import write_report

    page = write_report(_root(args), Path(args.out) if args.out else None, args.db_url)
    print(f"report: {page}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from dataethics.grading.demo import run_demo

    result = run_demo(Path(args.out) if args.out else None, args.assignments or None, args.students,
                      args.workers, args.notebook_seconds, args.cell_seconds)
    print(f"\ndemo class: {result.course}")
    print(f"  {result.graded} notebook(s) graded, {result.flagged} flagged, "
          f"{result.feedback} feedback page(s)")
    for path in result.exports:
        print(f"  export: {path}")
    print(f"report: {result.report}")
    return 0


def _purge(args: argparse.Namespace) -> int:
    root = _root(args)
    limit = time.time() - args.older_than * 86400
    stages = ("submitted", "autograded", "feedback", "downloaded", "lms-aside")
    victims = [p for stage in stages if (root / stage).is_dir()
               for p in (root / stage).glob("*/*") if p.is_dir() and p.stat().st_mtime < limit]
    for p in victims:
        print(("deleting " if args.yes else "would delete ") + str(p))
        if args.yes:
            shutil.rmtree(p)
    if not args.yes:
        print(f"{len(victims)} folder(s) older than {args.older_than} days (dry run; add --yes)")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from dataethics.grading.validate import install_kernelspec, main

    if args.install_kernelspec:
        print(f"kernelspec installed: {install_kernelspec(args.prefix, args.user)}")
        if not args.notebook:
            return 0
    if not args.notebook:
        raise DataethicsError("give the notebook(s) to validate")
    return main(args.notebook, args.timeout)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``grade`` command group (and the students' ``validate``) on the main parser."""
    p = sub.add_parser("validate", help="validate notebooks as nbgrader does, in pre-warmed kernels",
                       description="nbgrader's Validate, with kernels forked from a template that has "
                       "already imported the course's libraries (later notebooks start warm).")
    p.add_argument("notebook", nargs="*", help="notebook(s) to validate")
    p.add_argument("--timeout", type=int, default=60, help="seconds per cell (default: 60)")
    p.add_argument("--install-kernelspec", action="store_true",
                   help="install the 'dataethics-prewarm' kernelspec (for nbgrader's Validate button)")
    p.add_argument("--prefix", help="with --install-kernelspec: install under this prefix (e.g. sys.prefix)")
    p.add_argument("--user", action="store_true", help="with --install-kernelspec: for this user only")
    p.set_defaults(func=_validate)
    grade = sub.add_parser("grade", help="instructor's grading pipeline (on nbgrader)",
                           description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    gsub = grade.add_subparsers(dest="action", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--course", help="nbgrader course folder (default: assignments/)")
        p.add_argument("--db-url", help="gradebook URL, e.g. postgresql://host/db (default: "
                       "$DATAETHICS_DB_URL or SQLite in the course folder)")

    p = gsub.add_parser("release", help="generate student versions (nbgrader generate_assignment)")
    p.add_argument("assignment", nargs="?", help="assignment id, e.g. ps01")
    p.add_argument("--all", action="store_true", help="every assignment in source/")
    p.add_argument("--to-exchange", action="store_true", help="also release to nbgrader's exchange")
    p.add_argument("--exchange", help="exchange folder (default: nbgrader's Exchange.root)")
    common(p)
    p.set_defaults(func=_release)
    p = gsub.add_parser("collect", help="bring submissions into submitted/ (LMS zip or exchange)",
                        epilog="example: dataethics grade collect ps01 --from moodle --zip "
                        "download.zip --mapping ids.csv --worksheet worksheet.csv\n\n"
                        "exit codes: 0 everything collected, nothing needs you; 1 collected, but "
                        "the collect report (printed, and reports/collect-<assignment>.csv) has "
                        "lines marked [needs you]; 2 an error, nothing collected",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignment", help="assignment id, e.g. ps01")
    p.add_argument("--from", dest="source", choices=["moodle", "canvas", "exchange"], required=True,
                   help="where the submissions come from")
    p.add_argument("--zip", help="the LMS's 'download all submissions' zip")
    p.add_argument("--mapping", help="CSV with columns lms_id,student_id (optional: name, section, "
                   "email, sis_user_id, sis_login_id, group)")
    p.add_argument("--worksheet", help="Moodle's grading worksheet (CSV, in English, French, German, "
                   "Spanish, Italian or Brazilian Portuguese) of this assignment: submission times, "
                   "groups, and ID numbers when there is no --mapping")
    p.add_argument("--timezone", help="time zone of the worksheet's dates and of --due-date, e.g. "
                   "Europe/Paris (default: this computer's)")
    p.add_argument("--due-date", help="set the assignment's due date in the gradebook first, e.g. "
                   "'2026-03-14 23:59' (Canvas's LATE needs one)")
    p.add_argument("--group-assignment", action="store_true",
                   help="Canvas group assignment: the download holds one submission per group, "
                   "named after one member; give it to every member of that member's group "
                   "(the mapping's group column)")
    p.add_argument("--exchange", help="exchange folder (default: nbgrader's Exchange.root)")
    common(p)
    p.set_defaults(func=_collect)
    p = gsub.add_parser("autograde", help="grade every submission in parallel, sandboxed")
    p.add_argument("assignment", help="assignment id, e.g. ps01")
    p.add_argument("--workers", type=int, default=None, help="parallel students (default: one per core)")
    p.add_argument("--notebook-seconds", type=float, default=180,
                   help="time limit of a whole notebook; the kernel is then killed (default: 180)")
    p.add_argument("--cell-seconds", type=float, default=60,
                   help="time limit of one cell; the cell is then interrupted (default: 60)")
    p.add_argument("--memory-mb", type=int, default=3072, help="memory limit of a kernel (default: 3072)")
    p.add_argument("--student", action="append", help="only this student (repeat for several)")
    p.add_argument("--force", action="store_true",
                   help="grade again students an earlier (interrupted) run already graded")
    p.add_argument("--scheduler", help="grade on this Dask cluster, e.g. tcp://host:8786 (default: "
                   "$DATAETHICS_SCHEDULER, else this machine)")
    common(p)
    p.set_defaults(func=_autograde)
    p = gsub.add_parser("feedback", help="feedback HTML per student, hidden tests removed")
    p.add_argument("assignment", help="assignment id, e.g. ps01")
    p.add_argument("--student", help="one student (default: everyone autograded)")
    common(p)
    p.set_defaults(func=_feedback)
    p = gsub.add_parser("report", help="HTML report: scores, item analysis, flags, tampering")
    p.add_argument("--out", help="folder of the report (default: <course>/reports)")
    common(p)
    p.set_defaults(func=_report)
    p = gsub.add_parser("export", help="grades as CSV (nbgrader, Moodle worksheet or gradebook, Canvas)")
    p.add_argument("--format", choices=["nbgrader", "moodle-worksheet", "moodle", "canvas"],
                   default="nbgrader", help="nbgrader's CSV; Moodle's grading worksheet of one "
                   "assignment; Moodle's gradebook import; Canvas's gradebook import "
                   "(default: nbgrader)")
    p.add_argument("--out", default="grades.csv", help="CSV file to write (default: grades.csv)")
    p.add_argument("--pseudonymise", action="store_true", help="replace ids by a keyed hash")
    p.add_argument("--key-file", help="file holding the secret key (never commit it)")
    p.add_argument("--mapping", help="CSV with columns lms_id,student_id (optional: name, section, "
                   "sis_user_id, sis_login_id): only its students are written to LMS files")
    p.add_argument("--template", help="the file downloaded from the LMS, filled in and written "
                   "back: Moodle's grading worksheet (in any language --language offers) or Canvas's "
                   "gradebook export")
    p.add_argument("--assignment", help="the assignment of a Moodle grading worksheet "
                   "(needed when the gradebook holds several)")
    p.add_argument("--lms-assignment", action="append", metavar="ID=NUMBER",
                   help="the Canvas id of an assignment, e.g. ps01=4312 (repeat for several)")
    p.add_argument("--timezone", help="time zone of the worksheet's dates, e.g. Europe/Paris "
                   "(default: this computer's)")
    p.add_argument("--language", choices=["en", "fr", "de", "es", "it", "pt_br"], default="en",
                   help="language of a Moodle worksheet written without --template: the language "
                   "Moodle shows you when you upload it (default: en; a --template keeps its own)")
    common(p)
    p.set_defaults(func=_export)
    p = gsub.add_parser("purge", help="delete submissions older than a retention period")
    p.add_argument("--older-than", type=int, required=True, help="days")
    p.add_argument("--yes", action="store_true", help="really delete (default: dry run)")
    common(p)
    p.set_defaults(func=_purge)
    p = gsub.add_parser("demo", help="invent a class and run the whole pipeline on it")
    p.add_argument("--out", help="folder (default: grader/demo)")
    p.add_argument("--assignments", nargs="*", help="default: all")
    p.add_argument("--students", type=int, default=30, help="size of the class (default: 30)")
    p.add_argument("--workers", type=int, default=None, help="default: one per core")
    p.add_argument("--notebook-seconds", type=float, default=60,
                   help="time limit of a whole notebook (default: 60)")
    p.add_argument("--cell-seconds", type=float, default=20, help="time limit of one cell (default: 20)")
    p.set_defaults(func=_demo)

