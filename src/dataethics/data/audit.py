"""Capstone (``ps06-audit``): the data of one fictional campaign, to audit with every module's tools.

A phone retailer, *Lumen Mobile* (invented), launched the fictitious *Orchard 12* in the summer
of 2026 with a campaign that gathers, on purpose, what the course warns against:

- ``audit_contacts``: the campaign's mailing list — sign-ups from the web form and the checkout,
  sign-ups through a cookie banner whose newsletter box was pre-ticked, and a **bought list**
  imported in one go; with double opt-in confirmations, withdrawals, the phone each contact owns,
  the "new model every year" targeting and, for a few pre-orders, a card number stored in the
  clear (modules 1, 3 and 4);
- ``audit_influencers``: the daily panel of the eight creators paid per sponsored post on their
  follower count, three of whom bought followers (module 2);
- ``audit_weekly``: 26 weeks of spend on five channels, what each platform claims and what the
  firm's own orders show — a budget bet on one platform (modules 2 and 5).

Identities are fictitious: ``example.com`` e-mails, IPv4 documentation ranges (RFC 5737) and the
card networks' published test numbers. Who may be e-mailed, which stored values are full card
numbers, which days had bought followers and how many clicks were invalid stay with the grader.

>>> CHANNELS[0], SNAPSHOT.date().isoformat()
('social_ads', '2026-09-30')
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dataethics.data.schema import Column, Dataset

#: Day of the audit: every date in the data is on or before it.
SNAPSHOT = pd.Timestamp("2026-09-30")
SOURCES = ("web_form", "checkout_box", "banner_preticked", "bought_list")
#: The bought list was imported in one batch, on this morning.
IMPORT_AT = pd.Timestamp("2026-06-15 09:00:00")
PHONES = ("Orchard 9", "Orchard 11", "Orchard 11 Pro", "Nova A7", "Nova A9", "other")
CHANNELS = ("social_ads", "video_ads", "search", "email", "shops")
CAMPAIGN_START = pd.Timestamp("2026-04-06")  # a Monday
CAMPAIGN_WEEKS = 26
PANEL_START = pd.Timestamp("2026-06-02")
PANEL_DAYS = 120
FEE_PER_1000_EUR = 12.0  # paid per sponsored post and per 1,000 followers (invented rate)

# share of the budget, own ROAS, platform claim / own revenue, CPC (EUR) per channel (invented)
BUDGET = {
    "social_ads": (0.56, 1.9, 1.8, 0.55),
    "video_ads": (0.22, 1.4, 2.4, 0.40),
    "search": (0.12, 4.2, 1.3, 0.90),
    "email": (0.04, 11.0, 1.1, 0.05),
    "shops": (0.06, 3.0, 1.0, 2.00),
}
BOT_WEEKS = (14, 19)  # video ads: a bot wave from week 14 to week 19 (0-based, inclusive)

# published test card numbers (Visa, Mastercard, Amex, Discover): never real accounts
TEST_PANS = ("4111111111111111", "5555555555554444", "4012888888881881", "378282246310005",
             "6011111111111117", "5105105105105100")


def _luhn_ok(digits: str) -> bool:
    """The Luhn check of a string of digits.

    >>> _luhn_ok("4111111111111111"), _luhn_ok("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _card_value(rng: np.random.Generator) -> tuple[str, bool]:
    """One stored 'card' value and whether it is a full card number in the clear."""
    pan = str(rng.choice(TEST_PANS))
    kind = int(rng.choice(4, p=[0.5, 0.25, 0.15, 0.10]))
    if kind == 0:  # full number, grouped by four or plain
        sep = str(rng.choice([" ", "-", ""]))
        text = sep.join(pan[i:i + 4] for i in range(0, len(pan), 4)) if sep else pan
        return text, True
    if kind == 1:  # masked, as PCI DSS allows: last four digits only
        return "**** **** **** " + pan[-4:], False
    if kind == 2:  # a typo: fails the Luhn check
        last = (int(pan[-1]) + int(rng.integers(1, 10))) % 10
        return pan[:-1] + str(last), False
    return pan[-4:], False  # only the last four digits


def _ips(prefix: str, rng: np.random.Generator, n: int) -> np.ndarray:
    return np.array([f"{prefix}.{int(x)}" for x in rng.integers(1, 255, n)], dtype=object)


def _contacts(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    source = rng.choice(len(SOURCES), n, p=[0.38, 0.20, 0.16, 0.26])
    days_ago = np.select([source <= 1, source == 2], [rng.integers(20, 1000, n), rng.integers(15, 180, n)],
                         0)
    optin = SNAPSHOT - pd.to_timedelta(days_ago, unit="D") - pd.to_timedelta(
        rng.integers(0, 86_400, n), unit="s")
    bought = source == 3
    optin = optin.where(~bought, IMPORT_AT + pd.to_timedelta(rng.integers(0, 180, n), unit="s"))
    confirmed = rng.random(n) < np.select([source <= 1, source == 2], [0.9, 0.45], 0.0)
    conf_at = optin + pd.to_timedelta(rng.integers(60, 4 * 86_400, n), unit="s")
    confirmed &= conf_at <= SNAPSHOT
    withdrawn = rng.random(n) < np.where(bought, 0.12, 0.07)
    wd_at = optin + pd.to_timedelta(rng.integers(2, 400, n), unit="D")
    withdrawn &= wd_at < SNAPSHOT
    mailable = (source <= 1) & confirmed & ~withdrawn
    age = np.where(rng.random(n) < 0.35, rng.integers(0, 24, n), rng.integers(0, 72, n))
    phone = rng.choice(len(PHONES), n, p=[0.12, 0.22, 0.10, 0.16, 0.20, 0.20])
    # "new model every year": the campaign targets owners of phones 9 to 30 months old
    target = ((age >= 9) & (age <= 30) & (rng.random(n) < 0.9)) | (rng.random(n) < 0.03)
    has_card = rng.random(n) < 0.03
    cards = [_card_value(rng) if h else (None, False) for h in has_card]
    return pd.DataFrame({
        "contact_id": np.arange(start + 1, start + n + 1, dtype="int64"),
        "email": pd.Series([f"buyer{start + i + 1:05d}@example.com" for i in range(n)], dtype="str"),
        "source": pd.Categorical.from_codes(source, SOURCES),
        "optin_at": optin.floor("s"),
        "confirmed_at": pd.Series(conf_at.floor("s")).where(confirmed),
        "withdrawn_at": pd.Series(wd_at.floor("s")).where(withdrawn),
        "signup_ip": np.where(bought, _ips("192.0.2", rng, n),
                              np.where(rng.random(n) < 0.5, _ips("198.51.100", rng, n),
                                       _ips("203.0.113", rng, n))).astype(str),
        "birth_year": rng.integers(1950, 2009, n).astype("int64"),
        "phone_model": pd.Categorical.from_codes(phone, PHONES),
        "phone_age_months": age.astype("int64"),
        "upgrade_target": target,
        "stored_card": pd.Series([c[0] for c in cards], dtype="str"),
        "mailable": mailable,
        "card_in_clear": np.array([c[1] for c in cards], dtype=bool),
    })


def _influencers(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    accounts = [f"creator_{c}" for c in "abcdefgh"]
    days = n // len(accounts)
    buyers = set(rng.choice(len(accounts), 3, replace=False).tolist())
    dates = PANEL_START + pd.to_timedelta(np.arange(days), unit="D")
    frames = []
    for a, name in enumerate(accounts):
        base = rng.uniform(12_000, 150_000)
        gains = rng.poisson(base * rng.uniform(0.0005, 0.002), days).astype(float)
        bought = np.zeros(days, dtype=bool)
        if a in buyers:
            d = int(rng.integers(25, days - 15))
            bought[d] = True
            if rng.random() < 0.4:
                bought[d + 1] = True
            gains[bought] += base * rng.uniform(0.15, 0.35, int(bought.sum()))
        followers = np.round(base + np.cumsum(gains)).astype("int64")
        real = np.round(base + np.cumsum(np.where(bought, 0, gains)))
        posts = rng.poisson(1.6, days).astype("int64")
        sponsored = np.minimum(posts, (rng.random(days) < 0.25) * (dates >= pd.Timestamp("2026-07-01")))
        rate = rng.uniform(0.01, 0.03)
        likes = rng.poisson(np.maximum(posts * real * rate, 0)).astype("int64")
        comments = rng.poisson(likes * 0.04).astype("int64")
        fee = np.round(sponsored * FEE_PER_1000_EUR * followers / 1000, 2)
        frames.append(pd.DataFrame({
            "account": name, "date": dates, "followers": followers, "posts": posts,
            "sponsored_posts": sponsored.astype("int64"), "likes": likes, "comments": comments,
            "fee_eur": fee.astype(float), "bought_burst": bought}))
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "row_id", np.arange(start + 1, start + len(out) + 1, dtype="int64"))
    out["account"] = out["account"].astype("str")
    return out


def _weekly(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    weeks = CAMPAIGN_START + pd.to_timedelta(7 * np.arange(CAMPAIGN_WEEKS), unit="D")
    total = 40_000 * np.exp(rng.normal(0, 0.15, CAMPAIGN_WEEKS))
    bots = (np.arange(CAMPAIGN_WEEKS) >= BOT_WEEKS[0]) & (np.arange(CAMPAIGN_WEEKS) <= BOT_WEEKS[1])
    frames = []
    for c, (share, roas, claim, cpc) in BUDGET.items():
        spend = np.round(total * share * rng.uniform(0.9, 1.1) * np.exp(rng.normal(0, 0.1, CAMPAIGN_WEEKS)))
        level = roas * rng.uniform(0.85, 1.15)
        own = np.round(spend * level * np.exp(rng.normal(0, 0.12, CAMPAIGN_WEEKS)), 2)
        human = np.round(spend / cpc * np.exp(rng.normal(0, 0.1, CAMPAIGN_WEEKS))).astype("int64")
        invalid = np.round(human * rng.uniform(0.02, 0.06)).astype("int64")
        inflated = claim * rng.uniform(0.9, 1.1)
        if c == "video_ads":
            invalid = np.where(bots, np.round(human * rng.uniform(1.5, 2.5)), invalid).astype("int64")
            inflated = np.where(bots, inflated * 1.4, inflated)
        platform = np.round(own * inflated * np.exp(rng.normal(0, 0.08, CAMPAIGN_WEEKS)), 2)
        if c == "shops":
            platform = own.copy()  # measured by the firm itself: nothing to over-claim
        frames.append(pd.DataFrame({
            "week": weeks, "channel": c, "spend_eur": spend.astype(float),
            "clicks": human + invalid, "platform_revenue_eur": platform, "own_revenue_eur": own,
            "invalid_clicks": invalid.astype("int64")}))
    out = pd.concat(frames, ignore_index=True).sort_values(["week"], kind="stable").reset_index(drop=True)
    out.insert(0, "row_id", np.arange(start + 1, start + len(out) + 1, dtype="int64"))
    out["channel"] = pd.Categorical(out["channel"], categories=CHANNELS)
    return out.head(n)


CONTACTS = Dataset(
    name="audit_contacts", module="m6",
    title="The campaign's mailing list: sources, consents, phones, targeting, stored cards",
    columns=(
        Column("contact_id", "int", "Contact number", min=1),
        Column("email", "str", "E-mail (fictitious, example.com)"),
        Column("source", "category", "How the contact entered the list", values=SOURCES),
        Column("optin_at", "datetime", "When the consent (or the import) was recorded"),
        Column("confirmed_at", "datetime", "Click on the confirmation e-mail (double opt-in)",
               nullable=True),
        Column("withdrawn_at", "datetime", "Unsubscription", nullable=True),
        Column("signup_ip", "str", "IP address recorded at sign-up (documentation ranges)"),
        Column("birth_year", "int", "Year of birth", min=1900, max=2026),
        Column("phone_model", "category", "Phone the contact owns", values=PHONES),
        Column("phone_age_months", "int", "Age of that phone at the audit", unit="months", min=0),
        Column("upgrade_target", "bool", "The campaign pushed the 'new model every year' offer"),
        Column("stored_card", "str", "Card field kept from a pre-order deposit, as typed", nullable=True),
    ),
    labels=(
        Column("mailable", "bool", "May be e-mailed on the audit day (valid, proven, not withdrawn)"),
        Column("card_in_clear", "bool", "stored_card holds a full card number"),
    ),
    key="contact_id", builder=_contacts, rows=3_000, seed=2026_60, assignments=("ps06-audit",),
)

INFLUENCERS = Dataset(
    name="audit_influencers", module="m6",
    title="Daily followers, engagement and fees of the campaign's eight paid creators",
    columns=(
        Column("row_id", "int", "Row number", min=1),
        Column("account", "str", "Creator handle (fictitious)"),
        Column("date", "date", "Day"),
        Column("followers", "int", "Followers at the end of the day", min=0),
        Column("posts", "int", "Posts published that day", min=0),
        Column("sponsored_posts", "int", "Of which posts paid by the campaign", min=0),
        Column("likes", "int", "Likes received that day", min=0),
        Column("comments", "int", "Comments received that day", min=0),
        Column("fee_eur", "float", "Fee paid for that day's sponsored posts", unit="EUR", min=0),
    ),
    labels=(Column("bought_burst", "bool", "Followers were bought that day"),),
    key="row_id", builder=_influencers, rows=8 * PANEL_DAYS, seed=2026_61,
    assignments=("ps06-audit",),
)

WEEKLY = Dataset(
    name="audit_weekly", module="m6",
    title="The campaign's weekly spend, platform claims and own revenue on five channels",
    columns=(
        Column("row_id", "int", "Row number", min=1),
        Column("week", "date", "Monday of the week"),
        Column("channel", "category", "Marketing channel", values=CHANNELS),
        Column("spend_eur", "float", "Money spent on the channel that week", unit="EUR", min=0),
        Column("clicks", "int", "Clicks (shop visits for shops) as reported", min=0),
        Column("platform_revenue_eur", "float", "Revenue the platform or tool claims", unit="EUR",
               min=0),
        Column("own_revenue_eur", "float", "Revenue the firm's own orders attribute to the channel",
               unit="EUR", min=0),
    ),
    labels=(Column("invalid_clicks", "int", "Clicks that were not people", min=0),),
    key="row_id", builder=_weekly, rows=CAMPAIGN_WEEKS * len(CHANNELS), seed=2026_62,
    assignments=("ps06-audit",),
)

DATASETS = [CONTACTS, INFLUENCERS, WEEKLY]
