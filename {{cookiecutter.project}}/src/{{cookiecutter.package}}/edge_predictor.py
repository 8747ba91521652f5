"""Predict with an edge bundle: the model's ONNX graph on ONNX Runtime, with numpy and the standard library only.

Copied into every bundle as ``predict.py`` (``make edge``), next to ``model.onnx`` and ``contract.json``:

    python predict.py INPUT OUTPUT

INPUT is a CSV file with a header, or JSON lines (one object per line); OUTPUT is written as CSV
(or JSON lines when it ends in ``.jsonl``): the input's features followed by the prediction, the
class probabilities and the model version. Rows are checked against the contract first; any
problem exits 2 listing the first ones, and nothing is written. Needs: onnxruntime, numpy.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

HERE = Path(__file__).resolve().parent
MATRIX_INPUT = "features"  # the single input of an all-numeric graph
SHOWN_PROBLEMS = 20
CHUNK_ROWS = 10_000


class InputError(Exception):
    """The input does not hold to the contract; the message lists the problems and the fix."""


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a CSV file (empty cell: missing) or of JSON lines (null: missing)."""
    if path.suffix in (".jsonl", ".ndjson", ".json"):
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{path}: line {number} is not JSON ({exc.msg})") from None
                    if not isinstance(row, dict):
                        raise InputError(f"{path}: line {number} is not a JSON object")
                    yield row
        return
    with path.open(newline="", encoding="utf-8") as table:
        for row in csv.DictReader(table):
            yield {key: (None if value == "" else value) for key, value in row.items()}


def check_value(feature: dict[str, Any], value: Any) -> tuple[Any, str]:
    """The value as the graph takes it, and a problem ('' when none)."""
    name, nullable = feature["name"], feature.get("nullable", False)
    if value is None:
        return (None, "") if nullable else (None, f"{name} is missing and not nullable")
    if feature["type"] == "categorical":
        text = str(value)
        if text not in feature["categories"]:
            return None, f"{name}={text!r} is not one of {feature['categories']}"
        return text, ""
    if isinstance(value, bool):
        return None, f"{name}={value!r} is not a number"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, f"{name}={value!r} is not a number"
    if not math.isfinite(number):
        return None, f"{name}={value!r} is not a finite number"
    low, high = feature.get("min"), feature.get("max")
    if (low is not None and number < low) or (high is not None and number > high):
        return None, f"{name}={number} is outside [{low}, {high}]"
    return number, ""


class EdgeModel:
    """The bundle's graph and contract."""

    def __init__(self, bundle: Path = HERE) -> None:
        self.contract = json.loads((bundle / "contract.json").read_text(encoding="utf-8"))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(bundle / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.features: list[dict[str, Any]] = self.contract["features"]
        self.names = [feature["name"] for feature in self.features]

    def checked(self, rows: list[dict[str, Any]], first_row: int) -> list[list[Any]]:
        """The rows' features in contract order; InputError listing the first problems."""
        problems: list[str] = []
        values: list[list[Any]] = []
        for number, row in enumerate(rows, start=first_row):
            absent = [name for name in self.names if name not in row]
            if absent:
                problems.append(f"row {number}: missing column(s) {absent}")
                continue
            checked = [check_value(feature, row[feature["name"]]) for feature in self.features]
            problems.extend(f"row {number}: {problem}" for _, problem in checked if problem)
            values.append([value for value, _ in checked])
        if problems:
            shown = "\n  ".join(problems[:SHOWN_PROBLEMS])
            more = f"\n  ... and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
            raise InputError(f"the input does not hold to the contract (contract.json):\n  {shown}{more}")
        return values

    def feed(self, values: list[list[Any]]) -> dict[str, np.ndarray]:
        """The graph's inputs: one float matrix, or one column per feature (float, or string with '' missing)."""
        inputs = self.session.get_inputs()
        if [node.name for node in inputs] == [MATRIX_INPUT]:
            matrix = [[math.nan if value is None else value for value in row] for row in values]
            return {MATRIX_INPUT: np.array(matrix, dtype=np.float32).reshape(len(values), len(self.names))}
        feed = {}
        for index, node in enumerate(inputs):
            column = [row[index] for row in values]
            if node.type == "tensor(string)":
                feed[node.name] = np.array(["" if v is None else v for v in column], dtype=object).reshape(-1, 1)
            else:
                feed[node.name] = np.array([math.nan if v is None else v for v in column], dtype=np.float32).reshape(
                    -1, 1
                )
        return feed

    def predict(self, values: list[list[Any]]) -> list[list[Any]]:
        """The output columns of each row: prediction, class probabilities, model version."""
        outputs = self.session.run(None, self.feed(values))
        tag = self.contract["model"]
        if self.contract["task"] == "regression":
            return [[float(value), tag] for value in np.asarray(outputs[0], dtype=np.float64).reshape(-1)]
        classes = self.contract["classes"]
        probabilities = np.asarray(outputs[1], dtype=np.float64)
        return [[classes[int(row.argmax())], *row.tolist(), tag] for row in probabilities]


def chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Rows in lists of at most CHUNK_ROWS."""
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run(source: Path, target: Path, bundle: Path = HERE) -> int:
    """Predict every row of ``source`` into ``target`` (written whole or not at all); returns rows written."""
    model = EdgeModel(bundle)
    header = [*model.names, *model.contract["outputs"]]
    as_json = target.suffix in (".jsonl", ".ndjson")
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    written = 0
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
            writer = None if as_json else csv.writer(out)
            if writer is not None:
                writer.writerow(header)
            for chunk in chunks(read_rows(source)):
                values = model.checked(chunk, first_row=written + 1)
                for row, outputs in zip(values, model.predict(values), strict=True):
                    record = [*row, *outputs]
                    if writer is None:
                        out.write(json.dumps(dict(zip(header, record, strict=True))) + "\n")
                    else:
                        writer.writerow(["" if value is None else value for value in record])
                written += len(values)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return written


def main(argv: list[str]) -> int:
    """``predict.py INPUT OUTPUT``: exit 0 when written, 2 on bad input or arguments."""
    if len(argv) != 2:
        print("usage: python predict.py INPUT(.csv|.jsonl) OUTPUT(.csv|.jsonl)", file=sys.stderr)
        return 2
    source, target = Path(argv[0]), Path(argv[1])
    if not source.is_file():
        print(f"error: {source}: no such file", file=sys.stderr)
        return 2
    if not target.parent.is_dir():
        print(f"error: {target.parent}: the output folder does not exist; create it first", file=sys.stderr)
        return 2
    try:
        rows = run(source, target)
    except (InputError, UnicodeDecodeError, csv.Error) as exc:
        print(f"error: {source}: {exc}", file=sys.stderr)
        return 2
    print(f"{rows} rows -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
