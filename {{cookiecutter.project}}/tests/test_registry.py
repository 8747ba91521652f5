"""The model store: lineage of a registered version, its reference sample, listing, lookup and git revisions."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import bentoml
import pandas as pd
import pytest

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.data import file_sha256, read_table, write_table
from {{ cookiecutter.package }}.errors import ModelNotFoundError
from {{ cookiecutter.package }}.estimator import estimator_path
from {{ cookiecutter.package }}.model import Model
from {{ cookiecutter.package }}.settings import Objectives, Settings, TrainingSettings
from {{ cookiecutter.package }}.train import split, train

from .support import MIXED, settings_in, synthetic_frame, train_on


@pytest.fixture(scope="module")
def model(trained: tuple[Settings, str]) -> Model:
    return registry.load(*trained)


def test_a_registered_model_carries_its_lineage(trained: tuple[Settings, str], model: Model) -> None:
    settings, tag = trained
    params = settings.training.model_dump(mode="json", exclude_none=True)
    assert model.tag == tag
    assert model.labels == {
        "data_sha256": file_sha256(settings.data_path),
        "params_sha256": registry.params_sha256(params),
        "git_revision": registry.git_revision(settings.root),
    }
    assert model.labels["params_sha256"] != registry.params_sha256({**params, "random_state": -1})


def test_a_registered_model_describes_how_it_was_trained(
    trained: tuple[Settings, str], contract: Contract, model: Model
) -> None:
    settings, _ = trained
    report = json.loads(settings.metrics_path.read_text())
    metadata = model.metadata
    assert metadata["task"] == contract.task
    assert metadata["estimator"] == estimator_path(settings.training, contract.task)
    assert metadata["metrics"] == report["metrics"]
    assert metadata["objectives"] == settings.objectives.declared()
    assert metadata["params"] == settings.training.model_dump(mode="json", exclude_none=True)
    reference_rows = min(report["rows"]["train"], settings.training.reference_rows)
    assert metadata["rows"] == report["rows"] | {"reference": reference_rows}
    assert metadata["data_file"] == str(settings.data.path)
    assert metadata["contract"] == contract.model_dump(mode="json", exclude_none=True)
    assert model.contract == contract


def test_a_parameter_set_to_null_is_fitted_and_stored_as_null(tmp_path: Path) -> None:
    """BentoML's metadata refuses None: it is stored as "null"; the pipeline and the params hash keep None."""
    params = {"n_estimators": 10, "max_features": None}  # None: every feature, not the default "sqrt"
    training = TrainingSettings(estimator="sklearn.ensemble:RandomForestClassifier", params=params)
    settings = settings_in(tmp_path, model_name="null-param-test", objectives=Objectives(), training=training)
    write_table(synthetic_frame(MIXED, 120), settings.data_path)
    model = registry.load(settings, train(settings, MIXED))
    assert model.pipeline[-1].max_features is None
    assert model.metadata["params"]["params"] == {"n_estimators": 10, "max_features": "null"}
    full = settings.training.model_dump(mode="json", exclude_none=True)
    assert model.labels["params_sha256"] == registry.params_sha256(full)
    assert model.labels["params_sha256"] != registry.params_sha256(model.metadata["params"])


def test_the_reference_sample_is_training_rows_stored_with_the_version(
    trained: tuple[Settings, str], contract: Contract, model: Model
) -> None:
    settings, _ = trained
    reference = model.reference
    assert isinstance(reference, pd.DataFrame)
    assert list(reference.columns) == [*contract.feature_names, contract.target.name]
    assert len(reference) == model.metadata["rows"]["reference"]
    table = contract.validate_frame(read_table(settings.data_path), source="data", with_target=True)
    parts = split(table, contract, settings.training)
    training_rows = parts.train.assign(**{contract.target.name: parts.y_train})
    joined = reference.merge(training_rows, how="left", indicator=True)
    assert (joined["_merge"] == "both").all()  # every reference row is a training row, none is held out


