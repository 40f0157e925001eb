"""Datasets of the module 'consent' (registered in :data:`DATASETS`)."""

from __future__ import annotations

from dataethics.data.schema import Dataset

DATASETS: list[Dataset] = []
