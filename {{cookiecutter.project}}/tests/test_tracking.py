"""Experiment tracking: every training is an MLflow run, rejected or registered; run and model point at each other."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package }} import docs_pages, registry, tracking
from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.data import file_sha256, write_table
from {{ cookiecutter.package }}.errors import ConfigError, GateFailedError
from {{ cookiecutter.package }}.train import train

from .support import passing_objectives, settings_in, synthetic_frame


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tracking store of this test's own."""
    database = tmp_path / "store" / "mlflow.db"
    database.parent.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{database}")
    return database


def test_a_rejected_and_a_registered_training_are_both_runs_and_the_model_names_its_run(
    tmp_path: Path, store: Path, contract: Contract, frame: pd.DataFrame
) -> None:
    objectives = passing_objectives(contract)
    settings = settings_in(tmp_path, model_name="tracked", objectives=objectives)
    write_table(synthetic_frame(contract, 300, seed=1, learnable=False), settings.data_path)
    with pytest.raises(GateFailedError):
        train(settings, contract)
    rejected_sha256 = file_sha256(settings.data_path)
    write_table(frame, settings.data_path)
    tag = train(settings, contract)

    client = tracking.client(settings)
    experiment = client.get_experiment_by_name("tracked")
    assert experiment is not None
    assert experiment.artifact_location == (store.parent / "mlruns").as_uri()
    rejected, registered = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    (objective,) = (f"objective.{key}" for key in objectives.declared())
    assert (rejected.data.tags["gate"], rejected.data.tags[objective]) == ("failed", "missed")
    assert (registered.data.tags["gate"], registered.data.tags[objective]) == ("passed", "met")
    assert tracking.BENTOML_TAG not in rejected.data.tags
    assert registered.data.tags[tracking.BENTOML_TAG] == tag
    assert {run.info.status for run in (rejected, registered)} == {"FINISHED"}

    model = registry.get_model(settings, tag)
    assert model.info.metadata["mlflow_run_id"] == registered.info.run_id
    assert rejected.data.tags["data_sha256"] == rejected_sha256
    assert registered.data.tags["data_sha256"] == model.info.labels["data_sha256"] == file_sha256(settings.data_path)
    assert registered.data.tags["git_revision"] == model.info.labels["git_revision"]
    assert registered.data.metrics == pytest.approx(model.info.metadata["metrics"])
    assert registered.data.params["random_state"] == str(settings.training.random_state)
    for run in (rejected, registered):
        listed = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
        assert listed == {"contract.yaml", "metrics.json"}

    card = docs_pages.model_card(registry.describe(model), contract, "", None, model_name="tracked")
    assert f"| MLflow run | `{registered.info.run_id}`" in card


def test_without_a_tracking_uri_runs_go_to_the_projects_own_store(
    tmp_path: Path, contract: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    settings = settings_in(tmp_path).model_copy(update={"root": tmp_path})
    assert tracking.tracking_uri(settings.root) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = tracking.client(settings).get_experiment(tracking.experiment_id(tracking.client(settings), settings))
    assert experiment.artifact_location == (tmp_path / "mlruns").as_uri()


def test_an_unreachable_store_is_an_error_naming_the_setting(
    tmp_path: Path, contract: Contract, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # the discard port: nothing answers
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    settings = settings_in(tmp_path, model_name="untracked", objectives=passing_objectives(contract))
    write_table(frame, settings.data_path)
    with pytest.raises(ConfigError, match=r"MLflow tracking at http://127.0.0.1:9 failed: .*MLFLOW_TRACKING_URI"):
        train(settings, contract)
    assert registry.list_versions(settings) == []
