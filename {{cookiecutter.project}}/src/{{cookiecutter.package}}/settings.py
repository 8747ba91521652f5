"""One typed view of config/project.yaml: objectives, training parameters and paths."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError

CONFIG_ENV = "{{ cookiecutter.package | upper }}_CONFIG"
DEFAULT_CONFIG = Path("config/project.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSettings(_Strict):
    """Where the training table lives and which function produces it."""

    path: Path
    source: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


# The metrics each task is scored with, and so the objectives it may set.
TASK_METRICS = {
    "classification": ("accuracy", "roc_auc", "f1", "precision", "recall"),
    "regression": ("rmse", "mae", "r2"),
}


@dataclass(frozen=True)
class Limit:
    """One objective on a metric: a floor (``min_``) or a ceiling (``max_``)."""

    metric: str
    bound: Literal["min", "max"]
    value: float

    @property
    def key(self) -> str:
        """The setting that declares it, e.g. ``objectives.min_roc_auc``."""
        return f"objectives.{self.bound}_{self.metric}"

    @property
    def symbol(self) -> str:
        """``>=`` for a floor, ``<=`` for a ceiling."""
        return ">=" if self.bound == "min" else "<="

    def met(self, measured: float | None) -> bool:
        """Whether a measured value meets the objective; a missing or NaN value never does."""
        if measured is None or math.isnan(measured):
            return False
        return measured >= self.value if self.bound == "min" else measured <= self.value

    def miss(self, measured: float | None) -> str:
        """The gate's line for a missed objective: metric, measured value and limit."""
        if measured is None or math.isnan(measured):
            return f"{self.metric} could not be measured on this data (NaN), so {self.key} = {self.value:g} is not met"
        side = "below the floor" if self.bound == "min" else "above the ceiling"
        return f"{self.metric} = {measured:.4f} is {side} {self.key} = {self.value:g}"


class Objectives(_Strict):
    """What a model must achieve on the hold-out set before it is registered, and the drift limits.

    Classification sets floors on accuracy, ROC AUC, F1, precision and recall; regression sets
    ceilings on RMSE and MAE and a floor on R². Only those of the contract's task may be set.
    """

    min_roc_auc: float | None = Field(default=None, ge=0, le=1)
    min_accuracy: float | None = Field(default=None, ge=0, le=1)
    min_f1: float | None = Field(default=None, ge=0, le=1)
    min_precision: float | None = Field(default=None, ge=0, le=1)
    min_recall: float | None = Field(default=None, ge=0, le=1)
    max_rmse: float | None = Field(default=None, ge=0)
    max_mae: float | None = Field(default=None, ge=0)
    min_r2: float | None = Field(default=None, le=1)
    max_drift_share: float = Field(default=0.3, ge=0, le=1)
    drift_thresholds: dict[str, float] = Field(default_factory=dict)

    def limits(self) -> list[Limit]:
        """The metric objectives that are set, in declaration order."""
        found = []
        for key, value in self.model_dump(exclude={"max_drift_share", "drift_thresholds"}).items():
            if value is not None:
                bound, _, metric = key.partition("_")
                found.append(Limit(metric, "min" if bound == "min" else "max", float(value)))
        return found

    def declared(self) -> dict[str, float]:
        """The metric objectives that are set, by setting name (``min_roc_auc``: 0.97), as stored with a model."""
        return {limit.key.removeprefix("objectives."): limit.value for limit in self.limits()}

    def limits_for(self, task: str) -> list[Limit]:
        """The limits, after checking each one fits the task; one that does not is a ConfigError naming it."""
        limits = self.limits()
        wrong = [limit.key for limit in limits if limit.metric not in TASK_METRICS[task]]
        if wrong:
            allowed = ", ".join(f"{'max' if name in ('rmse', 'mae') else 'min'}_{name}" for name in TASK_METRICS[task])
            raise ConfigError(
                f"{', '.join(wrong)}: not an objective of {task} (the contract's target decides the task); "
                f"use {allowed}"
            )
        return limits


class TrainingSettings(_Strict):
    """How the data is split and which estimator is fitted with which parameters."""

    test_size: float = Field(default=0.2, gt=0, lt=1)
    random_state: int = 42
    reference_rows: int = Field(default=1000, ge=1)
    # "module:Class" of a scikit-learn compatible estimator; unset: HistGradientBoosting of the task's kind.
    estimator: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    params: dict[str, Any] = Field(default_factory=dict)


class ServingSettings(_Strict):
    """How the BentoML service runs; BENTOML_CONFIG_OVERRIDES overrides these at run time."""

    port: int = Field(default=3000, ge=1, le=65535)
    workers: int = Field(default=2, ge=1)
    timeout_s: float = Field(default=10.0, gt=0)
    max_concurrency: int = Field(default=256, ge=1)
    max_batch_size: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    access_log: bool = False
    prediction_log_dir: Path = Path("logs/predictions")


class DriftSettings(_Strict):
    """Where drift reports go and how much data a drift check reads at most."""

    reports_dir: Path = Path("reports/drift")
    # Below ~1000 rows Evidently switches drift methods (K-S instead of Wasserstein), so a
    # smaller cap could change the verdicts that the full data would give.
    max_rows: int = Field(default=10_000, ge=1000)
    random_state: int = 42


class Settings(_Strict):
    """The project's settings; relative paths resolve against ``root``."""

    root: Path
    model_name: str = Field(pattern=r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$", max_length=63)
    contract: Path
    data: DataSettings
    objectives: Objectives
    training: TrainingSettings = TrainingSettings()
    reports_dir: Path = Path("reports")
    serving: ServingSettings = ServingSettings()
    drift: DriftSettings = DriftSettings()

    def resolve(self, path: Path) -> Path:
        """Absolute form of a path from the config (relative to the project root)."""
        return path if path.is_absolute() else self.root / path

    @property
    def data_path(self) -> Path:
        """The training table."""
        return self.resolve(self.data.path)

    @property
    def prediction_log_dir(self) -> Path:
        """Where the service logs what it answers and the drift check reads it (PREDICTION_LOG_DIR overrides)."""
        return Path(os.environ.get("PREDICTION_LOG_DIR") or self.resolve(self.serving.prediction_log_dir))

    @property
    def metrics_path(self) -> Path:
        """Where training writes its metrics and gate verdict."""
        return self.resolve(self.reports_dir) / "metrics.json"


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, turning every failure into a ConfigError that names the file."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: file not found (run from the project root, or pass --config / set {CONFIG_ENV})"
        ) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot be read as YAML: {exc}") from None


def describe_validation_error(path: Path, exc: ValidationError, what: str = "settings") -> str:
    """One line per bad key: file, dotted key, what is wrong and the value given."""
    lines = [f"{path}: invalid {what} (fix the keys below):"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        given = "" if error["type"] == "missing" else f" (got {error['input']!r})"
        lines.append(f"  {key}: {error['msg']}{given}")
    return "\n".join(lines)


def load_settings(path: Path | None = None) -> Settings:
    """Load and validate the project settings; the project root is the folder above config/."""
    path = path or Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(raw).__name__}")
    if "root" in raw:
        raise ConfigError(f"{path}: root: not a setting (it is the folder above config/)")
    try:
        return Settings(root=path.resolve().parent.parent, **raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(path, exc)) from None
