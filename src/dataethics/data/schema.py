"""Dataset descriptions: columns with types and allowed ranges, and validation.

A :class:`Dataset` is what the registry knows of one table: how to build it,
what its columns are, which columns are ground truth kept for the grader,
and which assignments ship a copy of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from dataethics.errors import SchemaError

Kind = Literal["int", "float", "str", "bool", "category", "date", "datetime"]

#: A builder makes ``n`` rows from a seeded generator; ``start`` is the index
#: of the first row (for ids that stay unique across chunks).
Builder = Callable[[int, np.random.Generator, int], pd.DataFrame]


@dataclass(frozen=True)
class Column:
    """One column of a dataset.

    >>> Column("age", "int", min=18, max=99, unit="years").kind
    'int'
    """

    name: str
    kind: Kind
    description: str = ""
    unit: str = ""
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] | None = None

    def pandas_dtype(self) -> str | pd.CategoricalDtype:
        """Return the dtype a loaded frame uses for this column."""
        if self.kind == "int":
            return "Int64" if self.nullable else "int64"
        if self.kind == "float":
            return "float64"
        if self.kind == "bool":
            return "boolean" if self.nullable else "bool"
        if self.kind == "category":
            return pd.CategoricalDtype(list(self.values or ()))
        return "str"  # str, and dates before parsing


@dataclass(frozen=True)
class Dataset:
    """A registered dataset: builder, schema, datasheet and where copies go.

    ``labels`` are ground-truth columns that the builder returns but that the
    student file never contains; they are written, with ``key``, to the
    grader's ``truth/`` folder.
    """

    name: str
    module: str
    title: str
    columns: tuple[Column, ...]
    builder: Builder
    rows: int
    seed: int
    key: str | None = None
    labels: tuple[Column, ...] = ()
    assignments: tuple[str, ...] = ()
    scalable: bool = False
    chunk_rows: int = 50_000
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        """Names of the student-facing columns, in file order."""
        return [c.name for c in self.columns]

    @property
    def label_names(self) -> list[str]:
        """Names of the ground-truth columns (with the key first)."""
        return ([self.key] if self.key else []) + [c.name for c in self.labels]

    @property
    def filename(self) -> str:
        """File name of the student-facing CSV."""
        return f"{self.name}.csv"

    @property
    def labels_filename(self) -> str:
        """File name of the ground-truth CSV kept by the grader."""
        return f"{self.name}_labels.csv"


def _check_column(series: pd.Series, col: Column, where: str) -> None:
    name = col.name
    nulls = series.isna()
    if nulls.any() and not col.nullable:
        raise SchemaError(f"{where}: column '{name}' has {int(nulls.sum())} missing values")
    values = series[~nulls]
    kind_ok = {
        "int": pd.api.types.is_integer_dtype,
        "float": pd.api.types.is_float_dtype,
        "bool": pd.api.types.is_bool_dtype,
        "str": lambda s: pd.api.types.is_string_dtype(s) or s.dtype == object,
        "category": lambda s: isinstance(s.dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(s),
        "date": pd.api.types.is_datetime64_any_dtype,
        "datetime": pd.api.types.is_datetime64_any_dtype,
    }[col.kind]
    if not kind_ok(series):
        raise SchemaError(f"{where}: column '{name}' should be {col.kind}, got {series.dtype}")
    if values.empty:
        return
    if col.min is not None and (values < col.min).any():
        raise SchemaError(f"{where}: column '{name}' has values below {col.min}")
    if col.max is not None and (values > col.max).any():
        raise SchemaError(f"{where}: column '{name}' has values above {col.max}")
    if col.values is not None:
        bad = set(values.astype(str).unique()) - set(col.values)
        if bad:
            raise SchemaError(f"{where}: column '{name}' has unexpected values {sorted(bad)[:5]}")


def validate(frame: pd.DataFrame, columns: tuple[Column, ...], where: str) -> None:
    """Raise :class:`SchemaError` unless ``frame`` matches ``columns`` exactly.

    >>> validate(pd.DataFrame({"a": [1]}), (Column("a", "int"),), "demo")
    """
    expected = [c.name for c in columns]
    if list(frame.columns) != expected:
        missing = [c for c in expected if c not in frame.columns]
        extra = [c for c in frame.columns if c not in expected]
        detail = f"missing {missing}" if missing else ""
        detail += (", " if detail and extra else "") + (f"unexpected {extra}" if extra else "")
        raise SchemaError(f"{where}: columns differ from the schema ({detail or 'order differs'})")
    for col in columns:
        _check_column(frame[col.name], col, where)
