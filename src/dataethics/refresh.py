"""``make outputs``: re-execute lessons top to bottom and store their outputs.

Usage: ``python -m dataethics.refresh [lesson.ipynb …]`` (default: every lesson).
"""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm.auto import tqdm

from dataethics import notebooks


def main(argv: list[str] | None = None) -> int:
    """Refresh the named lessons (or all); return 0."""
    argv = sys.argv[1:] if argv is None else argv
    targets = [Path(a) for a in argv] or notebooks.lessons()
    for path in tqdm(targets, desc="lessons", unit="nb"):
        result = notebooks.refresh_outputs(path)
        tqdm.write(f"{path.name}: {result.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
