"""Tables in and out: the ``data.source`` of each kind, CSV/Parquet reading, atomic writing and file hashes.

``make data`` (``prepare_data``) leaves a table that satisfies the contract at ``data.path``:
a loader's DataFrame is written there, a file in the repository is only checked, and a URL is
downloaded there once its SHA-256 matches ``data.sha256``.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib
import os
import reprlib
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPMessage
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit

import pandas as pd

from .errors import ConfigError, DataError
from .settings import TABLE_FORMATS

if TYPE_CHECKING:
    from .contract import Contract
    from .settings import Settings

FORMATS = TABLE_FORMATS
DOWNLOAD_TIMEOUT_S = 30  # per connection attempt and per read; one attempt, no retries


def resolve_source(source: str) -> Callable[[], pd.DataFrame]:
    """Import the ``module:function`` named by ``data.source`` in the settings."""
    module_name, _, function_name = source.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"data.source: cannot import {source!r} ({exc}); expected 'module:function'") from None
    if not callable(function):
        raise ConfigError(f"data.source: {source!r} is not a function")
    return function  # type: ignore[no-any-return]


def table_format(path: Path) -> str:
    """The file type of a table path (.csv or .parquet); anything else is a DataError."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path}: unsupported file type {suffix or '(none)'!r}; use one of {', '.join(FORMATS)}")
    return suffix


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file; a missing or unreadable file is a DataError naming it."""
    return _read(path, table_format(path))


def _read(path: Path, suffix: str, name: object = None) -> pd.DataFrame:
    """Read ``path`` as ``suffix`` says (.csv or .parquet); errors name ``name`` (default: the path)."""
    if not path.is_file():
        raise DataError(f"{name or path}: file not found")
    try:
        return pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # pandas and pyarrow raise many types for a corrupt file
        raise DataError(f"{name or path}: cannot be read as {suffix[1:]}: {exc}") from None


@contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``, renamed onto it only if the block succeeds.

    A failure leaves neither a partial file nor a changed ``path``.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise DataError(f"{path}: cannot write here: {exc}") from None
    os.close(descriptor)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write CSV or Parquet atomically."""
    suffix = table_format(path)
    with atomic_write(path) as temporary:
        if suffix == ".csv":
            frame.to_csv(temporary, index=False)
        else:
            frame.to_parquet(temporary, index=False)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes: the data version recorded with every model."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Prepared:
    """What ``make data`` did: the table at ``data.path``, its rows, the line to print and any warnings."""

    path: Path
    rows: int
    message: str
    warnings: tuple[str, ...] = ()


def prepare_data(settings: Settings, contract: Contract) -> Prepared:
    """Leave a table that satisfies ``contract`` at ``data.path``, from ``data.source`` of any kind.

    A loader's DataFrame is written there atomically; a file in the repository is checked and nothing
    is written; a URL is downloaded beside ``data.path`` and renamed onto it once its SHA-256 equals
    ``data.sha256`` and it satisfies the contract (skipped when ``data.path`` already holds that file).
    Every failure is a ProjectError (exit 2) that leaves ``data.path`` as it was.
    """
    kind = settings.data.kind
    if kind == "loader":
        return _from_loader(settings, contract)
    if kind == "file":
        return _check_committed_file(settings, contract)
    return _download_source(settings, contract)


def load_from_loader(source: str) -> pd.DataFrame:
    """Call the ``module:function`` loader; anything but a DataFrame is a DataError naming both."""
    frame: object = resolve_source(source)()  # typed as a DataFrame, but a user's loader may return anything
    if not isinstance(frame, pd.DataFrame):
        returned = "None" if frame is None else f"a {type(frame).__name__} ({reprlib.repr(frame)})"
        raise DataError(f"data.source: the loader {source} returned {returned}, not a pandas DataFrame")
    return frame


def _from_loader(settings: Settings, contract: Contract) -> Prepared:
    source, path = settings.data.source, settings.data_path
    frame = load_from_loader(source)
    contract.validate_frame(frame, source=source, with_target=True)
    write_table(frame, path)
    return Prepared(path, len(frame), f"wrote {len(frame)} rows to {path}", _not_ignored(settings))


