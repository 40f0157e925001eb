"""Module 3 data: consent reasons, banner effect, refunds, cards and quasi-identifiers as documented."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from dataethics import paths
from dataethics.data import consent, load, load_labels
from dataethics.notebooks import stored_text


def test_contact_reasons_follow_the_rules() -> None:
    c = load("consent_contacts").merge(load_labels("consent_contacts"), on="contact_id")
    on = consent.SNAPSHOT
    renewed = c["reoptin_at"].notna() & (c["reoptin_at"] > c["withdrawn_at"])
    rule = (~c["source"].isin(["preticked_box", "partner_list"]) & c["confirmed_at"].notna()
            & (c["withdrawn_at"].isna() | renewed)
            & (c["last_activity"] >= on - pd.DateOffset(years=3)))
    assert (rule == c["mailable"]).all()
    assert c["mailable"].mean() == pytest.approx(0.463, abs=0.005)
    assert c["last_activity"].ge(c["optin_at"].dt.normalize()).all()
    for col in ("optin_at", "confirmed_at", "withdrawn_at", "reoptin_at", "last_activity"):
        assert (c[col].dropna() <= on).all(), f"{col}: an event after the snapshot"
    assert c["email"].str.endswith("@example.org").all()


def test_banner_effect_is_large_and_documented() -> None:
    b = load("consent_banner")
    rate = b["action"].eq("accept_all").groupby(b["variant"], observed=True).mean()
    assert rate["A_accept_first"] - rate["B_symmetric"] == pytest.approx(0.26, abs=0.02)
    assert not b.loc[b["variant"] == "B_symmetric", "preticked_shown"].any()


def test_claims_are_the_charges_without_express_consent() -> None:
    t = load("consent_telecom").merge(load_labels("consent_telecom"), on="customer_id")
    expected = t["charged_eur"].where(t["accepted_at"].isna(), 0.0)
    assert (t["claimable_eur"] == expected).all()
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
        runs = [re.sub(r"\D", "", m) for m in re.findall(r"\d+(?:[ -]\d+)*", text)]
        cards = [r for r in runs if 13 <= len(r) <= 19 and _luhn(r)]
        assert len(cards) == count
        assert set(cards) <= set(consent.TEST_PANS)


def test_everyone_is_unique_on_quasi_identifiers() -> None:
    cu = load("consent_customers")
    sizes = cu.groupby(["postcode", "birth_date", "gender"], observed=True).size()
    assert (sizes == 1).all()
    general = cu.assign(d=cu["postcode"].str[:2], dec=cu["birth_date"].dt.year // 10)
    assert general.groupby(["d", "dec"]).size().min() >= 5
    with_gender = general.groupby(["d", "dec", "gender"], observed=True)["customer_id"].transform("size")
    assert cu.loc[with_gender < 5, "gender"].eq("X").sum() == cu["gender"].eq("X").sum()


def _lesson_text(name: str) -> tuple[str, str]:
    """(markdown, stored outputs) of a lesson notebook."""
    md, _, out = stored_text(paths.course_dir() / name, collapse=False)
    return md, out


def test_lesson_states_the_law_as_it_is() -> None:
    md, _ = _lesson_text("03-gdpr-consent.ipynb")
    assert "peut prétendre" in md and "L121-12" in md and "L224-33" in md
    # L121-17's own words (ex L114-1), not a paraphrase in quotation marks
    flat = " ".join(md.split())
    assert "peut prétendre au remboursement des sommes versées au titre de ce paiement" in flat
    assert "à son remboursement" not in md
    assert "must be refunded" not in md and "doit être remboursée" not in md
    assert "3.4.1" in md and "first six" not in md
    assert "v4.0.1" in md and not re.search(r"v4\.0(?!\.1)", md), "PCI DSS v4.0 was retired: cite v4.0.1"
    assert "Double opt-in" in md and "no French rule requires it" in md
    assert "5(1)(e)" in md and "suppression list" in md


def test_lesson_sentences_match_its_outputs() -> None:
    md, out = _lesson_text("03-gdpr-consent.ipynb")
    k_table = re.search(r"postcode \+ birth date \+ gender\s+(\d+)\s+department \+ decade \+ gender\s+(\d+)"
                        r"\s+department \+ decade \(gender removed\)\s+(\d+)\s+.*suppressed\s+(\d+)", out)
    assert k_table, "the k table is not in the stored outputs"
    raw, gen, no_gender, suppressed = (int(x) for x in k_table.groups())
    assert (raw, gen) == (1, 1)
    assert f"Removing the column gives k = {no_gender}" in md
    assert f"gives k = {suppressed}" in md and suppressed >= 5
    assert "contacts we may e-mail now:       1388 (46%)" in out
    assert "14,782" in out
