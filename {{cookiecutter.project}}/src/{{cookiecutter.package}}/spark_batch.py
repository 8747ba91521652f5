"""Batch prediction on Apache Spark: the contract check and the model of ``predict``, on data beyond one machine.

The model version is pickled once and broadcast to the executors; each partition is turned into
pandas chunks by Arrow (``mapInPandas``) and goes through ``predict.predict_frame``, the code
the pandas engine runs, so both engines give the same output. Two passes over the input: the
first counts contract problems over every partition (reported together, nothing written), the
second scores and writes Parquet to a hidden temporary path beside the output, moved onto the
output only when the write completed.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pandas as pd

from . import registry
from .contract import ContractViolationError, Problem
from .errors import ConfigError, DataError
from .model import MODEL_VERSION, PREDICTION, Model
from .predict import BatchResult, predict_frame
from .settings import Settings

ROWS_READ = ("(table)", "rows read")  # the count each partition reports beside its problems
PROBLEM_SCHEMA = "column string, rule string, rows long"
INSTALL_HINT = "install the optional group: `uv sync --group spark` (or `pip install pyspark`)"


def require_spark() -> None:
    """Pyspark and a Java runtime must be present; each missing one is a ConfigError naming the fix."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigError(f"--engine spark needs pyspark, which is not installed: {INSTALL_HINT}") from None
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))) and shutil.which("java") is None:
        raise ConfigError(
            "--engine spark needs Java 17 or newer, which was not found (no JAVA_HOME, no java on PATH): "
            "install a JDK (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )


def session(master: str | None) -> Any:
    """The active Spark session, or a new one (``master``, else SPARK_MASTER, else spark-submit's or local)."""
    require_spark()
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # local executors run this interpreter
    builder = SparkSession.builder.appName("batch-predict")
    master = master or os.environ.get("SPARK_MASTER")
    if master:
        builder = builder.master(master)
    slots = local_slots(master)
    if slots and "SPARK_DRIVER_MEMORY" not in os.environ:
        # Read only when pyspark starts the JVM; spark-defaults.conf and --driver-memory still win over it.
        os.environ["SPARK_DRIVER_MEMORY"] = local_driver_memory(slots)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # pyspark raises PySparkRuntimeError when the JVM does not start
        raise ConfigError(f"Spark did not start ({exc}): check JAVA_HOME points at Java 17 or newer") from None


def local_slots(master: str | None) -> int:
    """Task slots of a local master (``local``, ``local[N]``, ``local[*]``, and none given); 0 for a cluster."""
    if master is None and "PYSPARK_SUBMIT_ARGS" not in os.environ:
        return os.cpu_count() or 1  # pyspark's own default is local[*]
    found = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\d+)?\])?", master or "")
    if found is None:
        return 0
    if found.group(1) == "*":
        return os.cpu_count() or 1
    return int(found.group(1) or 1)


def local_driver_memory(slots: int) -> str:
    """Heap for a local JVM: in local mode the driver runs every task, and Spark's 1g default runs out.

    Each running task's Parquet writer buffers a row group (128 MB by default) on the heap, and
    the Arrow batches to and from the Python workers come on top: 512 MB per slot, plus 1 GB, and
    never more than half the machine's memory (the Python workers need the rest).
    """
    wanted = 1024 + 512 * slots
    try:
        half = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**21
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): Spark's own limit is the heap
        half = wanted
    return f"{max(1024, min(wanted, half))}m"


