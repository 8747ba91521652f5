"""Shared fixtures. The BentoML store is isolated per test session, before anything imports bentoml."""

from __future__ import annotations

import os
import tempfile

os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="bentoml-test-store-")
os.environ["BENTOML_DO_NOT_TRACK"] = "true"

from collections.abc import Callable
from pathlib import Path

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
