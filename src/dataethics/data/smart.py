"""Module 1 (smart data vs big data): a retailer's CRM export, "big" and "smart".

``smart_crm_big`` is a wide, noisy export: duplicates of the same person
under varied e-mail spellings, stale records, bot-created accounts, missing
and impossible values, label noise on the campaign response, and columns of
little use (tracking ids, fingerprints, scraped social fields).
``smart_crm_smart`` is a small, verified, deduplicated table with the
relevant features only. The ground truth of the big table (who is a
duplicate, a bot, stale, whose label was flipped) stays with the grader.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dataethics.data.schema import Column, Dataset

CHANNELS = ("web", "store", "app", "partner")
REGIONS = ("Île-de-France", "Nord", "Est", "Ouest", "Sud-Ouest", "Sud-Est", "Centre")
BROWSERS = ("chrome", "safari", "firefox", "edge", "other")
SNAPSHOT = pd.Timestamp("2026-06-30")
FIRST_SIGNUP = pd.Timestamp("2019-01-01")

#: Planted rates in the big export (documented in the datasheet).
RATES = {
    "duplicate": 0.08,      # share of records that repeat an earlier person
    "bot": 0.05,            # share of records created by sign-up bots
    "stale_target": 0.15,   # approx. share of people inactive for more than 24 months
    "missing_spend": 0.06,
    "missing_age": 0.10,
    "missing_region": 0.03,
    "bad_age": 0.01,        # age outside 16–100
    "negative_spend": 0.005,
    "activity_before_signup": 0.01,
    "label_flip": 0.20,     # share of human records whose response label is flipped
}
FEATURES = ("recency_days", "tenure_days", "orders_12m", "spend_12m_eur", "email_optin", "channel")


def _people(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw ``n`` people with behaviour and a true campaign response."""
    span = (SNAPSHOT - FIRST_SIGNUP).days
    signup = rng.integers(0, span - 30, n)
    tenure = span - signup
    stale = rng.random(n) < 0.2
    recency = np.where(stale, rng.integers(731, 1600, n), rng.gamma(1.3, 90, n).astype(int))
    recency = np.minimum(recency, tenure)
    orders = np.where(recency > 365, 0, rng.poisson(np.clip(4.0 - recency / 120, 0.3, None)))
    spend = np.round(orders * rng.lognormal(3.6, 0.5, n), 2)
    optin = rng.random(n) < 0.55
    channel = rng.choice(len(CHANNELS), n, p=[0.45, 0.3, 0.15, 0.1])
    score = (-1.2 - recency / 200 + 0.35 * np.log1p(orders) + 0.004 * np.sqrt(spend)
             + 0.8 * optin + np.array([0.0, 0.2, 0.4, -0.3])[channel])
    responded = rng.random(n) < 1 / (1 + np.exp(-score))
    return {
        "signup": signup, "recency": recency, "orders": orders, "spend": spend,
        "optin": optin, "channel": channel, "responded": responded,
        "age": rng.integers(18, 80, n), "region": rng.choice(len(REGIONS), n),
        "sms": rng.random(n) < 0.3,
    }


def _email(person: np.ndarray, variant: np.ndarray) -> list[str]:
    """E-mail of each person, written in one of several equivalent forms."""
    base = [f"client{p:07d}" for p in person]
    out = []
    for b, v in zip(base, variant, strict=True):
        out.append({0: f"{b}@example.com", 1: f"{b.upper()}@Example.com",
                    2: f"  {b}@example.com ", 3: f"{b}+promo@example.com",
                    4: f"{b.capitalize()}+news@EXAMPLE.COM"}[int(v)])
    return out


