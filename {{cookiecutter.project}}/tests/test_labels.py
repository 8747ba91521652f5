"""Joining the prediction log with labels on the contract's ID: the fresh table, its counts, and every refusal."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from {{ cookiecutter.package }}.contract import Contract, ContractViolationError
from {{ cookiecutter.package }}.data import read_table, write_table
from {{ cookiecutter.package }}.errors import ConfigError, DataError
from {{ cookiecutter.package }}.labels import join_labels
from {{ cookiecutter.package }}.model import MODEL_VERSION, PREDICTION, RUNTIME, TIMESTAMP

from .support import MIXED, PROJECT_CONTRACT, REGRESSION, records_of, synthetic_frame

START = datetime(2026, 6, 1, 12, tzinfo=UTC)


def with_id(contract: Contract) -> Contract:
    """``contract`` with an ID column whose name is none of its columns."""
    name = "record_id"
    while name in [*contract.feature_names, contract.target.name]:
        name += "_"
    return Contract.model_validate(contract.model_dump() | {"id_column": name})


def write_log(folder: Path, contract: Contract, frame: pd.DataFrame, ids: Sequence[str | None], start: int = 0) -> Path:
    """A log file as the service writes it: each record with its ID, answer and a later timestamp than the last."""
    assert contract.id_column is not None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"predictions-{START:%Y-%m-%d}-1-{start}.jsonl"
    lines = []
    for offset, (record, key) in enumerate(zip(records_of(frame, contract), ids, strict=True)):
        stamp = (START + timedelta(seconds=start + offset)).isoformat()
        answer = {PREDICTION: None, MODEL_VERSION: "model:1", RUNTIME: "sklearn"}
        lines.append(json.dumps({TIMESTAMP: stamp, **record, contract.id_column: key, **answer}))
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Python values with None for missing: a table read back compares with one built here, whatever the dtypes."""
    return frame.astype(object).where(frame.notna(), None)


def labels_of(frame: pd.DataFrame, contract: Contract, ids: list[str]) -> pd.DataFrame:
    """A labels table as a user collects it: the ID, the target, and a column the join ignores."""
    assert contract.id_column is not None
    return pd.DataFrame({contract.id_column: ids, contract.target.name: frame[contract.target.name].to_numpy()}).assign(
        note="checked by hand"
    )


@pytest.mark.parametrize("base", [PROJECT_CONTRACT, REGRESSION, MIXED], ids=["project", "regression", "mixed"])
def test_labelled_log_rows_are_joined_the_latest_prediction_of_an_id_winning(tmp_path: Path, base: Contract) -> None:
    contract = with_id(base)
    name, target = contract.id_column, contract.target.name
    assert name is not None
    frame = synthetic_frame(contract, 40, seed=1)
    ids = [f"r{i}" for i in range(40)]
    write_log(tmp_path / "logs", contract, frame, [*ids[:-1], None])  # the last record came without an ID
    write_log(tmp_path / "logs", contract, frame.iloc[[39]], ["r5"], start=100)  # r5 predicted again, later
    labels = pd.concat([labels_of(frame.head(30), contract, ids[:30]), labels_of(frame.head(1), contract, ["gone"])])
    write_table(labels, tmp_path / "labels.csv")

    joined = join_labels(contract, tmp_path / "logs", tmp_path / "labels.csv", tmp_path / "fresh.parquet")

    assert (joined.log_rows, joined.without_id, joined.labels) == (41, 1, 31)
    assert (joined.joined, joined.unmatched_labels, joined.repeated) == (30, 1, 1)
    table = read_table(tmp_path / "fresh.parquet")
    assert list(table.columns) == [name, *contract.feature_names, target]
    expected = frame.head(30).copy()
    expected.loc[5, contract.feature_names] = frame.loc[39, contract.feature_names]  # the latest features of r5
    expected = contract.validate_frame(expected, source="expected", with_target=True)
    expected.insert(0, name, ids[:30])
    got = table.sort_values(name, key=lambda keys: keys.str[1:].astype(int), ignore_index=True)
    pd.testing.assert_frame_equal(plain(got), plain(expected.reset_index(drop=True)))


