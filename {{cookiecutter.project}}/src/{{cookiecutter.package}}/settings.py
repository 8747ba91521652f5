"""One typed view of config/project.yaml: objectives, training parameters and paths."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


class Objectives(_Strict):
    """Floors the hold-out metrics must reach before a model is registered."""

    min_roc_auc: float | None = Field(default=None, ge=0, le=1)
    min_accuracy: float | None = Field(default=None, ge=0, le=1)
    min_f1: float | None = Field(default=None, ge=0, le=1)
    min_precision: float | None = Field(default=None, ge=0, le=1)
    min_recall: float | None = Field(default=None, ge=0, le=1)
    max_drift_share: float = Field(default=0.3, ge=0, le=1)
    drift_thresholds: dict[str, float] = Field(default_factory=dict)

    def floors(self) -> dict[str, float]:
        """Metric name -> floor, for the objectives that are set."""
        return {
            name.removeprefix("min_"): value
            for name, value in self.model_dump().items()
            if name.startswith("min_") and value is not None
        }


class ModelParams(_Strict):
    """HistGradientBoostingClassifier parameters."""

    learning_rate: float = Field(default=0.1, gt=0)
    max_iter: int = Field(default=100, ge=1)
    max_leaf_nodes: int | None = Field(default=31, ge=2)
    min_samples_leaf: int = Field(default=20, ge=1)
    l2_regularization: float = Field(default=0.0, ge=0)


class TrainingSettings(_Strict):
    """How the data is split and the model fitted."""

    test_size: float = Field(default=0.2, gt=0, lt=1)
    random_state: int = 42
    reference_rows: int = Field(default=1000, ge=1)
    params: ModelParams = ModelParams()


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


def describe_validation_error(path: Path, exc: ValidationError) -> str:
    """One line per bad key: file, dotted key, what is wrong and the value given."""
    lines = [f"{path}: invalid settings (fix the keys below):"]
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
