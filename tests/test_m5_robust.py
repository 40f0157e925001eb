"""Module 5: the planted shocks, the hidden truth, the checklist audit, and the module's shared formats."""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient

from dataethics import checklist, paths
from dataethics.data import get, load, load_labels
from dataethics.data.robust import CHANNELS, adstock, event_mask, saturation
from dataethics.notebooks import stored_text

ROOT = paths.repo_root()


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return load("robust_weekly").merge(load_labels("robust_weekly"), on="row_id")


def _per_euro(frame: pd.DataFrame, col: str) -> float:
    return float(frame[col].sum() / frame["spend_eur"].sum())


def test_platforms_claim_more_than_the_firm_sees(panel: pd.DataFrame) -> None:
    by = panel.groupby("channel", observed=True)[["platform_revenue_eur", "own_revenue_eur"]].sum()
    ratio = by["platform_revenue_eur"] / by["own_revenue_eur"]
    assert (ratio > 1.2).all() and ratio["video_ads"] == ratio.max()


def test_each_shock_shows_in_the_data(panel: pd.DataFrame) -> None:
    video = panel[panel["channel"] == "video_ads"]
    assert _per_euro(video[video["bot_wave"]], "clicks") > 2.5 * _per_euro(
        video[~video["bot_wave"] & ~video["crisis"]], "clicks")
    social = panel[panel["channel"] == "social_ads"]
    after, before = social[social["algorithm_change"]], social[social["week"].dt.year == 2020]
    assert _per_euro(after, "impressions") == pytest.approx(0.5 * _per_euro(before, "impressions"), rel=0.1)
    events = panel[(panel["channel"] == "events") & panel["crisis"]]
    assert events["own_revenue_eur"].sum() == 0
    email = panel[panel["channel"] == "email"]
    assert email.loc[email["crisis"], "true_revenue_eur"].mean() > email.loc[
        ~email["crisis"] & (email["week"].dt.year == 2020), "true_revenue_eur"].mean()


def test_the_truth_is_the_curve_that_generated_the_data(panel: pd.DataFrame) -> None:
    for c in CHANNELS:
        rows = panel[(panel["channel"] == c) & ~panel["crisis"] & ~panel["algorithm_change"]
                     & ~panel["bot_wave"] & ~panel["cpm_spike"] & (panel["week"].dt.year == 2019)]
        d, h, v = rows[["true_decay", "true_half_eur", "true_vmax_eur"]].iloc[0]
        stock = adstock(panel.loc[panel["channel"] == c, "spend_eur"].to_numpy(), d)[: len(rows)]
        ratio = rows["true_revenue_eur"].to_numpy() / saturation(stock, v, h)
        assert np.exp(np.abs(np.log(ratio))).max() < 1.25, c  # 5 % noise only


def test_other_seeds_draw_other_truths_and_no_label_leaks() -> None:
    ds = get("robust_weekly")
    a = ds.builder(ds.rows, np.random.default_rng(1), 0)
    b = ds.builder(ds.rows, np.random.default_rng(2), 0)
    assert not np.allclose(a.groupby("channel", observed=True)["true_half_eur"].first(),
                           b.groupby("channel", observed=True)["true_half_eur"].first())
    student = pd.read_csv(ROOT / "assignments" / "source" / "ps05" / "data" / "robust_weekly.csv")
    assert not {c.name for c in ds.labels} & set(student.columns)
    assert event_mask("crisis").sum() == 12


def test_checklist_audit_needs_every_item_and_keeps_old_api() -> None:
    assert [i.code for i in checklist.items_for("m5")] == ["C2", "E1", "E2", "F1"]
    assert len(checklist.as_frame()) == len(checklist.CHECKLIST)
    answers = {i.code: ("ok", "checked on the data") for i in checklist.CHECKLIST}
    report = checklist.audit(answers)
    assert list(report.columns) == ["stage", "question", "status", "evidence"]
    assert list(report.index) == [i.code for i in checklist.CHECKLIST]
    for bad, message in [({**answers, "Z9": ("ok", "x")}, "unknown"),
                         ({**answers, "B1": ("fine", "x")}, "not one of"),
                         ({**answers, "B1": ("issue", "  ")}, "evidence"),
                         ({**answers, "B1": "issue"}, "pair"),
                         ({k: v for k, v in answers.items() if k != "F1"}, "skips F1")]:
        with pytest.raises(ValueError, match=message):
            checklist.audit(bad)


