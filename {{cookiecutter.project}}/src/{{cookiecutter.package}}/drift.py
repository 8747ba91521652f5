"""The drift check: what the service saw, compared with the reference stored with its model version.

One run writes a folder under ``drift.reports_dir`` holding the Evidently report (self-contained
HTML), ``summary.json`` and, when features drifted, a picture of their distributions
(``distributions.svg``), then points ``latest`` at it. Nothing is written when an input is
bad, and a run that fails half-way leaves no folder behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import progress, registry
from .contract import Contract
from .data import atomic_write, remove_abandoned
from .drift_data import Frames, check_sample_size, combine, indexed, sample, served_by
from .errors import ConfigError, DataError
from .evaluation import check_objectives, score
from .model import MODEL_VERSION, Model
from .settings import Limit, Settings

if TYPE_CHECKING:
    from .drift_report import DriftChecks

REPORT = "report.html"
SUMMARY = "summary.json"
DISTRIBUTIONS = "distributions.svg"  # the drifted features, reference against current (only when some drifted)
LATEST = "latest"
STAGING = ".run-"  # prefix of the hidden folder a run is written into before it is renamed into place


@dataclass(frozen=True)
class DriftResult:
    """Where the run was written and what it found."""

    folder: Path
    summary: dict[str, Any]

    @property
    def failures(self) -> list[str]:
        """One line per failed check: drift beyond the threshold, or quality below a floor."""
        found = []
        summary = self.summary
        if summary["drift_detected"]:
            found.append(
                f"{len(summary['drifted_features'])} of {len(summary['features'])} features drifted "
                f"(share {summary['drifted_share']:.2f} > objectives.max_drift_share {summary['max_drift_share']}): "
                + ", ".join(summary["drifted_features"])
            )
        if summary["quality"]:
            found += summary["quality"]["failures"]
        return found


def scored(table: pd.DataFrame, model: Model, labelled: bool) -> pd.DataFrame:
    """Features in contract types, the model's prediction (and probabilities), and the target with labels."""
    contract = model.contract
    features = contract.coerce_features(table)
    outputs = model.output_frame(model.predict_frame(features), features.index).drop(columns=MODEL_VERSION)
    result = pd.concat([features, outputs], axis=1)
    if labelled:
        result[contract.target.name] = contract.coerce_target(table[contract.target.name]).to_numpy()
    return result


def _quality(current: pd.DataFrame, model: Model, settings: Settings, limits: list[Limit]) -> dict[str, Any]:
    """Hold-out style metrics on labelled current data, against today's objectives."""
    contract = model.contract
    metrics = score(model, current[contract.feature_names], current[contract.target.name])
    return {
        "metrics": metrics,
        "objectives": settings.objectives.declared(),
        "failures": check_objectives(metrics, limits).failures,
    }


def _check_thresholds(settings: Settings, contract: Contract) -> None:
    unknown = sorted(set(settings.objectives.drift_thresholds) - set(contract.feature_names))
    if unknown:
        raise ConfigError(f"objectives.drift_thresholds: {unknown} are not features of the model's data contract")


def _checks(settings: Settings, model: Model, limits: list[Limit], labelled: bool) -> DriftChecks:
    """Thresholds from the objectives; quality limits only when the current data carries labels."""
    from .drift_report import DriftChecks

    return DriftChecks(
        model.contract,
        settings.objectives.max_drift_share,
        dict(settings.objectives.drift_thresholds),
        limits if labelled else [],
        model.positive_class,
        model.probability_columns,
    )


