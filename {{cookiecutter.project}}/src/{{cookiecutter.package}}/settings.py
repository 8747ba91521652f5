"""One typed view of config/project.yaml: objectives, training parameters and paths."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from .errors import ConfigError

CONFIG_ENV = "{{ cookiecutter.package | upper }}_CONFIG"
DEFAULT_CONFIG = Path("config/project.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# data.source is one of three kinds, told apart by its form (see DataSettings).
SourceKind = Literal["loader", "file", "url"]
RuntimeChoice = Literal["auto", "onnx", "sklearn"]  # serving.runtime: which runtime answers the service
TABLE_FORMATS = (".csv", ".parquet")
_LOADER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_INSIDE_THE_REPOSITORY = (
    "a file source is a file committed in the repository, named relative to the project root "
    "(e.g. data/train.csv), so that CI checks it out with the code: move the file into the project, "
    "or publish it at an https:// URL and set data.sha256"
)


def source_kind(source: str) -> SourceKind:
    """``url`` (``scheme://...``), ``loader`` (``module:function``) or ``file`` (a path in the repository)."""
    if _URL.match(source):
        return "url"
    return "loader" if _LOADER.match(source) else "file"


def _check_url(url: str) -> None:
    match = _URL.match(url)
    scheme = match.group(1).lower() if match else ""
    if scheme == "http":
        raise ValueError(
            "plain http:// is refused (anyone on the way can read or swap the file): use the https:// "
            "address, or commit the file and name its path"
        )
    if scheme not in ("https", "file"):
        raise ValueError(f"{scheme}:// is not supported: use https:// or file://, or a module:function loader")
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise ValueError("the URL holds credentials, which would be committed with the config: use one without")
    if scheme == "https" and not parts.hostname:
        raise ValueError("the https:// URL names no host")
    if scheme == "file" and (parts.netloc not in ("", "localhost") or not parts.path):
        raise ValueError("a file:// URL names an absolute path on this machine, e.g. file:///srv/data/train.csv")


def _check_file_source(source: str) -> None:
    if Path(source).suffix.lower() not in TABLE_FORMATS:
        raise ValueError(
            "neither a loader ('module:function'), nor a file in the repository ending in "
            f"{' or '.join(TABLE_FORMATS)}, nor an https:// or file:// URL"
        )
    if Path(source).is_absolute():
        raise ValueError(f"an absolute path; {_INSIDE_THE_REPOSITORY}")
    if Path(os.path.normpath(source)).parts[0] == "..":
        raise ValueError(f"points outside the project root; {_INSIDE_THE_REPOSITORY}")


class DataSettings(_Strict):
    """Where the training table comes from (``source``) and where training reads it (``path``).

    ``source`` is one of three kinds, told apart by its form:

    - a loader, ``module:function`` returning a pandas DataFrame: ``make data`` writes what it
      returns to ``path`` (required);
    - a file in the repository (CSV or Parquet), relative to the project root: ``make data`` only
      checks it; ``path`` must name that same file;
    - an ``https://`` or ``file://`` URL: ``make data`` downloads it to ``path`` (required) and
      checks it against ``sha256`` (required; no other kind takes it).
    """

    source: str
    path: Path = Field(default=None, validate_default=True)  # required; the default lets _path_is_set say why
    sha256: str | None = Field(default=None, validate_default=True)

    @property
    def kind(self) -> SourceKind:
        """Which of the three kinds ``source`` is."""
        return source_kind(self.source)

    @field_validator("source")
    @classmethod
    def _source_of_a_known_kind(cls, source: str) -> str:
        kind = source_kind(source)
        if kind == "url":
            _check_url(source)
        elif kind == "file":
            _check_file_source(source)
        return source

    @field_validator("path", mode="before")
    @classmethod
    def _path_is_set(cls, path: object, info: ValidationInfo) -> object:
        source = info.data.get("source")
        if path is not None:
            return path
        if source is None:  # data.source is wrong itself: one error about it is enough
            return Path("unset.csv")
        if source_kind(source) == "file":
            raise ValueError(f"required: the table training reads, here the file data.source names: {source}")
        given = "a module:function loader" if source_kind(source) == "loader" else "a URL"
        raise ValueError(
            f"required when data.source is {given}: the file `make data` writes, e.g. data/cache/train.csv "
            "(data/cache/ is git-ignored)"
        )

    @field_validator("path")
    @classmethod
    def _path_is_a_table(cls, path: Path, info: ValidationInfo) -> Path:
        source = info.data.get("source")
        if path.suffix.lower() not in TABLE_FORMATS:
            raise ValueError(f"must end in {' or '.join(TABLE_FORMATS)} (the training table's format)")
        if source is not None and source_kind(source) == "file" and os.path.normpath(path) != os.path.normpath(source):
            raise ValueError(
                f"{path} is not data.source {source}: when data.source is a file in the repository, training "
                f"reads that very file; set data.path to {source} too"
            )
        return path

    @field_validator("sha256")
    @classmethod
    def _sha256_pins_a_url(cls, sha256: str | None, info: ValidationInfo) -> str | None:
        source = info.data.get("source")
        if source is None:
            return sha256
        if source_kind(source) != "url":
            if sha256 is not None:
                raise ValueError("only taken with a URL (https:// or file://) as data.source: remove it")
            return None
        if sha256 is None:
            parts = urlsplit(source)
            local = parts.scheme.lower() == "file"
            command = f"sha256sum {parts.path}" if local else f"curl -fsSL {source} | sha256sum"
            raise ValueError(
                f"required when data.source is a URL: the file's SHA-256 (64 hex digits), which `make data` "
                f"checks the download against; compute it with `{command}` (macOS: shasum -a 256) and add it"
            )
        if not _SHA256.match(sha256.strip().lower()):
            raise ValueError("must be a SHA-256: 64 hexadecimal digits")
        return sha256.strip().lower()


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
    """What a model must achieve before it is registered, served, or promoted; and the drift limits.

    Classification sets floors on accuracy, ROC AUC, F1, precision and recall; regression sets
    ceilings on RMSE and MAE and a floor on R². Only those of the contract's task may be set; the
    first one set, in that order, is the primary metric that ``compare`` bootstraps. The service
    objectives hold for one replica at ``expected_rps`` requests per second (``loadtest``, and the
    alert rules generated from them).
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
    max_p95_latency_ms: float = Field(default=100, gt=0)
    expected_rps: float = Field(default=20, gt=0)  # requests per second to one replica
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    # How far the challenger's primary metric may fall below the champion's (its unit) and still win.
    challenger_margin: float = Field(default=0.0, ge=0)

    def limits(self) -> list[Limit]:
        """The metric objectives that are set, in declaration order."""
        found = []
        for key, value in self.model_dump(exclude=set(_NOT_METRIC_OBJECTIVES)).items():
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

    def primary(self, task: str) -> Limit:
        """The objective whose metric ``compare`` bootstraps: the first set, or a ConfigError saying to set one."""
        limits = self.limits_for(task)
        if not limits:
            raise ConfigError(f"objectives: no metric objective is set for {task}; compare needs one (the primary)")
        return limits[0]


# Objectives that are not a floor or ceiling on a hold-out metric (Objectives.limits leaves them out).
_NOT_METRIC_OBJECTIVES = frozenset(
    {"max_drift_share", "drift_thresholds", "max_p95_latency_ms", "expected_rps", "max_error_rate", "challenger_margin"}
)


class TrainingSettings(_Strict):
    """How the data is split and which estimator is fitted with which parameters."""

    test_size: float = Field(default=0.2, gt=0, lt=1)
    random_state: int = 42
    reference_rows: int = Field(default=1000, ge=1)
    plots: bool = True  # draw the hold-out plots stored with each version (permutation importance included)
    # "module:Class" of a scikit-learn compatible estimator; unset: HistGradientBoosting of the task's kind.
    estimator: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    params: dict[str, Any] = Field(default_factory=dict)


LOG_SCHEMES = ("s3", "gs", "gcs", "az", "abfs", "abfss", "file")


def check_log_destination(uri: str) -> str:
    """A prediction-log destination URI: a known scheme and a bucket, and no credentials in it."""
    parts = urlsplit(uri)
    if parts.scheme not in LOG_SCHEMES or not (parts.netloc or parts.path.strip("/")):
        raise ValueError(
            f"{uri!r} is not a destination: use s3://bucket/prefix, gs://bucket/prefix, az://container/prefix "
            "(the account in AZURE_STORAGE_ACCOUNT_NAME), abfs://container@account.dfs.core.windows.net/prefix "
            "or file:///folder"
        )
    if any(name in parts.query for name in ("access_key", "secret_key", "session_token", "account_key", "sas")):
        raise ValueError(
            "credentials in the URI: the service takes them from the environment (AWS_* variables, an IAM role, "
            "workload identity); remove them from the URI"
        )
    return uri


class ServingSettings(_Strict):
    """How the BentoML service runs; BENTOML_CONFIG_OVERRIDES overrides these at run time."""

    port: int = Field(default=3000, ge=1, le=65535)
    workers: int = Field(default=2, ge=1)
    timeout_s: float = Field(default=10.0, gt=0)
    max_concurrency: int = Field(default=256, ge=1)
    max_batch_size: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    header_timeout_s: float = Field(default=10.0, gt=0)
    max_header_bytes: int = Field(default=16_384, ge=1024)
    access_log: bool = False
    prediction_log_dir: Path = Path("logs/predictions")
    # Object storage the rotated log files are shipped to (s3://, gs://, az://, file://); unset: they stay local.
    prediction_log_uri: str | None = None
    prediction_log_rotate_s: float = Field(default=3600.0, ge=1)
    docs_ui: bool = True
    runtime: RuntimeChoice = "auto"

    @field_validator("prediction_log_uri")
    @classmethod
    def _a_log_destination(cls, uri: str | None) -> str | None:
        return None if uri is None else check_log_destination(uri)

    def runtime_choice(self) -> RuntimeChoice:
        """Which runtime answers: ``runtime``, unless ``SERVING_RUNTIME=auto|onnx|sklearn`` overrides it."""
        value = os.environ.get("SERVING_RUNTIME", "").strip().lower()
        if not value:
            return self.runtime
        if value not in get_args(RuntimeChoice):
            raise ConfigError(f"SERVING_RUNTIME={value!r}: expected one of {', '.join(get_args(RuntimeChoice))}")
        return cast(RuntimeChoice, value)

    def docs_ui_on(self) -> bool:
        """Whether to serve the Swagger UI: ``docs_ui``, unless ``DOCS_UI=true|false`` overrides it (deployments)."""
        value = os.environ.get("DOCS_UI", "").strip().lower()
        if not value:
            return self.docs_ui
        if value not in ("true", "false"):
            raise ConfigError(f"DOCS_UI={value!r}: expected true or false")
        return value == "true"


class DriftSettings(_Strict):
    """Where drift reports go, and how much data a drift check needs at least and reads at most."""

    reports_dir: Path = Path("reports/drift")
    # On a handful of rows a drift test can only say "no drift": it has no power to see a shift.
    min_rows: int = Field(default=100, ge=1)
    # Below ~1000 rows Evidently switches drift methods (K-S instead of Wasserstein), so a
    # smaller cap could change the verdicts that the full data would give.
    max_rows: int = Field(default=10_000, ge=1000)
    random_state: int = 42

    @field_validator("max_rows")
    @classmethod
    def _not_below_min_rows(cls, max_rows: int, info: ValidationInfo) -> int:
        min_rows = info.data.get("min_rows")
        if min_rows is not None and max_rows < min_rows:
            raise ValueError(f"must be at least min_rows ({min_rows}), or no sample would be large enough")
        return max_rows


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
    def prediction_log_uri(self) -> str | None:
        """Where the rotated log files are shipped, if anywhere (PREDICTION_LOG_URI overrides)."""
        uri = os.environ.get("PREDICTION_LOG_URI")
        if not uri:
            return self.serving.prediction_log_uri
        try:
            return check_log_destination(uri)
        except ValueError as exc:
            raise ConfigError(f"PREDICTION_LOG_URI: {exc}") from None

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
