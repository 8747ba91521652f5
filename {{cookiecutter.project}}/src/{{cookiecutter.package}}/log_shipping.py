"""Ships rotated prediction-log files to object storage, so the log outlives the pod.

The log writer hands over each file it closes; this module's own thread compresses it (zstd) into
``<prefix>/date=YYYY-MM-DD/model_version=<v>/<host>-<pid>-<part>-<random>.jsonl.zst`` (the host
is the pod's name: names never collide across pods, processes or restarts) and deletes the
local copy once the upload succeeded. A failed upload is counted (``upload_error``), retried
with exponential backoff and kept on the local disk meanwhile; nothing here ever touches a
request. Credentials come from the environment (AWS_* variables, an IAM role, workload
identity): a URI never carries them.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow
import pyarrow.fs

from .errors import ConfigError, DataError
from .settings import check_log_destination

log = logging.getLogger(__name__)

# A log file as the writer names it, or as a process that took it over renamed it (``.<pid>.adopted``).
LOG_NAME = re.compile(r"^predictions-(\d{4}-\d{2}-\d{2})-(\d+)-(\d+)\.jsonl(?:\.(\d+)\.adopted)?$")
DATED = re.compile(r"(?:^|/)date=(\d{4}-\d{2}-\d{2})/|(?:^|/)predictions-(\d{4}-\d{2}-\d{2})-")
DATA_SUFFIXES = (".jsonl", ".jsonl.zst", ".jsonl.gz", ".csv", ".parquet")  # what the drift check reads
_CHUNK = 1 << 20


def check_uri(uri: str) -> str:
    """A destination URI this module can write to, or a ConfigError naming the fix."""
    try:
        return check_log_destination(uri)
    except ValueError as exc:
        raise ConfigError(f"prediction log destination: {exc}") from None


def open_store(uri: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """The filesystem and root path of a destination URI (``az://`` through pyarrow's AzureFileSystem)."""
    parts = urlsplit(check_uri(uri))
    if parts.scheme == "az":
        account = os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")
        if not account:
            raise ConfigError(f"{uri}: set AZURE_STORAGE_ACCOUNT_NAME to the storage account of the container")
        return pyarrow.fs.AzureFileSystem(account_name=account), f"{parts.netloc}{parts.path}".rstrip("/")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if parts.scheme == "s3" and region and "region" not in parse_qs(parts.query):
        uri = f"{uri}{'&' if parts.query else '?'}region={region}"  # else pyarrow asks the bucket's region first
    try:
        filesystem, root = pyarrow.fs.FileSystem.from_uri(uri)
    except (pyarrow.ArrowInvalid, OSError) as exc:
        raise ConfigError(f"prediction log destination {uri!r}: {exc}") from None
    return filesystem, root.rstrip("/")


class LogShipper:
    """Uploads closed log files in the background; retries with backoff, counts every failed attempt."""

    def __init__(
        self,
        uri: str,
        model_tag: str,
        on_failure: Callable[[str], None],
        *,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
    ) -> None:
        self.uri = check_uri(uri)
        self._store: tuple[pyarrow.fs.FileSystem, str] | None = None  # opened on the upload thread (network)
        self._model_version = _safe(model_tag.rsplit(":", 1)[-1])  # the version of name:version
        self._on_failure = on_failure
        self._backoff_s, self._max_backoff_s = backoff_s, max_backoff_s
        self._host = _safe(os.environ.get("HOSTNAME") or socket.gethostname())
        self._pending: list[Path] = []
        self._lock = threading.Condition()
        self._stopping = False
        self._reported = False
        self._thread = threading.Thread(target=self._run, name="prediction-log-upload", daemon=True)
        self._thread.start()

    def submit(self, path: Path) -> None:
        """Queue a closed file for upload; returns at once."""
        with self._lock:
            self._pending.append(path)
            self._lock.notify()

    def adopt(self, folder: Path) -> None:
        """Queue the files left in ``folder`` by processes that no longer run (a killed or restarted worker).

        Each is first renamed to this process's claim: of workers starting together, one ships it.
        """
        for path in sorted(folder.glob("predictions-*.jsonl*")):
            match = LOG_NAME.match(path.name)
            owner = int(match[4] or match[2]) if match else os.getpid()
            if owner == os.getpid() or _alive(owner):
                continue
            claimed = path.with_name(f"{path.name.split('.jsonl')[0]}.jsonl.{os.getpid()}.adopted")
            try:
                path.rename(claimed)
            except OSError:
                continue  # another worker claimed it first
            self.submit(claimed)

    def close(self, timeout: float) -> None:
        """Try what is pending once more, for at most ``timeout`` seconds; what is left stays on disk."""
        with self._lock:
            self._stopping = True
            self._lock.notify()
        self._thread.join(timeout)
        with self._lock:
            left = len(self._pending)
        if left:
            log.error("%d prediction log file(s) not uploaded to %s: left on the local disk", left, self.uri)

    def key(self, path: Path, root: str) -> str:
        """The object name of a local log file: partitioned by date and model version, unique across pods."""
        match = LOG_NAME.match(path.name)
        day, pid, part = match.group(1, 2, 3) if match else (time.strftime("%Y-%m-%d", time.gmtime()), os.getpid(), 0)
        name = f"{self._host}-{pid}-{part}-{secrets.token_hex(4)}.jsonl.zst"
        return f"{root}/date={day}/model_version={self._model_version}/{name}"

    def upload(self, path: Path) -> None:
        """Write one file compressed under its key, then delete it locally (an object appears once complete)."""
        if self._store is None:
            self._store = open_store(self.uri)
        filesystem, root = self._store
        key = self.key(path, root)
        if isinstance(filesystem, pyarrow.fs.LocalFileSystem):
            filesystem.create_dir(key.rsplit("/", 1)[0], recursive=True)  # object stores have no folders
        # zstd (level 1): a fifth of the CPU of gzip's fastest level and a twentieth of its default, for
        # smaller files; the service's workers share the cores with this thread
        with (
            path.open("rb") as source,
            pyarrow.CompressedOutputStream(filesystem.open_output_stream(key, compression=None), "zstd") as out,
        ):
            while chunk := source.read(_CHUNK):
                out.write(chunk)
        path.unlink()

    def _run(self) -> None:
        """Upload the oldest pending file; after a failure, wait (doubling up to the maximum) and retry."""
        delay = 0.0
        while True:
            with self._lock:
                if delay and not self._stopping:
                    self._lock.wait(delay)
                while not self._pending:
                    if self._stopping:
                        return
                    self._lock.wait()
                path, stopping = self._pending[0], self._stopping
            try:
                if path.exists() and path.stat().st_size:
                    self.upload(path)
                elif path.exists():
                    path.unlink()  # nothing was written to it
            except Exception as exc:  # whatever the store raises, the thread goes on (and counts it)
                self._on_failure("upload_error")
                if not self._reported:
                    self._reported = True
                    log.error("cannot upload the prediction log to %s: %s (retrying, counting failures)", self.uri, exc)
                if stopping:
                    return  # one last attempt only: the grace period is short
                delay = min(max(delay * 2, self._backoff_s), self._max_backoff_s)
                continue
            delay = 0.0
            with self._lock:
                self._pending.remove(path)


def _safe(name: str) -> str:
    """A name usable in an object key on every store."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _alive(pid: int) -> bool:
    """Whether a process with this id runs (in this container's process namespace)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def log_date(name: str) -> date | None:
    """The day a log file holds: its ``date=`` partition, or the date in a local log file's name."""
    match = DATED.search(name)
    return date.fromisoformat(match[1] or match[2]) if match else None


def in_range(name: str, since: date | None, until: date | None) -> bool:
    """Whether a file is in the days ``since``..``until`` (inclusive); undated files only without a range."""
    if since is None and until is None:
        return True
    day = log_date(name)
    return day is not None and (since is None or day >= since) and (until is None or day <= until)


def download(uri: str, folder: Path, since: date | None = None, until: date | None = None) -> int:
    """Copy the data files under ``uri`` from the days asked into ``folder`` (streamed); how many."""
    filesystem, root = open_store(uri)
    try:
        found = filesystem.get_file_info(pyarrow.fs.FileSelector(root, recursive=True, allow_not_found=True))
    except OSError as exc:
        raise DataError(
            f"{uri}: cannot list the objects under it: {exc} (check the credentials in the environment)"
        ) from None
    wanted = sorted(
        info.path
        for info in found
        if info.type == pyarrow.fs.FileType.File
        and info.path.endswith(DATA_SUFFIXES)
        and not any(part.startswith(".") for part in info.path[len(root) :].split("/"))
        and in_range(info.path, since, until)
    )
    for key in wanted:
        target = folder / key[len(root) :].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with filesystem.open_input_stream(key, compression=None) as source, target.open("wb") as out:
                while chunk := source.read(_CHUNK):
                    out.write(chunk)
        except OSError as exc:
            raise DataError(f"{uri}: cannot read {key}: {exc}") from None
    return len(wanted)


def expired(uri: str, days: int, today: date) -> list[str]:
    """The objects under ``uri`` whose date partition is more than ``days`` days before ``today``."""
    filesystem, root = open_store(uri)
    try:
        found = filesystem.get_file_info(pyarrow.fs.FileSelector(root, recursive=True, allow_not_found=True))
    except OSError as exc:
        raise DataError(f"{uri}: cannot list the objects under it: {exc}") from None
    return sorted(
        info.path
        for info in found
        if info.type == pyarrow.fs.FileType.File
        and (day := log_date(info.path[len(root) :])) is not None
        and (today - day).days > days
    )


def prune(uri: str, keys: list[str]) -> None:
    """Delete these objects (what ``expired`` listed)."""
    filesystem, _ = open_store(uri)
    for key in keys:
        try:
            filesystem.delete_file(key)
        except OSError as exc:
            raise DataError(f"{uri}: cannot delete {key}: {exc} (the others before it are deleted)") from None
