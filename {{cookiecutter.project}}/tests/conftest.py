"""Shared fixtures. The BentoML store is isolated per test session, before anything imports bentoml."""

from __future__ import annotations

import os
import tempfile

# One scratch folder per session: Prometheus' multiprocess files at its top, the rest below.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="{{ cookiecutter.package }}-tests-")
os.environ["BENTOML_HOME"] = os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "bentoml")
os.environ["BENTOML_DO_NOT_TRACK"] = "true"
os.environ["PREDICTION_LOG_DIR"] = os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "prediction-log")
os.environ["API_KEY"] = "test-key"  # pragma: allowlist secret  (tests serve with authentication on)
{%- if cookiecutter.experiment_tracking == "mlflow" %}
# Training logs its runs here, not to the project's own mlflow.db: one SQLite file per test process, in a
# folder of its own (Prometheus reads every *.db file at the scratch folder's top as its own).
os.environ["MLFLOW_TRACKING_URI"] = "sqlite:///" + os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "mlflow", "db")
{%- endif %}
# One OpenMP thread per test process (read when scikit-learn loads): xdist already runs a process per
# core, and HistGradientBoosting's threads competing across processes made training several times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest

from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.data import write_table
from {{ cookiecutter.package }}.settings import Settings
from {{ cookiecutter.package }}.train import train

from .support import (
    MULTICLASS,
    PROJECT_CONTRACT,
    REGRESSION,
    passing_objectives,
    records_of,
    settings_in,
    synthetic_frame,
    train_on,
)


@pytest.fixture(scope="session")
def contract() -> Contract:
    """The project's own data contract (config/contract.yaml)."""
    return PROJECT_CONTRACT


@pytest.fixture(scope="session")
def frame(contract: Contract) -> pd.DataFrame:
    """Labelled synthetic rows of the project's contract, with a learnable target."""
    return synthetic_frame(contract, 600, seed=0)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    return lambda **changes: settings_in(tmp_path, **changes)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, contract: Contract, frame: pd.DataFrame) -> tuple[Settings, str]:
    """One model of the project's contract trained on ``frame``, shared by the tests that only read it."""
    settings = settings_in(tmp_path_factory.mktemp("trained"), objectives=passing_objectives(contract))
    write_table(frame, settings.data_path)
    return settings, train(settings, contract)


@pytest.fixture(scope="session")
def service_module(trained: tuple[Settings, str]) -> ModuleType:
    """The service module, imported once a model exists (it resolves the model at import)."""
    os.environ["MODEL_TAG"] = trained[1]
    return importlib.import_module("{{ cookiecutter.package }}.service")


@pytest.fixture(scope="session")
def asgi_app(service_module: ModuleType) -> Any:
    """The service's ASGI app, made once: BentoML registers its HTTP metrics once per process."""
    return service_module.Predictor.to_asgi()


@pytest.fixture(scope="session")
def records(frame: pd.DataFrame, contract: Contract) -> list[dict[str, Any]]:
    """Valid API records: the features of ``frame``'s rows."""
    return records_of(frame, contract)


@pytest.fixture(scope="session")
def record(records: list[dict[str, Any]]) -> dict[str, Any]:
    """One valid API record."""
    return records[0]


@pytest.fixture(scope="session")
def regression_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    """A model of the small REGRESSION contract of support.py, whatever the project's own task."""
    return train_on(tmp_path_factory.mktemp("regression"), REGRESSION, model_name="test-regression")


@pytest.fixture(scope="session")
def multiclass_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    """A model of the three-class MULTICLASS contract of support.py."""
    return train_on(tmp_path_factory.mktemp("multiclass"), MULTICLASS, model_name="test-multiclass")
