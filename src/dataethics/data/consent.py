"""Module 3 (GDPR consent): banner test, newsletter contacts, telecom option, call transcripts, customers.

Five small tables, each for one part of the lesson:

- ``consent_banner``: a cookie-banner A/B test (one-click accept with the
  reject option buried, against accept and reject side by side);
- ``consent_contacts``: a newsletter contact log with the source of each
  consent, double opt-in confirmations, withdrawals and re-subscriptions;
- ``consent_telecom``: customers auto-enrolled in a paid option unless they
  opted out (a negative option), with their absences;
- ``consent_transcripts``: short call-centre transcripts containing test card
  numbers, look-alike numbers, phone numbers and e-mails;
- ``consent_customers``: a customer table with quasi-identifiers.

Ground truth (who may be e-mailed and why not, the amounts customers may claim
back, how many card numbers a transcript holds) stays with the grader.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dataethics.data.schema import Column, Dataset

SNAPSHOT = pd.Timestamp("2026-06-30")
VARIANTS = ("A_accept_first", "B_symmetric")
ACTIONS = ("accept_all", "reject_all", "customise", "close")
SOURCES = ("web_form", "checkout_box", "preticked_box", "partner_list")
REASONS = ("mailable", "preticked", "no_consent_to_us", "no_proof", "withdrawn", "stale")


def _banner(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    variant = rng.integers(0, 2, n)
    # Assumed action probabilities (not a published figure; see the datasheet).
    probs = np.where(variant[:, None] == 0, [0.78, 0.04, 0.06, 0.12], [0.52, 0.33, 0.08, 0.07])
    action = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    preticked = (variant == 0) & (action == 2)  # variant A's customise panel comes pre-ticked
    granted = np.select([action == 0, action == 2], [4, np.where(preticked, 3 + (rng.random(n) < 0.5),
                                                                 rng.integers(0, 4, n))], 0)
    return pd.DataFrame({
        "visitor_id": np.arange(start + 1, start + n + 1, dtype="int64"),
        "variant": pd.Categorical.from_codes(variant, VARIANTS),
        "action": pd.Categorical.from_codes(action, ACTIONS),
        "purposes_granted": granted.astype("int64"),
        "preticked_shown": preticked,
        "seconds_to_decide": np.round(rng.gamma(2.0, np.where(variant == 0, 1.6, 2.4)), 1),
    })


def _contacts(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    source = rng.choice(len(SOURCES), n, p=[0.5, 0.2, 0.18, 0.12])
    optin = SNAPSHOT - pd.to_timedelta(rng.integers(30, 2000, n), unit="D")
    confirmed = rng.random(n) < np.where(source <= 1, 0.85, 0.6)
    conf_at = optin + pd.to_timedelta(rng.integers(0, 3 * 86400, n), unit="s")
    withdrawn = rng.random(n) < 0.12
    wd_at = optin + pd.to_timedelta(rng.integers(10, 500, n), unit="D")
    wd_at = wd_at.where(wd_at < SNAPSHOT, SNAPSHOT - pd.Timedelta(days=1))
    renewed = withdrawn & (rng.random(n) < 0.3)
    re_at = wd_at + pd.to_timedelta(rng.integers(5, 200, n), unit="D")
    re_at = re_at.where(re_at < SNAPSHOT, SNAPSHOT - pd.Timedelta(hours=1))
    last = SNAPSHOT - pd.to_timedelta(rng.integers(0, 1700, n), unit="D")
    last = last.where(last > optin, optin)
    stale = last < SNAPSHOT - pd.DateOffset(years=3)
    reason = np.select(
        [source == 2, source == 3, ~confirmed, withdrawn & ~renewed, stale],
        [1, 2, 3, 4, 5], 0)
    return pd.DataFrame({
        "contact_id": np.arange(start + 1, start + n + 1, dtype="int64"),
        "email": pd.Series([f"reader{start + i + 1:05d}@example.org" for i in range(n)], dtype="str"),
        "source": pd.Categorical.from_codes(source, SOURCES),
        "optin_at": optin.floor("s"),
        "confirmed_at": pd.Series(conf_at.floor("s")).where(confirmed),
        "withdrawn_at": pd.Series(wd_at.floor("s")).where(withdrawn),
        "reoptin_at": pd.Series(re_at.floor("s")).where(renewed),
        "last_activity": last.normalize(),
        "mailable": reason == 0,
        "reason": pd.Categorical.from_codes(reason, REASONS),
    })


def _telecom(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    notice = pd.Timestamp("2026-01-05")
    option_start = notice + pd.DateOffset(months=1)
    away = rng.random(n) < 0.22                     # on holiday during the notice month
    away_from = notice + pd.to_timedelta(rng.integers(-5, 10, n), unit="D")
    away_to = away_from + pd.to_timedelta(rng.integers(14, 35, n), unit="D")
    accepted = rng.random(n) < 0.08                 # asked for the option explicitly
    p_out = np.where(away, 0.03, 0.27)
    opted_out = ~accepted & (rng.random(n) < p_out)
    out_at = notice + pd.to_timedelta(rng.integers(1, 60, n), unit="D")
    out_before = opted_out & (out_at < option_start)
    months = np.where(out_before, 0, np.where(opted_out, np.ceil((out_at - option_start).days / 30),
                                               5)).astype("int64")
    charged = months * 2.0
    claimable = np.where(accepted, 0.0, charged)
    return pd.DataFrame({
        "customer_id": [f"T{start + i + 1:05d}" for i in range(n)],
        "plan": pd.Categorical.from_codes(rng.integers(0, 3, n), ("5GB", "20GB", "50GB")),
        "notice_sent": pd.Series(notice, index=range(n)),
        "option_start": pd.Series(option_start, index=range(n)),
        "away_from": pd.Series(away_from).where(away),
        "away_to": pd.Series(away_to).where(away),
        "accepted_at": pd.Series(notice + pd.to_timedelta(rng.integers(1, 25, n), unit="D")).where(accepted),
        "opted_out_at": pd.Series(out_at).where(opted_out),
        "months_charged": months,
        "charged_eur": charged,
        "claimable_eur": claimable,
    }).astype({"customer_id": "str"})


TEST_PANS = ("4111111111111111", "5555555555554444", "4012888888881881", "378282246310005",
             "6011111111111117", "5105105105105100", "4000056655665556")


def _fmt(pan: str, style: int) -> str:
    if style == 0:
        return pan
    sep = " " if style == 1 else "-"
    groups = [pan[0:4], pan[4:10], pan[10:]] if len(pan) == 15 else \
        [pan[i:i + 4] for i in range(0, len(pan), 4)]
    return sep.join(groups)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _transcripts(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    openers = ("Hello, I am calling about my order.", "Hi, my delivery has not arrived.",
               "Good morning, I want to change my plan.", "Hello, there is a problem with my bill.")
    texts, counts = [], []
    for i in range(n):
        parts = [openers[int(rng.integers(0, len(openers)))]]
        k = 0
        if rng.random() < 0.45:
            pan = TEST_PANS[int(rng.integers(0, len(TEST_PANS)))]
            parts.append(f"My card number is {_fmt(pan, int(rng.integers(0, 3)))}.")
            k += 1
            if rng.random() < 0.15:
                pan2 = TEST_PANS[int(rng.integers(0, len(TEST_PANS)))]
                parts.append(f"Or use the other one, {_fmt(pan2, int(rng.integers(0, 3)))}, thanks")
                k += 1
        if rng.random() < 0.3:  # a 16-digit order number that fails the Luhn check
            while True:
                num = "".join(rng.choice(list("0123456789"), 16))
                if not _luhn_ok(num) and num[0] != "0":
                    break
            parts.append(f"The order reference is {_fmt(num, int(rng.integers(0, 3)))}.")
        if rng.random() < 0.35:
            parts.append(f"Call me back on 01 99 00 {int(rng.integers(10, 99))} {int(rng.integers(10, 99))}.")
        if rng.random() < 0.3:
            parts.append(f"My e-mail is caller{start + i + 1}@example.com.")
        parts.append("Thank you, goodbye.")
        texts.append(" ".join(parts))
        counts.append(k)
    return pd.DataFrame({
        "transcript_id": np.arange(start + 1, start + n + 1, dtype="int64"),
        "call_date": SNAPSHOT - pd.to_timedelta(rng.integers(0, 60, n), unit="D"),
        "agent": pd.Categorical.from_codes(rng.integers(0, 5, n), ("A1", "A2", "A3", "A4", "A5")),
        "text": pd.Series(texts, dtype="str"),
        "card_numbers": np.array(counts, dtype="int64"),
    })


def _customers(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    departments = np.array(["75", "92", "93", "94", "69", "13", "33", "59", "31", "44"])
    dept = rng.choice(departments, n, p=[0.2, 0.12, 0.1, 0.08, 0.12, 0.1, 0.08, 0.08, 0.06, 0.06])
    postcode = np.char.add(dept, np.char.zfill(rng.integers(0, 20, n).astype(str) + "0", 3))
    birth = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 365 * 55, n), unit="D")
    return pd.DataFrame({
        "customer_id": [f"Q{start + i + 1:05d}" for i in range(n)],
        "postcode": pd.Series(postcode, dtype="str"),
        "birth_date": birth,
        "gender": pd.Categorical.from_codes(rng.choice(3, n, p=[0.49, 0.49, 0.02]), ("F", "M", "X")),
        "segment": pd.Categorical.from_codes(rng.integers(0, 4, n),
                                             ("budget", "family", "premium", "health")),
        "spend_12m_eur": np.round(rng.lognormal(5.5, 0.7, n), 2),
    }).astype({"customer_id": "str"})


BANNER = Dataset(
    name="consent_banner", module="m3",
    title="Cookie-banner A/B test: accept-first with buried reject vs symmetric buttons",
    columns=(
        Column("visitor_id", "int", "Visitor number", min=1),
        Column("variant", "category", "Banner shown", values=VARIANTS),
        Column("action", "category", "What the visitor did", values=ACTIONS),
        Column("purposes_granted", "int", "Purposes (of 4) the visitor ended up granting", min=0, max=4),
        Column("preticked_shown", "bool", "The visitor saw pre-ticked purposes"),
        Column("seconds_to_decide", "float", "Time before the banner closed", unit="s", min=0),
    ),
    builder=_banner, rows=8_000, seed=2026_30, assignments=("ps03",),
)

CONTACTS = Dataset(
    name="consent_contacts", module="m3",
    title="Newsletter contacts with consent source, double opt-in, withdrawals",
    columns=(
        Column("contact_id", "int", "Contact number", min=1),
        Column("email", "str", "E-mail (fictitious, example.org)"),
        Column("source", "category", "How the consent was collected", values=SOURCES),
        Column("optin_at", "datetime", "When the consent was recorded"),
        Column("confirmed_at", "datetime", "Click on the confirmation e-mail (double opt-in)", nullable=True),
        Column("withdrawn_at", "datetime", "Unsubscription", nullable=True),
        Column("reoptin_at", "datetime", "New subscription after a withdrawal", nullable=True),
        Column("last_activity", "date",
               "Last click in a newsletter, purchase or message from the contact (opens not counted)"),
    ),
    labels=(
        Column("mailable", "bool",
               "May be e-mailed on 30 June 2026: valid consent, proven, within the retention period"),
        Column("reason", "category", "First reason the contact may not be e-mailed, or 'mailable'",
               values=REASONS),
    ),
    key="contact_id", builder=_contacts, rows=3_000, seed=2026_31, assignments=("ps03",),
)

TELECOM = Dataset(
    name="consent_telecom", module="m3",
    title="Telecom customers auto-enrolled in a paid data option unless they opted out",
    columns=(
        Column("customer_id", "str", "Customer id"),
        Column("plan", "category", "Current plan", values=("5GB", "20GB", "50GB")),
        Column("notice_sent", "date", "Day the change was announced by e-mail"),
        Column("option_start", "date", "Day the paid option started"),
        Column("away_from", "date", "Start of an absence (holiday) around the notice", nullable=True),
        Column("away_to", "date", "End of that absence", nullable=True),
        Column("accepted_at", "date", "Customer asked for the option explicitly", nullable=True),
        Column("opted_out_at", "date", "Customer subscribed to the 'refusal option'", nullable=True),
        Column("months_charged", "int", "Months the option was billed", unit="months", min=0, max=5),
        Column("charged_eur", "float", "Total billed for the option", unit="EUR", min=0),
    ),
    labels=(Column("claimable_eur", "float",
                   "Amount the customer may claim back (C. consom. L121-17)", unit="EUR", min=0),),
    key="customer_id", builder=_telecom, rows=2_000, seed=2026_32, assignments=("ps03",),
)

TRANSCRIPTS = Dataset(
    name="consent_transcripts", module="m3",
    title="Call-centre transcripts with test card numbers and look-alikes",
    columns=(
        Column("transcript_id", "int", "Transcript number", min=1),
        Column("call_date", "date", "Day of the call"),
        Column("agent", "category", "Agent code", values=("A1", "A2", "A3", "A4", "A5")),
        Column("text", "str", "Transcript text (synthetic)"),
    ),
    labels=(Column("card_numbers", "int", "Luhn-valid card numbers in the text", min=0, max=2),),
    key="transcript_id", builder=_transcripts, rows=400, seed=2026_33, assignments=("ps03",),
)

CUSTOMERS = Dataset(
    name="consent_customers", module="m3",
    title="Customers with quasi-identifiers (postcode, birth date, gender)",
    columns=(
        Column("customer_id", "str", "Pseudonymous customer id"),
        Column("postcode", "str", "French postcode (5 digits)"),
        Column("birth_date", "date", "Date of birth"),
        Column("gender", "category", "Declared gender", values=("F", "M", "X")),
        Column("segment", "category", "Marketing segment (health is sensitive)",
               values=("budget", "family", "premium", "health")),
        Column("spend_12m_eur", "float", "Spend over 12 months", unit="EUR", min=0),
    ),
    builder=_customers, rows=2_000, seed=2026_34, assignments=("ps03",),
)

DATASETS = [BANNER, CONTACTS, TELECOM, TRANSCRIPTS, CUSTOMERS]
