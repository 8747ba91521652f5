"""The prediction log: every served record and its answer, as JSON lines the drift check reads.

A request only puts a row on an in-memory queue; a background thread writes the lines, so a
slow or full disk never slows or fails a request. Files rotate by day and by size, one file
per process (``predictions-YYYY-MM-DD-<pid>-<n>.jsonl``). A write that fails is counted
(``on_failure``) and reported once in the server log; a full queue drops rows, also counted.
With a shipper (log_shipping.py), every closed file goes to object storage: files then also
rotate by age (``rotate_s``, even when idle), and at shutdown the open file is closed and shipped.
The rows are production inputs: files are 0640 in a 0750 folder (owner and group, e.g. a log
shipper sharing the pod's group), and an existing folder open to other users is closed to them.
A record's ID (the contract's ``id_column``, when it has one) is logged with it: retraining joins
the log with labels on it (labels.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pydantic_core import to_json

if TYPE_CHECKING:
    from .log_shipping import LogShipper

log = logging.getLogger(__name__)

_STOP = object()
FILE_MODE = 0o640
FOLDER_MODE = 0o750


def _private(path: str, flags: int) -> int:
    """Opener creating files readable by owner and group only."""
    return os.open(path, flags, FILE_MODE)


class PredictionLog:
    """Append-only JSON-lines log written off the request path."""

    def __init__(
        self,
        folder: Path,
        *,
        on_failure: Callable[[str], None],
        max_file_bytes: int = 100_000_000,
        max_queue: int = 100_000,
        shipper: LogShipper | None = None,
        rotate_s: float = 3600.0,
    ) -> None:
        self.folder = folder
        self.shipper = shipper
        self._rotate_s = rotate_s
        self._on_failure = on_failure
        self._max_file_bytes = max_file_bytes
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._reported: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()
        if shipper is not None and folder.is_dir():
            shipper.adopt(folder)

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Queue rows for writing; never blocks and never raises."""
        stamp = datetime.now(UTC).isoformat()
        for row in rows:
            try:
                self._queue.put_nowait({"timestamp": stamp, **row})
            except queue.Full:
                self._fail("queue_full", "prediction log queue is full: rows are being dropped")

    def close(self, timeout: float = 10.0, upload_timeout: float = 15.0) -> None:
        """Flush what is queued and stop the writer (idempotent), then ship what is closed; at shutdown."""
        if not self._thread.is_alive():
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("the prediction log was not flushed within %s s: queued rows may be lost", timeout)
        if self.shipper is not None:
            self.shipper.close(upload_timeout)

    def _fail(self, reason: str, message: str) -> None:
        self._on_failure(reason)
        if reason not in self._reported:
            self._reported.add(reason)
            log.error("%s (further failures are only counted in the metric)", message)

    def _make_folder(self) -> None:
        self.folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        if (mode := self.folder.stat().st_mode) & 0o007:
            with contextlib.suppress(OSError):  # not ours to change (a mount point): the files are still 0640
                self.folder.chmod(mode & 0o7770)

    def _path(self, day: str, part: int) -> Path:
        return self.folder / f"predictions-{day}-{os.getpid()}-{part}.jsonl"

    def _run(self) -> None:
        """Writer loop: one open file, rotated by day and size, flushed after every write."""
        handle: TextIO | None = None
        path, day, part, size, opened = self.folder, "", 0, 0, 0.0
        wait = None if self.shipper is None else min(self._rotate_s, 60.0)
        while True:
            try:
                rows = [self._queue.get(timeout=wait)]
            except queue.Empty:
                rows = []  # idle: only the age of the open file may call for a rotation
            if handle is not None and self.shipper is not None and time.monotonic() - opened >= self._rotate_s:
                self._ship(handle, path)
                handle = None
            if not rows:
                continue
            while len(rows) < 1000:  # write what has piled up in one go
                try:
                    rows.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = _STOP in rows
            # pydantic's serializer: the standard json module took a quarter of a worker's CPU under batch load
            lines = "".join(to_json(row, fallback=str).decode() + "\n" for row in rows if row is not _STOP)
            try:
                today = f"{datetime.now(UTC):%Y-%m-%d}"
                if handle is None or today != day or size >= self._max_file_bytes:
                    if handle is not None:
                        self._ship(handle, path)
                    part = 0 if today != day else part + 1
                    day, size = today, 0
                    self._make_folder()
                    while (path := self._path(day, part)).exists() and path.stat().st_size >= self._max_file_bytes:
                        part += 1
                    handle = open(path, "a", encoding="utf-8", opener=_private)  # noqa: SIM115  (kept open)
                    size, opened = path.stat().st_size, time.monotonic()
                handle.write(lines)
                handle.flush()
                size += len(lines)
            except OSError as exc:
                if handle is not None:
                    with contextlib.suppress(OSError):
                        handle.close()
                handle = None  # reopen on the next write: the disk may come back
                self._fail("write_error", f"cannot write the prediction log in {self.folder}: {exc}")
            if stop:
                if handle is not None:
                    self._ship(handle, path)
                return

    def _ship(self, handle: TextIO, path: Path) -> None:
        """Close the open file and hand it to the shipper, if any."""
        handle.close()
        if self.shipper is not None:
            self.shipper.submit(path)