def predict_spark(
    settings: Settings, input_uri: str, output_uri: str, tag: str | None = None, *, master: str | None = None
) -> BatchResult:
    """Validate and score Parquet at ``input_uri`` on Spark; write Parquet at ``output_uri`` or nothing."""
    if input_uri.rstrip("/") == output_uri.rstrip("/"):
        raise DataError(f"{output_uri}: the output must not overwrite the input")
    model = registry.load(settings, tag)
    spark = session(master)
    try:
        frame = spark.read.parquet(input_uri)
    except Exception as exc:  # AnalysisException for a missing path, others for a corrupt file
        raise DataError(f"{input_uri}: cannot be read as Parquet by Spark: {str(exc).splitlines()[0]}") from None
    model.check_no_clash(frame.columns, input_uri)
    shipped = spark.sparkContext.broadcast(replace(model, reference=model.reference.head(0)))
    rows = _check(frame, shipped, input_uri)
    scored = frame.mapInPandas(lambda chunks: _score(chunks, shipped.value, input_uri), _output_schema(frame, model))
    _write_then_move(spark, scored, output_uri)
    return BatchResult(model.tag, rows, output_uri)


def _problems(chunks: Iterator[pd.DataFrame], model: Model, source: str) -> Iterator[pd.DataFrame]:
    """One partition's contract problems, counted over its chunks, and its row count."""
    counts: Counter[tuple[str, str]] = Counter()
    rows = 0
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        rows += len(chunk)
        try:
            model.contract.validate_frame(chunk, source=source, with_target=False)
        except ContractViolationError as exc:
            counts.update({(p.column, p.rule): p.rows for p in exc.problems})
    found = [(*ROWS_READ, rows), *((column, rule, n) for (column, rule), n in counts.items())]
    yield pd.DataFrame(found, columns=["column", "rule", "rows"])


def _check(frame: Any, shipped: Any, source: str) -> int:
    """Every partition checked; all problems raised together, summed over partitions. Returns the rows."""
    found = frame.mapInPandas(lambda chunks: _problems(chunks, shipped.value, source), PROBLEM_SCHEMA).collect()
    rows = int(sum(row["rows"] for row in found if (row["column"], row["rule"]) == ROWS_READ))
    if rows == 0:  # no partition had a row: the pandas engine's verdict on the empty table
        shipped.value.contract.validate_frame(frame.limit(0).toPandas(), source=source, with_target=False)
    counts: Counter[tuple[str, str]] = Counter()
    for row in found:
        if (row["column"], row["rule"]) != ROWS_READ:
            counts[row["column"], row["rule"]] += row["rows"]
    if counts:
        raise ContractViolationError(source, [Problem(column, rule, n) for (column, rule), n in counts.items()])
    return rows


def _score(chunks: Iterator[pd.DataFrame], model: Model, source: str) -> Iterator[pd.DataFrame]:
    for chunk in chunks:
        if len(chunk):
            yield predict_frame(chunk, model, source=source)


def _output_schema(frame: Any, model: Model) -> Any:
    """The input's columns, then the prediction (its classes' type), the probabilities and the model version."""
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    if model.task == "regression":
        kind: Any = DoubleType()
    else:
        kind = LongType() if all(isinstance(label, int) for label in model.classes) else StringType()
    fields = [StructField(PREDICTION, kind)]
    fields += [StructField(column, DoubleType()) for column in model.probability_columns]
    fields.append(StructField(MODEL_VERSION, StringType()))
    return StructType([*frame.schema.fields, *fields])


def _write_then_move(spark: Any, scored: Any, output_uri: str) -> None:
    """Write to a hidden folder beside the output, then replace the output with it (Hadoop FileSystem rename)."""
    jvm = spark.sparkContext._jvm
    target = jvm.org.apache.hadoop.fs.Path(output_uri)
    temporary = jvm.org.apache.hadoop.fs.Path(target.getParent(), f".{target.getName()}.{uuid.uuid4().hex}.tmp")
    filesystem = target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    try:
        scored.write.mode("error").parquet(temporary.toString())
        if filesystem.exists(target):
            filesystem.delete(target, True)
        if not filesystem.rename(temporary, target):
            raise DataError(f"{output_uri}: cannot move the finished output into place from {temporary.toString()}")
    except Exception as exc:
        if isinstance(exc, ContractViolationError | DataError):
            raise
        raise DataError(f"{output_uri}: the Spark job failed: {str(exc).splitlines()[0]}") from None
    finally:
        if filesystem.exists(temporary):
            filesystem.delete(temporary, True)
