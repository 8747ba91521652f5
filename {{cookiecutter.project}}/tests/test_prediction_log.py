from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from {{ cookiecutter.package }}.prediction_log import PredictionLog


def read_rows(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for path in sorted(folder.glob("*.jsonl")) for line in path.read_text().splitlines()]


def test_rows_are_written_as_json_lines_with_a_timestamp(tmp_path: Path) -> None:
    failures: list[str] = []
    log = PredictionLog(tmp_path / "log", on_failure=failures.append)
    log.append([{"x": 1.0, "prediction": 1}, {"x": 2.0, "prediction": 0}])
    log.close()
    rows = read_rows(tmp_path / "log")
    assert [(row["x"], row["prediction"]) for row in rows] == [(1.0, 1), (2.0, 0)]
    assert all("timestamp" in row for row in rows)
    assert failures == []


def test_files_rotate_by_size(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, on_failure=lambda reason: None, max_file_bytes=200)
    for i in range(20):
        log.append([{"i": i, "padding": "x" * 50}])
        log.close()
        log = PredictionLog(tmp_path, on_failure=lambda reason: None, max_file_bytes=200)
    log.close()
    assert len(list(tmp_path.glob("*.jsonl"))) > 1
    assert sorted(int(str(row["i"])) for row in read_rows(tmp_path)) == list(range(20))


def test_an_unwritable_folder_is_counted_and_reported_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    failures: list[str] = []
    log = PredictionLog(blocker / "log", on_failure=failures.append)
    with caplog.at_level(logging.ERROR):
        log.append([{"x": 1}])
        log.close()
        log2 = PredictionLog(blocker / "log", on_failure=failures.append)
        log2.append([{"x": 2}])
        log2.close()
    assert failures == ["write_error", "write_error"]
    assert caplog.text.count("cannot write the prediction log") == 2  # once per log instance


def test_a_full_queue_drops_rows_without_blocking(tmp_path: Path) -> None:
    failures: list[str] = []
    log = PredictionLog(tmp_path, on_failure=failures.append, max_queue=1)
    log.append([{"x": i} for i in range(1000)])
    log.close()
    assert "queue_full" in failures


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_full_disk_is_counted_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failures: list[str] = []
    monkeypatch.setattr(PredictionLog, "_path", lambda self, day, part: Path("/dev/full"))  # every write: ENOSPC
    log = PredictionLog(tmp_path, on_failure=failures.append)
    for i in range(100):
        log.append([{"x": i}])  # returns at once: the failing writes happen on the writer thread
    log.close()
    assert failures
    assert set(failures) == {"write_error"}


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)  # the usual default: what a process would create without asking for less
    yield
    os.umask(previous)


@pytest.mark.usefixtures("umask_022")
def test_the_log_is_closed_to_other_users(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "logs" / "predictions", on_failure=lambda reason: None)
    log.append([{"x": 1}])
    log.close()
    (path,) = (tmp_path / "logs" / "predictions").glob("*.jsonl")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750


@pytest.mark.usefixtures("umask_022")
def test_an_existing_folder_open_to_others_is_closed_to_them(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    log = PredictionLog(folder, on_failure=lambda reason: None)
    log.append([{"x": 1}])
    log.close()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o770
    assert [row["x"] for row in read_rows(folder)] == [1]


def test_close_writes_everything_queued_and_can_be_repeated(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, on_failure=lambda reason: None)
    log.append([{"i": i} for i in range(20_000)])
    log.close()
    log.close()  # a second close (shutdown hook after a test's own) returns at once
    assert [row["i"] for row in read_rows(tmp_path)] == list(range(20_000))
