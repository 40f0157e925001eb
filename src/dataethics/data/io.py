"""Building, writing, loading and fingerprinting the datasets.

Files are plain UTF-8 CSV with ``\\n`` line ends, written in chunks so that a
large ``scale`` keeps memory bounded, and rebuilt byte-identical from the
seeds. ``MANIFEST.json`` records the SHA-256 of every default-size file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dataethics import paths
from dataethics.data.schema import Column, Dataset, validate
from dataethics.errors import CorruptDatasetError, DatasetMissingError, SchemaError

MANIFEST = "datasets/MANIFEST.json"


def student_relpath(ds: Dataset) -> str:
    """Path of the student-facing file, relative to the repository root."""
    return f"datasets/{ds.filename}"


def labels_relpath(ds: Dataset) -> str:
    """Path of the ground-truth file, relative to the repository root."""
    return f"grader/truth/{ds.labels_filename}"


def assignment_relpath(ds: Dataset, assignment: str) -> str:
    """Path of the copy shipped with an assignment, relative to the repository root."""
    return f"assignments/source/{assignment}/data/{ds.filename}"


def iter_frames(ds: Dataset, scale: int = 1) -> Iterator[pd.DataFrame]:
    """Yield the full frame (student columns and labels) of ``ds`` chunk by chunk.

    Each chunk ``i`` has its own generator seeded by ``(seed, i)``, so the
    same scale always gives the same rows.
    """
    if scale < 1:
        raise ValueError("scale must be a whole number ≥ 1")
    if scale > 1 and not ds.scalable:
        raise ValueError(f"dataset '{ds.name}' has a fixed size; build it without --scale")
    total = ds.rows * scale
    for i, start in enumerate(range(0, total, ds.chunk_rows)):
        n = min(ds.chunk_rows, total - start)
        rng = np.random.default_rng([ds.seed, i])
        yield ds.builder(n, rng, start)


def build_frame(ds: Dataset, scale: int = 1) -> pd.DataFrame:
    """Return the whole frame of ``ds`` (student columns and labels) in memory."""
    return pd.concat(list(iter_frames(ds, scale)), ignore_index=True)


def _to_text(frame: pd.DataFrame, columns: Iterable[Column]) -> pd.DataFrame:
    out = frame.copy()
    for col in columns:
        if col.kind == "date":
            out[col.name] = out[col.name].dt.strftime("%Y-%m-%d")
        elif col.kind == "datetime":
            out[col.name] = out[col.name].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return out


def _write_csv(frame: pd.DataFrame, path: Path, append: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w", encoding="utf-8", newline="") as fh:
        frame.to_csv(fh, index=False, header=not append, lineterminator="\n")


def write_dataset(
    ds: Dataset, root: Path | None = None, scale: int = 1, progress: bool = True
) -> list[Path]:
    """Build ``ds`` and write its files under ``root``; return the paths written.

    At scale 1 this writes the student file, the ground-truth file (if the
    dataset has labels) and a copy for each assignment that uses it. At a
    larger scale it writes only ``datasets/big/<name>_x<scale>.csv``.
    """
    root = Path(root) if root is not None else paths.repo_root()
    if scale == 1:
        student = root / student_relpath(ds)
    else:
        student = root / "datasets" / "big" / f"{ds.name}_x{scale}.csv"
    labels = root / labels_relpath(ds) if ds.labels and scale == 1 else None
    n_chunks = -(-ds.rows * scale // ds.chunk_rows)
    chunks = iter_frames(ds, scale)
    bar = tqdm(chunks, total=n_chunks, desc=ds.name, unit="chunk", disable=not progress,
               leave=False)
    for i, frame in enumerate(bar):
        expected = ds.column_names + [c.name for c in ds.labels]
        if list(frame.columns) != expected:
            raise SchemaError(f"builder of '{ds.name}' returned columns {list(frame.columns)}")
        validate(frame[ds.column_names], ds.columns, f"builder of '{ds.name}'")
        _write_csv(_to_text(frame[ds.column_names], ds.columns), student, append=i > 0)
        if labels is not None:
            label_cols = tuple(c for c in ds.columns if c.name == ds.key) + ds.labels
            _write_csv(_to_text(frame[ds.label_names], label_cols), labels, append=i > 0)
    written = [student] + ([labels] if labels is not None else [])
    if scale == 1:
        for assignment in ds.assignments:
            copy = root / assignment_relpath(ds, assignment)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(student.read_bytes())
            written.append(copy)
    return written


def read_csv(path: Path, columns: tuple[Column, ...], name: str) -> pd.DataFrame:
    """Read a dataset CSV with the dtypes of ``columns`` and check it.

    Raises :class:`DatasetMissingError`, :class:`CorruptDatasetError` or
    :class:`SchemaError` with a message that names the fix.
    """
    fix = f"rebuild it with `make data` (or `dataethics data build {name}`)"
    if not path.is_file():
        raise DatasetMissingError(f"dataset '{name}' is missing: {path} not found — {fix}")
    dtypes = {c.name: c.pandas_dtype() for c in columns if c.kind not in ("date", "datetime")}
    dtypes.update({c.name: "str" for c in columns if c.kind in ("date", "datetime")})
    try:
        header = pd.read_csv(path, nrows=0).columns.tolist()
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CorruptDatasetError(f"dataset '{name}' at {path} is corrupt ({exc}) — {fix}") from None
    expected = [c.name for c in columns]
    if header != expected:
        missing = sorted(set(expected) - set(header))
        extra = sorted(set(header) - set(expected))
        raise SchemaError(
            f"dataset '{name}' at {path} does not match its schema (missing {missing}, "
            f"unexpected {extra}) — {fix}"
        )
    try:
        frame = pd.read_csv(path, dtype=dtypes, keep_default_na=True)
        for c in columns:
            if c.kind in ("date", "datetime"):
                frame[c.name] = pd.to_datetime(frame[c.name], format="ISO8601")
    except (pd.errors.ParserError, ValueError, TypeError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0][:160]
        raise CorruptDatasetError(f"dataset '{name}' at {path} is corrupt ({reason}) — {fix}") from None
    validate(frame, columns, f"dataset '{name}' at {path}")
    return frame


def sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(files: Iterable[Path], root: Path) -> dict[str, str]:
    """Map each file's path relative to ``root`` to its SHA-256, sorted by path."""
    return {p.relative_to(root).as_posix(): sha256(p) for p in sorted(files)}


def write_manifest(hashes: dict[str, str], root: Path | None = None) -> Path:
    """Write ``datasets/MANIFEST.json`` under ``root``."""
    root = Path(root) if root is not None else paths.repo_root()
    path = root / MANIFEST
    text = json.dumps({"files": dict(sorted(hashes.items()))}, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def read_manifest(root: Path | None = None) -> dict[str, str]:
    """Return the committed manifest as ``{relative path: sha256}``."""
    root = Path(root) if root is not None else paths.repo_root()
    path = root / MANIFEST
    if not path.is_file():
        raise DatasetMissingError(f"{path} not found — run `make data`")
    return json.loads(path.read_text(encoding="utf-8"))["files"]
