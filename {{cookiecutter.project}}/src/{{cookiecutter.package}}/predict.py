"""Batch prediction: a CSV or Parquet file in, the same rows with the model's output columns out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import registry
from .data import read_table, table_format, write_table
from .errors import DataError
from .model import Model
from .settings import Settings


@dataclass(frozen=True)
class BatchResult:
    """What a batch run wrote."""

    tag: str
    rows: int
    output: Path


def predict_frame(frame: pd.DataFrame, model: Model, *, source: str) -> pd.DataFrame:
    """Predict every row of ``frame``; all input columns pass through unchanged, the outputs follow."""
    model.check_no_clash(list(frame.columns), source)
    features = model.contract.validate_frame(frame, source=source, with_target=False)
    outputs = model.output_frame(model.predict_frame(features), frame.index)
    return pd.concat([frame, outputs], axis=1)


def predict_file(settings: Settings, input_path: Path, output_path: Path, tag: str | None = None) -> BatchResult:
    """Read, validate, predict and write atomically: on any error no output file is written."""
    if input_path.resolve() == output_path.resolve():
        raise DataError(f"{output_path}: the output must not overwrite the input file")
    table_format(output_path)
    frame = read_table(input_path)
    model = registry.load(settings, tag)
    result = predict_frame(frame, model, source=str(input_path))
    write_table(result, output_path)
    return BatchResult(model.tag, len(result), output_path)
