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

import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest

from {{ cookiecutter.package }}.contract import Contract, load_contract
from {{ cookiecutter.package }}.data import load_breast_cancer, write_table
from {{ cookiecutter.package }}.settings import Settings
from {{ cookiecutter.package }}.train import train

from .support import ROOT, settings_in


@pytest.fixture(scope="session")
def contract() -> Contract:
    return load_contract(ROOT / "config" / "contract.yaml")


@pytest.fixture(scope="session")
def breast_cancer() -> pd.DataFrame:
    return load_breast_cancer()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    return lambda **changes: settings_in(tmp_path, **changes)


@pytest.fixture(scope="session")
def trained(
    tmp_path_factory: pytest.TempPathFactory, contract: Contract, breast_cancer: pd.DataFrame
) -> tuple[Settings, str]:
    """One model trained on the default data, shared by the tests that only read it."""
    settings = settings_in(tmp_path_factory.mktemp("trained"))
    write_table(breast_cancer, settings.data_path)
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
def record(breast_cancer: pd.DataFrame, contract: Contract) -> dict[str, float]:
    """One valid API record: the first row of the default data."""
    return {name: float(breast_cancer.iloc[0][name]) for name in contract.feature_names}
