"""Retraining: the config pointer, the CHANGELOG entry, and the workflow's steps rehearsed on a local data source."""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from {{ cookiecutter.package }}.cli import main
from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.data import file_sha256, write_table
from {{ cookiecutter.package }}.errors import ConfigError, DataError
from {{ cookiecutter.package }}.retrain import changelog_with, point_at, pointed_config
from {{ cookiecutter.package }}.settings import load_settings

from .support import ROOT, passing_objectives, synthetic_frame
from .test_labels import labels_of, with_id, write_log

SHA = "ab" * 32


def test_the_pointer_replaces_source_and_path_adds_sha256_and_keeps_the_comments() -> None:
    text = (ROOT / "config" / "project.yaml").read_text(encoding="utf-8")
    pointed = pointed_config(text, "https://example.org/fresh.csv", SHA, Path("data/cache/retrain.csv"))
    raw = yaml.safe_load(pointed)
    assert raw["data"] == {"source": "https://example.org/fresh.csv", "sha256": SHA, "path": "data/cache/retrain.csv"}
    assert pointed.count("\n#") == text.count("\n#")  # the comments above the keys are all still there
    assert {key: value for key, value in raw.items() if key != "data"} == {
        key: value for key, value in yaml.safe_load(text).items() if key != "data"
    }
    again = pointed_config(pointed, "https://example.org/newer.csv", "cd" * 32, Path("data/cache/retrain.csv"))
    assert yaml.safe_load(again)["data"]["sha256"] == "cd" * 32


def test_a_config_without_a_data_block_is_refused() -> None:
    with pytest.raises(ConfigError, match="no `data:` block"):
        pointed_config("data: {source: x}\n", "https://example.org/a.csv", SHA, Path("a.csv"))


def test_the_changelog_entry_goes_under_unreleased_changed() -> None:
    text = "# Changelog\n\n## [Unreleased]\n\n## [0.1.0]\n\n### Added\n\n- First.\n"
    once = changelog_with(text, "Retrained.")
    assert (
        once == "# Changelog\n\n## [Unreleased]\n\n### Changed\n\n- Retrained.\n\n## [0.1.0]\n\n### Added\n\n- First.\n"
    )
    twice = changelog_with(once, "Again.")
    assert "### Changed\n\n- Again.\n- Retrained.\n\n## [0.1.0]" in twice
    assert twice.count("### Changed") == 1


def project(folder: Path, contract: Contract) -> Path:
    """A project folder: config/ (a fast estimator, objectives synthetic data meets), CHANGELOG.md."""
    shutil.copytree(ROOT / "config", folder / "config")
    shutil.copyfile(ROOT / "CHANGELOG.md", folder / "CHANGELOG.md")
    config = folder / "config" / "project.yaml"
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    linear = {"classification": "LogisticRegression", "regression": "Ridge"}[contract.task]
    raw["training"] |= dict(estimator=f"sklearn.linear_model:{linear}", params={})
    raw["objectives"] = passing_objectives(contract).model_dump(exclude_none=True) | {"challenger_margin": 0.05}
    config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return config


def test_a_table_breaking_the_contract_changes_nothing(tmp_path: Path, contract: Contract) -> None:
    config = project(tmp_path, contract)
    before = config.read_text(encoding="utf-8")
    broken = synthetic_frame(contract, 50, seed=1).drop(columns=[contract.feature_names[0]])
    write_table(broken, tmp_path / "fresh.csv")
    settings = load_settings(config)
    with pytest.raises(DataError):
        point_at(settings, contract, (tmp_path / "fresh.csv").as_uri(), None)
    assert config.read_text(encoding="utf-8") == before
    assert not (tmp_path / "data" / "cache" / "retrain.csv").exists()


