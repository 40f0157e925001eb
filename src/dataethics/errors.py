"""Errors raised by the course's package.

Every error a user can cause derives from :class:`DataethicsError`, so the
command-line tools can print it as one line without a traceback.
"""

from __future__ import annotations


class DataethicsError(Exception):
    """Base class of the errors a user can fix; its message says how."""


class UnknownDatasetError(DataethicsError, LookupError):
    """A dataset name that is not in the registry."""


class DatasetMissingError(DataethicsError, FileNotFoundError):
    """A dataset file that has not been built."""


class CorruptDatasetError(DataethicsError, ValueError):
    """A dataset file that cannot be parsed."""


class SchemaError(DataethicsError, ValueError):
    """A dataset whose columns, types or ranges differ from its schema."""


class UnknownAssignmentError(DataethicsError, LookupError):
    """An assignment name that has no source folder."""
