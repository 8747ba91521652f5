"""Shipping the prediction log to object storage, and reading it back for the drift check.

The fast tests ship to a ``file://`` store; the slow ones start moto's S3 server on a free port
(the real S3 API, over HTTP) and kill a writing process to show what a crash loses.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pyarrow
import pyarrow.fs
import pytest
from prometheus_client import CollectorRegistry, multiprocess

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.data import read_table, write_table
from {{ cookiecutter.package }}.drift import check_drift
from {{ cookiecutter.package }}.drift_data import data_files
from {{ cookiecutter.package }}.errors import ConfigError, DataError
from {{ cookiecutter.package }}.labels import join_labels
from {{ cookiecutter.package }}.log_shipping import LogShipper, download, in_range
from {{ cookiecutter.package }}.observability import count_prediction_log_failure
from {{ cookiecutter.package }}.prediction_log import PredictionLog
from {{ cookiecutter.package }}.settings import Settings, check_log_destination

from .support import records_of, synthetic_frame
from .test_drift import shifted, with_drift
from .test_labels import START, labels_of, with_id, write_log

TODAY = f"{datetime.now(UTC):%Y-%m-%d}"


def shipped_rows(store: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(store.rglob("*.jsonl.zst")):
        with pyarrow.input_stream(str(path), compression="zstd") as stream:
            rows += [json.loads(line) for line in stream.read().decode().splitlines()]
    return rows


def fill(log: PredictionLog, rows: int) -> None:
    """Append rows one at a time, pausing so the writer sees them apart and rotates by size."""
    for i in range(rows):
        log.append([{"i": i, "padding": "x" * 50}])
        time.sleep(0.002)


def failures(reason: str) -> float:
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
    value = collected.get_sample_value("model_prediction_log_failures_total", {"reason": reason})
    return value or 0.0


def test_rotated_files_are_shipped_partitioned_and_removed_locally(tmp_path: Path) -> None:
    lost: list[str] = []
    shipper = LogShipper(f"file://{tmp_path / 'store'}/logs", "model:v1", lost.append)
    log = PredictionLog(tmp_path / "buffer", on_failure=lost.append, max_file_bytes=300, shipper=shipper)
    fill(log, 30)
    log.close()
    objects = sorted((tmp_path / "store" / "logs").rglob("*.jsonl.zst"))
    assert len(objects) > 1  # one per rotation, the last one at close
    assert {path.parent.relative_to(tmp_path / "store" / "logs").as_posix() for path in objects} == {
        f"date={TODAY}/model_version=v1"
    }
    assert len({path.name for path in objects}) == len(objects)
    assert sorted(int(row["i"]) for row in shipped_rows(tmp_path / "store")) == list(range(30))
    assert list((tmp_path / "buffer").glob("*.jsonl")) == []
    assert lost == []


def test_an_idle_file_is_shipped_once_old_enough(tmp_path: Path) -> None:
    shipper = LogShipper(f"file://{tmp_path / 'store'}", "m:1", lambda reason: None)
    log = PredictionLog(tmp_path / "buffer", on_failure=lambda reason: None, shipper=shipper, rotate_s=0.2)
    log.append([{"x": 1}])
    deadline = time.monotonic() + 5
    while not shipped_rows(tmp_path / "store") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [row["x"] for row in shipped_rows(tmp_path / "store")] == [1]  # before close: rotated for being old enough
    log.close()


def test_a_store_that_refuses_is_counted_retried_and_the_file_kept(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store should be")
    lost: list[str] = []
    shipper = LogShipper(f"file://{blocker}/logs", "m:1", lost.append, backoff_s=0.01, max_backoff_s=0.02)
    log = PredictionLog(tmp_path / "buffer", on_failure=lost.append, max_file_bytes=100, shipper=shipper)
    started = time.monotonic()
    fill(log, 20)
    assert time.monotonic() - started < 2  # appending never waits for the store
    log.close(upload_timeout=1)
    assert lost.count("upload_error") >= 2  # retried, each attempt counted
    assert set(lost) == {"upload_error"}
    assert sum(len(path.read_text().splitlines()) for path in (tmp_path / "buffer").glob("*.jsonl")) == 20


def test_files_left_by_dead_processes_are_shipped(tmp_path: Path) -> None:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    buffer = tmp_path / "buffer"
    buffer.mkdir()
    (buffer / f"predictions-{TODAY}-{child.stdout.strip()}-0.jsonl").write_text('{"x": 7}\n')
    (buffer / f"predictions-{TODAY}-{os.getpid()}-9.jsonl").write_text('{"x": 8}\n')  # ours: still open
    shipper = LogShipper(f"file://{tmp_path / 'store'}", "m:1", lambda reason: None)
    PredictionLog(buffer, on_failure=lambda reason: None, shipper=shipper).close()
    assert [row["x"] for row in shipped_rows(tmp_path / "store")] == [7]


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("ftp://host/logs", "is not a destination: use s3://bucket/prefix"),
        ("s3://", "is not a destination"),
        ("logs/predictions", "is not a destination"),
        ("s3://bucket/logs?access_key=AKIA&secret_key=x", "credentials in the URI"),  # pragma: allowlist secret
    ],
)
def test_a_bad_destination_is_refused_naming_the_fix(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("?", r"\?")):
        check_log_destination(uri)


def test_the_environment_overrides_the_destination(make_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings: Settings = make_settings()
    monkeypatch.setenv("PREDICTION_LOG_URI", "gs://bucket/logs")
    assert settings.prediction_log_uri == "gs://bucket/logs"
    monkeypatch.setenv("PREDICTION_LOG_URI", "bucket/logs")
    with pytest.raises(ConfigError, match="PREDICTION_LOG_URI: 'bucket/logs' is not a destination"):
        _ = settings.prediction_log_uri


def test_dates_select_files_by_partition_or_name() -> None:
    since, until = date(2026, 1, 2), date(2026, 1, 3)
    assert in_range("logs/date=2026-01-02/model_version=v1/a.jsonl.gz", since, until)
    assert in_range("predictions-2026-01-03-12-0.jsonl", since, until)
    assert not in_range("logs/date=2026-01-04/model_version=v1/a.jsonl.gz", since, until)
    assert not in_range("current.csv", since, None)  # undated: only read without a range
    assert in_range("current.csv", None, None)


def test_download_copies_the_days_asked_only(tmp_path: Path) -> None:
    for day in ("2026-01-01", "2026-01-02", "2026-01-03"):
        folder = tmp_path / "store" / f"date={day}" / "model_version=v1"
        folder.mkdir(parents=True)
        with gzip.open(folder / "a.jsonl.gz", "wt") as out:
            out.write('{"x": 1}\n')
    (tmp_path / "store" / "date=2026-01-02" / ".partial.jsonl.gz").write_text("hidden")
    copies = tmp_path / "copies"
    assert download(f"file://{tmp_path / 'store'}", copies, date(2026, 1, 2), None) == 2
    assert sorted(p.parent.parent.name for p in copies.rglob("*.gz")) == ["date=2026-01-02", "date=2026-01-03"]
    with pytest.raises(DataError, match=r"no \.jsonl, \.csv or \.parquet files dated 2030-01-01 to \.\.\."):
        data_files(copies, date(2030, 1, 1), None)


def test_logs_prune_lists_then_deletes_what_is_older_than_the_days_kept(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from {{ cookiecutter.package }}.cli import main

    today = datetime.now(UTC).date()
    for days_old in (0, 3, 10):
        folder = tmp_path / "store" / f"date={today - timedelta(days=days_old)}" / "model_version=v1"
        folder.mkdir(parents=True)
        (folder / "a.jsonl.gz").write_bytes(gzip.compress(b'{"x": 1}\n'))
    uri = f"file://{tmp_path / 'store'}"
    listed = CliRunner().invoke(main, ["logs-prune", "--days", "2", "--uri", uri])
    assert listed.exit_code == 0, listed.output
    assert "2 object(s) older than 2 days (dry run: add --yes to delete)" in listed.output
    assert len(list((tmp_path / "store").rglob("*.gz"))) == 3
    deleted = CliRunner().invoke(main, ["logs-prune", "--days", "2", "--uri", uri, "--yes"])
    assert deleted.exit_code == 0, deleted.output
    assert [p.parent.parent.name for p in (tmp_path / "store").rglob("*.gz")] == [f"date={today}"]


# -- a real S3 API: moto's server ------------------------------------------------------------


@pytest.fixture(scope="module")
def s3() -> Iterator[Callable[[str], str]]:
    """A bucket on a local S3 server; yields a URI maker for a prefix in it (credentials in the environment)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    saved = dict(os.environ)
    moto_accepts_any = "testing"
    os.environ.update(
        AWS_ACCESS_KEY_ID=moto_accepts_any, AWS_SECRET_ACCESS_KEY=moto_accepts_any, AWS_EC2_METADATA_DISABLED="true"
    )
    query = f"endpoint_override={host}:{port}&scheme=http&region=us-east-1"
    filesystem, _ = pyarrow.fs.FileSystem.from_uri(f"s3://logs?{query}&allow_bucket_creation=true")
    filesystem.create_dir("logs")
    yield lambda prefix: f"s3://logs/{prefix}?{query}"
    os.environ.clear()
    os.environ.update(saved)
    server.stop()


