"""One loaded model version, behind every prediction path: batch, drift, evaluation, the service and its log.

A ``Model`` holds the fitted pipeline with what it was trained under (tag, contract, task, classes,
reference sample) and is the only code that calls ``predict``/``predict_proba`` or names output
columns. The pipeline takes the contract's raw features as one matrix in contract order; frames
and request records are turned into that matrix here, so both paths give the pipeline the same
input (numbers as float64, categories as strings with None for missing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from .contract import CategoricalTarget, Contract, Task
from .errors import DataError

if TYPE_CHECKING:
    from .onnx_graph import Runner

Runtime = Literal["onnx", "sklearn"]

# Column names of every output: batch predictions, drift tables and the prediction log.
PREDICTION = "prediction"
MODEL_VERSION = "model_version"
PROBABILITY_PREFIX = "probability_"
PROBABILITIES = "probabilities"  # an API answer's class probabilities, keyed by class
TIMESTAMP = "timestamp"  # the prediction log's time of answer
RUNTIME = "runtime"  # the prediction log's runtime that answered (onnx or sklearn)
LOG_COLUMNS = frozenset({TIMESTAMP, PREDICTION, MODEL_VERSION, RUNTIME})  # what the log adds to the features
# The record ID is the contract's ``id_column`` (named by the user): answers and log rows carry it as sent.
RESERVED = LOG_COLUMNS | {PROBABILITIES}  # output names an ID column may not take, nor any probability_ name


def python_value(value: Any) -> Any:
    """A numpy scalar as the Python value JSON and pydantic expect (np.int64(1) -> 1)."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class Predictions:
    """What the model said about some rows: a class or value each, and class probabilities (classification)."""

    values: list[Any]
    probabilities: np.ndarray | None  # rows x classes, in ``Model.classes`` order

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Model:
    """A registered model version, loaded: everything a prediction needs and says about itself."""

    tag: str
    contract: Contract
    pipeline: Pipeline
    reference: pd.DataFrame = field(repr=False)  # training rows stored with the version (drift reference)
    labels: Mapping[str, str] = field(default_factory=dict, repr=False)  # lineage: data and params hashes, git
    metadata: Mapping[str, Any] = field(default_factory=dict, repr=False)  # metrics, objectives, params, rows
    graph: Runner | None = field(default=None, repr=False)  # the version's ONNX graph, when it answers

    @property
    def runtime(self) -> Runtime:
        """Which runtime answers: the parity-checked ONNX graph, or the scikit-learn pipeline."""
        return "sklearn" if self.graph is None else "onnx"

    def with_graph(self, graph: Runner | None) -> Model:
        """The same version answered by ``graph`` (None: by its scikit-learn pipeline)."""
        return replace(self, graph=graph)

    @property
    def task(self) -> Task:
        """Classification or regression, from the contract's target."""
        return self.contract.task

    @property
    def classes(self) -> list[Any]:
        """The classes in the order of the probability columns (empty for regression)."""
        if self.task == "regression":
            return []
        return [python_value(label) for label in self.pipeline.classes_]

    @property
    def positive_class(self) -> Any:
        """The class a binary model is scored for; None for multi-class and regression."""
        target = self.contract.target
        return target.positive if isinstance(target, CategoricalTarget) else None

    @property
    def probability_columns(self) -> list[str]:
        """One ``probability_<class>`` column per class (none for regression)."""
        return [f"{PROBABILITY_PREFIX}{label}" for label in self.classes]

    @property
    def output_columns(self) -> list[str]:
        """The columns a prediction adds to its input rows, in order."""
        return [PREDICTION, *self.probability_columns, MODEL_VERSION]

    def single_threaded(self) -> Model:
        """Set every pipeline step that has ``n_jobs`` to one thread (the service runs one per worker)."""
        one = {key: 1 for key in self.pipeline.get_params(deep=True) if key.endswith("n_jobs")}
        self.pipeline.set_params(**one)
        return self

    # -- input ----------------------------------------------------------------------------

    def _dtype(self) -> type:
        return object if self.contract.categorical else np.float64

    def frame_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The pipeline's input from a frame of contract-typed features (``Contract.coerce_features``)."""
        features = frame[self.contract.feature_names]
        if not self.contract.categorical:
            return features.to_numpy(dtype=np.float64)
        matrix = features.to_numpy(dtype=object)
        matrix[pd.isna(matrix)] = None
        return matrix

    def records_matrix(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The pipeline's input from request records (mappings holding every feature, None for missing)."""
        names = self.contract.feature_names
        rows = [[record[name] for name in names] for record in records]
        return np.array(rows, dtype=self._dtype()).reshape(len(records), len(names))

    def example_records(self, rows: int) -> list[dict[str, Any]]:
        """Request records for the API from the reference sample: JSON types, None for a missing value."""
        features = self.reference[self.contract.feature_names].head(rows).astype(object)
        return [
            {str(name): None if pd.isna(value) else python_value(value) for name, value in row.items()}
            for row in features.to_dict("records")
        ]

    # -- prediction -----------------------------------------------------------------------

    def predict_matrix(self, matrix: np.ndarray) -> Predictions:
        """Predict raw-feature rows; a class is the most probable one, so labels and scores always agree."""
        if self.task == "regression":
            values = self.pipeline.predict(matrix) if self.graph is None else self.graph.run(matrix)
            return Predictions(np.asarray(values, dtype=np.float64).tolist(), None)
        if self.graph is None:
            probabilities = np.asarray(self.pipeline.predict_proba(matrix), dtype=np.float64)
        else:
            probabilities = self.graph.run(matrix)
        classes = self.classes
        return Predictions([classes[i] for i in probabilities.argmax(axis=1).tolist()], probabilities)

    def predict_frame(self, frame: pd.DataFrame) -> Predictions:
        """Predict the rows of a frame of contract-typed features."""
        return self.predict_matrix(self.frame_matrix(frame))

    def predict_records(self, records: Sequence[Mapping[str, Any]]) -> Predictions:
        """Predict request records straight from numpy: no DataFrame on the request path."""
        return self.predict_matrix(self.records_matrix(records))

    def output_frame(self, predictions: Predictions, index: pd.Index) -> pd.DataFrame:
        """The output columns for rows with ``index``: prediction, probabilities, model version."""
        columns: dict[str, Any] = {PREDICTION: predictions.values}
        if predictions.probabilities is not None:
            columns |= dict(zip(self.probability_columns, predictions.probabilities.T, strict=True))
        columns[MODEL_VERSION] = self.tag
        return pd.DataFrame(columns, index=index)

    def check_no_clash(self, columns: Sequence[str], source: str) -> None:
        """Refuse input that already holds an output column: the output would be ambiguous."""
        clashes = [column for column in self.output_columns if column in columns]
        if clashes:
            raise DataError(f"{source}: input already has the output column(s) {clashes}; rename or drop them")

    def answers(self, predictions: Predictions, records: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
        """One API answer per row: the prediction, class probabilities keyed by class, the model version.

        With an ID column in the contract, each answer starts with the ID of its record (None if it sent none).
        """
        if predictions.probabilities is None:
            answers = [{PREDICTION: value, MODEL_VERSION: self.tag} for value in predictions.values]
        else:
            keys = [str(label) for label in self.classes]
            answers = [
                {PREDICTION: value, PROBABILITIES: dict(zip(keys, scores, strict=True)), MODEL_VERSION: self.tag}
                for value, scores in zip(predictions.values, predictions.probabilities.tolist(), strict=True)
            ]
        name = self.contract.id_column
        if name is None or not records:
            return answers
        return [{name: record.get(name), **answer} for record, answer in zip(records, answers, strict=True)]

    def log_rows(self, records: list[dict[str, Any]], predictions: Predictions) -> list[dict[str, Any]]:
        """The prediction log's rows: each record (its ID too) with prediction, model version and runtime (in place)."""
        runtime = self.runtime
        for record, value in zip(records, predictions.values, strict=True):
            record[PREDICTION] = value
            record[MODEL_VERSION] = self.tag
            record[RUNTIME] = runtime
        return records