# --- the shared formats (objectives map, key figures, datasheet figures) for this module ---

def _table(text: str, heading: str) -> list[list[str]]:
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in section.splitlines()
            if ln.startswith("|")]
    return [r for r in rows[2:] if r]


def _matches(got: object, written: str) -> bool:
    decimals = len(written.split(".")[1]) if "." in written else 0
    return math.isclose(round(float(got), decimals), float(written), abs_tol=10 ** -decimals / 2)


@pytest.mark.parametrize("name", ["robust_weekly", "robust_sales"])
def test_datasheet_figures_match_the_data(name: str) -> None:
    text = (ROOT / "datasets" / "datasheets" / f"{name}.md").read_text(encoding="utf-8")
    rows = _table(text, "## Figures checked against the data")
    df = load(name)
    assert rows[0][1] == "`len(df)`"
    for figure, expr, value in rows:
        assert _matches(eval(expr.strip("`"), {"df": df, "pd": pd, "np": np}), value), figure


ASSIGNMENTS = {"ps05": "05-robust-marketing.ipynb"}


@pytest.mark.parametrize("assignment", sorted(ASSIGNMENTS))
def test_objectives_map_to_graded_items(assignment: str) -> None:
    lesson = nbformat.read(ROOT / "course" / ASSIGNMENTS[assignment], as_version=4)
    box = next(c.source for c in lesson.cells if "Learning objectives" in c.source)
    objectives = re.findall(r"\*\*(O\d)\*\*", box)
    notes = (ROOT / "assignments" / "instructor" / f"{assignment}.md").read_text(encoding="utf-8")
    rows = _table(notes, "## Objectives → graded items")
    assert [r[0].split()[0] for r in rows] == objectives == [f"O{i}" for i in range(1, len(rows) + 1)]
    nb = nbformat.read(ROOT / "assignments" / "source" / assignment / f"{assignment}.ipynb", 4)
    graded = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("points", 0) > 0}
    mapped = {gid for r in rows for gid in re.findall(r"`([^`]+)`", r[1])}
    assert mapped <= graded and graded <= mapped, (graded - mapped, mapped - graded)


@pytest.mark.parametrize("assignment", sorted(ASSIGNMENTS))
def test_key_figures_are_recomputed_from_the_solution(assignment: str, tmp_path: Path) -> None:
    folder = ROOT / "assignments" / "source" / assignment
    notes = (ROOT / "assignments" / "instructor" / f"{assignment}.md").read_text(encoding="utf-8")
    rows = _table(notes, "## Key figures (recomputed by the tests)")
    nb = nbformat.read(folder / f"{assignment}.ipynb", as_version=4)
    probe = "import json as _j\nprint(_j.dumps([float(" + "), float(".join(
        r[1].strip("`") for r in rows) + ")]))"
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    import json

    values = json.loads(nb.cells[-1].outputs[0]["text"])
    for (figure, _, written), got in zip(rows, values, strict=True):
        assert _matches(got, written), f"{figure}: notes say {written}, solution gives {got}"
        assert written in notes.split("## Key figures")[0] + notes.split("## Answer key")[1], \
            f"{figure}: the notes' prose should quote {written}"


# --- what a student reads in ps05 agrees with the lesson ---

def _ps05() -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "assignments" / "source" / "ps05" / "ps05.ipynb", as_version=4)


def _cell(nb: nbformat.NotebookNode, grade_id: str) -> str:
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def test_ps05_ships_and_links_the_datasheet_of_every_table() -> None:
    data = ROOT / "assignments" / "source" / "ps05" / "data"
    intro = _cell(_ps05(), "intro")
    for ds in (get("robust_weekly"), get("robust_sales")):
        assert (data / ds.filename).is_file() and (data / f"{ds.name}.md").is_file(), ds.name
        assert f"](data/{ds.name}.md)" in intro, f"the introduction should link data/{ds.name}.md"


