"""The edge bundle: a graph, its contract and a predictor that needs only onnxruntime and numpy."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.package }} import edge, edge_predictor, onnx_graph
from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.model import MODEL_VERSION, PREDICTION, Model
from {{ cookiecutter.package }}.settings import TrainingSettings
from {{ cookiecutter.package }}.train import fit, split

from .support import (
    CONVERTING,
    MIXED,
    PROJECT_CONTRACT,
    REGRESSION,
    passing_objectives,
    records_of,
    settings_in,
    synthetic_frame,
)

BUNDLE_FILES = {"model.onnx", "contract.json", "predict.py", "requirements.txt", "README.md"}


def bundled(folder: Path, contract: Contract, estimator: str | None = None) -> tuple[Model, Path]:
    """A fitted model of ``contract`` on its ONNX graph, and its bundle under ``folder``/dist."""
    settings = settings_in(
        folder, objectives=passing_objectives(contract), training=TrainingSettings(estimator=estimator)
    )
    parts = split(synthetic_frame(contract, 300), contract, settings.training)
    model = fit(settings, contract, parts)
    graph = onnx_graph.convert(model.pipeline, contract)
    return model.with_graph(onnx_graph.Runner(graph)), edge.write_bundle(model, graph, folder / "dist")


def write_csv(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in record.items()} for record in records)


def read_outputs(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as table:
        return list(csv.DictReader(table))


def assert_same_answers(rows: list[dict[str, Any]], model: Model, records: list[dict[str, Any]]) -> None:
    """The bundle's output rows hold the model's own answers for ``records`` (CSV or JSON values)."""
    answers = model.answers(model.predict_records(records))
    assert len(rows) == len(answers)
    for row, answer in zip(rows, answers, strict=True):
        assert row[MODEL_VERSION] == model.tag
        if model.task == "regression":
            assert float(row[PREDICTION]) == pytest.approx(answer[PREDICTION], rel=1e-6)
            continue
        assert str(row[PREDICTION]) == str(answer[PREDICTION])
        for label, probability in answer["probabilities"].items():
            assert float(row[f"probability_{label}"]) == pytest.approx(probability, abs=1e-6)


@pytest.mark.parametrize(
    ("contract", "estimator"),
    [
        pytest.param(PROJECT_CONTRACT, CONVERTING[PROJECT_CONTRACT.task], id="project"),
        pytest.param(MIXED, "sklearn.linear_model:LogisticRegression", id="mixed"),
        pytest.param(REGRESSION, "sklearn.linear_model:Ridge", id="regression"),
    ],
)
def test_the_bundle_predicts_what_the_model_answers(tmp_path: Path, contract: Contract, estimator: str | None) -> None:
    model, bundle = bundled(tmp_path, contract, estimator)
    assert {path.name for path in bundle.iterdir()} == BUNDLE_FILES
    assert bundle.name == model.tag.replace(":", "-")
    records = records_of(synthetic_frame(contract, 50, seed=3), contract)
    write_csv(tmp_path / "in.csv", records)
    assert edge_predictor.run(tmp_path / "in.csv", tmp_path / "out.csv", bundle) == len(records)
    rows = read_outputs(tmp_path / "out.csv")
    assert list(rows[0]) == [*contract.feature_names, *model.output_columns]
    assert_same_answers(rows, model, records)
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    edge_predictor.run(tmp_path / "in.jsonl", tmp_path / "out.jsonl", bundle)
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert_same_answers(lines, model, records)


def test_rows_that_break_the_contract_stop_the_run_and_write_nothing(tmp_path: Path) -> None:
    _, bundle = bundled(tmp_path, MIXED, "sklearn.linear_model:LogisticRegression")
    records = records_of(synthetic_frame(MIXED, 30, seed=4), MIXED)
    categorical = MIXED.categorical[0].name
    records[5][categorical] = "no-such-category"
    numeric = next(f for f in MIXED.numeric if not f.nullable).name
    records[9][numeric] = "abc"
    write_csv(tmp_path / "in.csv", records)
    with pytest.raises(edge_predictor.InputError) as refused:
        edge_predictor.run(tmp_path / "in.csv", tmp_path / "out.csv", bundle)
    message = str(refused.value)
    assert f"row 6: {categorical}='no-such-category' is not one of" in message
    assert f"row 10: {numeric}='abc' is not a number" in message
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dist", "in.csv"]  # no output, no temporary file


def test_a_rewritten_bundle_replaces_the_old_one_whole_and_archives_as_one_folder(tmp_path: Path) -> None:
    model, bundle = bundled(tmp_path, PROJECT_CONTRACT, CONVERTING[PROJECT_CONTRACT.task])
    (bundle / "stale.txt").write_text("from an older run", encoding="utf-8")
    edge.write_bundle(model, (bundle / "model.onnx").read_bytes(), bundle.parent)
    assert {path.name for path in bundle.iterdir()} == BUNDLE_FILES
    assert [path.name for path in bundle.parent.iterdir()] == [bundle.name]  # no staging folder left
    packed = edge.archive(bundle)
    assert packed.name == f"{bundle.name}.tar.gz"
    with tarfile.open(packed) as tar:
        assert {member.name for member in tar.getmembers() if member.isfile()} == {
            f"{bundle.name}/{n}" for n in BUNDLE_FILES
        }
    assert sorted(path.name for path in bundle.parent.iterdir()) == sorted([bundle.name, packed.name])


@pytest.mark.slow
def test_the_bundle_runs_with_only_onnxruntime_and_numpy_installed(tmp_path: Path) -> None:
    model, bundle = bundled(tmp_path, MIXED, "sklearn.linear_model:LogisticRegression")
    venv = tmp_path / "device"
    uv = shutil.which("uv")
    python = venv / "bin" / "python"
    requirements = str(bundle / "requirements.txt")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    if uv:
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, env=env)
        install = [uv, "pip", "install", "--quiet", "--python", str(python), "-r", requirements]
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
        install = [str(python), "-m", "pip", "install", "--quiet", "-r", requirements]
    subprocess.run(install, check=True, env=env, timeout=600)
    listed = subprocess.run(
        [str(python), "-m", "pip", "list"] if not uv else [uv, "pip", "list", "--python", str(python)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.lower()
    assert "scikit-learn" not in listed
    assert "pandas" not in listed
    records = records_of(synthetic_frame(MIXED, 60, seed=5), MIXED)
    write_csv(tmp_path / "in.csv", records)
    done = subprocess.run(
        [str(python), str(bundle / "predict.py"), str(tmp_path / "in.csv"), str(tmp_path / "out.csv")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert_same_answers(read_outputs(tmp_path / "out.csv"), model, records)
    bad = subprocess.run(
        [str(python), str(bundle / "predict.py"), str(tmp_path / "missing.csv"), str(tmp_path / "o.csv")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "no such file" in bad.stderr
