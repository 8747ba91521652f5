"""Fresh training data from production traffic: the prediction log joined with labels collected later.

The service logs every record with the ID its client sent (the contract's ``id_column``); the labels
arrive later as a table of that ID and the target. ``join_labels`` reads the log (a folder, or the
URI prefix of the shipped logs, through drift_data, as the drift check does), keeps the rows whose
ID is labelled, inner-joins them with the labels, checks the result against the contract and
writes it atomically: the fresh table ``make retrain-data`` then makes the training data.

Duplicates: a record predicted more than once (a client retrying) keeps its latest prediction's
row, by timestamp (the answer the client saw last); an ID labelled twice is refused, since nothing
tells which label is right.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from .contract import Contract
from .data import read_header, read_table, table_format, write_table
from .drift_data import check_columns, indexed, parse_times
from .errors import ConfigError, DataError
from .model import TIMESTAMP

EXAMPLES = 5  # repeated IDs named in an error


@dataclass(frozen=True)
class Joined:
    """What a join read and wrote: counts of each side, of the matches and of what was left out."""

    log_rows: int  # rows in the log files read
    without_id: int  # log rows with no ID (a null, or a file written before the contract had one)
    labels: int  # rows of the labels table
    joined: int  # rows written: labelled IDs found in the log
    unmatched_labels: int  # labelled IDs the log does not hold
    repeated: int  # older predictions of an ID predicted more than once, left out
    path: Path


def id_column_of(contract: Contract) -> str:
    """The contract's ID column; without one the log holds nothing to join labels on."""
    if contract.id_column is None:
        raise ConfigError(
            "the data contract has no id_column, so the prediction log holds no ID to join labels on: add "
            "`id_column: <name>` to the contract, have the clients send that field with each record, and serve "
            "the model trained with it (docs/contract.md)"
        )
    return contract.id_column


def _ids(values: pd.Series) -> pd.Series:
    """IDs as text, as the API takes them (nulls kept): a Parquet integer ID 7 joins the logged "7"."""
    return values.astype(object).where(values.isna(), values.astype(str))


def read_labels(path: Path, contract: Contract) -> pd.DataFrame:
    """The labels table's ID and target columns; IDs as text (a CSV's ``007`` stays ``007``), each once."""
    name, target = id_column_of(contract), contract.target.name
    missing = [column for column in (name, target) if column not in read_header(path)]
    if missing:
        raise DataError(
            f"{path}: the labels lack the column(s) {missing}: a labels table holds the ID column {name!r} "
            f"(as the clients sent it) and the target {target!r}; other columns are ignored"
        )
    if table_format(path) == ".csv":
        try:
            labels = pd.read_csv(path, usecols=[name, target], dtype={name: str})
        except Exception as exc:  # pandas raises many types for a corrupt file
            raise DataError(f"{path}: cannot be read as csv: {exc}") from None
    else:
        labels = read_table(path)[[name, target]]
    labels[name] = _ids(labels[name])
    if labels.empty:
        raise DataError(f"{path}: no rows: no labels to join")
    if missing_ids := int(labels[name].isna().sum()):
        raise DataError(f"{path}: {missing_ids} label rows have no {name!r}: fill in their IDs or drop them")
    repeated = labels[name][labels[name].duplicated()].unique().tolist()
    if repeated:
        raise DataError(
            f"{path}: {len(repeated)} IDs are labelled more than once (e.g. {repeated[:EXAMPLES]}): "
            "keep one label per ID (which one is right cannot be told here)"
        )
    return labels


def _labelled_rows(
    contract: Contract, logs: Path | str, wanted: set[str], since: date | None, until: date | None
) -> tuple[pd.DataFrame, int, int]:
    """The log rows (ID, features, timestamp) whose ID is in ``wanted``, in log order; log rows and rows without ID."""
    name = id_column_of(contract)
    parts, rows, without = [], 0, 0
    with indexed(logs, since, until, "retrain join") as frames:
        for current in frames:
            rows += current.rows
            if name not in current.columns:
                without += current.rows  # logged before the contract had an ID
                continue
            check_columns(current.columns, contract, current.path, is_log=current.is_log)
            keep = [name, *contract.feature_names, *([TIMESTAMP] if TIMESTAMP in current.columns else [])]
            for chunk in current.chunks():
                ids = _ids(chunk[name])
                without += int(ids.isna().sum())
                parts.append(chunk.loc[ids.isin(wanted), keep].assign(**{name: ids}))
    found = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[name])
    return found, rows, without


def join_labels(
    contract: Contract,
    logs: Path | str,
    labels_path: Path,
    output: Path,
    since: date | None = None,
    until: date | None = None,
) -> Joined:
    """Join the log at ``logs`` with the labels on the ID; write the checked table to ``output`` (atomically).

    Nothing is written on any failure: no ID column, labels lacking a column or repeating an ID, no
    labelled ID in the log, or joined rows breaking the contract.
    """
    name = id_column_of(contract)
    table_format(output)  # a bad output name fails before anything is read
    labels = read_labels(labels_path, contract)
    found, log_rows, without = _labelled_rows(contract, logs, set(labels[name]), since, until)
    if TIMESTAMP in found.columns:  # the latest prediction of a repeated ID wins; rows without a time keep log order
        times = parse_times(found[TIMESTAMP])
        found = found.assign(**{TIMESTAMP: times}).sort_values(TIMESTAMP, kind="stable", na_position="first")
    latest = found.drop_duplicates(subset=name, keep="last")
    joined = latest.drop(columns=[TIMESTAMP], errors="ignore").merge(labels, on=name, how="inner")
    if joined.empty:
        raise DataError(
            f"none of the {len(labels)} labelled IDs of {labels_path} is in the log at {logs} ({log_rows} rows, "
            f"{without} without an ID): check that the clients send {name!r} with each record, that the labels "
            "use the same IDs, and that --since/--until cover the days they were predicted; nothing was written"
        )
    checked = contract.validate_frame(joined, source=f"{logs} joined with {labels_path}", with_target=True)
    checked.insert(0, name, joined[name])
    write_table(checked, output)
    return Joined(
        log_rows=log_rows,
        without_id=without,
        labels=len(labels),
        joined=len(checked),
        unmatched_labels=len(labels) - len(checked),
        repeated=len(found) - len(latest),
        path=output,
    )