def test_ps05_stress_figures_are_the_lessons() -> None:
    """The assignment draws the lesson's scenarios, so its key figures equal the lesson's output."""
    lesson = nbformat.read(ROOT / "course" / ASSIGNMENTS["ps05"], as_version=4)
    cell = next(c for c in lesson.cells
                if c.cell_type == "code" and "results[name], outcomes[name]" in c.source)
    text = cell.outputs[-1]["data"]["text/plain"]
    printed = {row.split()[0]: [float(v) for v in row.split()[1:]] for row in text.splitlines()[1:]}
    notes = (ROOT / "assignments" / "instructor" / "ps05.md").read_text(encoding="utf-8")
    figures = {r[0]: float(r[2]) for r in _table(notes, "## Key figures (recomputed by the tests)")}
    assert printed["mean"] == [figures["naive plan: mean contribution"],
                               figures["robust plan: mean contribution"]]
    assert printed["cvar"] == [figures["naive plan: CVaR 5 %"], figures["robust plan: CVaR 5 %"]]


def test_ps05_q3_says_which_keys_and_how_to_fit_without_the_lessons_imports() -> None:
    nb = _ps05()
    text, setup = _cell(nb, "q3-text"), _cell(nb, "setup")
    assert "sklearn" not in setup and "LinearRegression" in text and "sum(x * y) / sum(x * x)" in text
    assert "exactly three keys" in text and "r2" in text and "r2" in _cell(nb, "q3-tests")


def _lesson_text() -> tuple[str, str]:
    """(markdown with white space collapsed, stored text outputs) of lesson 5."""
    md, _, out = stored_text(ROOT / "course" / ASSIGNMENTS["ps05"])
    return md, out


def _grab(pattern: str, out: str) -> list[float]:
    found = re.search(pattern, out)
    assert found, f"no stored output matches {pattern!r}"
    return [float(g.replace(",", "")) for g in found.groups()]


def test_lesson_sentences_quote_the_figures_its_outputs_print() -> None:
    md, out = _lesson_text()
    mean_o, mean_r = _grab(r"\nmean\s+(-?[\d.]+)\s+(-?[\d.]+)\ncvar", out)
    cvar_o, cvar_r = _grab(r"\ncvar\s+(-?[\d.]+)\s+(-?[\d.]+)", out)
    assert f"(€{mean_o:,.0f} against €{mean_r:,.0f})" in md
    assert f"*loses* €{-cvar_o:,.0f} a week, while the robust plan still earns €{cvar_r:,.0f}" in md
    calm_o, calm_r = _grab(r"no shock, fitted curves\s+([\d.]+)\s+([\d.]+)", out)
    assert f"costs €{calm_o - calm_r:,.0f} a week when nothing goes wrong" in md
    assert f"€{mean_o - mean_r:,.0f} on average" in md and f"€{cvar_r - cvar_o:,.0f} better" in md
    bots = re.findall(r"2021-0[5-8]-\d\d\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out)
    assert [b[1] for b in bots][-1] == "1.81" and "sinks to 1.81 in mid-August" in md
    assert f"climbs from {bots[0][3]} to {bots[-1][3]}" in md
    peak, own = _grab(r"highest platform ROAS: ([\d.]+) \(own ROAS ([\d.]+)\)", out)
    assert f"a platform ROAS of {peak} and an own ROAS of {own}" in md
    (clicks,) = _grab(r"clicks per euro, October-December 2021: ([\d.]+)", out)
    assert f"fall to {clicks:.2f}" in md
    low, high = _grab(r"spring 2020 lockdown: €([\d,]+) to €([\d,]+)", out)
    assert f"€{low:,.0f} to €{high:,.0f} a week" in md
    tight_mean, tight_cvar = _grab(r"cap 20 %\nmean\s+[\d.]+\s+([\d.]+)\ncvar\s+[\d.]+\s+(-?[\d.]+)", out)
    assert f"to €{tight_mean:,.0f} and the CVaR 5 % from €{cvar_r:,.0f} to €{tight_cvar:,.0f}" in md
    q1, q2 = _grab(r"2021-01-01\s+([\d.]+)\n2021-04-01\s+([\d.]+)", out)
    assert f"fell to {q1:.0f} in the first quarter of 2021 and to {q2:.0f} in the second" in md
