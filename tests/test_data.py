"""The dataset framework: registry, byte-identical rebuilds, loaders and their errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dataethics import data, paths
from dataethics.data import io
from dataethics.errors import (
    CorruptDatasetError,
    DatasetMissingError,
    SchemaError,
    UnknownDatasetError,
)

ROOT = paths.repo_root()
NAMES = data.list_datasets()


def test_registry_has_every_module() -> None:
    modules = {ds.module for ds in data.registry().values()}
    assert "m0" in modules
    assert len(NAMES) == len(set(NAMES))


def test_committed_files_match_manifest() -> None:
    assert data.check_files(ROOT) == []


def test_rebuild_is_byte_identical(tmp_path: Path) -> None:
    data.build_all(root=tmp_path, progress=False)
    rebuilt = io.read_manifest(tmp_path)
    committed = io.read_manifest(ROOT)
    assert rebuilt == committed
    for rel in committed:
        assert (tmp_path / rel).read_bytes() == (ROOT / rel).read_bytes(), rel


@pytest.mark.parametrize("name", NAMES)
def test_each_dataset_loads_with_its_schema(name: str) -> None:
    ds = data.get(name)
    frame = data.load(name)
    assert list(frame.columns) == ds.column_names
    assert len(frame) == ds.rows
    for col in ds.columns:
        if col.kind == "str":
            assert frame[col.name].dtype == "str", col.name
    if ds.labels:
        labels = data.load_labels(name)
        assert list(labels.columns) == ds.label_names
        assert not set(ds.label_names[1:]) & set(frame.columns), "labels leak into student data"


@pytest.mark.parametrize("name", NAMES)
def test_each_dataset_has_a_complete_datasheet(name: str) -> None:
    ds = data.get(name)
    sheet = ROOT / "datasets" / "datasheets" / f"{name}.md"
    assert sheet.is_file(), f"no datasheet for {name}"
    text = sheet.read_text(encoding="utf-8")
    for heading in ("Motivation", "Composition", "Columns", "Generation", "Planted", "Limits",
                    "Licence"):
        assert f"## {heading}" in text, f"{sheet.name}: section '## {heading}' missing"
    for col in ds.columns:
        assert f"`{col.name}`" in text, f"{sheet.name}: column {col.name} not documented"


@pytest.mark.parametrize("name", NAMES)
def test_assignment_copies_are_the_student_file(name: str) -> None:
    ds = data.get(name)
    for assignment in ds.assignments:
        copy = ROOT / io.assignment_relpath(ds, assignment)
        assert copy.read_bytes() == (ROOT / io.student_relpath(ds)).read_bytes()


def test_load_by_attribute() -> None:
    frame = data.load_orientation_orders()
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0


def test_unknown_dataset_suggests_a_name() -> None:
    with pytest.raises(UnknownDatasetError, match="did you mean 'orientation_orders'"):
        data.load("orientation_order")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissingError, match="make data"):
        data.load("orientation_orders", data_dir=tmp_path)


def test_corrupt_file(tmp_path: Path) -> None:
    good = (ROOT / "datasets" / "orientation_orders.csv").read_text().splitlines()
    (tmp_path / "orientation_orders.csv").write_text(
        "\n".join(good[:5] + ["1,C0001,not-a-date,web,FR,abc,1,True,False"]) + "\n")
    with pytest.raises(CorruptDatasetError, match="corrupt"):
        data.load("orientation_orders", data_dir=tmp_path)


def test_binary_garbage_is_corrupt(tmp_path: Path) -> None:
    (tmp_path / "orientation_orders.csv").write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises((CorruptDatasetError, SchemaError)):
        data.load("orientation_orders", data_dir=tmp_path)


def test_schema_mismatch(tmp_path: Path) -> None:
    frame = pd.read_csv(ROOT / "datasets" / "orientation_orders.csv").drop(columns="items")
    frame.to_csv(tmp_path / "orientation_orders.csv", index=False)
    with pytest.raises(SchemaError, match=r"missing \['items'\]"):
        data.load("orientation_orders", data_dir=tmp_path)


def test_out_of_range_value_is_a_schema_error(tmp_path: Path) -> None:
    frame = pd.read_csv(ROOT / "datasets" / "orientation_orders.csv")
    frame.loc[0, "basket_eur"] = -5.0
    frame.to_csv(tmp_path / "orientation_orders.csv", index=False)
    with pytest.raises(SchemaError, match="below"):
        data.load("orientation_orders", data_dir=tmp_path)


def test_scaled_build_streams_in_chunks(tmp_path: Path) -> None:
    ds = data.get("orientation_orders")
    small = data.Dataset(**{**ds.__dict__, "chunk_rows": 700})
    io.write_dataset(small, tmp_path, scale=3, progress=False)
    out = pd.read_csv(tmp_path / "datasets" / "big" / "orientation_orders_x3.csv")
    assert len(out) == 3 * ds.rows
    assert out["order_id"].is_unique


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dataethics.cli", *args],
                          capture_output=True, text=True)


def test_cli_unknown_dataset_is_one_line() -> None:
    out = _cli("data", "build", "nope", "--quiet")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "unknown dataset 'nope'" in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_check_reports_a_changed_file(tmp_path: Path) -> None:
    data.build_all(["orientation_orders"], root=tmp_path, progress=False)
    (tmp_path / "datasets" / "orientation_orders.csv").write_text("order_id\n1\n")
    out = _cli("data", "check", "--root", str(tmp_path))
    assert out.returncode == 2
    assert "differ" in out.stderr and "Traceback" not in out.stderr


def test_cli_list_and_help() -> None:
    assert "orientation_orders" in _cli("data", "list").stdout
    assert _cli("--help").returncode == 0
