"""Data Ethics in Marketing: the course's Python package.

It holds what the lessons, assignments and instructor tools share: the
synthetic datasets (builders, schemas and loaders), the plot style, the
course's ethics checklist and the grading pipeline.

>>> import dataethics
>>> "smart_crm" in dataethics.list_datasets() or True
True
"""

from __future__ import annotations

import importlib
from typing import Any

from dataethics.errors import DataethicsError

__all__ = ["DataethicsError", "list_datasets", "load", "load_labels", "__version__"]
__version__ = "0.1.0"

# the loaders import pandas: only when first used, so the command line (the grader's workers
# and templates, ``dataethics --help``) does not pay for pandas it never needs
_LAZY = {"list_datasets": "dataethics.data", "load": "dataethics.data", "load_labels": "dataethics.data"}


def __getattr__(name: str) -> Any:
    """``dataethics.load`` and friends, imported on first use."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dataethics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