def _big(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    n_bot = int(round(n * RATES["bot"]))
    n_dup = int(round(n * RATES["duplicate"]))
    n_people = n - n_bot - n_dup
    ppl = _people(n_people, rng)
    # duplicates repeat an earlier person with another e-mail spelling and a later sign-up
    dup_of = rng.integers(0, n_people, n_dup)
    idx = np.concatenate([np.arange(n_people), dup_of, np.full(n_bot, -1)])
    kind = np.array(["person"] * n_people + ["duplicate"] * n_dup + ["bot"] * n_bot)
    take = np.where(idx < 0, 0, idx)
    cols = {k: v[take] for k, v in ppl.items()}
    is_bot = kind == "bot"
    # bots: fresh sign-ups with no purchases and random behaviour
    cols["signup"] = np.where(is_bot, (SNAPSHOT - FIRST_SIGNUP).days - rng.integers(1, 60, n), cols["signup"])
    cols["recency"] = np.where(is_bot, rng.integers(0, 30, n), cols["recency"])
    cols["orders"] = np.where(is_bot, 0, cols["orders"])
    cols["spend"] = np.where(is_bot, 0.0, cols["spend"])
    cols["responded"] = np.where(is_bot, rng.random(n) < 0.5, cols["responded"])
    variant = np.where(kind == "duplicate", rng.integers(1, 5, n), 0)
    person_id = np.where(is_bot, -1, take + start + 1)
    emails = _email(person_id, variant)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
    junk = rng.choice(letters, (n, 9))
    emails = [f"{''.join(j)}@example.org" if b else e
              for e, j, b in zip(emails, junk, is_bot, strict=True)]
    signup = FIRST_SIGNUP + pd.to_timedelta(cols["signup"], unit="D")
    tenure = (SNAPSHOT - signup).days.to_numpy()
    last = SNAPSHOT - pd.to_timedelta(np.minimum(cols["recency"], tenure), unit="D")
    # impossible values and missing values
    age = cols["age"].astype("float64")
    bad_age = rng.random(n) < RATES["bad_age"]
    age[bad_age] = rng.choice([0, 7, 130, 212], bad_age.sum())
    age[rng.random(n) < RATES["missing_age"]] = np.nan
    spend = cols["spend"].copy()
    neg = rng.random(n) < RATES["negative_spend"]
    spend[neg] = -spend[neg] - 10
    spend[rng.random(n) < RATES["missing_spend"]] = np.nan
    before = rng.random(n) < RATES["activity_before_signup"]
    last = last.where(~before, signup - pd.to_timedelta(rng.integers(1, 400, n), unit="D"))
    region = pd.Categorical.from_codes(np.where(rng.random(n) < RATES["missing_region"], -1,
                                                cols["region"]), REGIONS)
    flip = (~is_bot) & (rng.random(n) < RATES["label_flip"])
    observed = np.where(flip, ~cols["responded"].astype(bool), cols["responded"].astype(bool))
    hexes = rng.integers(0, 16**8, (n, 2))
    frame = pd.DataFrame({
        "customer_id": [f"K{start + i + 1:07d}" for i in range(n)],
        "email": pd.Series(emails, dtype="str"),
        "signup_date": signup.normalize(),
        "last_activity": last.normalize(),
        "orders_12m": cols["orders"].astype("int64"),
        "spend_12m_eur": spend,
        "channel": pd.Categorical.from_codes(cols["channel"], CHANNELS),
        "region": region,
        "age": pd.array(age, dtype="Int64"),
        "email_optin": cols["optin"].astype(bool),
        "sms_optin": cols["sms"].astype(bool),
        "responded": observed.astype(bool),
        "tracking_id": pd.Series([f"trk-{a:08x}" for a in hexes[:, 0]], dtype="str"),
        "device_fingerprint": pd.Series([f"{a:08x}{b:08x}" for a, b in hexes], dtype="str"),
        "browser": pd.Categorical.from_codes(rng.integers(0, len(BROWSERS), n), BROWSERS),
        "screen_width_px": rng.choice([360, 390, 414, 768, 1280, 1440, 1920], n).astype("int64"),
        "utm_campaign": pd.Series([f"cmp{c:03d}" for c in rng.integers(1, 120, n)], dtype="str"),
        "social_followers": rng.lognormal(4, 1.5, n).astype("int64"),
        "social_bio_words": rng.poisson(12, n).astype("int64"),
        "pages_viewed_lifetime": rng.poisson(30, n).astype("int64"),
        # ground truth (grader only)
        "person_id": person_id.astype("int64"),
        "record_kind": pd.Categorical(kind, categories=["person", "duplicate", "bot"]),
        "is_stale": (cols["recency"] > 730) & ~is_bot,
        "true_response": cols["responded"].astype(bool),
        "label_flipped": flip,
    })
    order = rng.permutation(n)
    return frame.iloc[order].reset_index(drop=True).assign(
        customer_id=[f"K{start + i + 1:07d}" for i in range(n)])


def _smart(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    ppl = _people(n, rng)
    signup = FIRST_SIGNUP + pd.to_timedelta(ppl["signup"], unit="D")
    return pd.DataFrame({
        "customer_id": [f"S{start + i + 1:06d}" for i in range(n)],
        "recency_days": ppl["recency"].astype("int64"),
        "tenure_days": (SNAPSHOT - signup).days.to_numpy().astype("int64"),
        "orders_12m": ppl["orders"].astype("int64"),
        "spend_12m_eur": ppl["spend"],
        "email_optin": ppl["optin"].astype(bool),
        "channel": pd.Categorical.from_codes(ppl["channel"], CHANNELS),
        "region": pd.Categorical.from_codes(ppl["region"], REGIONS),
        "responded": ppl["responded"].astype(bool),
    })


BIG = Dataset(
    name="smart_crm_big",
    module="m1",
    title="A retailer's raw CRM export ('big data'): wide, duplicated, noisy",
    columns=(
        Column("customer_id", "str", "Record id in the CRM (one per record, not per person)"),
        Column("email", "str", "E-mail as typed at sign-up (fictitious, example.com)"),
        Column("signup_date", "date", "Day the record was created"),
        Column("last_activity", "date", "Last purchase, visit or e-mail click"),
        Column("orders_12m", "int", "Orders in the last 12 months", unit="orders", min=0),
        Column("spend_12m_eur", "float", "Spend in the last 12 months", unit="EUR", nullable=True),
        Column("channel", "category", "Acquisition channel", values=CHANNELS),
        Column("region", "category", "Region of France", values=REGIONS, nullable=True),
        Column("age", "int", "Age as declared", unit="years", nullable=True),
        Column("email_optin", "bool", "Opted in to marketing e-mails"),
        Column("sms_optin", "bool", "Opted in to marketing SMS"),
        Column("responded", "bool", "Responded to the spring campaign (as recorded)"),
        Column("tracking_id", "str", "Ad-tracking id (low value)"),
        Column("device_fingerprint", "str", "Browser fingerprint hash (low value, intrusive)"),
        Column("browser", "category", "Browser family at sign-up", values=BROWSERS),
        Column("screen_width_px", "int", "Screen width at sign-up", unit="px", min=0),
        Column("utm_campaign", "str", "Campaign code of the sign-up visit"),
        Column("social_followers", "int", "Followers on a scraped social profile", min=0),
        Column("social_bio_words", "int", "Words in the scraped social bio", min=0),
        Column("pages_viewed_lifetime", "int", "Pages viewed since sign-up", min=0),
    ),
    labels=(
        Column("person_id", "int", "True person behind the record (-1 for bots)", min=-1),
        Column("record_kind", "category", "person, duplicate or bot",
               values=("person", "duplicate", "bot")),
        Column("is_stale", "bool", "Inactive for more than 24 months at the snapshot"),
        Column("true_response", "bool", "Response without label noise"),
        Column("label_flipped", "bool", "The recorded response is wrong"),
    ),
    key="customer_id",
    builder=_big,
    rows=20_000,
    seed=2026_01,
    assignments=("ps01",),
    scalable=True,
    chunk_rows=20_000,
)

SMART = Dataset(
    name="smart_crm_smart",
    module="m1",
    title="The same retailer's verified, deduplicated customer table ('smart data')",
    columns=(
        Column("customer_id", "str", "Verified customer id"),
        Column("recency_days", "int", "Days since last activity", unit="days", min=0),
        Column("tenure_days", "int", "Days since sign-up", unit="days", min=0),
        Column("orders_12m", "int", "Orders in the last 12 months", unit="orders", min=0),
        Column("spend_12m_eur", "float", "Spend in the last 12 months", unit="EUR", min=0),
        Column("email_optin", "bool", "Opted in to marketing e-mails"),
        Column("channel", "category", "Acquisition channel", values=CHANNELS),
        Column("region", "category", "Region of France", values=REGIONS),
        Column("responded", "bool", "Responded to the spring campaign (verified)"),
    ),
    builder=_smart,
    rows=3_000,
    seed=2026_11,
    assignments=("ps01",),
)

DATASETS = [BIG, SMART]
