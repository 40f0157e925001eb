"""Module 2 data: traffic mix, signals and bursts are planted as the datasheets say."""

from __future__ import annotations

import ipaddress
import re

import numpy as np
import pandas as pd
import pytest

from dataethics import paths
from dataethics.data import get, load, load_labels
from dataethics.notebooks import stored_text


@pytest.fixture(scope="module")
def sessions() -> pd.DataFrame:
    return load("bots_sessions").merge(load_labels("bots_sessions"), on="session_id")


def test_traffic_mix_matches_the_published_calibration(sessions: pd.DataFrame) -> None:
    shares = sessions["traffic_type"].value_counts(normalize=True)
    assert 1 - shares["human"] == pytest.approx(0.51, abs=0.01)        # all bots
    assert shares["givt"] + shares["sivt"] == pytest.approx(0.37, abs=0.01)  # bad bots
    assert shares["good_bot"] == pytest.approx(0.14, abs=0.01)
    assert (sessions["invalid"] == (sessions["traffic_type"] != "human")).all()


def test_only_documentation_addresses(sessions: pd.DataFrame) -> None:
    allowed = [ipaddress.ip_network(n) for n in
               ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")]
    for ip in sessions["ip"].unique():
        address = ipaddress.ip_address(ip)
        assert any(address.version == n.version and address in n for n in allowed), ip


def test_sivt_hides_behind_residential_addresses_and_regular_timing(sessions: pd.DataFrame) -> None:
    asn = load("bots_asn")
    dc = [ipaddress.ip_network(p) for p in asn.loc[asn["network_kind"] == "datacenter", "prefix"]]
    sivt = sessions[sessions["traffic_type"] == "sivt"]
    in_dc = sivt["ip"].map(lambda ip: any(ipaddress.ip_address(ip) in n for n in dc))
    assert not in_dc.any()
    assert not sivt["user_agent"].str.contains("bot|curl|python", case=False).any()
    human = sessions[sessions["traffic_type"] == "human"]
    assert sivt["gap_cv"].median() < 0.1 < 0.5 < human["gap_cv"].median()
    assert sivt["paid_click"].mean() > 0.85 and (sivt["purchase"] == 0).all()


def test_only_people_buy(sessions: pd.DataFrame) -> None:
    assert sessions.loc[sessions["purchase"], "traffic_type"].eq("human").all()


def test_bursts_lower_engagement() -> None:
    social = load("bots_social").merge(load_labels("bots_social"), on="row_id")
    assert social["bought_burst"].sum() == 5
    for account, days in social.groupby("account"):
        if not days["bought_burst"].any():
            continue
        first = days.index[days["bought_burst"]][0]
        exposure = days["posts"] * days["followers"]
        before = days["likes"].loc[:first - 1].tail(30).sum() / exposure.loc[:first - 1].tail(30).sum()
        after = days["likes"].loc[first + 2:].head(30).sum() / exposure.loc[first + 2:].head(30).sum()
        assert after < 0.9 * before, account


def test_generator_gives_fresh_but_similar_traffic() -> None:
    fresh = get("bots_sessions").builder(4000, np.random.default_rng(5), 0)
    assert 1 - (fresh["traffic_type"] == "human").mean() == pytest.approx(0.51, abs=0.03)
    assert not fresh["session_id"].duplicated().any()


def test_audit_is_a_random_sample_of_the_truth(sessions: pd.DataFrame) -> None:
    audit = load("bots_audit")
    assert len(audit) == 5000 and audit["session_id"].is_unique
    truth = sessions.set_index("session_id").loc[audit["session_id"], "invalid"]
    assert (truth.to_numpy() == audit["invalid"].to_numpy()).all(), "the audit disagrees with the truth"
    assert audit["invalid"].mean() == pytest.approx(sessions["invalid"].mean(), abs=0.03)


def lesson_text(name: str) -> tuple[str, str, str]:
    """(markdown with white space collapsed, code, stored text outputs) of a lesson notebook."""
    return stored_text(paths.course_dir() / name)


def test_lesson_cpa_and_wasted_spend_sentences_match_its_outputs() -> None:
    md, code, out = lesson_text("02-bot-metrics.ipynb")
    paid = re.search(r"purchases in the sessions kept:\s+([\d,]+)\s+"
                     r"ad spend per purchase kept:\s+([\d.]+) EUR \(([\d,.]+) EUR paid in all\)\s+"
                     r"of which on valid clicks:\s+([\d.]+) EUR.*?"
                     r"of which on invalid clicks:\s+([\d.]+) EUR \(([\d,]+) EUR in all\)", out, re.S)
    audit = re.search(r"audited ad spend on invalid sessions: ([\d.]+)%\s+audited ad spend on flagged "
                      r"sessions: ([\d.]+)%\s+share of the invalid spend flagged:\s+([\d.]+)%\s+"
                      r"paid clicks among the invalid sessions missed: ([\d.]+)%", out)
    budget = re.search(r"ad spend on invalid clicks: ([\d,]+) EUR \((\d+)% of the budget\)", out)
    recall = re.search(r"recall\s+[\d.]+\s+([\d.]+)", out)
    assert paid and audit and budget and recall, "the section-5 figures are not in the stored outputs"
    buys, per_buy, spend, valid, invalid, wasted = paid.groups()
    assert (f"the firm paid all {spend} EUR for the {buys} purchases we keep — {per_buy} EUR each, "
            f"of which {invalid} EUR went to invalid clicks. Those {wasted} EUR") in md
    assert f"The filtered CPA ({valid} EUR)" in md and wasted == budget[1]
    assert (f"invalid sessions took {audit[1]} % of the ad spend and our flags only {audit[2]} %: "
            f"the filter finds {audit[3]} % of the invalid spend, less than its recall of {recall[1]}") in md
    assert f"mostly paid clicks ({audit[4]} %)" in md
    assert f"au moins {budget[2]} %" in md and f"{audit[1].replace('.', ',')} %" in md
    assert "gap between the two CPAs is spend wasted" not in md


def test_lesson_sorts_the_panel_and_shows_the_checklist_in_full() -> None:
    md, code, out = lesson_text("02-bot-metrics.ipynb")
    assert re.search(r'social = load\("bots_social"\)\.sort_values\(\["account", "date"\]\)', code)
    assert "Are the metrics we report measured by us, or by the party paid on them?" in out
    assert "Guidelines Addendum*, Version 1.0, 27 Oct 2015" in md


def test_lesson_attributes_goodhart_and_strathern() -> None:
    md, _, _ = lesson_text("02-bot-metrics.ipynb")
    assert "Goodhart observed in 1975" in md and "Marilyn Strathern (1997)" in md
    assert "a measure which becomes a target stops being a good measure" not in md
    assert "*infobésité*" in md and "at the expense of the quality of analyses" not in md
