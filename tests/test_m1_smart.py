"""Module 1 data: the planted defects exist at their documented rates."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from dataethics import paths
from dataethics.data import get, io, load, load_labels
from dataethics.notebooks import stored_text

SNAPSHOT = pd.Timestamp("2026-06-30")


@pytest.fixture(scope="module")
def big() -> pd.DataFrame:
    return load("smart_crm_big").merge(load_labels("smart_crm_big"), on="customer_id")


def test_record_kinds_match_the_datasheet(big: pd.DataFrame) -> None:
    shares = big["record_kind"].value_counts(normalize=True)
    assert shares["duplicate"] == pytest.approx(0.08, abs=0.002)
    assert shares["bot"] == pytest.approx(0.05, abs=0.002)


def test_duplicates_share_a_normalised_email_with_their_person(big: pd.DataFrame) -> None:
    key = big["email"].str.strip().str.lower().str.replace(r"\+[^@]*@", "@", regex=True)
    dups = big[big["record_kind"] == "duplicate"]
    assert (big.loc[dups.index, "email"] != key[dups.index]).all(), "duplicates are spelled differently"
    people = big[big["record_kind"] == "person"].assign(key=key).set_index("person_id")["key"]
    assert (key[dups.index].to_numpy() == people.loc[dups["person_id"]].to_numpy()).all()


def test_defect_rates(big: pd.DataFrame) -> None:
    assert big["age"].isna().mean() == pytest.approx(0.10, abs=0.01)
    assert big["spend_12m_eur"].isna().mean() == pytest.approx(0.06, abs=0.01)
    assert (big["spend_12m_eur"] < 0).mean() == pytest.approx(0.005, abs=0.002)
    stale = big["last_activity"] < SNAPSHOT - pd.DateOffset(months=24)
    assert stale.mean() == pytest.approx(0.15, abs=0.02)
    humans = big[big["record_kind"] != "bot"]
    assert humans["label_flipped"].mean() == pytest.approx(0.20, abs=0.01)
    assert (humans["responded"] != humans["true_response"]).equals(humans["label_flipped"])


def test_bots_are_recent_and_never_buy(big: pd.DataFrame) -> None:
    bots = big[big["record_kind"] == "bot"]
    assert (bots["orders_12m"] == 0).all()
    assert (bots["signup_date"] > SNAPSHOT - pd.Timedelta(days=61)).all()
    assert bots["email"].str.endswith("@example.org").all()


def test_smart_table_is_clean_and_region_carries_no_signal() -> None:
    smart = load("smart_crm_smart")
    assert smart.notna().all().all() and smart["customer_id"].is_unique
    by_region = smart.groupby("region", observed=True)["responded"].mean()
    assert by_region.max() - by_region.min() < 0.12


def test_identities_are_fictitious(big: pd.DataFrame) -> None:
    domains = big["email"].str.strip().str.lower().str.split("@").str[1]
    assert set(domains) <= {"example.com", "example.org"}


def test_scaled_build_keeps_ids_unique(tmp_path: Path) -> None:
    ds = get("smart_crm_big")
    small = type(ds)(**{**ds.__dict__, "rows": 500, "chunk_rows": 500})
    io.write_dataset(small, tmp_path, scale=3, progress=False)
    out = pd.read_csv(tmp_path / "datasets" / "big" / "smart_crm_big_x3.csv")
    assert len(out) == 1500 and out["customer_id"].is_unique


def lesson_text(name: str) -> tuple[str, str]:
    """(markdown with white space collapsed, stored text outputs) of a lesson notebook."""
    md, _, out = stored_text(paths.course_dir() / name)
    return md, out


def test_lesson_bot_signal_sentences_match_its_outputs() -> None:
    md, out = lesson_text("01-smart-data.ipynb")
    crosstab = re.search(r"signup_date\s+False\s+([\d.]+)\s+([\d.]+)\s+True\s+([\d.]+)\s+([\d.]+)", out)
    shares = re.search(r"recent sign-up, random-looking e-mail\s+([\d.]+)\s+every other record\s+([\d.]+)",
                       out)
    assert crosstab and shares, "the bot-signal tables are not in the stored outputs"
    old_random, recent_random = float(crosstab[2]), float(crosstab[4])
    assert f"most addresses look random ({recent_random:.1%})".replace("%", " %") in md
    assert f"only {old_random:.1%} do".replace("%", " %") in md
    flagged, others = float(shares[1]), float(shares[2])
    assert f"({flagged:.1%}) have bought nothing in twelve months, against {others:.1%}".replace(
        "%", " %") in md
    assert "built on the first two traits" in md
    assert "Write i..." not in out and "Write it down before collecting." in out


def test_lesson_quality_problem_shares_match_its_outputs() -> None:
    md, out = lesson_text("01-smart-data.ipynb")
    names = ["invalid value (any rule)", "bot-like sign-up", "duplicate record", "missing age",
             "stale (> 24 months)"]
    found = dict(re.findall(r"^(" + "|".join(map(re.escape, names)) + r")\s+([\d.]+)$", out, re.M))
    any_problem = re.search(r"records with at least one problem: ([\d.]+)%", out)
    assert set(found) == set(names) and any_problem, "the problem shares are not in the stored outputs"
    share = {name: float(value) for name, value in found.items()}
    assert min(share, key=share.get) == "invalid value (any rule)"
    assert max(share, key=share.get) == "stale (> 24 months)"
    pct = {name: f"{value:.1%}".replace("%", " %") for name, value in share.items()}
    assert (f"range from {pct['invalid value (any rule)']} of the records (an invalid value) to "
            f"{pct['stale (> 24 months)']} (stale records), with bot-like sign-ups at "
            f"{pct['bot-like sign-up']}, duplicates at {pct['duplicate record']} and missing ages at "
            f"{pct['missing age']}") in md
    assert f"still, {any_problem[1]} % of the records" in md
    assert "a few percent of the records" not in md
