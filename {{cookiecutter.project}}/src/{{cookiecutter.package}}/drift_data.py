"""The current data of a drift check: read, checked against the contract, and sampled while read.

Current data is the service's prediction log (JSON lines, zstd-compressed once shipped to object
storage, where drift.py downloads it from; gzip is read too), or CSV/Parquet files where extra
columns (IDs, the target, probabilities) are allowed. Past ``drift.max_rows`` rows it is
sampled, seeded and stratified by time window, so the check costs the same on a day of
traffic as on a year of it. Tables are read twice, chunk by chunk: first their timestamp and
model version columns only (which rows exist, which version answered, the time windows), then
every column, each chunk checked against the contract and only its sampled rows kept. Memory
stays flat in the size of the data; the sample is the one the whole table would give. A log
file is read whole, once per pass, and one at a time. ``since``/``until`` keep the files of
those days, by their ``date=`` partition or the date in a log file's name.
"""

from __future__ import annotations

import io
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.json
from pandas.api.types import union_categoricals

from . import progress
from .contract import Contract, ContractViolationError, Problem
from .data import FORMATS, read_chunks, read_header
from .errors import DataError
from .log_shipping import download, in_range
from .model import LOG_COLUMNS, MODEL_VERSION, TIMESTAMP

LOG_FORMAT = ".jsonl"
LOG_FORMATS = (LOG_FORMAT, ".jsonl.zst", ".jsonl.gz")  # as written, as shipped, gzipped by hand
TIME_WINDOWS = 24  # strata of the sample: equal slices of the current data's time span
CHUNK_ROWS = 100_000  # rows of a table read at once


@dataclass(frozen=True)
class CurrentFile:
    """One file of current data, read once for its row index: row count, timestamps, answering versions."""

    path: Path
    columns: list[str]
    rows: int
    times: pd.Series | None  # the timestamp column parsed (UTC, NaT where unparseable), when the file has one
    versions: pd.Series | None  # the model version column (categorical: small whatever the rows), when present
    is_log: bool  # a prediction log (it may hold only what the service writes), read whole; a table, in chunks

    def chunks(self) -> Iterator[pd.DataFrame]:
        """Every column, a chunk at a time (a log is one chunk, read again: only one is in memory at once)."""
        if self.is_log:
            yield read_log(self.path)
        else:
            yield from read_chunks(self.path, CHUNK_ROWS)


Frames = list[CurrentFile]


@dataclass(frozen=True)
class CurrentData:
    """The rows to compare with the reference (sampled to the cap), and where they came from."""

    frame: pd.DataFrame
    files: int
    labelled: bool
    excluded: int  # rows answered by another model version than the one checked
    rows: int  # rows checked against the contract, before sampling
    window: dict[str, str] | None  # first and last timestamp (ISO 8601, UTC), when the data carries one


def is_log_file(path: Path) -> bool:
    """A prediction-log file, as the service writes it or as it ships it."""
    return path.name.lower().endswith(LOG_FORMATS)


def data_files(path: Path, since: date | None = None, until: date | None = None) -> list[Path]:
    """The data files at ``path``: the file itself, or every table under a folder (hidden ones skipped)."""
    if path.is_file():
        if path.suffix.lower() not in FORMATS and not is_log_file(path):
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
        and (file.suffix.lower() in FORMATS or is_log_file(file))
        and not any(part.startswith(".") for part in file.relative_to(path).parts)
        and in_range(file.relative_to(path).as_posix(), since, until)
    )
    if not files:
        days = "" if since is None and until is None else f" dated {since or '...'} to {until or '...'}"
        raise DataError(f"{path}: no .jsonl, .csv or .parquet files{days} in this folder, so no current data to check")
    return files


def read_log(path: Path) -> pd.DataFrame:
    """One prediction-log file; a last line still being written by the service is left out."""
    try:
        if path.suffix.lower() in (".zst", ".gz"):
            with pyarrow.input_stream(str(path), compression="detect") as stream:  # by the suffix
                raw = stream.read()
        else:
            raw = path.read_bytes()
    except (OSError, pyarrow.ArrowInvalid) as exc:
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


def check_columns(columns: list[str], contract: Contract, source: Path, *, is_log: bool) -> None:
    """Every feature must be present; a log may hold nothing else than what the service writes (the ID included)."""
    missing = [name for name in contract.feature_names if name not in columns]
    known = {*contract.feature_names, *LOG_COLUMNS, contract.id_column}
    extra = sorted(set(columns) - known) if is_log else []
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


def parse_times(raw: pd.Series) -> pd.Series:
    """Timestamps as UTC datetimes; NaT where a value is not an ISO 8601 time."""
    return pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")


