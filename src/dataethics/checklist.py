"""The course's ethics checklist for marketing data work.

Short and concrete, in the spirit of the deon checklist: each item is a
question a team answers *before* it collects, analyses or acts on customer
data. Every module comes back to the items it touches.

>>> from dataethics.checklist import CHECKLIST, items_for
>>> [item.code for item in items_for("m3")][:2]
['A1', 'A2']
"""

from __future__ import annotations

from collections.abc import Mapping
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
         ("m2", "m5")),
    Item("D1", "Protection", "Could a record be linked back to a person (singling out, linking)?",
         ("m3",)),
    Item("D2", "Protection", "When will these data be deleted, and who checks that they are?",
         ("m1", "m3")),
    Item("E1", "Impact", "Who gains and who loses if we act on this analysis — including non-customers?",
         ("m2", "m4", "m5")),
    Item("E2", "Impact", "Does the offer serve the customer over time, or only the next quarter?",
         ("m4", "m5")),
    Item("E3", "Impact", "What is the environmental cost of the data, and of the products it sells?",
         ("m1", "m4")),
    Item("F1", "Robustness", "Would the plan survive losing its main platform, its tracking or its "
         "shops for a few weeks — and what does it keep in reserve?", ("m5",)),
)

#: What an audit may conclude about one checklist item.
STATUSES = ("ok", "issue", "not_applicable")


def items_for(module: str) -> list[Item]:
    """Return the checklist items a module (``"m0"`` … ``"m5"``) works on."""
    return [item for item in CHECKLIST if module in item.modules or module == "m0"]


def as_frame(module: str | None = None) -> pd.DataFrame:
    """Return the checklist (or one module's part of it) as a table for display."""
    items = items_for(module) if module else list(CHECKLIST)
    return pd.DataFrame(
        [(i.code, i.stage, i.question) for i in items], columns=["code", "stage", "question"]
    ).set_index("code")


def audit(findings: Mapping[str, tuple[str, str]]) -> pd.DataFrame:
    """Run the whole checklist on a project: one finding per item, as a table.

    ``findings`` maps each item's code to ``(status, evidence)``: the status is
    one of :data:`STATUSES` and the evidence is a sentence that says what in
    the data supports it (a number, a column, a document). Every item must be
    answered, so an audit cannot skip an awkward question. A mistake raises a
    one-line :class:`ValueError`.

    >>> answers = {item.code: ("ok", "checked") for item in CHECKLIST}
    >>> answers["B1"] = ("issue", "41 % of the contacts were bought without consent")
    >>> report = audit(answers)
    >>> report.loc["B1", "status"], int((report["status"] == "issue").sum())
    ('issue', 1)
    >>> audit({"B1": ("issue", "x")})
    Traceback (most recent call last):
    ...
    ValueError: the audit skips A1, A2, B2, C1, C2, D1, D2, E1, E2, E3, F1: answer every item
    """
    if not isinstance(findings, Mapping):
        raise ValueError("findings should map each item's code to (status, evidence)")
    codes = [item.code for item in CHECKLIST]
    unknown = sorted(set(map(str, findings)) - set(codes))
    if unknown:
        raise ValueError(f"unknown checklist item(s) {', '.join(unknown)}: use {', '.join(codes)}")
    missing = [code for code in codes if code not in findings]
    if missing:
        raise ValueError(f"the audit skips {', '.join(missing)}: answer every item")
    rows = []
    for item in CHECKLIST:
        answer = findings[item.code]
        if not isinstance(answer, tuple | list) or len(answer) != 2:
            raise ValueError(f"{item.code}: give a pair (status, evidence)")
        status, evidence = answer
        if status not in STATUSES:
            raise ValueError(f"{item.code}: status {status!r} is not one of {', '.join(STATUSES)}")
        if not isinstance(evidence, str) or not evidence.strip():
            raise ValueError(f"{item.code}: say what evidence supports '{status}'")
        rows.append((item.code, item.stage, item.question, status, evidence.strip()))
    return pd.DataFrame(rows, columns=["code", "stage", "question", "status", "evidence"]
                        ).set_index("code")
