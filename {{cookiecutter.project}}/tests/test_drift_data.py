from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package }} import drift_data
from {{ cookiecutter.package }}.contract import ContractViolationError, Problem
from {{ cookiecutter.package }}.drift_data import (
    check_sample_size,
    combine,
    data_files,
    read_files,
    read_log,
    sample,
    served_by,
)
from {{ cookiecutter.package }}.errors import DataError

from .support import MIXED, REGRESSION, mixed_frame, records_of, synthetic_frame


def write_log(path: Path, rows: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def log_row(version: str = "m:1", when: str = "2026-01-01T00:00:00+00:00", **changes: object) -> dict[str, object]:
    row: dict[str, object] = {"timestamp": when, "tenure_months": 12.0, "plan": "pro", "prediction": "no"}
    return row | {"model_version": version} | changes


def test_a_folder_yields_its_tables_and_skips_hidden_ones(tmp_path: Path) -> None:
    for name in ("a.jsonl", "day=2/b.parquet", "c.csv", ".staging/d.csv", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert [p.relative_to(tmp_path).as_posix() for p in data_files(tmp_path)] == ["a.jsonl", "c.csv", "day=2/b.parquet"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing", "not found. Serve the model"),
        ("empty", "no .jsonl, .csv or .parquet files"),
        ("x.txt", "unsupported"),
    ],
)
def test_paths_without_data_are_refused(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(DataError, match=message):
        data_files(tmp_path / name)


def test_a_log_line_still_being_written_is_left_out(tmp_path: Path) -> None:
    path = write_log(tmp_path / "p.jsonl", [log_row(), log_row()])
    with path.open("a") as handle:
        handle.write('{"timestamp": "2026-01-0')
    assert len(read_log(path)) == 2


def test_a_corrupt_log_and_a_log_without_rows_are_named(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text("not json\n")
    with pytest.raises(DataError, match=r"bad\.jsonl: not a prediction log"):
        read_files(tmp_path / "bad.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DataError, match="no rows: nothing to compare"):
        read_files(tmp_path / "empty.jsonl")


def test_missing_features_and_extra_log_columns_are_refused(tmp_path: Path) -> None:
    missing = write_log(tmp_path / "a" / "p.jsonl", [{"tenure_months": 1.0}])
    with pytest.raises(DataError, match=r"columns missing relative to the data contract: \['plan'\]"):
        combine(read_files(missing), MIXED, missing, None)
    extra = write_log(tmp_path / "b" / "p.jsonl", [log_row(customer_id=7)])
    with pytest.raises(DataError, match=r"columns not in the data contract: \['customer_id'\]"):
        combine(read_files(extra), MIXED, extra, None)
    identified = MIXED.model_copy(update={"id_column": "customer_id"})  # the contract's ID: logged, not a feature
    assert list(combine(read_files(extra), identified, extra, None).frame["customer_id"]) == [7]


def test_a_uri_prefix_is_read_from_a_temporary_copy_and_a_folder_in_place(tmp_path: Path) -> None:
    write_log(tmp_path / "store" / "date=2026-01-02" / "model_version=1" / "a.jsonl", [log_row(), log_row()])
    with drift_data.indexed((tmp_path / "store").as_uri(), None, None, "drift") as frames:
        (copy,) = frames
        assert copy.rows == 2
        assert not copy.path.is_relative_to(tmp_path)
    assert not copy.path.exists()  # the copy is removed once read
    with drift_data.indexed(tmp_path / "store", date(2026, 1, 2), None, "drift") as frames:
        assert [current.path.parent.parent.name for current in frames] == ["date=2026-01-02"]
    later = drift_data.indexed((tmp_path / "store").as_uri(), date(2027, 1, 1), None, "drift")
    with pytest.raises(DataError, match=r"no \.jsonl\(\.zst\), \.csv or \.parquet objects dated 2027-01-01 to"), later:
        pass


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("12", "must be a number, not text (store the column as numbers)"),
        (True, "must be a number, not true/false (a boolean column)"),
        (None, "must not be null"),
    ],
    ids=["text", "bool", "null"],
)
def test_log_values_a_drift_test_cannot_compare_are_refused(tmp_path: Path, value: object, rule: str) -> None:
    log = write_log(tmp_path / "p.jsonl", [log_row(tenure_months=value), log_row(tenure_months=value)])
    with pytest.raises(ContractViolationError) as caught:
        combine(read_files(log), MIXED, log, None)
    assert [str(problem) for problem in caught.value.problems] == [f"tenure_months: {rule} (2 rows)"]
    assert "(current data: fix or drop the rows a drift test cannot compare)" in str(caught.value)


def test_values_outside_the_contract_are_left_to_the_report(tmp_path: Path) -> None:
    log = write_log(tmp_path / "p.jsonl", [log_row(tenure_months=10_000.0, plan="enterprise"), log_row(plan=None)])
    assert len(combine(read_files(log), MIXED, log, None).frame) == 2


def test_too_few_rows_on_either_side_are_refused(tmp_path: Path) -> None:
    log = write_log(tmp_path / "p.jsonl", [log_row("m:1"), log_row("m:1"), log_row("m:0")])
    current = combine(read_files(log), MIXED, log, "m:1")
    reference = mixed_frame(5)
    check_sample_size(current, reference, 2, log)
    with pytest.raises(
        DataError,
        match=r"p\.jsonl: 2 current rows \(1 more answered by other model versions\), fewer than drift\.min_rows \(3\)",
    ):
        check_sample_size(current, reference, 3, log)
    with pytest.raises(DataError, match=r"reference sample holds 1 rows, fewer than drift\.min_rows \(2\)"):
        check_sample_size(current, reference.head(1), 2, log)


def test_extra_columns_in_a_table_are_allowed_and_labels_are_checked(tmp_path: Path) -> None:
    frame = mixed_frame(20).assign(customer_id=range(20))
    path = tmp_path / "current.csv"
    frame.to_csv(path, index=False)
    current = combine(read_files(path), MIXED, path, None)
    assert (current.labelled, len(current.frame), current.window) == (True, 20, None)
    frame.loc[3, "churned"] = "maybe"
    frame.to_csv(path, index=False)
    with pytest.raises(ContractViolationError, match=r"churned: target must be one of \['no', 'yes'\] \(1 rows\)"):
        combine(read_files(path), MIXED, path, None)


def test_the_latest_answer_names_the_version_and_other_versions_are_excluded(tmp_path: Path) -> None:
    write_log(tmp_path / "b.jsonl", [log_row("m:old", "2026-01-01T10:00:00+00:00")])
    write_log(tmp_path / "a.jsonl", [log_row("m:new", "2026-01-02T10:00:00+00:00"), log_row("m:old")])
    frames = read_files(tmp_path)
    assert served_by(frames) == "m:new"
    current = combine(frames, MIXED, tmp_path, "m:new")
    assert (len(current.frame), current.excluded, current.files) == (1, 2, 1)
    assert current.window == {"start": "2026-01-02T10:00:00+00:00", "end": "2026-01-02T10:00:00+00:00"}


def test_data_without_versions_names_none(tmp_path: Path) -> None:
    mixed_frame(5).to_csv(tmp_path / "current.csv", index=False)
    assert served_by(read_files(tmp_path)) is None


def test_sampling_is_capped_seeded_and_keeps_each_time_window_share() -> None:
    rows = 20_000
    busy = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(rows * 9 // 10), unit="s")
    quiet = pd.Timestamp("2026-01-02", tz="UTC") + pd.to_timedelta(np.arange(rows // 10) * 8, unit="s")
    frame = pd.DataFrame({"timestamp": busy.append(quiet), "x": np.arange(rows)})
    picked = sample(frame, 2000, random_state=1)
    assert len(picked) == 2000
    assert picked.equals(sample(frame, 2000, random_state=1))
    quiet_rows = (picked["timestamp"] >= pd.Timestamp("2026-01-02", tz="UTC")).sum()
    assert abs(quiet_rows - 200) <= 2  # its 10% share, give or take the rounding of each window
    assert picked["x"].is_unique
    assert sample(frame, rows, random_state=1) is frame
    assert len(sample(frame.drop(columns="timestamp"), 500, random_state=1)) == 500


def test_a_regression_log_and_labelled_regression_data_are_read(tmp_path: Path) -> None:
    features = records_of(synthetic_frame(REGRESSION, 3, seed=2), REGRESSION)
    rows = [
        {"timestamp": "2026-01-01T00:00:00+00:00", **row, "prediction": 412.5, "model_version": "m:1"}
        for row in features
    ]
    log = write_log(tmp_path / "log" / "p.jsonl", rows)
    current = combine(read_files(log), REGRESSION, log, served_by(read_files(log)))
    assert (current.labelled, len(current.frame), current.excluded) == (False, 3, 0)
    assert current.frame["prediction"].tolist() == [412.5] * 3
    labelled = synthetic_frame(REGRESSION, 20, seed=3)
    path = tmp_path / "labelled.csv"
    labelled.to_csv(path, index=False)
    assert combine(read_files(path), REGRESSION, path, None).labelled is True


def test_regression_labels_must_be_numbers_within_the_target_bounds(tmp_path: Path) -> None:
    frame = synthetic_frame(REGRESSION, 20, seed=4).astype({"price": object})
    frame.loc[2, "price"] = 5000.0
    frame.loc[3, "price"] = "lots"
    path = tmp_path / "current.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ContractViolationError) as caught:
        combine(read_files(path), REGRESSION, path, None)
    assert [str(problem) for problem in caught.value.problems] == [
        "price: target must be a number (1 rows)",
        "price: target must be <= 1000 (1 rows)",
    ]


def timed_mixed(rows: int, seed: int) -> pd.DataFrame:
    """Mixed-contract rows, nine in ten of them in the first of two days (time windows of unequal weight)."""
    busy = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(rows * 9 // 10) * 9, unit="s")
    quiet = pd.Timestamp("2026-01-02", tz="UTC") + pd.to_timedelta(np.arange(rows - rows * 9 // 10) * 80, unit="s")
    return mixed_frame(rows, seed).assign(timestamp=busy.append(quiet), model_version="m:1")


def same_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Values only: missing as None whether a reader gave NaN or None, text whatever its dtype."""
    return frame.astype(object).where(frame.notna(), None)


def test_a_sample_drawn_while_reading_is_the_sample_of_the_whole_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of 300 rows over a Parquet and a CSV file: the sample equals ``sample`` on both files concatenated."""
    monkeypatch.setattr(drift_data, "CHUNK_ROWS", 300)
    first, second = timed_mixed(2000, 1), timed_mixed(1500, 2)
    first.to_parquet(tmp_path / "a.parquet", index=False)
    second.to_csv(tmp_path / "b.csv", index=False)
    current = combine(read_files(tmp_path), MIXED, tmp_path, None, cap=1000, seed=7)
    whole = pd.concat([first, second], ignore_index=True)
    expected = sample(whole, 1000, random_state=7).reset_index(drop=True)
    pd.testing.assert_frame_equal(same_values(current.frame), same_values(expected))
    assert (current.rows, current.files, current.labelled) == (3500, 2, True)
    assert current.window == {
        "start": whole["timestamp"].min().isoformat(),
        "end": whole["timestamp"].max().isoformat(),
    }


def test_problems_are_counted_over_every_chunk_in_contract_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drift_data, "CHUNK_ROWS", 100)
    frame = timed_mixed(1000, 3).astype({"tenure_months": object})
    frame.loc[[5, 420, 999], "tenure_months"] = "unknown"
    frame.loc[[950, 990], "tenure_months"] = None
    frame.loc[[7, 600], "churned"] = "maybe"
    frame.to_csv(tmp_path / "current.csv", index=False)
    with pytest.raises(ContractViolationError) as caught:
        combine(read_files(tmp_path / "current.csv"), MIXED, tmp_path, None, cap=100)
    assert caught.value.problems == [
        Problem("tenure_months", "must not be null", 2),
        Problem("tenure_months", "must be a number", 3),
    ]
    frame.loc[[5, 420, 999, 950, 990], "tenure_months"] = 12
    frame.to_csv(tmp_path / "current.csv", index=False)
    with pytest.raises(ContractViolationError, match=r"churned: target must be one of \['no', 'yes'\] \(2 rows\)"):
        combine(read_files(tmp_path / "current.csv"), MIXED, tmp_path, None, cap=100)


def test_rows_of_other_versions_are_left_out_of_the_sample_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drift_data, "CHUNK_ROWS", 250)
    frame = timed_mixed(1200, 4)
    frame.loc[frame.index % 3 == 0, "model_version"] = "m:0"
    frame.to_parquet(tmp_path / "current.parquet", index=False)
    frames = read_files(tmp_path / "current.parquet")
    assert served_by(frames) == "m:1"
    current = combine(frames, MIXED, tmp_path, "m:1", cap=300, seed=1)
    assert (current.rows, current.excluded, len(current.frame)) == (800, 400, 300)
    assert set(current.frame["model_version"]) == {"m:1"}
    mine = frame[frame["model_version"] == "m:1"].reset_index(drop=True)
    expected = sample(mine, 300, random_state=1).reset_index(drop=True)
    pd.testing.assert_frame_equal(same_values(current.frame), same_values(expected))
