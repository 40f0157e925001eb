"""The type-strict checks the assignments' tests use: home-made look-alikes never pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dataethics.check import check, check_frame, check_series, check_type, plain


class AlwaysEqual(float):
    """A float that claims to equal everything."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = float.__hash__


class Everything:
    """An object equal to anything, of any length."""

    def __eq__(self, other: object) -> bool:
        return True

    def __float__(self) -> float:
        return 0.0


class FrameLike(pd.DataFrame):
    """A DataFrame subclass."""


@pytest.mark.parametrize("liar", [AlwaysEqual(0.0), Everything(), np.array([1.0]), "0.5"])
def test_a_look_alike_is_not_a_number(liar: object) -> None:
    with pytest.raises(AssertionError, match="should be a number"):
        check(liar, 0.5, name="share")


def test_numbers_of_numpy_and_python_compare_by_value() -> None:
    check(np.float64(0.1) + 0.2, 0.3)
    check(np.int64(3), 3.0)
    check(np.bool_(True), True)
    with pytest.raises(AssertionError, match="should be a bool"):
        check(1, True)
    with pytest.raises(AssertionError, match=r"is 0\.31, expected 0\.3"):
        check(0.31, 0.3)
    check(float("nan"), float("nan"))


def test_containers_are_checked_element_by_element() -> None:
    with pytest.raises(AssertionError, match="home-made"):
        check({"a": AlwaysEqual(1.0)}, {"a": 2.0})
    with pytest.raises(AssertionError, match=r"\[0\] should be a number"):
        check([Everything()], [1.0])
    with pytest.raises(AssertionError, match="should have the keys"):
        check({"a": 1}, {"b": 1})
    check((1, 2), [1, 2])


def test_frames_and_series_must_be_the_real_types() -> None:
    expected = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(AssertionError, match="should be a DataFrame"):
        check_frame(FrameLike({"a": [1.0, 2.0]}), expected)
    with pytest.raises(AssertionError, match="home-made"):
        check_series(pd.Series([AlwaysEqual(9.0)], dtype=object), pd.Series([1.0]))
    check_series(pd.Series([True, pd.NA], dtype="boolean"), pd.Series([True, pd.NA], dtype=object))
    with pytest.raises(AssertionError, match="labels"):
        check_series(pd.Series([1.0], index=["x"]), pd.Series([1.0], index=["y"]))
    check_series(pd.Series([5.0], index=[2]), pd.Series([5.0], index=[2.0]))


def test_messages_carry_the_hint_and_unknown_kinds_are_refused() -> None:
    with pytest.raises(AssertionError, match="Hint: use float"):
        check_type("1", "float", hint="use float")
    with pytest.raises(ValueError, match="unknown kind"):
        check_type(1, "number-ish")
    assert plain(np.float32(0.5)) == 0.5 and type(plain(np.float32(0.5))) is float