def test_the_labels_route_joins_the_log_then_points_the_config_at_the_joined_table(
    tmp_path: Path, contract: Contract
) -> None:
    config = project(tmp_path, contract)
    identified = with_id(contract)
    name = identified.id_column
    assert name is not None
    frame = synthetic_frame(identified, 40, seed=2)
    ids = [f"r{i}" for i in range(40)]
    write_log(tmp_path / "logs", identified, frame, ids)
    write_table(labels_of(frame.head(30), identified, ids[:30]), tmp_path / "labels.parquet")
    runner = CliRunner()
    join = ["--config", str(config), "retrain", "join", "--labels", str(tmp_path / "labels.parquet")]
    join += ["--logs", str(tmp_path / "logs")]

    refused = runner.invoke(main, join)  # make retrain-join, before the contract has an ID
    assert refused.exit_code == 2
    assert "the data contract has no id_column" in refused.output
    contract_file = tmp_path / "config" / "contract.yaml"
    contract_file.write_text(contract_file.read_text(encoding="utf-8") + f"\nid_column: {name}\n", encoding="utf-8")
    joined = runner.invoke(main, join)
    assert joined.exit_code == 0, joined.output
    assert "40 log rows (0 without an ID), 30 labels: 30 joined, 0 labels not in the log" in joined.output
    table = tmp_path / "data" / "cache" / "labelled.parquet"
    pointed = runner.invoke(main, ["--config", str(config), "retrain", "data", "--url", table.as_uri()])
    assert pointed.exit_code == 0, pointed.output  # make retrain-data URL=... : the rest of the route as before
    assert "30 rows of" in pointed.output
    assert load_settings(config).data.sha256 == file_sha256(table)


def bento_archive(path: Path, model_tag: str) -> Path:
    """A bento archive holding only its manifest, naming ``model_tag`` (enough for the champion's tag)."""
    manifest = yaml.safe_dump({"services": [{"name": "api", "models": [{"tag": model_tag}]}], "models": []}).encode()
    with tarfile.open(path, "w:xz") as archive:
        member = tarfile.TarInfo("./bento.yaml")
        member.size = len(manifest)
        archive.addfile(member, io.BytesIO(manifest))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("fresh_is_learnable", [True, False])
def test_the_workflow_steps_on_a_local_data_source(
    tmp_path: Path, contract: Contract, fresh_is_learnable: bool
) -> None:
    config = project(tmp_path, contract)
    runner = CliRunner()

    def step(*arguments: str) -> tuple[int, str]:
        result = runner.invoke(main, ["--config", str(config), *arguments])
        return result.exit_code, result.output

    # The released model: trained on the data the config names now.
    write_table(synthetic_frame(contract, 600, seed=0), load_settings(config).data_path)
    code, output = step("train")
    assert code == 0, output
    released = re.search(r"^registered (\S+) ", output, re.MULTILINE)
    assert released, output
    archive = bento_archive(tmp_path / "release.bento", released.group(1))

    fresh = tmp_path / "incoming" / "fresh.csv"
    fresh.parent.mkdir()
    write_table(synthetic_frame(contract, 600, seed=3, learnable=fresh_is_learnable), fresh)
    code, output = step("retrain", "data", "--url", fresh.as_uri())  # make retrain-data URL=file://...
    assert code == 0, output
    pointed = load_settings(config)
    assert (pointed.data.source, pointed.data.sha256) == (fresh.as_uri(), file_sha256(fresh))
    assert step("data")[0] == 0  # make data: the copy already holds those bytes
    trained, output = step("train")  # make train: the gate
    assert (trained == 0) is fresh_is_learnable, output
    if trained == 0:
        code, output = step("retrain", "compare", "--bento", str(archive))  # make retrain-compare BENTO=...
        assert code == 0, output
    code, output = step("retrain", "decide")  # make retrain-decide
    assert code == 0, output
    decision = json.loads((tmp_path / "reports" / "retrain" / "decision.json").read_text())
    changelog = (tmp_path / "CHANGELOG.md").read_text()
    if fresh_is_learnable:
        assert decision["winner"] == "challenger"
        assert f"- Retrained on {fresh.as_uri()} (sha256 {file_sha256(fresh)[:12]})" in changelog
        assert "hold-out rows of the challenger's training split" in decision["text"]
    else:
        assert decision["winner"] == "champion"
        assert "missed the quality gate" in decision["text"]
        assert "Retrained on" not in changelog
