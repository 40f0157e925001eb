"""Module 5 (robust marketing): three years of weekly marketing of a mid-size retailer.

``robust_weekly`` holds, for each week of 2019–2021 and each of six channels,
the spend, what the platform or tool *reports* (impressions, clicks,
conversions, revenue) and what the firm's own order system attributes to the
channel (orders, revenue). ``robust_sales`` holds the firm's weekly revenue in
shops and online. The weeks live through a crisis that closes the shops (the
French lockdowns of 2020), an algorithm change that halves one platform's
reach, a tracking change that blinds attribution, a bot wave that inflates one
platform's clicks and a price (CPM) spike.

Each channel's true response is a saturation curve of its adstocked spend:
``revenue = vmax * stock / (stock + half)`` with ``stock_t = spend_t +
decay * stock_{t-1}``. The curves' parameters and the event weeks are ground
truth: they are drawn from the generator and kept with the grader
(``grader/truth/robust_weekly_labels.csv``), never in the student file.

>>> CHANNELS[:3]
('search', 'social_ads', 'video_ads')
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dataethics.data.schema import Column, Dataset

START = pd.Timestamp("2019-01-07")  # a Monday
WEEKS = 156
CHANNELS = ("search", "social_ads", "video_ads", "email", "affiliates", "events")
BASKET_EUR = 70.0

# centre of each channel's parameters: vmax (EUR/week), half (EUR of stock), decay,
# planned weekly spend (EUR), platform over-claim of true revenue, revenue claimed per euro of
# spend by view-through attribution, CPM (EUR), click-through rate
CENTRES = {
    "search":     (150_000.0, 16_000.0, 0.10, 15_000.0, 1.4, 0.0, 30.0, 0.040),
    "social_ads": (260_000.0, 45_000.0, 0.30, 15_000.0, 1.4, 2.5, 7.0, 0.009),
    "video_ads":  (90_000.0, 30_000.0, 0.45, 11_000.0, 1.5, 4.0, 10.0, 0.005),
    "email":      (40_000.0, 2_500.0, 0.20, 2_500.0, 1.3, 0.0, 15.0, 0.025),
    "affiliates": (45_000.0, 14_000.0, 0.00, 7_000.0, 1.6, 0.0, 4.0, 0.006),
    "events":     (75_000.0, 10_000.0, 0.60, 6_000.0, 1.3, 0.0, 600.0, 0.200),
}

#: Weeks (Mondays) of each planted event. The crisis weeks follow the French lockdowns
#: that closed non-essential shops in 2020 (décret 2020-260 of 16 March; décret 2020-1310
#: of 29 October); the other dates are invented.
EVENTS = {
    "crisis": [("2020-03-16", "2020-05-04"), ("2020-11-02", "2020-11-23")],
    "algorithm_change": [("2021-02-01", "2021-12-27")],   # social_ads: reach halves, for good
    "tracking_change": [("2021-05-03", "2021-12-27")],    # social_ads, video_ads: attribution blinded
    "bot_wave": [("2021-06-07", "2021-08-30")],           # video_ads: bot clicks
    "cpm_spike": [("2021-10-04", "2021-12-20")],          # video_ads: prices up 60 %
}
EVENT_CHANNELS = {
    "crisis": CHANNELS,
    "algorithm_change": ("social_ads",),
    "tracking_change": ("social_ads", "video_ads"),
    "bot_wave": ("video_ads",),
    "cpm_spike": ("video_ads",),
}
#: How the shops' closure changed each channel's true response (invented).
CRISIS_EFFECT = {"search": 0.8, "social_ads": 0.75, "video_ads": 0.7, "email": 1.15,
                 "affiliates": 0.85, "events": 0.0}


def weeks() -> pd.DatetimeIndex:
    """The 156 Mondays of the panel (7 January 2019 to 27 December 2021)."""
    return pd.date_range(START, periods=WEEKS, freq="7D")


def event_mask(event: str) -> np.ndarray:
    """Boolean array over :func:`weeks`: is ``event`` under way that week?"""
    w = weeks()
    mask = np.zeros(WEEKS, dtype=bool)
    for first, last in EVENTS[event]:
        mask |= (w >= pd.Timestamp(first)) & (w <= pd.Timestamp(last))
    return mask


def saturation(stock: np.ndarray | float, vmax: float, half: float) -> np.ndarray | float:
    """Weekly revenue of a stock of advertising: ``vmax * stock / (stock + half)``.

    >>> float(saturation(10_000.0, 80_000.0, 10_000.0))
    40000.0
    """
    return vmax * stock / (stock + half)


def adstock(spend: np.ndarray, decay: float) -> np.ndarray:
    """Carry-over: ``stock_t = spend_t + decay * stock_{t-1}``.

    >>> adstock(np.array([100.0, 0.0, 0.0]), 0.5).tolist()
    [100.0, 50.0, 25.0]
    """
    stock = np.empty(len(spend))
    carry = 0.0
    for t, s in enumerate(spend):
        carry = s + decay * carry
        stock[t] = carry
    return stock


def _simulate(rng: np.random.Generator) -> pd.DataFrame:
    """The full channel-week panel, student columns and ground truth."""
    w = weeks()
    season = 1 + 0.25 * np.exp(-0.5 * ((w.isocalendar().week.to_numpy() - 48) / 3.0) ** 2)
    crisis, algo, tracking = event_mask("crisis"), event_mask("algorithm_change"), \
        event_mask("tracking_change")
    bots, cpm_spike = event_mask("bot_wave"), event_mask("cpm_spike")
    frames = []
    for c, (vmax, half, decay, planned, claim, view, cpm, ctr) in CENTRES.items():
        # each panel draws its own curve around the centre (the truth differs by seed)
        vmax *= rng.uniform(0.85, 1.15)
        half *= rng.uniform(0.8, 1.2)
        decay = float(np.clip(decay + rng.uniform(-0.05, 0.05), 0.0, 0.9))
        flight = np.exp(rng.normal(0, 0.45, WEEKS))          # campaign flighting
        off = rng.random(WEEKS) < 0.06                        # some weeks dark
        spend = planned * season * flight * np.where(off, 0.05, 1.0)
        if c == "events":
            spend = np.where(crisis, planned * 0.1, spend)    # cancelled, some costs sunk
        if c in ("social_ads", "video_ads"):
            spend = np.where(crisis, spend * 0.6, spend)      # the firm cut spend in panic
        spend = np.round(spend, 0)
        price = np.where((c == "video_ads") & cpm_spike, 1.6, 1.0)
        wasted = np.where((c == "video_ads") & bots, 0.45, 0.0)   # paid bot clicks
        effective = spend * (1 - wasted) / price
        stock = adstock(effective, decay)
        response = saturation(stock, vmax, half)
        response *= np.where(crisis, CRISIS_EFFECT[c], 1.0)
        response *= np.where((c == "social_ads") & algo, 0.5, 1.0)
        true_rev = response * np.exp(rng.normal(0, 0.05, WEEKS))
        own_rev = np.round(true_rev * np.exp(rng.normal(0, 0.08, WEEKS)), 2)
        own_orders = np.round(own_rev / (BASKET_EUR * rng.uniform(0.9, 1.1, WEEKS))).astype("int64")
        reach = np.where((c == "social_ads") & algo, 0.5, 1.0)
        impressions = np.round(spend / (cpm * price) * 1000 * reach * np.exp(rng.normal(0, 0.05, WEEKS)))
        human_clicks = impressions * ctr * np.exp(rng.normal(0, 0.1, WEEKS))
        clicks = human_clicks * np.where((c == "video_ads") & bots, 3.0, 1.0)
        claimed = (true_rev * claim + view * effective) * np.exp(rng.normal(0, 0.1, WEEKS))
        claimed *= np.where((c == "video_ads") & bots, 1.4, 1.0)
        blind = tracking & (c in EVENT_CHANNELS["tracking_change"])
        claimed *= np.where(blind, 0.5, 1.0)
        claimed = np.round(claimed, 2)
        frames.append(pd.DataFrame({
            "week": w, "channel": c, "spend_eur": spend.astype(float),
            "impressions": impressions.astype("int64"), "clicks": np.round(clicks).astype("int64"),
            "platform_conversions": np.round(claimed / BASKET_EUR).astype("int64"),
            "platform_revenue_eur": claimed, "own_orders": own_orders, "own_revenue_eur": own_rev,
            "crisis": crisis,
            "algorithm_change": algo & (c == "social_ads"),
            "tracking_change": blind,
            "bot_wave": bots & (c == "video_ads"),
            "cpm_spike": cpm_spike & (c == "video_ads"),
            "true_revenue_eur": np.round(true_rev, 2),
            "true_decay": round(decay, 3), "true_half_eur": round(half, 0),
            "true_vmax_eur": round(vmax, 0),
        }))
    frame = pd.concat(frames, ignore_index=True).sort_values(["week", "channel"], kind="stable",
                                                               key=_channel_order)
    frame.insert(0, "row_id", np.arange(1, len(frame) + 1, dtype="int64"))
    frame["channel"] = pd.Categorical(frame["channel"], categories=CHANNELS)
    return frame.reset_index(drop=True)


def _channel_order(col: pd.Series) -> pd.Series:
    return col.map({c: i for i, c in enumerate(CHANNELS)}) if col.name == "channel" else col


def _weekly(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    return _simulate(rng).head(n)


def _sales(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    from dataethics.data import build_frame, get  # local import: the registry imports this module

    panel = build_frame(get("robust_weekly"))
    w = weeks()
    crisis = event_mask("crisis")
    season = 1 + 0.35 * np.exp(-0.5 * ((w.isocalendar().week.to_numpy() - 50) / 2.5) ** 2)
    true = panel.pivot(index="week", columns="channel", values="true_revenue_eur")
    events = true["events"].to_numpy()
    others = true.drop(columns="events").sum(axis=1).to_numpy()
    shop_base = 420_000 * season * np.where(crisis, 0.08, 1.0) * np.exp(rng.normal(0, 0.04, WEEKS))
    web_base = 160_000 * season * np.where(crisis, 1.6, 1.0) * np.exp(rng.normal(0, 0.05, WEEKS))
    shop = np.round(shop_base + events + 0.3 * others, 2)
    online = np.round(web_base + 0.7 * others, 2)
    return pd.DataFrame({
        "week": w,
        "shop_revenue_eur": shop,
        "online_revenue_eur": online,
        "orders": np.round((shop + online) / (BASKET_EUR * rng.uniform(0.95, 1.05, WEEKS))).astype("int64"),
    }).head(n)


WEEKLY = Dataset(
    name="robust_weekly", module="m5",
    title="Weekly spend, platform reports and own revenue of six channels (2019-2021)",
    columns=(
        Column("row_id", "int", "Row number", min=1),
        Column("week", "date", "Monday of the week"),
        Column("channel", "category", "Marketing channel", values=CHANNELS),
        Column("spend_eur", "float", "Money spent on the channel that week", unit="EUR", min=0),
        Column("impressions", "int", "Impressions (e-mails delivered; event visitors) as reported",
               min=0),
        Column("clicks", "int", "Clicks (event leads) as reported by the platform or tool", min=0),
        Column("platform_conversions", "int", "Purchases the platform or tool claims", min=0),
        Column("platform_revenue_eur", "float", "Revenue the platform or tool claims", unit="EUR",
               min=0),
        Column("own_orders", "int", "Orders the firm's own system attributes to the channel", min=0),
        Column("own_revenue_eur", "float", "Revenue of those orders", unit="EUR", min=0),
    ),
    labels=(
        Column("crisis", "bool", "Shops closed (lockdown week)"),
        Column("algorithm_change", "bool", "The platform's algorithm change is in force"),
        Column("tracking_change", "bool", "Attribution is blinded by a tracking change"),
        Column("bot_wave", "bool", "A bot wave inflates the platform's clicks"),
        Column("cpm_spike", "bool", "The platform's prices (CPM) are up 60 %"),
        Column("true_revenue_eur", "float", "Revenue the channel truly caused", unit="EUR", min=0),
        Column("true_decay", "float", "True adstock decay of the channel", min=0, max=1),
        Column("true_half_eur", "float", "True half-saturation stock", unit="EUR", min=0),
        Column("true_vmax_eur", "float", "True ceiling of weekly revenue", unit="EUR", min=0),
    ),
    key="row_id", builder=_weekly, rows=WEEKS * len(CHANNELS), seed=2026_50,
    assignments=("ps05",),
)

SALES = Dataset(
    name="robust_sales", module="m5",
    title="The retailer's weekly revenue in shops and online (2019-2021)",
    columns=(
        Column("week", "date", "Monday of the week"),
        Column("shop_revenue_eur", "float", "Revenue of the shops", unit="EUR", min=0),
        Column("online_revenue_eur", "float", "Revenue of the web shop", unit="EUR", min=0),
        Column("orders", "int", "Orders, shops and online", min=0),
    ),
    builder=_sales, rows=WEEKS, seed=2026_51, assignments=("ps05",),
)

DATASETS = [WEEKLY, SALES]
