"""Batch prediction: a CSV or Parquet file in, the same rows with predictions and model version out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import registry
from .data import read_table, table_format, write_table
from .errors import DataError
from .settings import Settings

PREDICTION = "prediction"
MODEL_VERSION = "model_version"


def probability_columns(classes: list[object]) -> list[str]:
    """One ``probability_<class>`` column per class, in the model's class order."""
    return [f"probability_{label}" for label in classes]


@dataclass(frozen=True)
class BatchResult:
    """What a batch run wrote."""

    tag: str
    rows: int
    output: Path


def predict_frame(frame: pd.DataFrame, settings: Settings, tag: str | None, *, source: str) -> tuple[str, pd.DataFrame]:
    """Predict every row of ``frame``; all input columns pass through unchanged."""
    model = registry.get_model(settings, tag)
    contract = registry.model_contract(model)
    features = contract.validate_frame(frame, source=source, with_target=False)[contract.feature_names]
    pipeline = registry.load_pipeline(model)
    classes = list(pipeline.classes_)
    added = [PREDICTION, *probability_columns(classes), MODEL_VERSION]
    clashes = [column for column in added if column in frame.columns]
    if clashes:
        raise DataError(f"{source}: input already has the output column(s) {clashes}; rename or drop them")
    probabilities = pipeline.predict_proba(features)
    result = frame.copy()
    result[PREDICTION] = pipeline.classes_[probabilities.argmax(axis=1)]
    result[probability_columns(classes)] = probabilities
    result[MODEL_VERSION] = str(model.tag)
    return str(model.tag), result


def predict_file(settings: Settings, input_path: Path, output_path: Path, tag: str | None = None) -> BatchResult:
    """Read, validate, predict and write atomically: on any error no output file is written."""
    if input_path.resolve() == output_path.resolve():
        raise DataError(f"{output_path}: the output must not overwrite the input file")
    table_format(output_path)
    frame = read_table(input_path)
    model_tag, result = predict_frame(frame, settings, tag, source=str(input_path))
    write_table(result, output_path)
    return BatchResult(model_tag, len(result), output_path)
