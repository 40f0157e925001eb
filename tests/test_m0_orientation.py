"""Lesson 0: the sentences that quote numbers agree with the stored outputs above them."""

from __future__ import annotations

import re

from dataethics import paths
from dataethics.notebooks import stored_text


def lesson_text(name: str) -> tuple[str, str]:
    """(markdown with white space collapsed, stored text outputs) of a lesson notebook."""
    md, _, out = stored_text(paths.course_dir() / name)
    return md, out


def test_monthly_swings_are_quoted_from_the_output() -> None:
    md, out = lesson_text("00-orientation.ipynb")
    average = re.search(r"average month: ([\d,]+) EUR", out)
    low = re.search(r"lowest month:\s+2025-05, ([\d,]+) EUR \(-(\d+)%", out)
    high = re.search(r"highest month:\s+2025-06, ([\d,]+) EUR \(\+(\d+)%", out)
    assert average and low and high, "the monthly figures are not in the stored outputs"
    assert (f"from {low[1]} euros in May to {high[1]} euros in June, {low[2]} % below and {high[2]} % "
            f"above the average month ({average[1]} euros)") in md
    assert "revenue looks steady" not in md


def test_empty_mean_and_full_checklist_are_shown() -> None:
    md, out = lesson_text("00-orientation.ipynb")
    assert "orders kept: 0; their mean basket: nan" in out
    assert "Which decision will these data change? Write it down before collecting." in out
    assert "Write i..." not in out
    assert "ps06-audit" in md


def test_channel_shares_are_quoted_from_the_output() -> None:
    md, out = lesson_text("00-orientation.ipynb")
    table = re.search(r"^web\s+[\d.]+\s+([\d.]+)$.*^marketplace\s+[\d.]+\s+([\d.]+)$", out, re.M | re.S)
    assert table, "the revenue shares by channel are not in the stored outputs"
    web, marketplace = float(table[1]), float(table[2])
    assert web < 0.5, "the sentence says the web is not a majority"
    assert f"largest share of revenue, {web:.1%} — less than half".replace("%", " %") in md
    assert f"brings the least, {marketplace:.1%}".replace("%", " %") in md
    assert "most of the money" not in md


def test_summary_says_assignments_are_partly_graded_by_hand() -> None:
    md, _ = lesson_text("00-orientation.ipynb")
    assert "noté en partie automatiquement" in md and "devoir noté automatiquement" not in md
