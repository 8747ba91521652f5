"""`make bench-batch`: rows/s and peak memory of batch prediction and the drift check on large files.

The model and contract of `make bench-drift` (30 numeric features, a model registered in a
temporary store) score Parquet files of 1M and 10M rows (BENCH_BATCH_ROWS=1000000,3000000 to
choose), written 1M rows per row group with a timestamp column that passes through:

- stream: ``predict_file``, the file read and written chunk by chunk;
- in-memory: the path ``predict`` took before streaming (read the whole table, predict, write),
  the baseline of the same run;
- drift: ``check_drift`` on the same file, sampled while it is read;
- spark: ``predict_spark`` on a local Spark (``local[2]``), when pyspark is installed (the make
  target runs with the ``spark`` group); its time includes starting the JVM.

Each measurement runs in a fresh process; the time excludes the imports, the peak memory is the
process's own (VmHWM); for Spark, the sum of the driver's, the JVM's and its Python workers' (an
upper bound: each process's peak, summed). The targets (issue 15) are printed under the table.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.drift import FEATURES, make_project, peak_megabytes

DEFAULT_ROWS = (1_000_000, 10_000_000)
PIECE_ROWS = 1_000_000  # rows per write while generating, one Parquet row group each
METHODS = ("stream", "in-memory", "drift", "spark")
PEAK_TARGET_MB = {"stream": 600, "drift": 1024}  # at 10M rows


def write_current(path: Path, rows: int) -> None:
    """Standard-normal features (no drift) and a timestamp spanning one day, written piece by piece."""
    import pyarrow
    import pyarrow.parquet

    start = pd.Timestamp("2026-01-01", tz="UTC")
    writer = None
    try:
        for first in range(0, rows, PIECE_ROWS):
            count = min(PIECE_ROWS, rows - first)
            rng = np.random.default_rng(first)
            frame = pd.DataFrame(rng.standard_normal((count, len(FEATURES))), columns=FEATURES)
            offsets = (np.arange(first, first + count) * (86_400 / rows)).astype("float64")
            frame.insert(0, "timestamp", start + pd.to_timedelta(offsets, unit="s"))
            table = pyarrow.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pyarrow.parquet.ParquetWriter(
                path,
                table.schema,
                coerce_timestamps="us",
                allow_truncated_timestamps=True,  # Spark reads no ns
            )
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def worker(method: str, project: Path, current: Path) -> dict[str, Any]:
    """One measurement in this process: imports first, then the timed run."""
    os.environ["BENTOML_HOME"] = str(project / ".bentoml")
    os.chdir(project)
    from {{ cookiecutter.package }} import registry
    from {{ cookiecutter.package }}.data import read_table, write_table
    from {{ cookiecutter.package }}.drift import check_drift
    from {{ cookiecutter.package }}.predict import predict_file, predict_frame
    from {{ cookiecutter.package }}.settings import load_settings

    settings = load_settings(project / "config" / "project.yaml")
    output = project / "scored.parquet"
    start = time.perf_counter()
    drifted: list[str] = []
    if method == "stream":
        predict_file(settings, current, output)
    elif method == "in-memory":
        model = registry.load(settings)
        write_table(predict_frame(read_table(current), model, source=str(current)), output)
    elif method == "drift":
        drifted = check_drift(settings, current).summary["drifted_features"]
    else:
        return spark_worker(settings, current, project / "scored-spark")
    seconds = time.perf_counter() - start
    output.unlink(missing_ok=True)
    return {"seconds": seconds, "peak_mb": peak_megabytes(), "drifted": drifted}


def spark_worker(settings: Any, current: Path, output: Path) -> dict[str, Any]:
    """``predict_spark`` on local[2]; the peak sums this process, the JVM and its Python workers."""
    from {{ cookiecutter.package }}.spark_batch import predict_spark, session

    start = time.perf_counter()
    spark = session("local[2]")
    predict_spark(settings, str(current), str(output), master="local[2]")
    seconds = time.perf_counter() - start
    peak = peak_megabytes() + tree_peak_megabytes(spark.sparkContext._gateway.proc.pid)
    spark.stop()
    return {"seconds": seconds, "peak_mb": peak, "drifted": []}


def tree_peak_megabytes(root: int) -> float:
    """The peak resident memory (VmHWM) of process ``root`` and every descendant still alive, summed (Linux)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # the process ended meanwhile
    tree, total = {root}, 0.0
    while grown := {pid for pid, parent in parents.items() if parent in tree} - tree:
        tree |= grown
    for pid in tree:
        try:
            status = (Path("/proc") / str(pid) / "status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0) / 1024
    return total


def measure(method: str, project: Path, current: Path) -> dict[str, Any]:
    """Run ``worker`` in a fresh interpreter, so each peak memory is its own."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.batch", "--worker", method, str(project), str(current)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{method} on {current.name} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Print one row per (rows, method), then the targets."""
    sizes = [int(n) for n in os.environ.get("BENCH_BATCH_ROWS", "").split(",") if n] or list(DEFAULT_ROWS)
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as temporary:
        folder = Path(temporary)
        project = folder / "project"
        print(f"registered {make_project(project)}; {len(FEATURES)} features, Parquet in and out")
        print(f"{'rows':>10}  {'method':<10} {'seconds':>8} {'rows/s':>10} {'peak MB':>8}  drifted")
        results: dict[tuple[int, str], dict[str, Any]] = {}
        for rows in sizes:
            current = folder / f"current-{rows}.parquet"
            write_current(current, rows)
            for method in METHODS if importlib.util.find_spec("pyspark") else METHODS[:-1]:
                result = results[rows, method] = measure(method, project, current)
                rate = rows / result["seconds"]
                drifted = ",".join(result["drifted"]) or "-"
                print(
                    f"{rows:>10}  {method:<10} {result['seconds']:>8.2f} {rate:>10.0f} {result['peak_mb']:>8.0f}  "
                    f"{drifted if method == 'drift' else ''}"
                )
            current.unlink()
        report_targets(results, max(sizes))


def report_targets(results: dict[tuple[int, str], dict[str, Any]], largest: int) -> None:
    """Peak memory at the largest size, and streaming throughput against the in-memory baseline."""
    print()
    for method, target in PEAK_TARGET_MB.items():
        peak = results[largest, method]["peak_mb"]
        print(f"{method} peak memory at {largest} rows: {peak:.0f} MB (target <= {target} MB at 10M rows)")
    for rows in sorted({rows for rows, _ in results}):
        if (rows, "spark") in results:
            ratio = results[rows, "spark"]["seconds"] / results[rows, "stream"]["seconds"]
            print(f"spark local[2] time / stream at {rows} rows: {ratio:.2f}x (JVM start-up included)")
        ratio = results[rows, "in-memory"]["seconds"] / results[rows, "stream"]["seconds"]
        print(f"stream throughput / in-memory at {rows} rows: {ratio:.2f}x (target >= 1x)")
    no_drift = all(not result["drifted"] for (_, method), result in results.items() if method == "drift")
    print(f"drift verdicts (no drift generated): {'none drifted, as expected' if no_drift else 'SOME DRIFTED'}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(worker(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))))
    else:
        main()
