"""Module 2 data: traffic mix, signals and bursts are planted as the datasheets say."""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd
import pytest

from dataethics.data import get, load, load_labels


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
