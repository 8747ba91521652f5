from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.data import file_sha256, read_table, resolve_source, write_table
from {{ cookiecutter.package }}.errors import ConfigError, DataError
from {{ cookiecutter.package }}.settings import load_settings

from .support import ROOT

SOURCE = load_settings(ROOT / "config" / "project.yaml").data.source


def test_the_configured_data_source_returns_a_table_the_contract_accepts(contract: Contract) -> None:
    frame = resolve_source(SOURCE)()
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) > 0
    assert set(contract.feature_names) | {contract.target.name} <= set(frame.columns)
    contract.validate_frame(frame, source=SOURCE, with_target=True)
    pd.testing.assert_frame_equal(resolve_source(SOURCE)(), frame)  # the same table on every call


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_tables_round_trip(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"x": [1.5, 2.5], "id": ["a", "b"]})
    path = tmp_path / f"table{suffix}"
    write_table(frame, path)
    pd.testing.assert_frame_equal(read_table(path), frame, check_dtype=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    write_table(pd.DataFrame({"x": [1]}), path)
    before = path.read_bytes()
    with pytest.raises((TypeError, ValueError)):
        write_table(pd.DataFrame({"x": [object()]}), path)  # pyarrow cannot store a bare object
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("data.txt", b"x\n1\n", "unsupported file type '.txt'"),
        ("missing.csv", None, "file not found"),
        ("broken.parquet", b"not parquet", "cannot be read as parquet"),
        ("binary.csv", b"\xff\xfe\x00\x81", "cannot be read as csv"),
    ],
)
def test_bad_files_are_data_errors_naming_the_file(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        read_table(path)
    assert str(path) in str(caught.value)


def test_the_data_source_is_imported_by_name() -> None:
    module_name, _, function_name = SOURCE.partition(":")
    assert resolve_source(SOURCE) is getattr(importlib.import_module(module_name), function_name)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (f"{SOURCE.partition(':')[0]}:no_such_loader", "cannot import"),
        ("no_such_package.loaders:load", "cannot import"),
        ("{{ cookiecutter.package }}.data:FORMATS", "is not a function"),
    ],
)
def test_a_data_source_that_does_not_resolve_is_a_config_error(source: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"data\.source: .*{message}"):
        resolve_source(source)


def test_file_hashes_change_with_the_content(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("x\n1\n")
    first = file_sha256(path)
    path.write_text("x\n2\n")
    assert first != file_sha256(path)
    assert len(first) == 64
