from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.data import file_sha256
from {{ cookiecutter.package }}.errors import ModelNotFoundError
from {{ cookiecutter.package }}.settings import Settings


def test_a_registered_model_carries_its_lineage(trained: tuple[Settings, str], contract: Contract) -> None:
    settings, tag = trained
    version = registry.describe(registry.get_model(settings, tag))
    assert version.labels["data_sha256"] == file_sha256(settings.data_path)
    assert version.labels["params_sha256"] == registry.params_sha256(settings.training.model_dump(mode="json"))
    assert version.labels["git_revision"] == registry.git_revision(settings.root)
    assert version.metadata["metrics"].keys() == {"accuracy", "roc_auc", "f1", "precision", "recall"}
    assert version.metadata["params"]["params"]["max_iter"] == settings.training.params.max_iter
    assert version.metadata["rows"] == {"train": 455, "test": 114, "reference": 455}
    assert registry.model_contract(registry.get_model(settings, tag)) == contract


def test_the_reference_sample_is_stored_with_the_version(trained: tuple[Settings, str], contract: Contract) -> None:
    settings, tag = trained
    reference = registry.load_reference(registry.get_model(settings, tag))
    assert isinstance(reference, pd.DataFrame)
    assert list(reference.columns) == [*contract.feature_names, "malignant"]
    assert len(reference) == 455


def test_versions_are_listed_newest_first_and_found_by_bare_version(trained: tuple[Settings, str]) -> None:
    settings, tag = trained
    tags = [version.tag for version in registry.list_versions(settings)]
    assert tag in tags
    assert str(registry.get_model(settings, tag.split(":")[1]).tag) == tag


def test_an_unknown_version_says_how_to_get_one(trained: tuple[Settings, str]) -> None:
    settings, _ = trained
    with pytest.raises(ModelNotFoundError, match=r"not in the model store .*run `make train`"):
        registry.get_model(settings, "nosuchversion")


def test_git_revision_is_the_commit_with_a_dirty_suffix(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-b", "main")
    (tmp_path / "file.txt").write_text("one")
    git("add", "file.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-m", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert registry.git_revision(tmp_path) == head
    (tmp_path / "file.txt").write_text("two")
    assert registry.git_revision(tmp_path) == f"{head}-dirty"


def test_outside_git_the_revision_is_unknown_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert registry.git_revision(tmp_path) == "unknown"
    assert "git_revision=unknown" in caplog.text
