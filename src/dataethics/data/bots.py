"""Module 2 (bot-inflated metrics): web sessions of a paid campaign, and a social panel.

``bots_sessions`` mixes humans, declared crawlers (good bots), data-centre
bots that routine filtering catches (general invalid traffic, GIVT), bots
posing as browsers through residential addresses with machine-regular timing
(sophisticated invalid traffic, SIVT) and click fraud on the paid campaign.
``bots_asn`` maps the (documentation-range) IP prefixes to fictitious
networks and marks data-centre ranges. ``bots_social`` holds daily follower
and engagement counts of brand and influencer accounts, some with bought
followers. Ground-truth labels stay with the grader.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dataethics.data.schema import Column, Dataset

START = pd.Timestamp("2026-03-01")
DAYS = 30
REFERRERS = ("paid_search", "paid_social", "organic", "direct", "email")
TRAFFIC = ("human", "good_bot", "givt", "sivt")
#: Shares of sessions by traffic type, in the spirit of Imperva's 2025 Bad Bot
#: Report (51 % bots, 37 % bad bots, 14 % good bots — of HTTP requests on its network).
MIX = {"human": 0.49, "good_bot": 0.14, "givt": 0.20, "sivt": 0.17}

# prefix, ASN (RFC 5398 documentation numbers), organisation, kind
ASN_ROWS = [
    ("192.0.2.0/25", 64496, "Example Fibre (residential ISP)", "residential"),
    ("192.0.2.128/25", 64497, "Example Cable (residential ISP)", "residential"),
    ("198.51.100.0/25", 64498, "Example Mobile (mobile operator)", "mobile"),
    ("198.51.100.128/25", 64499, "Example DSL (residential ISP)", "residential"),
    ("203.0.113.0/26", 64500, "Example Search Inc. (crawler network)", "datacenter"),
    ("203.0.113.64/26", 64501, "Example Cloud (hosting)", "datacenter"),
    ("203.0.113.128/26", 64502, "Example VPS (hosting)", "datacenter"),
    ("203.0.113.192/26", 64503, "Example Compute (hosting)", "datacenter"),
    ("2001:db8:1::/48", 64504, "Example Mobile IPv6 (mobile operator)", "mobile"),
    ("2001:db8:ff::/48", 64505, "Example Cloud IPv6 (hosting)", "datacenter"),
]

BROWSER_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64) Chrome/141.0",
    "Mozilla/5.0 (Macintosh; Mac OS X 14_5) Safari/605.1",
    "Mozilla/5.0 (iPhone; iOS 18_0) Mobile Safari/605.1",
    "Mozilla/5.0 (Linux; Android 15) Chrome/141.0 Mobile",
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
)
CRAWLER_UAS = (
    "ExampleSearchBot/2.1 (+https://search.example.com/bot)",
    "Mozilla/5.0 (compatible; ExampleCrawler/1.0)",
    "ExampleSpider/3.0",
)
TOOL_UAS = (
    "python-requests/2.32",
    "curl/8.10",
    "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/141.0",
    "Go-http-client/1.1",
)


def _asn(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    rows = ASN_ROWS[:n]
    return pd.DataFrame(rows, columns=["prefix", "asn", "organisation", "network_kind"]).astype(
        {"prefix": "str", "asn": "int64", "organisation": "str",
         "network_kind": pd.CategoricalDtype(["residential", "mobile", "datacenter"])})


def _ipv4(prefix_base: str, lo: int, hi: int, rng: np.random.Generator, n: int) -> np.ndarray:
    return np.char.add(prefix_base, rng.integers(lo, hi, n).astype(str))


def _sessions(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    kind = rng.choice(len(TRAFFIC), n, p=list(MIX.values()))
    human, good, givt, sivt = (kind == i for i in range(4))
    # addresses: humans on residential/mobile (some IPv6), crawlers and GIVT in data centres,
    # SIVT through residential proxies (same ranges as humans)
    home = np.where(rng.random(n) < 0.5, _ipv4("192.0.2.", 1, 255, rng, n),
                    _ipv4("198.51.100.", 1, 255, rng, n))
    v6 = np.char.add("2001:db8:1:", np.char.add(rng.integers(1, 9999, n).astype(str), "::1"))
    home = np.where(human & (rng.random(n) < 0.15), v6, home)
    dc = np.where(rng.random(n) < 0.85, _ipv4("203.0.113.", 64, 255, rng, n),
                  np.char.add("2001:db8:ff:", np.char.add(rng.integers(1, 99, n).astype(str), "::7")))
    ip = np.where(good, _ipv4("203.0.113.", 1, 63, rng, n), np.where(givt, dc, home))
    ua = np.array(BROWSER_UAS)[rng.integers(0, len(BROWSER_UAS), n)]
    ua = np.where(good, np.array(CRAWLER_UAS)[rng.integers(0, len(CRAWLER_UAS), n)], ua)
    givt_tool = givt & (rng.random(n) < 0.7)  # the rest of GIVT fakes a browser from a data centre
    ua = np.where(givt_tool, np.array(TOOL_UAS)[rng.integers(0, len(TOOL_UAS), n)], ua)
    # arrival: humans in daytime, bots round the clock
    day = rng.integers(0, DAYS, n)
    hour = np.where(human, np.clip(rng.normal(14, 4, n), 0, 23.99), rng.uniform(0, 24, n))
    ts = START + pd.to_timedelta(day, unit="D") + pd.to_timedelta(np.round(hour * 3600), unit="s")
    # referrer: SIVT and part of GIVT click on paid ads (click fraud)
    p_ref = np.where(human[:, None], [0.30, 0.15, 0.30, 0.15, 0.10], [0.0, 0.0, 0.6, 0.4, 0.0])
    p_ref = np.where(sivt[:, None], [0.55, 0.35, 0.05, 0.05, 0.0], p_ref)
    p_ref = np.where(givt[:, None], [0.25, 0.10, 0.35, 0.30, 0.0], p_ref)
    ref = (rng.random(n)[:, None] > np.cumsum(p_ref, axis=1)).sum(axis=1)
    paid = ref <= 1
    pages = np.where(human, 1 + rng.poisson(3, n), np.where(sivt, 2 + rng.poisson(2, n),
                                                            1 + rng.poisson(6, n)))
    gap_mean = np.where(human, rng.lognormal(3.3, 0.6, n), np.where(sivt, rng.uniform(4, 12, n),
                                                                     rng.uniform(0.2, 2, n)))
    gap_cv = np.where(human, rng.uniform(0.5, 1.8, n), np.where(sivt, rng.uniform(0.01, 0.12, n),
                                                                 rng.uniform(0.0, 0.3, n)))
    # the populations overlap: some people are regular, some scripts add jitter
    gap_cv = np.where(human & (rng.random(n) < 0.05), rng.uniform(0.05, 0.25, n), gap_cv)
    gap_cv = np.where(sivt & (rng.random(n) < 0.15), rng.uniform(0.15, 0.45, n), gap_cv)
    duration = np.round((pages - 1) * gap_mean, 1)
    js = np.where(givt_tool, False, np.where(good, rng.random(n) < 0.3, True))
    scroll = np.where(human, rng.beta(2, 2, n), np.where(sivt, rng.uniform(0, 0.05, n), 0.0))
    scroll = np.where(human & (rng.random(n) < 0.1), rng.uniform(0, 0.08, n), scroll)  # bounces
    scroll = np.where(sivt & (rng.random(n) < 0.2), rng.uniform(0.05, 0.6, n), scroll)  # fake scrolls
    cart = human & (rng.random(n) < 0.12 + 0.03 * np.minimum(pages, 6))
    cart |= sivt & (rng.random(n) < 0.02)
    buy = cart & human & (rng.random(n) < 0.35)
    revenue = np.where(buy, np.round(rng.lognormal(4.0, 0.5, n), 2), 0.0)
    cpc = np.where(ref == 0, 0.85, np.where(ref == 1, 0.55, 0.0))
    frame = pd.DataFrame({
        "session_id": np.arange(start + 1, start + n + 1, dtype="int64"),
        "start_time": ts,
        "ip": pd.Series(ip, dtype="str"),
        "user_agent": pd.Series(ua, dtype="str"),
        "referrer": pd.Categorical.from_codes(ref, REFERRERS),
        "paid_click": paid,
        "pages": pages.astype("int64"),
        "duration_s": duration,
        "mean_gap_s": np.round(gap_mean, 2),
        "gap_cv": np.round(gap_cv, 3),
        "js_enabled": js.astype(bool),
        "scroll_depth": np.round(scroll, 3),
        "add_to_cart": cart,
        "purchase": buy,
        "revenue_eur": revenue,
        "ad_cost_eur": cpc,
        "traffic_type": pd.Categorical.from_codes(kind, TRAFFIC),
        "invalid": ~human,
    })
    return frame.sort_values(["start_time", "session_id"], kind="stable").reset_index(drop=True)


def _social(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    accounts = [("brand_a", "brand"), ("brand_b", "brand"), ("brand_c", "brand"),
                ("brand_d", "brand"), ("creator_1", "influencer"), ("creator_2", "influencer"),
                ("creator_3", "influencer"), ("creator_4", "influencer"),
                ("creator_5", "influencer"), ("creator_6", "influencer")]
    days = n // len(accounts)
    frames = []
    for a, (name, kind) in enumerate(accounts):
        base = rng.uniform(5_000, 80_000)
        gains = rng.poisson(base * rng.uniform(0.0005, 0.002), days).astype(float)
        bought = np.zeros(days, dtype=bool)
        if a in (1, 4, 6, 8):  # accounts that buy followers, once or twice
            for _ in range(1 + a % 2):
                d = int(rng.integers(20, days - 10))
                bought[d] = True
                gains[d] += base * rng.uniform(0.15, 0.4)
        followers = np.round(base + np.cumsum(gains)).astype("int64")
        real = np.round(base + np.cumsum(np.where(bought, 0, gains))).astype("int64")
        posts = rng.poisson(1.2 if kind == "brand" else 2.0, days).astype("int64")
        rate = rng.uniform(0.01, 0.03)  # engagement per real follower per post
        likes = rng.poisson(np.maximum(posts * real * rate, 0)).astype("int64")
        comments = rng.poisson(likes * 0.04).astype("int64")
        frames.append(pd.DataFrame({
            "account": name, "account_kind": kind,
            "date": START - pd.Timedelta(days=days - DAYS) + pd.to_timedelta(np.arange(days), unit="D"),
            "followers": followers, "posts": posts, "likes": likes, "comments": comments,
            "bought_burst": bought}))
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "row_id", np.arange(start + 1, start + len(out) + 1, dtype="int64"))
    out["account"] = out["account"].astype("str")
    out["account_kind"] = pd.Categorical(out["account_kind"], ["brand", "influencer"])
    return out


ASN = Dataset(
    name="bots_asn",
    module="m2",
    title="IP prefixes of the fictitious networks seen by the campaign, with their kind",
    columns=(
        Column("prefix", "str", "IP prefix in CIDR notation (documentation ranges only)"),
        Column("asn", "int", "Autonomous system number (RFC 5398 documentation range)",
               min=64496, max=65551),
        Column("organisation", "str", "Fictitious network owner"),
        Column("network_kind", "category", "residential, mobile or datacenter",
               values=("residential", "mobile", "datacenter")),
    ),
    builder=_asn,
    rows=len(ASN_ROWS),
    seed=2026_20,
    assignments=("ps02",),
)

SESSIONS = Dataset(
    name="bots_sessions",
    module="m2",
    title="Web-analytics sessions of a paid campaign over 30 days (humans and bots)",
    columns=(
        Column("session_id", "int", "Session number", min=1),
        Column("start_time", "datetime", "Start of the session (UTC)"),
        Column("ip", "str", "Client IP address (documentation ranges)"),
        Column("user_agent", "str", "User-agent string sent by the client"),
        Column("referrer", "category", "Where the visit came from", values=REFERRERS),
        Column("paid_click", "bool", "The visit came from a paid ad click"),
        Column("pages", "int", "Pages viewed", unit="pages", min=1),
        Column("duration_s", "float", "Session duration", unit="s", min=0),
        Column("mean_gap_s", "float", "Mean time between events", unit="s", min=0),
        Column("gap_cv", "float", "Coefficient of variation of the time between events",
               min=0),
        Column("js_enabled", "bool", "JavaScript ran in the client"),
        Column("scroll_depth", "float", "Deepest scroll position, share of page height",
               min=0, max=1),
        Column("add_to_cart", "bool", "Something was added to the cart"),
        Column("purchase", "bool", "The session ended with a purchase"),
        Column("revenue_eur", "float", "Revenue of the purchase", unit="EUR", min=0),
        Column("ad_cost_eur", "float", "Cost paid to the ad platform for the click",
               unit="EUR", min=0),
    ),
    labels=(
        Column("traffic_type", "category", "human, good_bot, givt or sivt", values=TRAFFIC),
        Column("invalid", "bool", "Invalid traffic: not a person (declared crawlers count as GIVT)"),
    ),
    key="session_id",
    builder=_sessions,
    rows=40_000,
    seed=2026_21,
    chunk_rows=40_000,
    scalable=True,
    assignments=("ps02",),
)

SOCIAL = Dataset(
    name="bots_social",
    module="m2",
    title="Daily followers and engagement of ten brand and influencer accounts",
    columns=(
        Column("row_id", "int", "Row number", min=1),
        Column("account", "str", "Account handle (fictitious)"),
        Column("account_kind", "category", "brand or influencer", values=("brand", "influencer")),
        Column("date", "date", "Day"),
        Column("followers", "int", "Followers at the end of the day", min=0),
        Column("posts", "int", "Posts published that day", min=0),
        Column("likes", "int", "Likes received that day", min=0),
        Column("comments", "int", "Comments received that day", min=0),
    ),
    labels=(Column("bought_burst", "bool", "Followers were bought that day"),),
    key="row_id",
    builder=_social,
    rows=1_800,
    seed=2026_22,
    assignments=("ps02",),
)



def _audit(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    """A hand-audited sample of ``bots_sessions``: ``n`` session ids with their verdict.

    The sessions are rebuilt exactly as ``bots_sessions`` writes them (same seed,
    one chunk), then ``n`` of them are drawn without replacement with ``rng``.
    """
    sessions = _sessions(SESSIONS.rows, np.random.default_rng([SESSIONS.seed, 0]), 0)
    picked = sessions.iloc[np.sort(rng.choice(len(sessions), n, replace=False))]
    out = picked[["session_id", "invalid"]].sort_values("session_id").reset_index(drop=True)
    return out.astype({"session_id": "int64", "invalid": bool})


AUDIT = Dataset(
    name="bots_audit",
    module="m2",
    title="A hand audit of 5,000 campaign sessions: which ones were invalid traffic",
    columns=(
        Column("session_id", "int", "Session number in bots_sessions", min=1),
        Column("invalid", "bool", "The auditor judged the session invalid traffic (not a person)"),
    ),
    key="session_id",
    builder=_audit,
    rows=5_000,
    seed=2026_23,
    chunk_rows=5_000,
    assignments=("ps02",),
)

DATASETS = [ASN, SESSIONS, SOCIAL, AUDIT]
