"""Batch prediction: a CSV or Parquet file in, the same rows with the model's output columns out.

The input is streamed ``CHUNK_ROWS`` rows at a time: each chunk is validated against the
contract, predicted by the one ``Model`` and appended to the hidden temporary output, which is
renamed onto the output path only when every chunk passed. Memory stays flat whatever the size
of the file; contract problems are counted over all chunks and reported together, as for a table
read whole.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import progress, registry
from .contract import ContractViolationError, Problem
from .data import atomic_write, count_rows, read_chunks, table_format
from .errors import DataError
from .model import Model
from .settings import Settings

if TYPE_CHECKING:
    import pyarrow.parquet

CHUNK_ROWS = 100_000  # 24 MB of float64 per chunk at 30 features: memory is a few chunks, not the file


@dataclass(frozen=True)
class BatchResult:
    """What a batch run wrote."""

    tag: str
    rows: int
    output: Path | str  # a URI for the Spark engine


def predict_frame(frame: pd.DataFrame, model: Model, *, source: str) -> pd.DataFrame:
    """Predict every row of ``frame``; all input columns pass through unchanged, the outputs follow."""
    model.check_no_clash(list(frame.columns), source)
    features = model.contract.validate_frame(frame, source=source, with_target=False)
    outputs = model.output_frame(model.predict_frame(features), frame.index)
    return pd.concat([frame, outputs], axis=1)


def predict_file(
    settings: Settings, input_path: Path, output_path: Path, tag: str | None = None, *, chunk_rows: int = CHUNK_ROWS
) -> BatchResult:
    """Read, validate and predict chunk by chunk, written atomically: on any error no output file is written."""
    if input_path.resolve() == output_path.resolve():
        raise DataError(f"{output_path}: the output must not overwrite the input file")
    table_format(output_path)
    chunks = read_chunks(input_path, chunk_rows)
    model = registry.load(settings, tag)
    with atomic_write(output_path) as temporary, progress.track("predict", count_rows(input_path)) as tracker:
        rows = write_predictions(
            _counted(chunks, tracker), model, str(input_path), temporary, table_format(output_path)
        )
    return BatchResult(model.tag, rows, output_path)


def _counted(chunks: Iterable[pd.DataFrame], tracker: progress.Tracker) -> Iterator[pd.DataFrame]:
    for chunk in chunks:
        yield chunk
        tracker.advance(len(chunk))


def write_predictions(chunks: Iterable[pd.DataFrame], model: Model, source: str, path: Path, suffix: str) -> int:
    """Predict each chunk and append it to ``path``; after the first bad chunk the rest are only validated.

    Returns the rows written; raises ContractViolationError with every problem, its rows summed over the chunks.
    """
    problems: Counter[tuple[str, str]] = Counter()  # insertion-ordered: problems in the order first seen
    rows, empty = 0, True
    writer = _Writer(path, suffix)
    try:
        for chunk in chunks:
            if len(chunk) == 0 and not empty:
                continue  # an empty chunk after rows (a trailing empty CSV chunk) says nothing new
            empty = False
            try:
                scored = predict_frame(chunk, model, source=source)
            except ContractViolationError as exc:
                problems.update({(p.column, p.rule): p.rows for p in exc.problems})
                continue
            if not problems:
                writer.append(scored)
                rows += len(scored)
    finally:
        writer.close()
    if problems:
        raise ContractViolationError(source, [Problem(column, rule, n) for (column, rule), n in problems.items()])
    return rows


class _Writer:
    """Appends scored chunks to one CSV or Parquet file; every Parquet chunk is cast to the first one's schema."""

    def __init__(self, path: Path, suffix: str) -> None:
        self.path, self.suffix = path, suffix
        self.parquet: pyarrow.parquet.ParquetWriter | None = None
        self.csv: Any = None  # the open text file, once the header is written

    def append(self, frame: pd.DataFrame) -> None:
        if self.suffix == ".csv":
            if self.csv is None:
                self.csv = self.path.open("w", encoding="utf-8", newline="")
                frame.to_csv(self.csv, index=False)
            else:
                frame.to_csv(self.csv, index=False, header=False)
            return
        import pyarrow
        import pyarrow.parquet

        table = pyarrow.Table.from_pandas(frame, preserve_index=False)
        if self.parquet is None:
            # Dictionary pages pay off for text, not for measured floats: per chunk they tripled the writing time.
            keep = [field.name for field in table.schema if not pyarrow.types.is_floating(field.type)]
            self.parquet = pyarrow.parquet.ParquetWriter(self.path, table.schema, use_dictionary=keep)
        elif not table.schema.equals(self.parquet.schema, check_metadata=False):
            table = self._cast(table, self.parquet.schema)
        self.parquet.write_table(table)

    @staticmethod
    def _cast(table: Any, schema: Any) -> Any:
        """A later chunk whose columns were inferred as other types (CSV input): cast, or say which column."""
        try:
            return table.cast(schema)
        except Exception as exc:  # pyarrow raises ArrowInvalid or ArrowNotImplementedError
            changed = [
                f.name for f in schema if f.name in table.column_names and table.schema.field(f.name).type != f.type
            ]
            raise DataError(
                f"column(s) {changed} change type between the first rows and later ones ({exc}), so they cannot go "
                "into one Parquet file: write the output as .csv, or convert the input to Parquet first"
            ) from None

    def close(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
        if self.csv is not None:
            self.csv.close()
