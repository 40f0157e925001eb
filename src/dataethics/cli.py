"""The course's command line: ``dataethics data …``, ``dataethics bench``, ``dataethics grade …``.

Errors a user can fix are printed as one line, ``error: …``, with exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from dataethics.errors import DataethicsError


def _data_list(args: argparse.Namespace) -> int:
    from dataethics.data import registry

    for ds in registry().values():
        extra = f" labels={','.join(c.name for c in ds.labels)}" if ds.labels else ""
        print(f"{ds.name:32} {ds.module:3} {ds.rows:>8} rows  {ds.title}{extra}")
    return 0


def _data_build(args: argparse.Namespace) -> int:
    from dataethics.data import build_all

    written = build_all(
        args.names or None,
        root=args.root,
        scale=args.scale,
        missing_only=args.missing,
        progress=not args.quiet,
    )
    if not args.quiet:
        print(f"{len(written)} file(s) written" if written else "all datasets present")
    return 0


def _data_check(args: argparse.Namespace) -> int:
    from dataethics.data import check_files

    problems = check_files(args.root)
    for line in problems:
        print(line)
    if problems:
        raise DataethicsError(f"{len(problems)} dataset file(s) differ — run `make data`")
    print("all dataset files match datasets/MANIFEST.json")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from dataethics.bench import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``dataethics`` command."""
    parser = argparse.ArgumentParser(prog="dataethics", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="build, list and check the synthetic datasets")
    dsub = data.add_subparsers(dest="action", required=True)
    p = dsub.add_parser("list", help="list the registered datasets")
    p.set_defaults(func=_data_list)
    p = dsub.add_parser("build", help="build one, several or all datasets")
    p.add_argument("names", nargs="*", help="dataset names (default: all)")
    p.add_argument("--scale", type=int, default=1,
                   help="multiply the rows (writes datasets/big/, streamed in chunks)")
    p.add_argument("--missing", action="store_true", help="build only datasets with missing files")
    p.add_argument("--root", type=Path, default=None, help="write under this folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_data_build)
    p = dsub.add_parser("check", help="compare dataset files with the manifest")
    p.add_argument("--root", type=Path, default=None)
    p.set_defaults(func=_data_check)

    bench = sub.add_parser("bench", help="time and peak memory of lessons and grading")
    bench.add_argument("what", nargs="*", default=["lessons"],
                       help="lessons, assignments, grading, site (default: lessons)")
    bench.add_argument("--rounds", type=int, default=1,
                       help="grading: time the graders this many times, taking turns, and judge "
                            "the medians (default: 1)")
    bench.add_argument("--students", type=int, default=30,
                       help="grading: submissions in the invented ps01 class (default: 30, the "
                            "size the targets are set for)")
    bench.add_argument("--workers", type=int, default=2,
                       help="grading: the grader's workers and the plain baseline's processes "
                            "(default: 2, the targets' setting)")
    bench.add_argument("--pin", metavar="CPUS",
                       help="grading: run everything on these CPUs only, e.g. 0,1 (as taskset -c)")
    bench.set_defaults(func=_bench)

    try:  # the grading commands live with the grading pipeline
        grading_cli = importlib.import_module("dataethics.grading.cli")
    except ModuleNotFoundError:
        grading_cli = None
    if grading_cli is not None:
        grading_cli.add_parser(sub)
    from dataethics.hub.cli import add_parser as add_hub_parser  # the classroom on JupyterHub

    add_hub_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DataethicsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