def index_file(path: Path) -> CurrentFile:
    """Read a file's row index: a log whole, a table's timestamp and model version columns only, in chunks."""
    if is_log_file(path):
        log = read_log(path)
        times = parse_times(log[TIMESTAMP]) if TIMESTAMP in log.columns else None
        versions = log[MODEL_VERSION].astype("category") if MODEL_VERSION in log.columns else None
        return CurrentFile(path, list(log.columns), len(log), times, versions, True)
    columns = read_header(path)
    wanted = [name for name in (TIMESTAMP, MODEL_VERSION) if name in columns] or columns[:1]
    rows, stamps, answered = 0, [], []  # per chunk: parsed timestamps, model versions
    for chunk in read_chunks(path, CHUNK_ROWS, wanted):
        rows += len(chunk)
        if TIMESTAMP in chunk.columns:
            stamps.append(parse_times(chunk[TIMESTAMP]))
        if MODEL_VERSION in chunk.columns:
            answered.append(chunk[MODEL_VERSION].astype("category"))
    return CurrentFile(
        path,
        columns,
        rows,
        pd.concat(stamps, ignore_index=True) if stamps else None,
        pd.Series(union_categoricals(answered, ignore_order=True)) if answered else None,
        False,
    )


def read_files(path: Path, since: date | None = None, until: date | None = None, source: str = "") -> Frames:
    """The row index of every file at ``path`` with at least one row; none at all is a DataError."""
    files = [current for current in map(index_file, data_files(path, since, until)) if current.rows]
    if not files:
        raise DataError(f"{source or path}: no rows: nothing to compare with the reference yet")
    return files


@contextmanager
def indexed(current: Path | str, since: date | None, until: date | None, command: str) -> Iterator[Frames]:
    """The row index of the files at a local path, or under a URI prefix (s3://, gs://, az://, file://).

    The objects of the days asked under a prefix are downloaded to a temporary folder first (removed
    on exit), so memory stays bounded as it does for local files. ``command`` (the drift check, the
    labels join) heads the progress lines.
    """
    if isinstance(current, Path) or "://" not in current:
        with progress.phase(f"{command}: indexing {current}"):
            frames = read_files(Path(current), since, until)
        yield frames
        return
    with tempfile.TemporaryDirectory(prefix="current-") as folder:
        with progress.phase(f"{command}: downloading the logs under {current}"):
            found = download(current, Path(folder), since, until)
        if not found:
            days = "" if since is None and until is None else f" dated {since or '...'} to {until or '...'}"
            raise DataError(f"{current}: no .jsonl(.zst), .csv or .parquet objects{days} under this prefix")
        yield read_files(Path(folder), source=current)


def served_by(frames: Frames) -> str | None:
    """The model version that answered the most recent row (by timestamp, else by position), if recorded."""
    answered = []
    for current in frames:
        if current.versions is None:
            continue
        times = current.times if current.times is not None else pd.Series(pd.NaT, index=current.versions.index)
        rows = pd.DataFrame({TIMESTAMP: times.to_numpy(), MODEL_VERSION: current.versions.astype(object).to_numpy()})
        answered.append(rows.dropna(subset=MODEL_VERSION))
    rows = pd.concat(answered, ignore_index=True) if answered else pd.DataFrame()
    if rows.empty:
        return None
    last = len(rows) - 1
    times = pd.to_datetime(rows[TIMESTAMP], utc=True)
    last = int(times.argmax()) if times.notna().any() else last
    return str(rows[MODEL_VERSION].iloc[last])


def combine(
    frames: Frames,
    contract: Contract,
    path: Path | str,
    only_version: str | None,
    cap: int | None = None,
    seed: int = 0,
) -> CurrentData:
    """Check every row of each file against the contract, keeping a sample of ``cap`` rows (None: all).

    With ``only_version``, only the rows that version answered are kept (and checked); the sample
    is ``sample``'s on the kept rows, drawn from their index before any other column is read.
    """
    kept, masks, excluded = [], [], 0
    for current in frames:
        mine = np.ones(current.rows, dtype=bool)
        if only_version is not None and current.versions is not None:
            mine = (current.versions == only_version).to_numpy()
            excluded += int((~mine).sum())
            if not mine.any():
                continue  # an older version's log: its columns may follow an older contract
        check_columns(current.columns, contract, current.path, is_log=current.is_log)
        kept.append(current)
        masks.append(mine)
    times = _kept_times(kept, masks)
    rows = int(sum(mask.sum() for mask in masks))
    picked = np.arange(rows) if cap is None else sample_positions(times, rows, cap, seed)
    labelled = any(contract.target.name in current.columns for current in kept)
    frame, problems, target_problems = _read_sample(kept, masks, picked, contract, labelled)
    if problems:
        raise ContractViolationError(
            f"{path} (current data: fix or drop the rows a drift test cannot compare)", problems
        )
    if target_problems:
        raise ContractViolationError(f"{path} (the target, for quality metrics)", target_problems)
    window = None
    if times is not None and times.notna().any():
        window = {"start": times.min().isoformat(), "end": times.max().isoformat()}
    return CurrentData(frame, len(kept), labelled, excluded, rows, window)


