"""Tables in and out: the ``data.source`` of each kind, CSV/Parquet reading, atomic writing and file hashes.

``make data`` (``prepare_data``) leaves a table that satisfies the contract at ``data.path``:
a loader's DataFrame is written there, a file in the repository is only checked, and a URL is
downloaded there once its SHA-256 matches ``data.sha256``.
"""

from __future__ import annotations

import csv
import fcntl
import glob
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
PARQUET_READ_BUFFER = 1 << 20  # read column chunks through 1 MiB buffers, not each row group whole into memory
OTHER_DELIMITERS = {";": "semicolons (;)", "\t": "tabs", "|": "pipes (|)"}  # a header of one field holding one


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
    """Read ``path`` as ``suffix`` says (.csv or .parquet); errors name ``name`` (default: the path).

    The column names are checked as the file holds them, before pandas reads it: pandas would
    rename a repeated CSV column ``x`` to ``x.1`` (an extra column nobody asked for).
    """
    name = name or path
    _read_header(path, suffix, name)
    try:
        return pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # pandas and pyarrow raise many types for a corrupt file
        raise DataError(f"{name}: cannot be read as {suffix[1:]}: {exc}") from None


def read_header(path: Path) -> list[str]:
    """The column names of a CSV or Parquet file, checked as ``read_table`` checks them; no row is read."""
    return _read_header(path, table_format(path), path)


def _read_header(path: Path, suffix: str, name: object) -> list[str]:
    """Check that the file exists and its column names, without reading any row."""
    import pyarrow.parquet  # what pandas reads Parquet with; only its schema here

    if not path.is_file():
        raise DataError(f"{name}: file not found")
    try:
        header = _csv_header(path) if suffix == ".csv" else pyarrow.parquet.read_schema(path).names
    except Exception as exc:  # pyarrow raises many types for a file that is not Parquet
        raise DataError(f"{name}: cannot be read as {suffix[1:]}: {exc}") from None
    _check_header(header, name)
    return header


def read_chunks(path: Path, rows: int, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """Read a CSV or Parquet file ``rows`` rows at a time, so memory stays flat whatever its size.

    The file and its header are checked before the first chunk is asked for (the same errors as
    ``read_table``). A table without rows yields one empty chunk holding its columns, so a caller
    validates it like any other. Parquet is read by record batches, CSV by pandas' chunked reader;
    a chunk's column types are inferred from its own rows, as ``read_table`` infers them from all.
    ``columns`` (each in the file) reads only those.
    """
    suffix = table_format(path)
    _read_header(path, suffix, path)
    return _chunks(path, suffix, rows, columns)


def count_rows(path: Path) -> int | None:
    """The rows of a Parquet file, from its footer; None for CSV, whose rows are known only once read."""
    if table_format(path) != ".parquet":
        return None
    import pyarrow.parquet

    try:
        return int(pyarrow.parquet.ParquetFile(path).metadata.num_rows)
    except Exception:  # unreadable: read_chunks and read_table say why
        return None


def _chunks(path: Path, suffix: str, rows: int, columns: list[str] | None) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet

    try:
        if suffix == ".csv":
            with pd.read_csv(path, chunksize=rows, usecols=columns) as reader:  # a header alone yields one empty chunk
                yield from reader
            return
        parquet = pyarrow.parquet.ParquetFile(path, pre_buffer=False, buffer_size=PARQUET_READ_BUFFER)
        if parquet.metadata.num_rows == 0:
            yield parquet.schema_arrow.empty_table().select(columns or parquet.schema_arrow.names).to_pandas()
        for batch in parquet.iter_batches(batch_size=rows, columns=columns, use_threads=False):  # one batch live
            yield batch.to_pandas()
    except Exception as exc:  # pandas and pyarrow raise many types for a corrupt file
        raise DataError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from None


def _csv_header(path: Path) -> list[str]:
    """The first non-blank row of a CSV file, as written (pandas skips blank lines too)."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        return next((row for row in csv.reader(handle) if row), [])


def _check_header(header: list[str], name: object) -> None:
    """Refuse repeated column names, and a CSV header of one field that another delimiter separates."""
    repeated = sorted({column for column in header if header.count(column) > 1})
    if repeated:
        raise DataError(
            f"{name}: duplicate column names {repeated}: each column may appear once; rename or drop the copies"
        )
    if len(header) == 1 and (found := [d for d in OTHER_DELIMITERS if d in header[0]]):
        delimiter = max(found, key=header[0].count)
        raise DataError(
            f"{name}: the header is one column, {reprlib.repr(header[0])}, separated by "
            f"{OTHER_DELIMITERS[delimiter]} instead of commas: save the file as comma-separated CSV "
            f"(e.g. pandas.read_csv(path, sep={delimiter!r}).to_csv(path, index=False)) or as Parquet"
        )


@contextmanager
def atomic_write(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``, renamed onto it only if the block succeeds.

    A failure leaves neither a partial file nor a changed ``path``. The temporary file stays locked
    while this process lives: the kernel drops the lock of a killed process, so the next write to
    ``path`` removes the temporaries that killed runs left (a SIGKILL runs no cleanup code).
    """
    prefix = f".{path.name}."
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_abandoned(path.parent, f"{glob.escape(prefix)}*{glob.escape(suffix)}")
        descriptor, temporary = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise DataError(f"{path}: cannot write here: {exc}") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another run can only find it locked
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
        os.close(descriptor)


def remove_abandoned(folder: Path, pattern: str) -> None:
    """Remove the temporary files or folders matching ``pattern`` in ``folder`` whose writer is dead.

    A live run holds a lock on its temporary (``atomic_write``, the drift report's staging folder);
    one that nobody holds was left by a killed run. A temporary that cannot be removed is left.
    """
    for candidate in folder.glob(pattern):
        try:
            descriptor = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue  # gone already (another run removed it), or a symbolic link: nothing to lock
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if candidate.is_dir():
                shutil.rmtree(candidate)
            else:
                candidate.unlink()
        except OSError:
            continue  # a live run holds it, or it is not ours to remove
        finally:
            os.close(descriptor)


def require_folder(folder: Path, given: str) -> None:
    """A folder named on the command line must exist: a mistyped one is refused, not created."""
    if not folder.is_dir():
        raise DataError(
            f"{given}: the folder {folder} does not exist (a typo?): create it first (mkdir -p {folder}) "
            "or pick an existing folder; nothing was written"
        )


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
{%- if cookiecutter.data_versioning == "dvc" %}
            f"data.source {source} is git-ignored (DVC tracks it instead), so CI has it only from the DVC "
            "remote: `dvc push` it and set the repository variable DVC_REMOTE_URL (docs/data-versioning.md)",
{%- else %}
            f"data.source {source} is git-ignored, so CI will not have it: move it outside data/cache/ "
            "and commit it, or remove the .gitignore rule that matches it",
{%- endif %}
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
