"""`make bench-drift`: the project's drift check against plain Evidently and a numpy/scipy floor.

Synthetic data, 30 numeric features: a model trained on a 10k-row reference is registered in
a temporary store, then current data of 10k, 100k and 1M rows (Parquet, one day of timestamps)
is checked twice: drawn from the reference distribution (no drift), and with 10 features
shifted by half a standard deviation (clear drift). Each measurement runs in a fresh process;
imports are excluded from the time (not from the peak memory), reading the file is included.

- project: ``drift.check_drift`` (sampling, predictions, the full report, written to disk);
- evidently: ``Report([DataDriftPreset()])`` on the full data, HTML written (10k and 100k only);
- scipy / numpy: the same verdicts as Evidently picks them (normed Wasserstein >= 0.1).
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

FEATURES = [f"f{i:02d}" for i in range(30)]
SHIFTED = FEATURES[:10]
REFERENCE_ROWS = 10_000
SIZES = (10_000, 100_000, 1_000_000)
EVIDENTLY_SIZES = (10_000, 100_000)  # plain Evidently on 1M rows takes minutes and gigabytes
THRESHOLD = 0.1  # Evidently's normed Wasserstein threshold, its default above 1000 reference rows


def synthetic(rows: int, *, shift: float, seed: int) -> pd.DataFrame:
    """Standard-normal features, the first ten shifted by ``shift``; a timestamp spanning one day."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((rows, len(FEATURES)))
    values[:, : len(SHIFTED)] += shift
    frame = pd.DataFrame(values, columns=FEATURES)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    frame.insert(0, "timestamp", start + pd.to_timedelta(np.sort(rng.uniform(0, 86_400, rows)), unit="s"))
    return frame


def make_project(folder: Path) -> str:
    """A project folder with a 30-feature contract and a model registered in its own store."""
    from {{ cookiecutter.package }} import registry
    from {{ cookiecutter.package }}.contract import load_contract
    from {{ cookiecutter.package }}.estimator import build_pipeline, estimator_path, make_estimator
    from {{ cookiecutter.package }}.onnx_graph import Conversion
    from {{ cookiecutter.package }}.settings import TrainingSettings, load_settings

    config = folder / "config"
    config.mkdir(parents=True)
    declared = {
        "target": {"name": "label", "classes": [0, 1], "positive_class": 1},
        "features": [{"name": name, "type": "numeric"} for name in FEATURES],
    }
    (config / "contract.yaml").write_text(yaml.safe_dump(declared))
    settings = {
        "model_name": "bench",
        "contract": "config/contract.yaml",
        "data": {"path": "data.parquet", "source": "bench:none"},
        "objectives": {"max_drift_share": 0.2},
        "drift": {"reports_dir": "reports"},
    }
    (config / "project.yaml").write_text(yaml.safe_dump(settings))
    loaded = load_settings(config / "project.yaml")
    registry.use_project_store(loaded)
    reference = synthetic(REFERENCE_ROWS, shift=0.0, seed=1).drop(columns="timestamp")
    noise = np.random.default_rng(2).standard_normal(len(reference))
    reference["label"] = (reference["f00"] + reference["f01"] + noise > 0).astype("int64")
    contract = load_contract(config / "contract.yaml")
    training = TrainingSettings(params={"max_iter": 30, "early_stopping": False})
    pipeline = build_pipeline(contract, make_estimator(training, contract.task))
    pipeline.fit(reference[FEATURES].to_numpy(), reference["label"])  # the raw feature matrix, all numeric
    return registry.register(
        loaded,
        contract,
        pipeline,
        estimator=estimator_path(training, contract.task),
        metrics={},
        data_sha256="synthetic",
        rows={"train": len(reference)},
        reference=reference,
        conversion=Conversion(None, "not converted: the drift benchmark never predicts with a graph", None),
    )


