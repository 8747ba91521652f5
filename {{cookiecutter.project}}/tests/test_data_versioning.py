"""DVC's pipeline runs the project's own make targets on the files the settings name: `dvc repro` and `make` agree."""

from __future__ import annotations

import re
from typing import Any

import pytest
from dvc.repo import Repo

from {{ cookiecutter.package }}.settings import load_settings

from .support import ROOT

SETTINGS = load_settings(ROOT / "config" / "project.yaml")
TARGETS = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(encoding="utf-8"), flags=re.MULTILINE))


@pytest.fixture(scope="module")
def stages() -> dict[str, Any]:
    """dvc.yaml as DVC reads it (its variables filled in from config/project.yaml), in a git repository or not."""
    with Repo(str(ROOT), config=dict(core=dict(no_scm=True))) as repo:
        return {stage.name: stage for stage in repo.index.stages}


def paths(entries: Any) -> set[str]:
    return {entry.def_path for entry in entries if not entry.def_path.endswith("project.yaml")}


def params(stage: Any) -> set[str]:
    return {key for dep in stage.deps if hasattr(dep, "params") and dep.params for key in dep.params}


def test_each_stage_is_a_make_target_in_pipeline_order(stages: dict[str, Any]) -> None:
    assert list(stages) == ["data", "train", "evaluate"]
    for name, stage in stages.items():
        assert stage.cmd == f"make {name}"
        assert name in TARGETS


def test_the_stages_read_and_write_what_the_settings_name(stages: dict[str, Any]) -> None:
    data_path = str(SETTINGS.data.path)
    contract = str(SETTINGS.contract)
    metrics = str(SETTINGS.metrics_path.relative_to(SETTINGS.root))
    data, train, evaluate = stages["data"], stages["train"], stages["evaluate"]
    assert paths(data.outs) == {data_path}
    assert contract in paths(data.deps)
    assert params(data) == {"data"}
    assert paths(train.deps) == {data_path, contract, "src/{{ cookiecutter.package }}"}
    assert params(train) == {"model_name", "objectives", "training"}
    assert [(out.def_path, bool(out.metric), out.use_cache) for out in train.outs] == [(metrics, True, False)]
    assert paths(evaluate.deps) == {data_path, metrics}
