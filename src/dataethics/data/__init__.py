"""The course's synthetic datasets: registry, builders and loaders.

Each module of the course registers its tables in its own file
(``orientation``, ``smart``, ``bots``, ``consent``, ``obsolescence``,
``robust``, and ``audit`` for the capstone) as a
``DATASETS`` list. Load one by name:

>>> from dataethics.data import load
>>> shop = load("orientation_orders")     # doctest: +SKIP
>>> shop.dtypes["order_id"]               # doctest: +SKIP
dtype('int64')

``load_<name>()`` works too, e.g. ``load_orientation_orders()``.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from dataethics import paths
from dataethics.data.io import (
    assignment_relpath,
    build_frame,
    fingerprint,
    labels_relpath,
    read_csv,
    read_manifest,
    student_relpath,
    write_dataset,
    write_manifest,
)
from dataethics.data.schema import Column, Dataset, validate
from dataethics.errors import DatasetMissingError, UnknownDatasetError

MODULES = ("orientation", "smart", "bots", "consent", "obsolescence", "robust", "audit")

__all__ = [
    "Column",
    "Dataset",
    "build_all",
    "build_frame",
    "check_files",
    "get",
    "list_datasets",
    "load",
    "load_labels",
    "registry",
    "validate",
]


def registry() -> dict[str, Dataset]:
    """Return every registered dataset by name, in module order."""
    found: dict[str, Dataset] = {}
    for module in MODULES:
        for ds in importlib.import_module(f"dataethics.data.{module}").DATASETS:
            if ds.name in found:
                raise RuntimeError(f"dataset name '{ds.name}' is registered twice")
            found[ds.name] = ds
    return found


def list_datasets() -> list[str]:
    """Return the names of all registered datasets.

    >>> "orientation_orders" in list_datasets()
    True
    """
    return list(registry())


def get(name: str) -> Dataset:
    """Return the registered dataset ``name`` or raise a helpful error."""
    reg = registry()
    if name not in reg:
        close = difflib.get_close_matches(name, reg, n=1)
        hint = f" — did you mean '{close[0]}'?" if close else ""
        raise UnknownDatasetError(
            f"unknown dataset '{name}'{hint} (list them with `dataethics data list`)"
        )
    return reg[name]


def load(name: str, data_dir: str | Path | None = None) -> pd.DataFrame:
    """Load dataset ``name`` as a typed DataFrame, checked against its schema.

    ``data_dir`` defaults to the repository's ``datasets/`` folder (or
    ``$DATAETHICS_DATA``); an assignment passes its own ``data`` folder.
    """
    ds = get(name)
    folder = Path(data_dir) if data_dir is not None else paths.datasets_dir()
    return read_csv(folder / ds.filename, ds.columns, name)


def load_labels(name: str, truth_dir: str | Path | None = None) -> pd.DataFrame:
    """Load the ground-truth labels of ``name`` (instructor's copy; not in student data)."""
    ds = get(name)
    if not ds.labels:
        raise UnknownDatasetError(f"dataset '{name}' has no ground-truth labels")
    folder = Path(truth_dir) if truth_dir is not None else paths.grader_dir() / "truth"
    key_col = tuple(c for c in ds.columns if c.name == ds.key)
    return read_csv(folder / ds.labels_filename, key_col + ds.labels, f"{name} labels")


def expected_files(ds: Dataset) -> list[str]:
    """Relative paths of every file that ``ds`` writes at default size."""
    files = [student_relpath(ds)]
    if ds.labels:
        files.append(labels_relpath(ds))
    files += [assignment_relpath(ds, a) for a in ds.assignments]
    return files


def build_all(
    names: Iterable[str] | None = None,
    root: Path | None = None,
    scale: int = 1,
    missing_only: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Build the named datasets (all by default) under ``root``; return the files written.

    With ``missing_only`` a dataset is built only if one of its files is absent.
    At scale 1 (and building every dataset) the manifest is rewritten.
    """
    root = Path(root) if root is not None else paths.repo_root()
    selected = [get(n) for n in names] if names else list(registry().values())
    if missing_only:
        selected = [ds for ds in selected if not all((root / f).is_file()
                                                     for f in expected_files(ds))]
    written: list[Path] = []
    for ds in tqdm(selected, desc="datasets", unit="dataset", disable=not progress):
        written += write_dataset(ds, root, scale=scale, progress=progress)
    if scale == 1 and written:
        every = [root / f for ds in registry().values() for f in expected_files(ds)]
        write_manifest(fingerprint([p for p in every if p.is_file()], root), root)
    return written


def check_files(root: Path | None = None) -> list[str]:
    """Compare the files on disk with the manifest; return the problems found (empty if none)."""
    root = Path(root) if root is not None else paths.repo_root()
    try:
        recorded = read_manifest(root)
    except DatasetMissingError as exc:
        return [str(exc)]
    problems = []
    every = sorted(f for ds in registry().values() for f in expected_files(ds))
    for rel in sorted(set(every) - set(recorded)):
        problems.append(f"{rel}: not in the manifest")
    for rel in sorted(set(recorded) - set(every)):
        problems.append(f"{rel}: in the manifest but no dataset writes it")
    for rel, digest in fingerprint([root / r for r in every if (root / r).is_file()],
                                   root).items():
        if recorded.get(rel) not in (None, digest):
            problems.append(f"{rel}: content differs from the manifest")
    problems += [f"{rel}: missing" for rel in every if not (root / rel).is_file()]
    return problems


def __getattr__(attr: str) -> Callable[..., pd.DataFrame]:
    """Provide ``load_<name>()`` for every registered dataset."""
    if attr.startswith("load_") and attr[5:] in registry():
        name = attr[5:]

        def loader(data_dir: str | Path | None = None) -> pd.DataFrame:
            return load(name, data_dir)

        loader.__doc__ = f"Load the '{name}' dataset (see :func:`load`)."
        return loader
    raise AttributeError(attr)