def _kept_times(kept: Frames, masks: list[np.ndarray]) -> pd.Series | None:
    """The timestamps of the kept rows in order; None when no file has them, NaT for a file without."""
    if all(current.times is None for current in kept):
        return None
    parts = [
        (
            current.times
            if current.times is not None
            else pd.Series(pd.NaT, index=range(current.rows), dtype="datetime64[ns, UTC]")
        )[mask]
        for current, mask in zip(kept, masks, strict=True)
    ]
    return pd.concat(parts, ignore_index=True)


def _read_sample(
    kept: Frames, masks: list[np.ndarray], picked: np.ndarray, contract: Contract, labelled: bool
) -> tuple[pd.DataFrame, list[Problem], list[Problem]]:
    """Read every kept row in chunks: count its type and target problems, keep the ``picked`` positions."""
    types: Counter[tuple[str, str]] = Counter()
    targets: Counter[tuple[str, str]] = Counter()
    parts, offset = [], 0  # offset: the position of a chunk's first kept row among all kept rows
    target = contract.target.name
    with progress.track("drift: checking the current data", sum(current.rows for current in kept)) as tracker:
        for current, mask in zip(kept, masks, strict=True):
            start = 0  # the chunk's first row in its file
            for chunk in current.chunks():
                rows = chunk[mask[start : start + len(chunk)]]
                start += len(chunk)
                if labelled and target not in rows.columns:
                    rows = rows.assign(**{target: None})  # a file without labels among labelled ones: null targets
                types.update({(p.column, p.rule): p.rows for p in contract.check_types(rows)})
                if labelled:
                    targets.update({(p.column, p.rule): p.rows for p in contract.check_target(rows[target])})
                here = picked[(picked >= offset) & (picked < offset + len(rows))] - offset
                parts.append(rows.iloc[here])
                offset += len(rows)
                tracker.advance(len(chunk))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if TIMESTAMP in frame.columns:
        frame[TIMESTAMP] = parse_times(frame[TIMESTAMP])
    return frame, _in_contract_order(types, contract), _in_contract_order(targets, contract)


def _in_contract_order(counts: Counter[tuple[str, str]], contract: Contract) -> list[Problem]:
    """Problems counted over chunks, in the order one whole table reports them: contract order, nulls first."""
    order = {name: i for i, name in enumerate([*contract.feature_names, contract.target.name])}
    problems = [Problem(column, rule, rows) for (column, rule), rows in counts.items()]
    return sorted(problems, key=lambda p: (order[p.column], not p.rule.endswith("must not be null")))


def check_sample_size(current: CurrentData, reference: pd.DataFrame, min_rows: int, path: Path | str) -> None:
    """Both sides need ``drift.min_rows`` rows: on fewer, a drift test cannot tell a shift from noise."""
    if current.rows < min_rows:
        other = f" ({current.excluded} more answered by other model versions)" if current.excluded else ""
        raise DataError(
            f"{path}: {current.rows} current rows{other}, fewer than drift.min_rows ({min_rows}): too few "
            "for a drift test to see a shift. Wait for more traffic, pass more data with --current, "
            "or lower drift.min_rows in config/project.yaml"
        )
    if len(reference) < min_rows:
        raise DataError(
            f"the model's reference sample holds {len(reference)} rows, fewer than drift.min_rows ({min_rows}): "
            "retrain on more data (training.reference_rows sets the sample's size) or lower drift.min_rows"
        )


def sample(frame: pd.DataFrame, cap: int, random_state: int) -> pd.DataFrame:
    """Exactly ``cap`` rows when there are more, seeded; with timestamps, each time window keeps its share."""
    if len(frame) <= cap:
        return frame
    times = frame[TIMESTAMP] if TIMESTAMP in frame.columns else None
    return frame.iloc[sample_positions(times, len(frame), cap, random_state)]


def sample_positions(times: pd.Series | None, rows: int, cap: int, random_state: int) -> np.ndarray:
    """The sorted positions of ``sample``'s rows among ``rows``: all of them up to ``cap``."""
    if rows <= cap:
        return np.arange(rows)
    rng = np.random.default_rng(random_state)
    window = np.zeros(rows, dtype=np.int64)
    if times is not None and times.notna().all():
        stamps = times.astype("datetime64[ns, UTC]").astype("int64").to_numpy()
        span = max(int(stamps.max() - stamps.min()), 1)
        window = np.minimum((stamps - stamps.min()) * TIME_WINDOWS // span, TIME_WINDOWS - 1)
    counts = np.bincount(window)
    exact = counts * cap / rows
    quota = np.floor(exact).astype(np.int64)
    quota[np.argsort(quota - exact)[: cap - quota.sum()]] += 1  # largest remainders get the rows left over
    picked = []
    for index, take in enumerate(quota.tolist()):
        if take:
            members = np.flatnonzero(window == index)
            picked.append(members[rng.choice(len(members), size=take, replace=False)])  # O(take), no full shuffle
    return np.sort(np.concatenate(picked))
