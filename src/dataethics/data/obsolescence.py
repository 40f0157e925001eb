"""Module 4 (planned obsolescence): phones, their models, their batteries and their replacement.

``obsolescence_models`` lists six fictitious phone models with their software
support end, an OS update that slows some older models, price, repair price
and manufacturing footprint. ``obsolescence_devices`` follows 3,000 customers'
phones from purchase to replacement (or to the end of observation:
censored), with the stated reason, satisfaction, repair offers and where the
customer went next. ``obsolescence_battery`` holds monthly battery health for
a sample of devices. The customers' latent segment stays with the grader.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dataethics.data.schema import Column, Dataset

SNAPSHOT = pd.Timestamp("2026-06-30")
SEGMENTS = ("enthusiast", "fashion", "pragmatic")
REASONS = ("broken", "slow", "battery", "new_features", "no_updates", "still_in_use")
NEXT = ("same_brand_new", "competitor_new", "refurbished", "none")

# model, brand, release, support end, slowing update (or None), price, battery repair,
# kg CO2e of manufacturing: 80 % of a whole-life footprint of 70-79 kg (Orchard 11: 80 % of the
# 79 kg reported for the iPhone X) and of 55-60 kg for the cheaper brand
MODELS = [
    ("Orchard 7", "Orchard", "2018-09-15", "2023-09-15", "2022-03-01", 799.0, 89.0, 56.0),
    ("Orchard 9", "Orchard", "2019-09-15", "2024-09-15", "2023-03-01", 899.0, 89.0, 60.0),
    ("Orchard 11", "Orchard", "2021-09-15", "2026-09-15", None, 999.0, 99.0, 63.2),
    ("Nova A5", "Nova", "2018-03-01", "2022-03-01", None, 499.0, 69.0, 44.0),
    ("Nova A7", "Nova", "2020-03-01", "2024-03-01", None, 549.0, 69.0, 46.4),
    ("Nova A9", "Nova", "2022-03-01", "2027-03-01", None, 599.0, 69.0, 48.0),
]


def _models(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    frame = pd.DataFrame(MODELS, columns=["model", "brand", "release_date", "support_end",
                                          "slowing_update", "price_eur", "battery_repair_eur",
                                          "manufacturing_kg_co2e"])
    for col in ("release_date", "support_end", "slowing_update"):
        frame[col] = pd.to_datetime(frame[col])
    return frame.astype({"model": "str", "brand": "str"})


def _months(a: pd.Series | pd.DatetimeIndex, b: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    return np.asarray((pd.DatetimeIndex(b) - pd.DatetimeIndex(a)).days / 30.4375)


def _devices(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    models = _models(0, rng, 0)
    segment = rng.choice(3, n, p=[0.2, 0.3, 0.5])
    m = rng.integers(0, len(models), n)
    release = models["release_date"].to_numpy()[m]
    purchase = pd.DatetimeIndex(release) + pd.to_timedelta(rng.integers(0, 540, n), unit="D")
    purchase = purchase.where(purchase < SNAPSHOT - pd.Timedelta(days=90), SNAPSHOT - pd.Timedelta(days=90))
    support_end = pd.DatetimeIndex(models["support_end"].to_numpy()[m])
    slow = pd.DatetimeIndex(models["slowing_update"].to_numpy()[m])
    # discrete monthly hazard of replacement
    base = np.array([1 / 16, 1 / 22, 1 / 70])[segment]
    months = 96
    t = np.arange(months)
    dates = purchase.to_numpy()[:, None] + (t * 30.4375 * 86400e9).astype("timedelta64[ns]")[None, :]
    after_support = dates >= support_end.to_numpy()[:, None]
    after_slow = ~np.isnat(slow.to_numpy())[:, None] & (dates >= slow.to_numpy()[:, None])
    hazard = base[:, None] * np.where(after_support, np.where(segment[:, None] == 2, 4.0, 1.5), 1.0)
    hazard = hazard * np.where(after_slow, np.where(segment[:, None] == 2, 3.5, 1.3), 1.0)
    hazard = np.minimum(hazard, 0.9)
    draw = rng.random((n, months)) < hazard
    observed = dates < SNAPSHOT.to_datetime64()
    draw &= observed
    has = draw.any(axis=1)
    first = np.where(has, draw.argmax(axis=1), -1)
    replaced = pd.Series(pd.DatetimeIndex(np.where(has, dates[np.arange(n), np.maximum(first, 0)],
                                                   np.datetime64("NaT"))))
    replaced = replaced + pd.to_timedelta(rng.integers(0, 28, n), unit="D")
    replaced = replaced.where(replaced < SNAPSHOT)
    has = replaced.notna().to_numpy()
    at_repl = replaced.fillna(SNAPSHOT)
    forced = has & ((at_repl.to_numpy() >= support_end.to_numpy())
                    | (~np.isnat(slow.to_numpy()) & (at_repl.to_numpy() >= slow.to_numpy())))
    reason = np.where(
        ~has, 5,
        np.where(forced, np.where(rng.random(n) < 0.5, 1, np.where(rng.random(n) < 0.6, 4, 2)),
                 np.where(segment == 0, 3, rng.choice([0, 2, 3], n, p=[0.4, 0.3, 0.3]))))
    # where they go next: pushed pragmatic customers leave the brand
    nxt = np.where(segment == 0, 0, np.where(segment == 1, rng.choice([0, 1], n, p=[0.75, 0.25]),
                                              rng.choice([0, 1, 2], n, p=[0.6, 0.25, 0.15])))
    pushed = has & forced & (segment == 2)
    nxt = np.where(pushed, rng.choice([0, 1, 2], n, p=[0.3, 0.35, 0.35]), nxt)
    nxt = np.where(has, nxt, 3)
    offer = rng.random(n) < 0.4
    repaired = offer & (rng.random(n) < np.array([0.1, 0.15, 0.6])[segment])
    sat = np.clip(np.round(np.array([4.2, 3.8, 3.9])[segment] - 1.3 * pushed
                           + rng.normal(0, 0.7, n)), 1, 5).astype("int64")
    frame = pd.DataFrame({
        "device_id": np.arange(start + 1, start + n + 1, dtype="int64"),
        "customer_id": [f"P{start + i + 1:05d}" for i in range(n)],
        "model": models["model"].to_numpy()[m],
        "purchase_date": purchase.normalize(),
        "replaced_date": pd.to_datetime(replaced).dt.normalize(),
        "stated_reason": pd.Categorical.from_codes(reason, REASONS),
        "next_device": pd.Categorical.from_codes(nxt, NEXT),
        "repair_offered": offer,
        "repaired": repaired,
        "satisfaction": sat,
        "segment": pd.Categorical.from_codes(segment, SEGMENTS),
    })
    frame["model"] = frame["model"].astype("str")
    return frame


def _battery(n: int, rng: np.random.Generator, start: int) -> pd.DataFrame:
    from dataethics.data import build_frame, get  # local import: the registry imports this module

    devices = build_frame(get("obsolescence_devices")).iloc[:400]
    months = np.arange(48)
    ids = np.repeat(devices["device_id"].to_numpy(), len(months))
    age = np.tile(months, len(devices))
    fade = rng.uniform(0.45, 0.75, len(devices))  # % of capacity lost per month
    health = 100 - np.repeat(fade, len(months)) * age + rng.normal(0, 0.6, len(ids))
    month = (pd.DatetimeIndex(np.repeat(devices["purchase_date"].to_numpy(), len(months)))
             + pd.to_timedelta(age * 30.4375, unit="D")).normalize()
    end = np.repeat(devices["replaced_date"].fillna(SNAPSHOT).to_numpy(), len(months))
    keep = month.to_numpy() <= end
    return pd.DataFrame({
        "device_id": ids[keep].astype("int64"),
        "month": month[keep],
        "age_months": age[keep].astype("int64"),
        "battery_health_pct": np.round(np.clip(health[keep], 40, 100), 1),
    }).head(n)  # the first devices' full histories, cut at n readings


MODELS_DS = Dataset(
    name="obsolescence_models", module="m4",
    title="Six fictitious phone models: support end, slowing update, prices, footprint",
    columns=(
        Column("model", "str", "Model name (fictitious)"),
        Column("brand", "str", "Brand (fictitious)"),
        Column("release_date", "date", "Release day"),
        Column("support_end", "date", "Last day of software (OS) updates"),
        Column("slowing_update", "date", "OS update that slowed the model", nullable=True),
        Column("price_eur", "float", "Launch price", unit="EUR", min=0),
        Column("battery_repair_eur", "float", "Price of a battery replacement", unit="EUR", min=0),
        Column("manufacturing_kg_co2e", "float", "Footprint of manufacturing (production only)",
               unit="kg CO2e", min=0),
    ),
    builder=_models, rows=len(MODELS), seed=2026_40, assignments=("ps04",),
)

DEVICES = Dataset(
    name="obsolescence_devices", module="m4",
    title="Customers' phones from purchase to replacement (or still in use: censored)",
    columns=(
        Column("device_id", "int", "Device number", min=1),
        Column("customer_id", "str", "Customer id"),
        Column("model", "str", "Model (see obsolescence_models)"),
        Column("purchase_date", "date", "Day of purchase"),
        Column("replaced_date", "date", "Day the phone was replaced; missing if still in use",
               nullable=True),
        Column("stated_reason", "category", "Reason given for replacing", values=REASONS),
        Column("next_device", "category", "What the customer bought next", values=NEXT),
        Column("repair_offered", "bool", "A repair was offered"),
        Column("repaired", "bool", "The customer had the phone repaired"),
        Column("satisfaction", "int", "Satisfaction with the brand (1-5)", min=1, max=5),
    ),
    labels=(Column("segment", "category", "Latent customer segment", values=SEGMENTS),),
    key="device_id", builder=_devices, rows=3_000, seed=2026_41, assignments=("ps04",),
)

BATTERY = Dataset(
    name="obsolescence_battery", module="m4",
    title="Monthly battery health of the first devices (8,000 readings)",
    columns=(
        Column("device_id", "int", "Device number (see obsolescence_devices)", min=1),
        Column("month", "date", "Month of the reading"),
        Column("age_months", "int", "Months since purchase", unit="months", min=0),
        Column("battery_health_pct", "float", "Maximum capacity vs new", unit="%", min=0, max=100),
    ),
    builder=_battery, rows=8_000, seed=2026_42, assignments=("ps04",),
)

DATASETS = [MODELS_DS, DEVICES, BATTERY]