def stored_rows(uri: str) -> list[dict[str, Any]]:
    """Every row of every object under ``uri``, and check their keys' partitions on the way."""
    filesystem, root = pyarrow.fs.FileSystem.from_uri(uri)
    found = filesystem.get_file_info(pyarrow.fs.FileSelector(root, recursive=True, allow_not_found=True))
    rows = []
    for info in found:
        if info.type == pyarrow.fs.FileType.File:
            with filesystem.open_input_stream(info.path, compression="zstd") as stream:
                rows += [json.loads(line) for line in stream.read().decode().splitlines()]
    return rows


def keys(uri: str) -> list[str]:
    filesystem, root = pyarrow.fs.FileSystem.from_uri(uri)
    found = filesystem.get_file_info(pyarrow.fs.FileSelector(root, recursive=True, allow_not_found=True))
    return sorted(info.path[len(root) :] for info in found if info.type == pyarrow.fs.FileType.File)


@pytest.fixture(scope="module")
def service(service_module: ModuleType) -> Any:
    return service_module.Predictor()


@pytest.fixture
def own_log(service: Any) -> Iterator[None]:
    """Restore the service's log after a test gave it another."""
    shared = service.prediction_log
    yield
    service.prediction_log.close()
    service.prediction_log = shared


def send(service: Any, service_module: ModuleType, frame: pd.DataFrame, contract: Contract) -> int:
    """Serve every row as a single-record request, 50 at a time (the log writes each group apart); answers."""

    async def requests(rows: pd.DataFrame) -> list[Any]:
        records = [service_module.Record.model_validate(record) for record in records_of(rows, contract)]
        return list(await asyncio.gather(*(service.predict(record) for record in records)))

    answered = 0
    for start in range(0, len(frame), 50):
        answered += len(asyncio.run(requests(frame.iloc[start : start + 50])))
        time.sleep(0.01)
    return answered


