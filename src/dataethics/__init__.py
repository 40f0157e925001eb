"""Data Ethics in Marketing: the course's Python package.

It holds what the lessons, assignments and instructor tools share: the
synthetic datasets (builders, schemas and loaders), the plot style, the
course's ethics checklist and the grading pipeline.

>>> import dataethics
>>> "smart_crm" in dataethics.list_datasets() or True
True
"""

from dataethics.data import list_datasets, load, load_labels
from dataethics.errors import DataethicsError

__all__ = ["DataethicsError", "list_datasets", "load", "load_labels", "__version__"]
__version__ = "0.1.0"
