"""Tables in and out: the ``data.source`` loader, CSV/Parquet reading, atomic writing and file hashes."""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from .errors import ConfigError, DataError

FORMATS = (".csv", ".parquet")


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
    suffix = table_format(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # pandas and pyarrow raise many types for a corrupt file
        raise DataError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from None


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
