"""The course's ethics checklist for marketing data work.

Short and concrete, in the spirit of the deon checklist: each item is a
question a team answers *before* it collects, analyses or acts on customer
data. Every module comes back to the items it touches.

>>> from dataethics.checklist import CHECKLIST, items_for
>>> [item.code for item in items_for("m3")][:2]
['A1', 'A2']
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Item:
    """One question of the checklist."""

    code: str
    stage: str
    question: str
    modules: tuple[str, ...]


CHECKLIST: tuple[Item, ...] = (
    Item("A1", "Purpose", "Which decision will these data change? Write it down before collecting.",
         ("m0", "m1", "m3")),
    Item("A2", "Purpose", "Is every column needed for that decision (GDPR Art. 5(1)(c))?",
         ("m1", "m3")),
    Item("B1", "Consent", "Did each person give a clear, specific, affirmative yes — and can we prove it?",
         ("m3",)),
    Item("B2", "Consent", "Is saying no or withdrawing as easy as saying yes?", ("m3",)),
    Item("C1", "Quality", "Who or what produced these rows: people, bots, duplicates, stale records?",
         ("m1", "m2")),
    Item("C2", "Quality", "Are the metrics we report measured by us, or by the party paid on them?",
         ("m2",)),
    Item("D1", "Protection", "Could a record be linked back to a person (singling out, linking)?",
         ("m3",)),
    Item("D2", "Protection", "When will these data be deleted, and who checks that they are?",
         ("m1", "m3")),
    Item("E1", "Impact", "Who gains and who loses if we act on this analysis — including non-customers?",
         ("m2", "m4")),
    Item("E2", "Impact", "Does the offer serve the customer over time, or only the next quarter?",
         ("m4",)),
    Item("E3", "Impact", "What is the environmental cost of the data, and of the products it sells?",
         ("m1", "m4")),
)


def items_for(module: str) -> list[Item]:
    """Return the checklist items a module (``"m0"`` … ``"m4"``) works on."""
    return [item for item in CHECKLIST if module in item.modules or module == "m0"]


def as_frame(module: str | None = None) -> pd.DataFrame:
    """Return the checklist (or one module's part of it) as a table for display."""
    items = items_for(module) if module else list(CHECKLIST)
    return pd.DataFrame(
        [(i.code, i.stage, i.question) for i in items], columns=["code", "stage", "question"]
    ).set_index("code")
