"""Module 0 (orientation): a small online shop's orders for a pandas warm-up.

The data are fictitious. Customers have ids, not names; the newsletter
opt-in is a customer-level fact repeated on each of their orders, which is
the trap the warm-up assignment asks students to avoid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dataethics.data.schema import Column, Dataset

CHANNELS = ("web", "app", "store", "marketplace")
COUNTRIES = ("FR", "BE", "CH", "DE", "ES")
N_CUSTOMERS = 600


def _orders(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    """Build ``n`` orders from a fixed population of customers."""
    # Customer-level traits come from their own generator, so every chunk agrees.
    crng = np.random.default_rng(20260)
    home = crng.choice(len(COUNTRIES), N_CUSTOMERS, p=[0.55, 0.15, 0.1, 0.12, 0.08])
    loyalty = crng.gamma(1.2, 1.0, N_CUSTOMERS)
    # Loyal customers order more often and opt in more often.
    optin = crng.random(N_CUSTOMERS) < np.clip(0.08 + 0.2 * loyalty, 0.0, 0.85)
    cust = rng.choice(N_CUSTOMERS, n, p=loyalty / loyalty.sum())
    channel = rng.choice(len(CHANNELS), n, p=[0.45, 0.25, 0.2, 0.1])
    days = rng.integers(0, 365, n)
    items = 1 + rng.poisson(1.4, n)
    basket = np.round(items * rng.lognormal(3.0, 0.45, n), 2)
    returned = rng.random(n) < np.where(channel == 3, 0.12, 0.06)
    frame = pd.DataFrame(
        {
            "order_id": np.arange(start + 1, start + n + 1, dtype="int64"),
            "customer_id": pd.Series([f"C{c + 1:04d}" for c in cust], dtype="str"),
            "order_date": pd.Timestamp("2025-01-01") + pd.to_timedelta(days, unit="D"),
            "channel": pd.Categorical.from_codes(channel, CHANNELS),
            "country": pd.Categorical.from_codes(home[cust], COUNTRIES),
            "basket_eur": basket,
            "items": items.astype("int64"),
            "newsletter_optin": optin[cust],
            "returned": returned,
        }
    )
    return frame.sort_values(["order_date", "order_id"], kind="stable").reset_index(drop=True)


ORDERS = Dataset(
    name="orientation_orders",
    module="m0",
    title="Orders of a small online shop (one year)",
    columns=(
        Column("order_id", "int", "Order number, unique", min=1),
        Column("customer_id", "str", "Pseudonymous customer id (C0001…)"),
        Column("order_date", "date", "Day the order was placed"),
        Column("channel", "category", "Sales channel", values=CHANNELS),
        Column("country", "category", "Customer's country (ISO 3166 code)", values=COUNTRIES),
        Column("basket_eur", "float", "Order value incl. VAT", unit="EUR", min=0),
        Column("items", "int", "Number of items in the order", min=1),
        Column("newsletter_optin", "bool", "Customer opted in to the newsletter"),
        Column("returned", "bool", "Order was returned for a refund"),
    ),
    builder=_orders,
    rows=2_000,
    seed=2026_00,
    key="order_id",
    assignments=("ps00",),
    scalable=True,
)

DATASETS = [ORDERS]
