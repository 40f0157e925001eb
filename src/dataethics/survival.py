"""Survival analysis for device lifetimes: the Kaplan–Meier estimator with pandas.

A lifetime is *censored* when the device is still in use at the end of
observation: we know it lasted at least that long. Kaplan–Meier uses
censored lifetimes without pretending they ended.

>>> km = kaplan_meier([2, 3, 3, 5], [True, True, False, True])
>>> km["survival"].round(3).tolist()
[0.75, 0.5, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def kaplan_meier(durations: Sequence[float] | pd.Series,
                 events: Sequence[bool] | pd.Series) -> pd.DataFrame:
    """Kaplan–Meier estimate of the survival function.

    Returns one row per distinct time at which at least one event happened,
    indexed by that time, with the number at risk just before it, the number
    of events, and the estimated probability of surviving beyond it.
    Censored lifetimes count as at risk up to and including their time.
    """
    frame = pd.DataFrame({"t": np.asarray(durations, dtype=float),
                          "e": np.asarray(events, dtype=bool)})
    if frame["t"].isna().any() or (frame["t"] < 0).any():
        raise ValueError("durations must be non-negative numbers")
    if frame.empty:
        return pd.DataFrame({"at_risk": [], "events": [], "survival": []},
                            index=pd.Index([], name="time"))
    counts = frame.groupby("t")["e"].agg(events="sum", total="size").sort_index()
    at_risk = counts["total"][::-1].cumsum()[::-1]
    table = pd.DataFrame({"at_risk": at_risk.astype("int64"), "events": counts["events"].astype("int64")})
    table = table[table["events"] > 0]
    table["survival"] = (1 - table["events"] / table["at_risk"]).cumprod()
    table.index.name = "time"
    return table


def median_survival(table: pd.DataFrame) -> float:
    """First time at which the survival estimate drops to 0.5 or below (NaN if it never does).

    >>> median_survival(kaplan_meier([1, 2, 3, 4], [True] * 4))
    2.0
    """
    below = table.index[table["survival"] <= 0.5]
    return float(below[0]) if len(below) else float("nan")