def test_versions_are_listed_newest_first_and_found_by_bare_version(tmp_path: Path) -> None:
    settings, first = train_on(tmp_path, MIXED, model_name="versions-test", rows=120)
    _, second = train_on(tmp_path, MIXED, model_name="versions-test", rows=120, seed=1)
    assert [version.tag for version in registry.list_versions(settings)] == [second, first]
    assert str(registry.get_model(settings, first.split(":")[1]).tag) == first
    assert str(registry.get_model(settings).tag) == second  # no tag: the latest
    assert registry.load(settings, first).labels["data_sha256"] != registry.load(settings).labels["data_sha256"]


def test_no_versions_is_an_empty_list(make_settings: Callable[..., Settings]) -> None:
    assert registry.list_versions(make_settings(model_name="never-trained")) == []


def test_an_unknown_version_says_how_to_get_one(trained: tuple[Settings, str]) -> None:
    settings, _ = trained
    with pytest.raises(ModelNotFoundError, match=r"'.*:nosuchversion' is not in the model store .*run `make train`"):
        registry.get_model(settings, "nosuchversion")
    with pytest.raises(ModelNotFoundError, match="is not in the model store"):
        registry.load(settings, "nosuchversion")


def test_a_version_keeps_the_contract_it_was_trained_under(tmp_path: Path) -> None:
    settings, tag = train_on(tmp_path, MIXED, model_name="contract-test", rows=120)
    entry = registry.get_model(settings, tag)
    assert registry.stored_contract(entry) == MIXED  # whatever config/contract.yaml says today
    assert registry.load_entry(entry).contract == MIXED


def test_the_plots_are_stored_with_their_version_and_travel_with_its_export(tmp_path: Path) -> None:
    settings, tag = train_on(tmp_path, MIXED, model_name="plots-export-test", rows=120, plots=True)
    plots = registry.stored_plots(registry.get_model(settings, tag))
    assert plots[0]["file"] == "roc.svg"
    assert all(f"<dc:identifier>{tag}</dc:identifier>" in plot["svg"] for plot in plots)
    archive = bentoml.models.export_model(tag, str(tmp_path / "model.bentomodel"))
    bentoml.models.delete(tag)
    bentoml.models.import_model(archive)
    assert registry.stored_plots(registry.get_model(settings, tag)) == plots


def test_a_version_registered_without_plots_has_none(model: Model) -> None:
    bare = bentoml.sklearn.save_model("no-plots-test", model.pipeline)
    assert registry.stored_plots(bentoml.models.get(bare.tag)) == []


def test_a_stored_model_without_a_reference_sample_is_refused(model: Model) -> None:
    bare = bentoml.sklearn.save_model(
        "no-reference-test",
        model.pipeline,
        metadata={"contract": model.contract.model_dump(mode="json", exclude_none=True)},
    )
    with pytest.raises(ModelNotFoundError, match="has no reference sample: register models with `make train`"):
        registry.load_entry(bentoml.models.get(bare.tag))


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def test_git_revision_is_the_commit_with_a_dirty_suffix(tmp_path: Path) -> None:
    git(tmp_path, "init", "-b", "main")
    (tmp_path / "file.txt").write_text("one")
    git(tmp_path, "add", "file.txt")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-m", "first")
    head = git(tmp_path, "rev-parse", "HEAD")
    assert registry.git_revision(tmp_path) == head
    (tmp_path / "untracked.txt").write_text("new")
    assert registry.git_revision(tmp_path) == head  # untracked files do not make it dirty
    (tmp_path / "file.txt").write_text("two")
    assert registry.git_revision(tmp_path) == f"{head}-dirty"


def test_outside_git_the_revision_is_unknown_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert registry.git_revision(tmp_path) == "unknown"
    assert "git_revision=unknown" in caplog.text


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_bentoml_home_means_the_project_store(
    monkeypatch: pytest.MonkeyPatch,
    make_settings: Callable[..., Settings],
    empty: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings()
    monkeypatch.setenv("BENTOML_HOME", empty)  # restored after the test: BentoML has cached the session's store
    assert registry.use_project_store(settings) == settings.root / ".bentoml"
    assert "BENTOML_HOME is set but empty" in caplog.text


def test_a_set_bentoml_home_is_kept(monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings]) -> None:
    monkeypatch.setenv("BENTOML_HOME", "/srv/models")
    assert registry.use_project_store(make_settings()) == Path("/srv/models")