def test_ids_are_text_whatever_type_the_labels_file_gives_them(tmp_path: Path) -> None:
    contract = with_id(PROJECT_CONTRACT)
    assert contract.id_column is not None
    frame = synthetic_frame(contract, 3, seed=2)
    write_log(tmp_path / "logs", contract, frame, ["007", "8", "9"])
    write_table(labels_of(frame.head(1), contract, ["007"]), tmp_path / "labels.csv")  # read as text: 007, not 7
    labels = labels_of(frame.iloc[1:], contract, ["8", "9"]).astype({contract.id_column: "int64"})
    write_table(labels, tmp_path / "labels.parquet")  # integers in the file, text in the log
    assert join_labels(contract, tmp_path / "logs", tmp_path / "labels.csv", tmp_path / "a.csv").joined == 1
    assert join_labels(contract, tmp_path / "logs", tmp_path / "labels.parquet", tmp_path / "b.csv").joined == 2


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("no ID column", ConfigError, r"the data contract has no id_column"),
        ("labels lack the target", DataError, r"the labels lack the column\(s\) \[{target}\]"),
        ("labels lack the ID", DataError, r"the labels lack the column\(s\) \[{id}\]"),
        ("an ID labelled twice", DataError, r"1 IDs are labelled more than once \(e.g. \['r1'\]\): keep one label"),
        ("a label without ID", DataError, r"1 label rows have no {id}"),
        ("no ID in common", DataError, r"none of the 2 labelled IDs .* is in the log .*nothing was written"),
        ("a label the contract refuses", ContractViolationError, r"target must be"),
        ("an output of another format", DataError, r"unsupported file type '.txt'"),
    ],
)
def test_a_join_that_cannot_give_a_training_table_writes_nothing(
    tmp_path: Path, contract: Contract, case: str, error: type[Exception], message: str
) -> None:
    identified = with_id(contract)
    name, target = identified.id_column, identified.target.name
    assert name is not None
    frame = synthetic_frame(identified, 3, seed=3)
    write_log(tmp_path / "logs", identified, frame, ["r0", "r1", "r2"])
    labels = labels_of(frame.head(2), identified, ["r0", "r1"])
    output = tmp_path / "fresh.csv"
    changes: dict[str, Any] = {
        "labels lack the target": lambda: labels.drop(columns=[target]),
        "labels lack the ID": lambda: labels.drop(columns=[name]),
        "an ID labelled twice": lambda: labels.assign(**{name: ["r1", "r1"]}),
        "a label without ID": lambda: labels.assign(**{name: pd.Series(["r0", None])}),
        "no ID in common": lambda: labels.assign(**{name: ["x0", "x1"]}),
        "a label the contract refuses": lambda: labels.astype({target: object}).assign(**{target: "not-a-label"}),
    }
    write_table(changes.get(case, lambda: labels)(), tmp_path / "labels.csv")
    if case == "an output of another format":
        output = tmp_path / "fresh.txt"
    used = contract if case == "no ID column" else identified
    with pytest.raises(error, match=message.format(target=re.escape(repr(target)), id=re.escape(repr(name)))):
        join_labels(used, tmp_path / "logs", tmp_path / "labels.csv", output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv", "logs"]


def test_a_log_file_of_another_contract_is_refused_naming_it(tmp_path: Path) -> None:
    contract = with_id(PROJECT_CONTRACT)
    frame = synthetic_frame(contract, 3, seed=4)
    path = write_log(tmp_path / "logs", contract, frame, ["r0", "r1", "r2"])
    other = contract.model_copy(update={"features": contract.features[1:]})  # the log has one feature more
    write_table(labels_of(frame, contract, ["r0", "r1", "r2"]), tmp_path / "labels.csv")
    extra = re.escape(f"{path}: columns not in the data contract: {[contract.feature_names[0]]}")
    with pytest.raises(DataError, match=extra):
        join_labels(other, tmp_path / "logs", tmp_path / "labels.csv", tmp_path / "fresh.csv")