@pytest.mark.slow
def test_the_service_writes_rotates_and_uploads_to_s3(
    s3: Callable[[str], str],
    service: Any,
    service_module: ModuleType,
    contract: Contract,
    own_log: None,
    tmp_path: Path,
) -> None:
    uri, version = s3("served"), service.predictor.tag.rsplit(":", 1)[-1]
    shipper = LogShipper(uri, service.predictor.tag, count_prediction_log_failure)
    service.prediction_log = PredictionLog(tmp_path, on_failure=print, max_file_bytes=5_000, shipper=shipper)
    assert send(service, service_module, synthetic_frame(contract, 200, seed=3), contract) == 200
    service.prediction_log.close()
    assert len(keys(uri)) > 1  # rotated by size: one object per rotation, the last at close
    assert {key.rsplit("/", 1)[0] for key in keys(uri)} == {f"/date={TODAY}/model_version={version}"}
    assert len(stored_rows(uri)) == 200
    assert list(tmp_path.glob("*.jsonl")) == []


@pytest.mark.slow  # the S3 client's own retries on a refused connection take seconds
def test_with_the_store_down_requests_succeed_and_failures_are_counted(
    service: Any, service_module: ModuleType, contract: Contract, own_log: None, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    uri = f"s3://logs/down?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    before = failures("upload_error")
    shipper = LogShipper(uri, "m:1", count_prediction_log_failure, backoff_s=0.1)
    service.prediction_log = PredictionLog(tmp_path, on_failure=print, max_file_bytes=2_000, shipper=shipper)
    assert send(service, service_module, synthetic_frame(contract, 100, seed=4), contract) == 100
    deadline = time.monotonic() + 60
    while failures("upload_error") == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert failures("upload_error") > before
    started = time.monotonic()
    service.prediction_log.close(upload_timeout=1)
    assert time.monotonic() - started < 5  # shutdown stays within its grace period
    kept = [line for path in tmp_path.glob("*.jsonl") for line in path.read_text().splitlines()]
    assert len(kept) == 100  # nothing lost: the files wait on the local disk


@pytest.mark.slow  # four drift reports
def test_drift_reads_s3_with_the_verdicts_of_the_local_files(
    s3: Callable[[str], str],
    trained: tuple[Settings, str],
    service: Any,
    service_module: ModuleType,
    contract: Contract,
    own_log: None,
    tmp_path: Path,
) -> None:
    settings, tag = trained
    settings = with_drift(settings, tmp_path / "drift")
    requests = registry.load(settings, tag).reference
    moved, _ = shifted(requests, contract, settings.objectives.max_drift_share)
    for name, rows in (("same", requests), ("shifted", moved)):
        service.prediction_log.close()
        service.prediction_log = PredictionLog(tmp_path / name, on_failure=print, max_file_bytes=20_000)
        send(service, service_module, rows, contract)
        service.prediction_log.close()
        here = check_drift(settings, tmp_path / name).summary
        shutil.copytree(tmp_path / name, tmp_path / f"{name}-buffer")
        uri = s3(f"drift-{name}")
        shipper = LogShipper(uri, tag, print)
        for path in sorted((tmp_path / f"{name}-buffer").glob("*.jsonl")):
            shipper.submit(path)
        shipper.close(30)
        remote = check_drift(settings, uri, since=date.fromisoformat(TODAY), until=date.fromisoformat(TODAY)).summary
        assert remote["current"]["rows"] == here["current"]["rows"] == len(requests)
        assert remote["current"]["files"] == here["current"]["files"] > 1
        for key in ("drift_detected", "drifted_features", "drifted_share", "prediction"):
            assert remote[key] == here[key]
        assert remote["drift_detected"] is (name == "shifted")
    with pytest.raises(DataError, match=r"no \.jsonl.* objects dated 2000-01-01 to 2000-01-02 under this prefix"):
        check_drift(settings, s3("drift-same"), since=date(2000, 1, 1), until=date(2000, 1, 2))


@pytest.mark.slow
def test_labels_join_the_shipped_log_as_they_join_the_local_one(
    s3: Callable[[str], str], contract: Contract, tmp_path: Path
) -> None:
    identified = with_id(contract)
    frame = synthetic_frame(identified, 30, seed=7)
    ids = [f"s{i}" for i in range(30)]
    path = write_log(tmp_path / "logs", identified, frame, ids)
    write_table(labels_of(frame.head(20), identified, ids[:20]), tmp_path / "labels.parquet")
    here = join_labels(identified, tmp_path / "logs", tmp_path / "labels.parquet", tmp_path / "here.parquet")
    uri = s3("labelled")
    shipper = LogShipper(uri, "model:1", print)
    shipper.submit(Path(shutil.copy(path, tmp_path / path.name)))  # the shipper deletes what it uploaded
    shipper.close(30)
    day = START.date()
    remote = join_labels(identified, uri, tmp_path / "labels.parquet", tmp_path / "remote.parquet", day, day)
    assert (remote.log_rows, remote.joined, remote.unmatched_labels) == (here.log_rows, here.joined, 0) == (30, 20, 0)
    pd.testing.assert_frame_equal(read_table(tmp_path / "remote.parquet"), read_table(tmp_path / "here.parquet"))
    old = date(2000, 1, 1)
    with pytest.raises(DataError, match=r"no \.jsonl.* objects dated 2000-01-01 to 2000-01-01 under this prefix"):
        join_labels(identified, uri, tmp_path / "labels.parquet", tmp_path / "none.parquet", old, old)


WORKER = """
import sys, time
from pathlib import Path
from PACKAGE.log_shipping import LogShipper
from PACKAGE.prediction_log import PredictionLog

shipper = LogShipper(sys.argv[2], "m:1", print)
log = PredictionLog(Path(sys.argv[1]), on_failure=print, max_file_bytes=2_000, shipper=shipper)
for i in range(300):
    log.append([dict(i=i, padding="x" * 50)])
    time.sleep(0.002)
print("appended", flush=True)
time.sleep(600)
"""


@pytest.mark.slow  # a worker process started and killed
def test_a_killed_worker_loses_at_most_its_open_file_which_the_next_one_ships(
    s3: Callable[[str], str], tmp_path: Path
) -> None:
    uri = s3("killed")
    script = WORKER.replace("PACKAGE", "{{ cookiecutter.package }}")
    with subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path), uri], stdout=subprocess.PIPE, text=True
    ) as worker:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "appended"
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("*.jsonl"))) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)  # the rotated files are uploaded, then deleted
        time.sleep(0.2)  # the writer has written the last rows it was given
        worker.send_signal(signal.SIGKILL)
    (open_file,) = tmp_path.glob("*.jsonl")
    unshipped = [json.loads(line)["i"] for line in open_file.read_text().splitlines()]
    shipped = [row["i"] for row in stored_rows(uri)]
    assert sorted(shipped + unshipped) == list(range(300))  # lost with the pod: the open file only
    shipper = LogShipper(uri, "m:1", print)
    PredictionLog(tmp_path, on_failure=print, shipper=shipper).close()  # the next worker ships it
    assert sorted(row["i"] for row in stored_rows(uri)) == list(range(300))