def _not_ignored(settings: Settings) -> tuple[str, ...]:
    """A warning when the table `make data` writes is not git-ignored (it would show up to be committed)."""
    if git_ignores(settings.data_path, settings.root) is not False:
        return ()
    return (
        f"data.path {settings.data.path} is not git-ignored, so the table `make data` writes there could be "
        "committed: write generated or downloaded tables under data/cache/ (ignored), or commit your file "
        "and make it data.source",
    )


def _check_committed_file(settings: Settings, contract: Contract) -> Prepared:
    source, path, root = settings.data.source, settings.data_path, settings.root
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise ConfigError(
            f"data.source: {source} resolves to {resolved}, outside the project root {root} (a symbolic link?), "
            "so CI would not have it: copy the file into the project and commit it"
        )
    if not path.is_file():
        raise DataError(
            f"data.source: {path}: file not found; put your training table (CSV or Parquet) there and commit it, "
            "or point data.source at it"
        )
    frame = contract.validate_frame(read_table(path), source=str(path), with_target=True)
    warnings: tuple[str, ...] = ()
    if git_ignores(path, root):
        warnings = (
            f"data.source {source} is git-ignored, so CI will not have it: move it outside data/cache/ "
            "and commit it, or remove the .gitignore rule that matches it",
        )
    message = f"ok: {len(frame)} rows of {path} satisfy the data contract (a file in the repository: nothing written)"
    return Prepared(path, len(frame), message, warnings)


def _download_source(settings: Settings, contract: Contract) -> Prepared:
    url, path, expected = settings.data.source, settings.data_path, settings.data.sha256
    suffix = table_format(path)
    if expected is None:  # settings refuse a URL without it; checked again for a hand-made Settings
        raise ConfigError(f"data.sha256: required when data.source is a URL ({url})")
    if path.is_file() and file_sha256(path) == expected:
        frame = contract.validate_frame(read_table(path), source=str(path), with_target=True)
        message = (
            f"{path} already holds {url} (sha256 {expected[:12]}): download skipped; "
            f"{len(frame)} rows satisfy the data contract"
        )
        return Prepared(path, len(frame), message)
    with atomic_write(path) as temporary:
        actual = download(url, temporary)
        if actual != expected:
            raise DataError(
                f"data.sha256: {url} has sha256 {actual}, expected {expected}; nothing was written. "
                "If the file changed on purpose (ask its publisher), set data.sha256 to the new value"
            )
        frame = contract.validate_frame(_read(temporary, suffix, url), source=url, with_target=True)
    message = f"downloaded {len(frame)} rows from {url} to {path} (sha256 {expected[:12]} verified)"
    return Prepared(path, len(frame), message, _not_ignored(settings))


class _HttpsRedirectsOnly(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to another https:// URL (never down to plain http://)."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: HTTPMessage, newurl: str
    ) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme.lower() != "https":
            raise urllib.error.HTTPError(newurl, code, f"redirected to {newurl}, which is not https://", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def download(url: str, target: Path) -> str:
    """Stream ``url`` (https:// or file://) into ``target`` and return its SHA-256.

    One attempt with a timeout of DOWNLOAD_TIMEOUT_S seconds on connecting and on each read;
    any failure is a DataError with the reason.
    """
    digest = hashlib.sha256()
    opener = urllib.request.build_opener(_HttpsRedirectsOnly)
    try:
        with opener.open(url, timeout=DOWNLOAD_TIMEOUT_S) as response, target.open("wb") as handle:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                handle.write(block)
    except urllib.error.HTTPError as exc:
        raise DataError(f"data.source: cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DataError(f"data.source: cannot download {url}: {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, truncated bodies
        raise DataError(f"data.source: cannot download {url}: {exc or type(exc).__name__}") from None
    return digest.hexdigest()


def git_ignores(path: Path, root: Path) -> bool | None:
    """Whether git ignores ``path`` in the repository at ``root``; None when that cannot be told.

    None outside a git work tree, without git, or for a path outside ``root``. A tracked file is
    never ignored.
    """
    git = shutil.which("git")
    if git is None or not path.resolve().is_relative_to(root.resolve()):
        return None
    try:
        done = subprocess.run(
            [git, "-C", str(root.resolve()), "check-ignore", "--quiet", "--", str(path.resolve())],
            capture_output=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {0: True, 1: False}.get(done.returncode)
