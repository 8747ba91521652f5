"""Experiment tracking: every ``make train`` is one MLflow run, also when the quality gate rejects the model.

The run holds the parameters, the hold-out metrics, each objective's verdict, the data's SHA-256,
the git revision, and the contract and metrics.json as artifacts; a registered model adds its
BentoML tag, and its store entry keeps the run id, so each points at the other. The store is
``MLFLOW_TRACKING_URI`` when set (a tracking server), else ``mlflow.db`` and ``mlruns/`` in the project.
MLflow is imported on first use: the commands that do not train (and the service) never load it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .evaluation import GateResult
from .registry import git_revision
from .settings import Limit, Settings

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

BENTOML_TAG = "bentoml.tag"  # the run's tag naming the model version it registered
SQLITE = "sqlite:///"


def tracking_uri(root: Path) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the project's own SQLite store (MLflow 3's default backend)."""
    return os.environ.get("MLFLOW_TRACKING_URI", "").strip() or f"{SQLITE}{root / 'mlflow.db'}"


def client(settings: Settings) -> MlflowClient:
    """A client of the project's tracking store."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri(settings.root))


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def experiment_id(mlflow: MlflowClient, settings: Settings) -> str:
    """The experiment named after the model, created on first use.

    A SQLite store keeps its artifacts in ``mlruns/`` beside the database file, not in the working
    directory (MLflow's default); a server decides for itself.
    """
    found = mlflow.get_experiment_by_name(settings.model_name)
    if found is not None:
        return str(found.experiment_id)
    uri = tracking_uri(settings.root)
    location = None
    if uri.startswith(SQLITE):
        location = (Path(uri.removeprefix(SQLITE)).resolve().parent / "mlruns").as_uri()
    return mlflow.create_experiment(settings.model_name, artifact_location=location)


def _failed(exc: Exception, settings: Settings) -> ConfigError:
    return ConfigError(
        f"MLflow tracking at {tracking_uri(settings.root)} failed: {exc}; fix MLFLOW_TRACKING_URI (and the "
        "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN it needs), "
        "or unset it to log to the project's mlflow.db"
    )


def log_training(settings: Settings, report: Mapping[str, Any], gate: GateResult, limits: list[Limit]) -> str:
    """Log one finished run of a training (``report`` is what metrics.json holds); returns its run id."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException

    metrics = report["metrics"]
    revision = git_revision(settings.root)
    tags = {
        "gate": "passed" if gate.passed else "failed",
        "data_sha256": str(report["data_sha256"]),
        "data_file": str(settings.data.path),
        "git_revision": revision,
        "mlflow.source.git.commit": revision.removesuffix("-dirty"),
        "estimator": str(report["estimator"]),
        "task": str(report["task"]),
    } | {
        f"objective.{limit.key.removeprefix('objectives.')}": "met"
        if limit.met(metrics.get(limit.metric))
        else "missed"
        for limit in limits
    }
    params = _flatten(settings.training.model_dump(mode="json")) | _flatten({"objectives": report["objectives"]})
    now = int(time.time() * 1000)
    try:
        mlflow = client(settings)
        run = mlflow.create_run(experiment_id(mlflow, settings), tags=tags)
        run_id = str(run.info.run_id)
        mlflow.log_batch(
            run_id,
            metrics=[Metric(name, float(value), now, 0) for name, value in metrics.items()],
            params=[Param(name, value) for name, value in params.items()],
            tags=[RunTag("rows." + part, str(count)) for part, count in report["rows"].items()],
        )
        mlflow.log_artifact(run_id, str(settings.resolve(settings.contract)))
        mlflow.log_artifact(run_id, str(settings.metrics_path))
        mlflow.set_terminated(run_id, "FINISHED")
    except (MlflowException, OSError) as exc:
        raise _failed(exc, settings) from None
    return run_id


def link_model(settings: Settings, run_id: str, tag: str) -> None:
    """Record on the run the BentoML tag of the model version it registered."""
    from mlflow.exceptions import MlflowException

    try:
        client(settings).set_tag(run_id, BENTOML_TAG, tag)
    except (MlflowException, OSError) as exc:
        raise _failed(exc, settings) from None
