"""Capstone (ps06-audit): the campaign's planted problems, its hidden truth and its identities."""

from __future__ import annotations

import ipaddress
import re

import nbformat
import numpy as np
import pandas as pd
import pytest

from dataethics import checklist, paths
from dataethics.data import get, load, load_labels
from dataethics.data.audit import IMPORT_AT, SNAPSHOT, TEST_PANS, _luhn_ok

ROOT = paths.repo_root()
NOTEBOOK = ROOT / "assignments" / "source" / "ps06-audit" / "ps06-audit.ipynb"
DOCUMENTATION = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]


def is_full_card(digits: str) -> bool:
    """13 to 19 digits passing the Luhn check (the rule question 2 states)."""
    return bool(re.fullmatch(r"\d{13,19}", digits)) and _luhn_ok(digits)


@pytest.fixture(scope="module")
def contacts() -> pd.DataFrame:
    return load("audit_contacts").merge(load_labels("audit_contacts"), on="contact_id")


def test_identities_are_fictitious(contacts: pd.DataFrame) -> None:
    assert contacts["email"].str.fullmatch(r"buyer\d{5}@example\.com").all()
    assert all(any(ipaddress.ip_address(ip) in net for net in DOCUMENTATION)
               for ip in contacts["signup_ip"])
    digits = contacts["stored_card"].dropna().str.replace(r"[ -]", "", regex=True)
    full = digits[digits.map(is_full_card)]
    assert len(full) and set(full) <= set(TEST_PANS), "only the networks' published test numbers"


def test_truth_follows_the_rules_the_assignment_states(contacts: pd.DataFrame) -> None:
    own = contacts["source"].isin(["web_form", "checkout_box"])
    proven = contacts["confirmed_at"].notna() & (contacts["confirmed_at"] <= SNAPSHOT)
    withdrawn = contacts["withdrawn_at"].notna() & (contacts["withdrawn_at"] <= SNAPSHOT)
    assert (contacts["mailable"] == (own & proven & ~withdrawn)).all()
    digits = contacts["stored_card"].fillna("").str.replace(r"[ -]", "", regex=True)
    assert (contacts["card_in_clear"] == digits.map(is_full_card)).all()
    # the traps a careless count falls into are present: masked, last four, mistyped numbers
    stored = contacts["stored_card"].dropna()
    assert stored.str.startswith("****").any() and stored.str.fullmatch(r"\d{4}").any()
    assert (digits.str.fullmatch(r"\d{13,19}") & ~digits.map(is_full_card)).any()


def test_the_bought_list_shows_its_provenance(contacts: pd.DataFrame) -> None:
    bought = contacts[contacts["source"] == "bought_list"]
    assert 0.2 < len(bought) / len(contacts) < 0.3
    assert bought["optin_at"].between(IMPORT_AT, IMPORT_AT + pd.Timedelta(minutes=3)).all()
    assert bought["signup_ip"].str.startswith("192.0.2.").all() and bought["confirmed_at"].isna().all()
    assert not contacts.loc[contacts["source"] != "bought_list", "signup_ip"].str.startswith("192.0.2.").any()
    # some withdrawals fall between sign-up and the audit, none after it
    assert contacts["withdrawn_at"].notna().any() and (contacts["withdrawn_at"].dropna() < SNAPSHOT).all()


def test_bursts_and_fees() -> None:
    panel = load("audit_influencers").merge(load_labels("audit_influencers"), on="row_id")
    panel = panel.sort_values(["account", "date"])
    gain = panel.groupby("account")["followers"].diff()
    assert (gain[panel["bought_burst"]] > 10_000).all()
    assert gain[~panel["bought_burst"]].max() < 1_000
    assert (panel["fee_eur"] > 0).sum() == (panel["sponsored_posts"] > 0).sum()
    assert (panel.loc[panel["fee_eur"] > 0, "date"] >= pd.Timestamp("2026-07-01")).all()
    # engagement per follower drops after a burst
    for account, rows in panel.groupby("account"):
        if rows["bought_burst"].any():
            first = rows.loc[rows["bought_burst"], "date"].min()
            rate = rows["likes"] / rows["posts"].replace(0, np.nan) / rows["followers"]
            assert rate[rows["date"] > first].mean() < 0.9 * rate[rows["date"] < first].mean(), account


def test_the_budget_is_a_bet_on_one_platform_and_claims_exceed_own_revenue() -> None:
    weekly = load("audit_weekly").merge(load_labels("audit_weekly"), on="row_id")
    spend = weekly.groupby("channel", observed=True)["spend_eur"].sum()
    assert spend.idxmax() == "social_ads" and spend.max() / spend.sum() > 0.45
    sums = weekly.groupby("channel", observed=True)[["platform_revenue_eur", "own_revenue_eur"]].sum()
    over = sums["platform_revenue_eur"] / sums["own_revenue_eur"]
    assert over["shops"] == pytest.approx(1.0) and over.drop("shops").min() > 1.05
    video = weekly[weekly["channel"] == "video_ads"].reset_index(drop=True)
    share = video["invalid_clicks"] / video["clicks"]
    assert share[14:20].min() > 3 * share[:14].max()


def test_other_seeds_draw_other_campaigns_with_the_same_story() -> None:
    for name in ("audit_contacts", "audit_influencers", "audit_weekly"):
        ds = get(name)
        a = ds.builder(ds.rows, np.random.default_rng(1), 0)
        b = ds.builder(ds.rows, np.random.default_rng(2), 0)
        assert len(a) == len(b) == ds.rows and not a.equals(b), name
        assert list(a.columns) == ds.column_names + [c.name for c in ds.labels], name
    ds = get("audit_influencers")
    for seed in range(5):
        full = ds.builder(ds.rows, np.random.default_rng(seed), 0)
        assert full.loc[full["bought_burst"], "account"].nunique() == 3


def test_the_capstone_runs_the_whole_checklist_and_grades_a_report() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    auto = sum(m.get("points", 0) for m, c in zip(meta, nb.cells, strict=True)
               if m.get("grade") and c.cell_type == "code")
    manual = sum(m.get("points", 0) for m, c in zip(meta, nb.cells, strict=True)
                 if m.get("grade") and c.cell_type == "markdown")
    intro = nb.cells[0].source
    assert "**What to submit.**" in intro and "**How it is graded" in intro
    assert f"({auto + manual:g} points)" in intro and f"({auto:g} points)" in intro
    assert f"({manual:g} points)" in "\n".join(c.source for c in nb.cells)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "audit(" in code and "CHECKLIST" in code
    # the six items question 7 settles and the six question 8 asks for make the whole checklist
    q7 = next(c.source for c in nb.cells if "Question 7" in c.source)
    q8 = next(c.source for c in nb.cells if "Question 8" in c.source)
    items7, items8 = set(re.findall(r"`([A-F]\d)`", q7)), set(re.findall(r"`([A-F]\d)`", q8))
    assert len(items7) == len(items8) == 6 and not items7 & items8
    assert items7 | items8 == {item.code for item in checklist.CHECKLIST}
    # what students see never reads the ground truth
    visible = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", code, flags=re.DOTALL)
    for truth in ("load_labels", "bought_burst", "card_in_clear", '["mailable"]', "invalid_clicks"):
        assert truth not in visible, truth
