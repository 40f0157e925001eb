"""Module 3 data: consent reasons, banner effect, refunds, cards and quasi-identifiers as documented."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from dataethics.data import consent, load, load_labels


def test_contact_reasons_follow_the_rules() -> None:
    c = load("consent_contacts").merge(load_labels("consent_contacts"), on="contact_id")
    on = consent.SNAPSHOT
    renewed = c["reoptin_at"].notna() & (c["reoptin_at"] > c["withdrawn_at"])
    rule = (~c["source"].isin(["preticked_box", "partner_list"]) & c["confirmed_at"].notna()
            & (c["withdrawn_at"].isna() | renewed)
            & (c["last_activity"] >= on - pd.DateOffset(years=3)))
    assert (rule == c["valid_consent"]).all()
    assert c["valid_consent"].mean() == pytest.approx(0.463, abs=0.005)
    assert c["email"].str.endswith("@example.org").all()


def test_banner_effect_is_large_and_documented() -> None:
    b = load("consent_banner")
    rate = b["action"].eq("accept_all").groupby(b["variant"], observed=True).mean()
    assert rate["A_accept_first"] - rate["B_symmetric"] == pytest.approx(0.26, abs=0.02)
    assert not b.loc[b["variant"] == "B_symmetric", "preticked_shown"].any()


def test_refunds_are_the_charges_without_express_consent() -> None:
    t = load("consent_telecom").merge(load_labels("consent_telecom"), on="customer_id")
    expected = t["charged_eur"].where(t["accepted_at"].isna(), 0.0)
    assert (t["refund_due_eur"] == expected).all()
    away = t["away_from"].notna()
    out = t["opted_out_at"].notna()
    assert out[away].mean() < out[~away].mean() / 3


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_cards_are_test_numbers_and_look_alikes_fail_luhn() -> None:
    tr = load("consent_transcripts").merge(load_labels("consent_transcripts"), on="transcript_id")
    for text, count in zip(tr["text"], tr["card_numbers"], strict=True):
        runs = [re.sub(r"\D", "", m) for m in re.findall(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)", text)]
        cards = [r for r in runs if _luhn(r)]
        assert len(cards) == count
        assert set(cards) <= set(consent.TEST_PANS)


def test_everyone_is_unique_on_quasi_identifiers() -> None:
    cu = load("consent_customers")
    sizes = cu.groupby(["postcode", "birth_date", "gender"], observed=True).size()
    assert (sizes == 1).all()
    general = cu.assign(d=cu["postcode"].str[:2], dec=cu["birth_date"].dt.year // 10)
    assert general.groupby(["d", "dec"]).size().min() >= 5
