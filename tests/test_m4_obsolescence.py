"""Module 4: the Kaplan–Meier implementation against a reference, and the planted phenomena."""

from __future__ import annotations

import re

import nbformat
import numpy as np
import pandas as pd
import pytest

from dataethics import paths
from dataethics.data import load, load_labels
from dataethics.survival import kaplan_meier, median_survival


def reference_km(durations: list[float], events: list[bool]) -> list[tuple[float, int, int, float]]:
    """Textbook Kaplan–Meier, written as a plain loop (independent of the pandas version)."""
    rows, surv = [], 1.0
    for t in sorted({d for d, e in zip(durations, events, strict=True) if e}):
        n = sum(d >= t for d in durations)
        d_t = sum(1 for d, e in zip(durations, events, strict=True) if e and d == t)
        surv *= 1 - d_t / n
        rows.append((t, n, d_t, surv))
    return rows


@pytest.mark.parametrize("seed", range(5))
def test_kaplan_meier_matches_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d = rng.integers(0, 20, 60).astype(float).tolist()
    e = (rng.random(60) < 0.6).tolist()
    got = kaplan_meier(d, e)
    ref = reference_km(d, e)
    assert list(got.index) == [r[0] for r in ref]
    assert list(got["at_risk"]) == [r[1] for r in ref]
    assert list(got["events"]) == [r[2] for r in ref]
    assert np.allclose(got["survival"], [r[3] for r in ref])


def test_kaplan_meier_edge_cases() -> None:
    assert kaplan_meier([], []).empty
    no_events = kaplan_meier([1, 2], [False, False])
    assert no_events.empty and np.isnan(median_survival(no_events))
    with pytest.raises(ValueError):
        kaplan_meier([-1], [True])


def test_replacement_jumps_after_support_end() -> None:
    d = load("obsolescence_devices").merge(load("obsolescence_models"), on="model")
    end = d["replaced_date"].fillna(pd.Timestamp("2026-06-30"))
    w = pd.Timedelta(days=180)

    def share(start: pd.Series) -> float:
        in_use = (d["purchase_date"] < start) & (end >= start)
        return float((in_use & d["replaced_date"].between(start, start + w, inclusive="left")).sum()
                     / in_use.sum())

    assert share(d["support_end"]) > 1.8 * share(d["support_end"] - w)


def test_pushed_pragmatic_customers_leave() -> None:
    d = load("obsolescence_devices").merge(load_labels("obsolescence_devices"), on="device_id")
    prag = d[d["segment"] == "pragmatic"]
    pushed = prag["stated_reason"].isin(["slow", "no_updates"])
    left = prag["next_device"].isin(["competitor_new", "refurbished"])
    assert left[pushed].mean() > left[~pushed & prag["replaced_date"].notna()].mean() + 0.2
    assert d["replaced_date"].isna().mean() == pytest.approx(0.118, abs=0.01)


def test_battery_readings_stop_at_replacement() -> None:
    b = load("obsolescence_battery").merge(load("obsolescence_devices"), on="device_id")
    ended = b["replaced_date"].notna()
    assert (b.loc[ended, "month"] <= b.loc[ended, "replaced_date"]).all()
    assert b.groupby("age_months")["battery_health_pct"].mean().is_monotonic_decreasing


def test_battery_ships_with_the_assignment_that_the_lesson_prepares() -> None:
    from dataethics.data import get

    assert "ps04" in get("obsolescence_battery").assignments


def _lesson() -> tuple[str, str, str]:
    """(English markdown, En bref paragraph, stored outputs) of lesson 4."""
    nb = nbformat.read(paths.course_dir() / "04-planned-obsolescence.ipynb", as_version=4)
    md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    bref = next(s for s in md if s.startswith("## En bref"))
    out = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                    for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    return "\n".join(s for s in md if s is not bref), bref, out


def test_lesson_teaches_the_current_offence() -> None:
    md, bref, _ = _lesson()
    assert "crime" not in md.lower() and "crime" not in bref.lower()
    assert "délit" in md and "délit" in bref
    assert "L454-6" in md and "2021-1485" in md and "including software" in md
    assert "2023/1669" in md and "20 June 2025" in md


def test_en_bref_figures_are_the_lessons() -> None:
    _, bref, out = _lesson()
    km = re.search(r"median lifetime \(Kaplan-Meier\): ([\d.]+) months", out).group(1)
    naive = re.search(r"naive median lifetime, replaced phones only: ([\d.]+) months", out).group(1)
    leave = re.search(r"pushed\s+([\d.]+)\nother replaced phones\s+([\d.]+)", out)
    saving = re.search(r"lowers the footprint per year by (\d+)%", out).group(1)
    assert f"{km.replace('.', ',')} mois" in bref and f"{naive.replace('.', ',')} mois" in bref
    assert f"({round(float(leave.group(1)) * 100)} % contre {round(float(leave.group(2)) * 100)} %)" in bref
    assert f"de {saving} %" in bref


def test_slowing_update_sentences_match_the_counts() -> None:
    md, bref, out = _lesson()
    before = int(re.search(r"replaced in the 6 months before the update\s+(\d+)", out).group(1))
    after = int(re.search(r"replaced in the 6 months after\s+(\d+)", out).group(1))
    rise = int(re.search(r"replacements after the update vs before: \+(\d+)%", out).group(1))
    assert rise == round((after / before - 1) * 100)
    assert f"rise by {rise} %" in md and f"({after} phones against {before})" in md
    assert f"augmente de {rise} %" in bref