def normed_wasserstein_numpy(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Per column: the area between the two empirical CDFs, over the reference's std."""
    scores = []
    for ref, cur in zip(reference.T, current.T, strict=True):
        ref, cur = np.sort(ref), np.sort(cur)
        grid = np.sort(np.concatenate([ref, cur]))
        gaps = np.diff(grid)
        cdf_ref = np.searchsorted(ref, grid[:-1], side="right") / len(ref)
        cdf_cur = np.searchsorted(cur, grid[:-1], side="right") / len(cur)
        scores.append(float(np.sum(np.abs(cdf_ref - cdf_cur) * gaps)) / max(float(np.std(ref)), 0.001))
    return np.array(scores)


def peak_megabytes() -> float:
    """This process's peak resident memory.

    Linux's ``ru_maxrss`` keeps the parent's peak across fork and exec, so read VmHWM instead.
    """
    status = Path("/proc/self/status")
    if status.exists():
        line = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # macOS: bytes


def worker(method: str, project: Path, current: Path) -> dict[str, Any]:
    """One measurement in this process: imports first, then the timed run."""
    os.environ["BENTOML_HOME"] = str(project / ".bentoml")
    os.chdir(project)
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset
    from scipy import stats

    from {{ cookiecutter.package }} import registry
    from {{ cookiecutter.package }}.drift import check_drift
    from {{ cookiecutter.package }}.settings import load_settings

    importlib.import_module("{{ cookiecutter.package }}.drift_report")  # its Evidently imports are not timed
    settings = load_settings(project / "config" / "project.yaml")
    reference = registry.load(settings).reference[FEATURES]

    def project_check() -> list[str]:
        drifted: list[str] = check_drift(settings, current).summary["drifted_features"]
        return drifted

    def plain_evidently() -> list[str]:
        frame = pd.read_parquet(current, columns=FEATURES)
        definition = DataDefinition(numerical_columns=FEATURES)
        snapshot = Report([DataDriftPreset()], include_tests=True).run(
            current_data=Dataset.from_pandas(frame, data_definition=definition),
            reference_data=Dataset.from_pandas(reference, data_definition=definition),
        )
        snapshot.save_html(str(project / "plain.html"))
        tests = snapshot.dict()["tests"]
        return [
            t["name"].rsplit(" ", 1)[-1] for t in tests if t["name"].startswith("Value Drift") and t["status"] == "FAIL"
        ]

    def scipy_floor() -> list[str]:
        frame = pd.read_parquet(current, columns=FEATURES)
        return [
            name
            for name in FEATURES
            if stats.wasserstein_distance(reference[name], frame[name]) / max(float(np.std(reference[name])), 0.001)
            >= THRESHOLD
        ]

    def numpy_floor() -> list[str]:
        frame = pd.read_parquet(current, columns=FEATURES)
        scores = normed_wasserstein_numpy(reference.to_numpy(), frame.to_numpy())
        return [name for name, value in zip(FEATURES, scores, strict=True) if value >= THRESHOLD]

    runs: dict[str, Callable[[], list[str]]] = {
        "project": project_check,
        "evidently": plain_evidently,
        "scipy": scipy_floor,
        "numpy": numpy_floor,
    }
    start = time.perf_counter()
    drifted = runs[method]()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mb": peak_megabytes(), "drifted": sorted(drifted)}


def measure(method: str, project: Path, current: Path) -> dict[str, Any]:
    """Run ``worker`` in a fresh interpreter, so each peak memory is its own."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.drift", "--worker", method, str(project), str(current)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{method} on {current.name} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Print one row per (case, rows, method), then the targets and whether the verdicts agree."""
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as temporary:
        folder = Path(temporary)
        project = folder / "project"
        print(f"registered {make_project(project)}; reference {REFERENCE_ROWS} rows, {len(FEATURES)} features")
        results: dict[tuple[str, int, str], dict[str, Any]] = {}
        print(f"{'case':<9} {'rows':>9}  {'method':<10} {'seconds':>8} {'peak MB':>8}  drifted")
        for case, shift in (("no drift", 0.0), ("drift", 0.5)):
            for rows in SIZES:
                current = folder / f"current-{rows}-{shift}.parquet"
                synthetic(rows, shift=shift, seed=rows).to_parquet(current, index=False)
                methods = ["project", "numpy", "scipy"] + (["evidently"] if rows in EVIDENTLY_SIZES else [])
                for method in methods:
                    result = results[case, rows, method] = measure(method, project, current)
                    drifted = ",".join(result["drifted"]) or "-"
                    figures = f"{result['seconds']:>8.2f} {result['peak_mb']:>8.0f}"
                    print(f"{case:<9} {rows:>9}  {method:<10} {figures}  {drifted}")
                current.unlink()
        report_targets(results)


def report_targets(results: dict[tuple[str, int, str], dict[str, Any]]) -> None:
    """The issue's targets, each with the worse of the two cases (drift and no drift)."""
    cases = ("no drift", "drift")

    def seconds(case: str, rows: int, method: str) -> float:
        value: float = results[case, rows, method]["seconds"]
        return value

    vs_plain = max(seconds(c, 100_000, "project") / seconds(c, 100_000, "evidently") for c in cases)
    growth = max(seconds(c, 1_000_000, "project") / seconds(c, 100_000, "project") for c in cases)
    peak = max(results[c, 1_000_000, "project"]["peak_mb"] for c in cases)
    print()
    print(f"project 100k / plain Evidently 100k: {vs_plain:.2f}x (target <= 0.5x; worse case)")
    print(f"project 1M / project 100k:          {growth:.2f}x (target <= 2x; worse case)")
    print(f"project peak memory at 1M:          {peak:.0f} MB (target <= 1536 MB)")
    expected = {"drift": SHIFTED, "no drift": []}
    agree = all(result["drifted"] == expected[case] for (case, _, _), result in results.items())
    print(f"verdicts equal to the full-data verdicts in every case: {'yes' if agree else 'NO'}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(worker(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))))
    else:
        main()
