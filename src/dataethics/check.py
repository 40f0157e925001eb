"""Type-strict checks that the assignments' tests use to compare a student's value with the truth.

This module owns one thing: deciding whether a value *is* what a test expects, and
saying why not in a sentence a student understands. It checks the **exact type**
first — a subclass of ``float`` that claims to equal everything is not a float, a
subclass of ``DataFrame`` is not a ``DataFrame`` — and only then the value, with
a tolerance for numbers. Values are compared with plain arithmetic on built-in
types, never with the student's own ``__eq__``.

Every check raises :class:`AssertionError` with a readable message, so a test
cell reads like ordinary ``assert`` code::

    from dataethics.check import check, check_type
    check(average_basket(toy), 20.0, name="average_basket(toy)",
          hint="leave out returned orders: (10 + 30) / 2 = 20")

>>> check(0.1 + 0.2, 0.3)
>>> class Liar(float):
...     def __eq__(self, other): return True
>>> check(Liar(1.0), 0.3, name="share")
Traceback (most recent call last):
...
AssertionError: share should be a number, but it is a Liar (a home-made type is not accepted).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["KINDS", "check", "check_type", "check_frame", "check_series", "is_kind", "plain"]

_FLOATS: tuple[type, ...] = (float, np.float64, np.float32, np.float16)
_INTS: tuple[type, ...] = (int, np.int64, np.int32, np.int16, np.int8,
                           np.uint64, np.uint32, np.uint16, np.uint8)
_BOOLS: tuple[type, ...] = (bool, np.bool_)
_STRS: tuple[type, ...] = (str, np.str_)

#: The exact types accepted for each kind of value a question may ask for.
KINDS: dict[str, tuple[type, ...]] = {
    "float": _FLOATS,
    "int": _INTS,
    "number": _FLOATS + _INTS,
    "bool": _BOOLS,
    "str": _STRS,
    "DataFrame": (pd.DataFrame,),
    "Series": (pd.Series,),
    "Index": (pd.Index, pd.RangeIndex, pd.DatetimeIndex),
    "ndarray": (np.ndarray,),
    "dict": (dict,),
    "list": (list,),
    "tuple": (tuple,),
    "set": (set, frozenset),
    "Timestamp": (pd.Timestamp,),
    "None": (type(None),),
}
_SCALARS = _FLOATS + _INTS + _BOOLS + _STRS + (type(None), pd.Timestamp, type(pd.NaT),
                                               type(pd.NA), pd.Timedelta, np.datetime64)
_NAMES = {float: "float", int: "int", bool: "bool", str: "str"}


def _kind_of(value: Any) -> str:
    """The kind name used in messages for an expected value."""
    t = type(value)
    if t in _BOOLS:
        return "bool"
    if t in _FLOATS + _INTS:
        return "number"
    for kind, types in KINDS.items():
        if t in types:
            return kind
    return t.__name__


def is_kind(value: Any, kind: str) -> bool:
    """True when ``value``'s exact type is one of ``KINDS[kind]`` (subclasses do not count).

    >>> is_kind(np.float64(2.5), "float"), is_kind(True, "int"), is_kind(3, "number")
    (True, False, True)
    """
    return type(value) in KINDS[kind]


def check_type(value: Any, kind: str | Sequence[str], name: str = "your answer", hint: str = "") -> None:
    """Fail unless ``value``'s exact type is of ``kind`` (a name of :data:`KINDS`, or several).

    >>> check_type(pd.Series([1]), "Series")
    >>> check_type([1], ("list", "tuple"))
    >>> check_type(1.5, "int", name="count")
    Traceback (most recent call last):
    ...
    AssertionError: count should be an int, but it is a float.
    """
    kinds = [kind] if isinstance(kind, str) else list(kind)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown kind(s) {unknown}; use one of {sorted(KINDS)}")
    if any(type(value) in KINDS[k] for k in kinds):
        return
    wanted = " or ".join(_article(k) for k in kinds)
    got = type(value).__name__
    home_made = not any(type(value) in types for types in KINDS.values()) and any(
        isinstance(value, t) for k in kinds for t in KINDS[k])
    note = " (a home-made type is not accepted)" if home_made else ""
    _fail(f"{name} should be {wanted}, but it is {_article(got)}{note}.", hint)


def _article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _fail(message: str, hint: str = "") -> None:
    raise AssertionError(message + (f" Hint: {hint}" if hint else ""))


def plain(value: Any, name: str = "your answer") -> Any:
    """Return ``value`` as a built-in Python value after checking its exact type.

    Numbers become ``float``/``int``, booleans ``bool``, text ``str``; other
    accepted scalars are returned unchanged. A test can then compute with the
    result (``0 <= plain(share) <= 1``) without calling the student's methods.

    >>> plain(np.float64(0.25)), plain(np.bool_(True))
    (0.25, True)
    """
    t = type(value)
    if t in _BOOLS:
        return bool(value)
    if t in _INTS:
        return int(value)
    if t in _FLOATS:
        return float(value)
    if t in _STRS:
        return str(value)
    if t in _SCALARS:
        return value
    _fail(f"{name} should be a plain value (number, text, true/false), but it is "
          f"{_article(t.__name__)} (a home-made type is not accepted).")
    return None  # pragma: no cover


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(atol, rtol * abs(b))


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (
        type(value) in _FLOATS and math.isnan(float(value)))


def _scalar_equal(got: Any, expected: Any, rtol: float, atol: float) -> bool:
    """Compare two already type-checked scalars."""
    if _is_missing(expected) or _is_missing(got):
        return _is_missing(expected) and _is_missing(got)
    if type(expected) in _BOOLS or type(got) in _BOOLS:
        return type(got) in _BOOLS and type(expected) in _BOOLS and bool(got) is bool(expected)
    if type(expected) in _FLOATS + _INTS:
        return type(got) in _FLOATS + _INTS and _close(float(got), float(expected), rtol, atol)
    if type(expected) in _STRS:
        return type(got) in _STRS and str(got) == str(expected)
    return bool(expected == got) and bool(got == expected)


def check(value: Any, expected: Any, name: str = "your answer", rtol: float = 1e-6,
          atol: float = 1e-9, hint: str = "", ordered: bool = True) -> None:
    """Fail with a readable message unless ``value`` is ``expected`` (type first, then value).

    Numbers (Python's or NumPy's, not subclasses) compare within ``rtol``/``atol``
    and NaN equals NaN; ``bool`` and ``numpy.bool_`` are interchangeable; a list
    and a tuple are interchangeable; dictionaries, lists, Series and DataFrames are
    compared element by element. With ``ordered=False`` a list may be in any order.

    >>> check({"a": 1.0, "b": [1, 2]}, {"a": 1, "b": (1, 2)})
    >>> check([3, 1, 2], [1, 2, 3], ordered=False)
    >>> check(0.25, 0.5, name="rate", hint="count customers, not orders")
    Traceback (most recent call last):
    ...
    AssertionError: rate is 0.25, expected 0.5. Hint: count customers, not orders
    """
    t = type(expected)
    if t in _BOOLS:
        check_type(value, "bool", name, hint)
    elif t in _FLOATS + _INTS:
        check_type(value, "number", name, hint)
    elif t in _STRS:
        check_type(value, "str", name, hint)
    elif t is pd.DataFrame:
        check_frame(value, expected, name, rtol, atol, hint)
        return
    elif t is pd.Series:
        check_series(value, expected, name, rtol, atol, hint)
        return
    elif t is np.ndarray:
        check_type(value, "ndarray", name, hint)
        _check_values(np.asarray(value).ravel().tolist(), expected.ravel().tolist(), name,
                      rtol, atol, hint, shape=(value.shape, expected.shape))
        return
    elif isinstance(expected, Mapping):
        check_type(value, "dict", name, hint)
        if set(map(_key, value)) != set(map(_key, expected)):
            _fail(f"{name} should have the keys {sorted(map(str, expected))}, but has "
                  f"{sorted(map(str, value))}.", hint)
        by_key = {_key(k): v for k, v in value.items()}
        for k, v in expected.items():
            check(by_key[_key(k)], v, f"{name}[{k!r}]", rtol, atol, hint, ordered)
        return
    elif t in (list, tuple, set, frozenset):
        check_type(value, ("list", "tuple", "set") if t in (set, frozenset) else ("list", "tuple"),
                   name, hint)
        got, exp = list(value), list(expected)
        if not ordered or t in (set, frozenset):
            got, exp = sorted(got, key=_sort_key), sorted(exp, key=_sort_key)
        if len(got) != len(exp):
            _fail(f"{name} should have {len(exp)} items, but has {len(got)}.", hint)
        for i, (g, e) in enumerate(zip(got, exp, strict=True)):
            check(g, e, f"{name}[{i}]", rtol, atol, hint, ordered)
        return
    else:
        check_type(value, _kind_of(expected) if _kind_of(expected) in KINDS else "number", name, hint)
    if not _scalar_equal(value, expected, rtol, atol):
        _fail(f"{name} is {plain(value, name)!r}, expected {plain(expected, 'expected')!r}.", hint)


def _key(k: Any) -> Any:
    plain(k, "a key")
    return plain(k)


def _sort_key(item: Any) -> tuple[str, str]:
    return (type(plain(item)).__name__, repr(plain(item)))


def _check_values(got: list, expected: list, name: str, rtol: float, atol: float, hint: str,
                  shape: tuple | None = None, labels: list | None = None) -> None:
    if shape is not None and shape[0] != shape[1]:
        _fail(f"{name} has shape {shape[0]}, expected {shape[1]}.", hint)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        g_plain = plain(g, f"an element of {name}")
        if not _scalar_equal(g_plain, plain(e), rtol, atol):
            where = labels[i] if labels is not None else i
            _fail(f"{name} at {where!r} is {g_plain!r}, expected {plain(e)!r}.", hint)


def _same_labels(got: list, expected: list) -> bool:
    """Labels agree one by one: numbers by value (2 is 2.0), text exactly, tuples part by part."""
    if len(got) != len(expected):
        return False
    for g, e in zip(got, expected, strict=True):
        if type(g) is tuple or type(e) is tuple:
            if not (type(g) is tuple and type(e) is tuple and _same_labels(list(g), list(e))):
                return False
        elif not _scalar_equal(g, e, 0.0, 0.0):
            return False
    return True


def _labels(index: pd.Index, name: str) -> list:
    return [tuple(plain(x, f"a label of {name}") for x in lab) if type(lab) is tuple
            else plain(lab, f"a label of {name}") for lab in index.tolist()]


def check_series(value: Any, expected: pd.Series, name: str = "your answer", rtol: float = 1e-6,
                 atol: float = 1e-9, hint: str = "", check_index: bool = True) -> None:
    """Fail unless ``value`` is a ``pd.Series`` with ``expected``'s labels (in order) and values.

    >>> check_series(pd.Series([1.0, 2.0], index=["a", "b"]), pd.Series([1, 2], index=["a", "b"]))
    >>> check_series(pd.Series([5.0], index=[2]), pd.Series([5.0], index=[2.0]))
    >>> check_series(pd.Series([2.0, 1.0], index=["b", "a"]), pd.Series([1, 2], index=["a", "b"]),
    ...              name="revenue")
    Traceback (most recent call last):
    ...
    AssertionError: revenue should have the labels ['a', 'b'] in this order, but has ['b', 'a'].
    """
    check_type(value, "Series", name, hint)
    if len(value) != len(expected):
        _fail(f"{name} should have {len(expected)} rows, but has {len(value)}.", hint)
    if check_index:
        got, exp = _labels(value.index, name), _labels(expected.index, "expected")
        if not _same_labels(got, exp):
            _fail(f"{name} should have the labels {_short(exp)} in this order, but has {_short(got)}.",
                  hint)
    _check_values(value.tolist(), expected.tolist(), name, rtol, atol, hint,
                  labels=expected.index.tolist())


def check_frame(value: Any, expected: pd.DataFrame, name: str = "your answer", rtol: float = 1e-6,
                atol: float = 1e-9, hint: str = "", check_index: bool = True) -> None:
    """Fail unless ``value`` is a ``pd.DataFrame`` with ``expected``'s columns, rows and values.

    Columns must match by name and order; rows by label (unless ``check_index`` is
    false, when only their order counts). Dtypes are not compared (``bool`` and
    pandas' nullable ``boolean`` are both true/false).

    >>> check_frame(pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [1.0]}))
    >>> check_frame(pd.DataFrame({"b": [1]}), pd.DataFrame({"a": [1]}), name="table")
    Traceback (most recent call last):
    ...
    AssertionError: table should have the columns ['a'], but has ['b'].
    """
    check_type(value, "DataFrame", name, hint)
    got_cols, exp_cols = [str(c) for c in value.columns], [str(c) for c in expected.columns]
    if got_cols != exp_cols:
        _fail(f"{name} should have the columns {exp_cols}, but has {got_cols}.", hint)
    if len(value) != len(expected):
        _fail(f"{name} should have {len(expected)} rows, but has {len(value)}.", hint)
    if check_index:
        got, exp = _labels(value.index, name), _labels(expected.index, "expected")
        if not _same_labels(got, exp):
            _fail(f"{name} should have the row labels {_short(exp)}, but has {_short(got)}.", hint)
    for col_got, col_exp in zip(value.columns, expected.columns, strict=True):
        check_series(value[col_got].reset_index(drop=True), expected[col_exp].reset_index(drop=True),
                     f"{name}[{str(col_exp)!r}]", rtol, atol, hint)


def _short(items: list, n: int = 8) -> str:
    return str(items) if len(items) <= n else str(items[:n])[:-1] + f", … ({len(items)} in all)]"
