"""The current data of a drift check: read, checked against the contract, and sampled to a cap.

Current data is the service's prediction log (JSON lines), or CSV/Parquet files where extra
columns (IDs, the target, probabilities) are allowed. Past ``drift.max_rows`` rows it is
sampled, seeded and stratified by time window, so the check costs the same on a day of
traffic as on a year of it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.json

from .contract import Contract, ContractViolationError
from .data import FORMATS, read_table
from .errors import DataError
from .model import LOG_COLUMNS, MODEL_VERSION, TIMESTAMP

LOG_FORMAT = ".jsonl"
TIME_WINDOWS = 24  # strata of the sample: equal slices of the current data's time span


Frames = list[tuple[Path, pd.DataFrame]]


@dataclass(frozen=True)
class CurrentData:
    """The rows to compare with the reference, and where they came from."""

    frame: pd.DataFrame
    files: int
    labelled: bool
    excluded: int  # rows answered by another model version than the one checked

    @property
    def window(self) -> dict[str, str] | None:
        """First and last timestamp (ISO 8601, UTC), when the data carries one."""
        if TIMESTAMP not in self.frame.columns or self.frame[TIMESTAMP].isna().all():
            return None
        times = self.frame[TIMESTAMP]
        return {"start": times.min().isoformat(), "end": times.max().isoformat()}


def data_files(path: Path) -> list[Path]:
    """The data files at ``path``: the file itself, or every table under a folder (hidden ones skipped)."""
    if path.is_file():
        if path.suffix.lower() not in (*FORMATS, LOG_FORMAT):
            raise DataError(f"{path}: unsupported file type; use .jsonl (prediction log), .csv or .parquet")
        return [path]
    if not path.is_dir():
        raise DataError(
            f"{path}: not found. Serve the model and send it requests (`make serve`) to fill the "
            "prediction log, or pass a file or folder with `--current PATH`"
        )
    files = sorted(
        file
        for file in path.rglob("*")
        if file.is_file()
        and file.suffix.lower() in (*FORMATS, LOG_FORMAT)
        and not any(part.startswith(".") for part in file.relative_to(path).parts)
    )
    if not files:
        raise DataError(f"{path}: no .jsonl, .csv or .parquet files in this folder, so no current data to check")
    return files


def read_log(path: Path) -> pd.DataFrame:
    """One prediction-log file; a last line still being written by the service is left out."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read: {exc}") from None
    complete = raw[: raw.rfind(b"\n") + 1]
    if not complete.strip():
        return pd.DataFrame()
    try:
        table = pyarrow.json.read_json(io.BytesIO(complete))
    except pyarrow.ArrowInvalid as exc:
        raise DataError(f"{path}: not a prediction log (JSON lines): {exc}") from None
    frame: pd.DataFrame = table.to_pandas()
    return frame


def check_columns(frame: pd.DataFrame, contract: Contract, source: Path, *, is_log: bool) -> None:
    """Every feature must be present; a log may hold nothing else than what the service writes."""
    missing = [name for name in contract.feature_names if name not in frame.columns]
    extra = sorted(set(frame.columns) - set(contract.feature_names) - LOG_COLUMNS) if is_log else []
    problems = []
    if missing:
        problems.append(f"columns missing relative to the data contract: {missing}")
    if extra:
        problems.append(f"columns not in the data contract: {extra}")
    if problems:
        hint = (
            "was it written by a model with another contract? Point --current at that model's logs only"
            if is_log
            else "a current data file must carry every feature of the contract; other columns are ignored"
        )
        raise DataError(f"{source}: {'; '.join(problems)} ({hint})")


def read_files(path: Path) -> Frames:
    """Every table at ``path`` with at least one row; none at all is a DataError."""
    frames = []
    for file in data_files(path):
        frame = read_log(file) if file.suffix.lower() == LOG_FORMAT else read_table(file)
        if not frame.empty:
            frames.append((file, frame))
    if not frames:
        raise DataError(f"{path}: no rows: nothing to compare with the reference yet")
    return frames


def served_by(frames: Frames) -> str | None:
    """The model version that answered the most recent row (by timestamp, else by position), if recorded."""
    answered = [
        frame[[column for column in (TIMESTAMP, MODEL_VERSION) if column in frame.columns]].dropna(subset=MODEL_VERSION)
        for _, frame in frames
        if MODEL_VERSION in frame.columns
    ]
    rows = pd.concat(answered, ignore_index=True) if answered else pd.DataFrame()
    if rows.empty:
        return None
    last = len(rows) - 1
    if TIMESTAMP in rows.columns:
        times = pd.to_datetime(rows[TIMESTAMP], utc=True, errors="coerce", format="ISO8601")
        last = int(times.argmax()) if times.notna().any() else last
    return str(rows[MODEL_VERSION].iloc[last])


def combine(frames: Frames, contract: Contract, path: Path, only_version: str | None) -> CurrentData:
    """Check each file's columns and concatenate; with ``only_version``, keep the rows that version answered."""
    kept, excluded = [], 0
    for file, frame in frames:
        if only_version is not None and MODEL_VERSION in frame.columns:
            mine = frame[MODEL_VERSION] == only_version
            excluded += int((~mine).sum())
            frame = frame[mine]
            if frame.empty:
                continue  # an older version's log: its columns may follow an older contract
        check_columns(frame, contract, file, is_log=file.suffix.lower() == LOG_FORMAT)
        kept.append(frame)
    frame = pd.concat(kept, ignore_index=True) if len(kept) > 1 else kept[0].reset_index(drop=True)
    if TIMESTAMP in frame.columns:
        frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True, errors="coerce", format="ISO8601")
    target = contract.target.name
    labelled = target in frame.columns
    if labelled and (problems := contract.check_target(frame[target])):
        raise ContractViolationError(f"{path} (the target, for quality metrics)", problems)
    return CurrentData(frame, len(kept), labelled, excluded)


def sample(frame: pd.DataFrame, cap: int, random_state: int) -> pd.DataFrame:
    """Exactly ``cap`` rows when there are more, seeded; with timestamps, each time window keeps its share."""
    if len(frame) <= cap:
        return frame
    rng = np.random.default_rng(random_state)
    window = np.zeros(len(frame), dtype=np.int64)
    if TIMESTAMP in frame.columns and frame[TIMESTAMP].notna().all():
        times = frame[TIMESTAMP].astype("datetime64[ns, UTC]").astype("int64").to_numpy()
        span = max(int(times.max() - times.min()), 1)
        window = np.minimum((times - times.min()) * TIME_WINDOWS // span, TIME_WINDOWS - 1)
    counts = np.bincount(window)
    exact = counts * cap / len(frame)
    quota = np.floor(exact).astype(np.int64)
    quota[np.argsort(quota - exact)[: cap - quota.sum()]] += 1  # largest remainders get the rows left over
    picked = []
    for index, take in enumerate(quota.tolist()):
        if take:
            members = np.flatnonzero(window == index)
            picked.append(members[rng.choice(len(members), size=take, replace=False)])  # O(take), no full shuffle
    return frame.iloc[np.sort(np.concatenate(picked))]