def check_drift(
    settings: Settings,
    current_path: Path | str | None = None,
    tag: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> DriftResult:
    """Compare current data with a model version's reference; write the report and summary.

    ``current_path`` may be a URI (s3://, gs://, az://, file://): the files of the days asked are
    downloaded to a temporary folder first, so memory stays bounded as it does for local files.
    Every input is checked before Evidently is imported, so bad input fails in a second.
    """
    source = current_path or settings.prediction_log_dir
    with indexed(source, since, until, "drift") as frames:
        return _check(settings, frames, source, tag)


def _check(settings: Settings, frames: Frames, path: Path | str, tag: str | None) -> DriftResult:
    """The drift check on indexed current files (``path`` names their source in messages and the summary)."""
    served = None if tag else served_by(frames)
    model = registry.load(settings, tag or served)
    contract = model.contract
    limits = settings.objectives.limits_for(contract.task)
    _check_thresholds(settings, contract)
    cap, seed = settings.drift.max_rows, settings.drift.random_state
    current = combine(frames, contract, path, served, cap, seed)  # sampled while reading: flat memory
    reference = model.reference
    check_sample_size(current, reference, settings.drift.min_rows, path)
    current_table = scored(current.frame, model, current.labelled)
    reference_table = scored(sample(reference, cap, seed), model, labelled=True)

    from .drift_report import run_report, summarise  # Evidently: ~300 MB and seconds, only past this point
    from .plots import drift_plot  # matplotlib: like Evidently, only on this path

    checks = _checks(settings, model, limits, current.labelled)
    with progress.phase(f"drift: Evidently report on {len(current_table):,} current rows"):
        snapshot = run_report(checks, reference_table, current_table, current.labelled)
    verdicts = summarise(checks, snapshot)
    picture = drift_plot(contract, reference_table, current_table, verdicts["drifted_features"], model.tag)
    summary = {
        "model_version": model.tag,
        "task": model.task,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **verdicts,
        "quality": _quality(current_table, model, settings, limits) if current.labelled else None,
        "current": {
            "source": str(path),
            "files": current.files,
            "rows": current.rows,
            "sampled_rows": len(current_table),
            "excluded_rows": current.excluded,
            "window": current.window,
        },
        "reference": {"rows": len(reference), "sampled_rows": len(reference_table)},
        "report": REPORT,
        "distributions": None if picture is None else DISTRIBUTIONS,
    }
    folder = write_run(settings.resolve(settings.drift.reports_dir), snapshot, summary, picture)
    return DriftResult(folder, summary)


def write_run(reports: Path, snapshot: Any, summary: dict[str, Any], picture: str | None) -> Path:
    """Write the run into a hidden temporary folder, rename it into place, then repoint ``latest``.

    ``picture`` is the SVG of the drifted features' distributions (None when none drifted).

    The staging folder is locked while this run lives, so a later run removes it if this one is killed.
    """
    created = datetime.fromisoformat(summary["created"])
    name = f"{created:%Y%m%dT%H%M%SZ}-{summary['model_version'].rsplit(':', 1)[-1]}"
    try:
        reports.mkdir(parents=True, exist_ok=True)
        remove_abandoned(reports, f"{STAGING}*")
        staging = Path(tempfile.mkdtemp(prefix=STAGING, dir=reports))
        lock = os.open(staging, os.O_RDONLY)
    except OSError as exc:
        raise DataError(f"{reports}: cannot write drift reports here: {exc}") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        staging.chmod(0o755)  # mkdtemp makes it private; a report is meant to be shared
        snapshot.save_html(str(staging / REPORT))
        (staging / SUMMARY).write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
        if picture is not None:
            (staging / DISTRIBUTIONS).write_text(picture, encoding="utf-8")
        folder, suffix = reports / name, 1
        while folder.exists():
            suffix += 1
            folder = reports / f"{name}-{suffix}"
        staging.rename(folder)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise DataError(f"{reports}: cannot write the drift report: {exc}") from None
        raise
    finally:
        os.close(lock)
    try:
        with atomic_write(reports / LATEST) as temporary:
            temporary.unlink()
            temporary.symlink_to(folder.name)
    except OSError as exc:
        raise DataError(f"{reports / LATEST}: cannot point it at the new report {folder}: {exc}") from None
    return folder
