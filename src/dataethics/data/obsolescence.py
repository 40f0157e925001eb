"""Datasets of the module 'obsolescence' (registered in :data:`DATASETS`)."""

from __future__ import annotations

from dataethics.data.schema import Dataset

DATASETS: list[Dataset] = []
