from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package }}.data import (
    file_sha256,
    load_breast_cancer,
    read_table,
    resolve_source,
    write_table,
)
from {{ cookiecutter.package }}.errors import ConfigError, DataError


def test_the_default_dataset_is_the_bundled_breast_cancer_data() -> None:
    frame = load_breast_cancer()
    assert frame.shape == (569, 31)
    assert frame["malignant"].value_counts().to_dict() == {0: 357, 1: 212}
    assert "mean_radius" in frame.columns


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
    assert resolve_source("{{ cookiecutter.package }}.data:load_breast_cancer") is load_breast_cancer
    with pytest.raises(ConfigError, match=r"data\.source: cannot import"):
        resolve_source("{{ cookiecutter.package }}.data:no_such_loader")


def test_file_hashes_change_with_the_content(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("x\n1\n")
    first = file_sha256(path)
    path.write_text("x\n2\n")
    assert first != file_sha256(path)
    assert len(first) == 64
