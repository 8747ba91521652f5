"""Every model version also as an ONNX graph: converted from the fitted pipeline, kept only if it agrees.

The graph holds the whole pipeline (preprocessing included) and takes the contract's raw features:
one float matrix ``features`` when every feature is numeric, else one input per feature (float for
numbers, NaN for missing; string for categories, "" for missing, which encodes as an unseen
value, as None does in scikit-learn). Numbers go in as float32: ONNX Runtime has no double kernel
for the imputer and the tree ensembles that skl2onnx emits. So a graph is kept only when it passes
the parity gate on the hold-out and reference rows: identical labels and probabilities within
``PROBABILITY_TOLERANCE`` (classification), predictions within ``RELATIVE_TOLERANCE`` (regression).
A pipeline that does not convert or fails the gate is registered scikit-learn-only, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import numpy as np

from .contract import Contract

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from .model import Model

MATRIX_INPUT = "features"  # the single input of an all-numeric graph
PROBABILITY_TOLERANCE = 1e-5
RELATIVE_TOLERANCE = 1e-4
OPSET = {"": 18, "ai.onnx.ml": 3}


class ConversionError(Exception):
    """The pipeline has no faithful ONNX graph; the message is the one-line reason."""


def convert(pipeline: Pipeline, contract: Contract) -> bytes:
    """The fitted pipeline as a serialized ONNX graph over the contract's raw features."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    from . import upstream_patches

    upstream_patches.apply_skl2onnx()
    steps = pipeline.steps
    graph_of = pipeline[1:] if steps[0][1] == "passthrough" else pipeline  # a passthrough step has no converter
    estimator = steps[-1][1]
    if contract.categorical:
        inputs: list[tuple[str, Any]] = [
            (f.name, FloatTensorType([None, 1]) if f.type == "numeric" else StringTensorType([None, 1]))
            for f in contract.features
        ]
    else:
        inputs = [(MATRIX_INPUT, FloatTensorType([None, len(contract.features)]))]
    options = {id(estimator): dict(zipmap=False)} if contract.task == "classification" else None
    try:
        graph = to_onnx(graph_of, initial_types=inputs, options=options, target_opset=OPSET)
        serialized: bytes = graph.SerializeToString()
        Runner(serialized)  # ONNX Runtime may still lack a kernel for an operator of the graph
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ConversionError(
            f"{type(estimator).__name__} did not convert to ONNX: {type(exc).__name__}: {first}"
        ) from None
    return serialized


class Runner:
    """An ONNX Runtime session on one thread, fed the matrix the pipeline takes (``Model.frame_matrix``)."""

    def __init__(self, graph: bytes) -> None:
        import onnxruntime  # here, not at import: most commands never run a graph

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # requests run in parallel across workers, as with scikit-learn
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.inputs = [(node.name, node.type == "tensor(string)") for node in self.session.get_inputs()]
        self.matrix = [name for name, _ in self.inputs] == [MATRIX_INPUT]

    def feed(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        """The session's inputs from a raw feature matrix in contract order."""
        if self.matrix:
            return {MATRIX_INPUT: np.asarray(matrix, dtype=np.float32)}
        feed = {}
        for index, (name, is_text) in enumerate(self.inputs):
            column = matrix[:, index]
            if is_text:
                feed[name] = np.array(["" if value is None else str(value) for value in column], dtype=object)
            else:
                feed[name] = np.array([np.nan if value is None else value for value in column], dtype=np.float32)
            feed[name] = feed[name].reshape(-1, 1)
        return feed

    def run(self, matrix: np.ndarray) -> np.ndarray:
        """Class probabilities (rows x classes, in the pipeline's class order) or regression predictions."""
        outputs = self.session.run(None, self.feed(matrix))
        result = outputs[1] if len(outputs) > 1 else outputs[0].reshape(-1)  # (label, probabilities) or (variable,)
        return np.asarray(result, dtype=np.float64)


@dataclass(frozen=True)
class Parity:
    """How closely the graph matches the pipeline on the rows checked."""

    task: str
    rows: int
    labels_differ: int  # rows whose most probable class differs (0 for regression)
    max_difference: float  # largest probability difference, or largest relative difference (regression)

    @property
    def passed(self) -> bool:
        """The parity gate: the graph may answer instead of the pipeline."""
        tolerance = RELATIVE_TOLERANCE if self.task == "regression" else PROBABILITY_TOLERANCE
        return self.labels_differ == 0 and self.max_difference <= tolerance

    def describe(self) -> str:
        """One line for the model list and the model card."""
        if self.task == "regression":
            return f"{self.rows} rows, largest relative difference {self.max_difference:.1e}"
        return (
            f"{self.rows} rows, {self.labels_differ} labels differ, "
            f"largest probability difference {self.max_difference:.1e}"
        )


def parity(model: Model, graph: Runner, matrix: np.ndarray) -> Parity:
    """Compare the graph's answers with the pipeline's on ``matrix`` (raw features, contract order)."""
    theirs = model.with_graph(None).predict_matrix(matrix)
    ours = model.with_graph(graph).predict_matrix(matrix)
    if theirs.probabilities is None or ours.probabilities is None:
        expected, got = np.asarray(theirs.values), np.asarray(ours.values)
        relative = np.abs(got - expected) / np.maximum(np.abs(expected), 1.0)  # absolute below 1
        return Parity(model.task, len(matrix), 0, float(relative.max(initial=0.0)))
    differ = sum(a != b for a, b in zip(theirs.values, ours.values, strict=True))
    largest = float(np.abs(ours.probabilities - theirs.probabilities).max(initial=0.0))
    return Parity(model.task, len(matrix), differ, largest)


@dataclass(frozen=True)
class Conversion:
    """The outcome of converting one model version: a graph that passed the gate, or why there is none."""

    graph: bytes | None
    reason: str  # why there is no graph (empty when there is one)
    parity: Parity | None

    def metadata(self) -> dict[str, Any]:
        """What the model version records about its graph (no None: BentoML metadata refuses it)."""
        if self.graph is None or self.parity is None:
            return {"runtime": "sklearn", "reason": self.reason}
        return {
            "runtime": "onnx",
            "opset": OPSET[""],
            "ml_opset": OPSET["ai.onnx.ml"],
            "skl2onnx": version("skl2onnx"),
            "onnxruntime": version("onnxruntime"),
            "bytes": len(self.graph),
            "parity": self.parity.describe(),
            "max_difference": self.parity.max_difference,
        }


def build(model: Model, matrix: np.ndarray) -> Conversion:
    """Convert the model's pipeline and hold the graph to it on ``matrix``; never raises for an unconvertible one."""
    try:
        graph = convert(model.pipeline, model.contract)
    except ConversionError as exc:
        return Conversion(None, str(exc), None)
    checked = parity(model, Runner(graph), matrix)
    if not checked.passed:
        return Conversion(None, f"the ONNX graph failed the parity gate ({checked.describe()})", checked)
    return Conversion(graph, "", checked)
