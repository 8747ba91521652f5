"""The generated docs pages: tables from config/, the model card from the store, staleness."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from {{ cookiecutter.package }} import docs_pages, registry
from {{ cookiecutter.package }}.api_types import prediction_model, record_model
from {{ cookiecutter.package }}.cli import main
from {{ cookiecutter.package }}.contract import CategoricalTarget, Contract, NumericFeature, load_contract
from {{ cookiecutter.package }}.errors import GateFailedError
from {{ cookiecutter.package }}.estimator import estimator_path
from {{ cookiecutter.package }}.settings import TASK_METRICS, Objectives, Settings, load_settings

from .support import MIXED, MULTICLASS, REGRESSION, ROOT, train_on


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh project folder with the config and the hand-written card sections."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copytree(ROOT / "docs" / "snippets", tmp_path / "docs" / "snippets")
    return tmp_path


def test_the_committed_pages_match_config() -> None:
    settings = load_settings(ROOT / "config" / "project.yaml")
    stale = docs_pages.stale_pages(settings, load_contract(settings.resolve(settings.contract)))
    assert stale == [], "config/ changed: run `make docs` and commit docs/snippets/"


def test_the_contract_table_of_a_classification_shows_ranges_categories_and_classes() -> None:
    table = docs_pages.contract_table(MIXED)
    assert "| `tenure_months` | numeric | [0, 240] | no |" in table
    assert "| `plan` | categorical | `basic`, `pro`, `team` | yes |" in table
    assert "Target `churned` Classification, classes `no`, `yes`; positive class `yes`." in table
    assert "Target `species` Classification, classes `a`, `b`, `c`." in docs_pages.contract_table(MULTICLASS)


def test_the_contract_table_of_a_regression_shows_the_target_range() -> None:
    table = docs_pages.contract_table(REGRESSION)
    assert "| `area` | numeric | [10, 300] | no |" in table
    assert "| `building_age` | numeric | [0, inf] | yes |" in table
    assert "Target `price` Regression, a number in [0, 1000]." in table
    assert "classes" not in table


def test_open_bounds_descriptions_and_pipes_stay_in_their_cells() -> None:
    contract = Contract(
        target=CategoricalTarget(name="y", classes=[0, 1]),
        features=[NumericFeature(name="a|b", type="numeric", min=0, description="kg | lb")],
    )
    table = docs_pages.contract_table(contract)
    assert "| feature | type | range or categories | nullable | description |" in table
    assert "| `a\\|b` | numeric | [0, inf] | no | kg \\| lb |" in table


def test_the_objectives_table_of_each_task() -> None:
    classification = docs_pages.objectives_table(
        Objectives(min_roc_auc=0.97, min_accuracy=0.9, max_drift_share=0.25, drift_thresholds={"plan": 0.2})
    )
    assert "| `objectives.min_roc_auc` | roc_auc on the hold-out set | >= 0.97 |" in classification
    assert "| `objectives.min_accuracy` | accuracy on the hold-out set | >= 0.9 |" in classification
    assert "| `objectives.max_drift_share` | share of features drifted | <= 0.25 |" in classification
    assert "| `objectives.drift_thresholds.plan` | drift threshold of `plan` | 0.2 |" in classification
    regression = docs_pages.objectives_table(Objectives(max_rmse=70, max_mae=55.5, min_r2=0.3))
    assert "| `objectives.max_rmse` | rmse on the hold-out set | <= 70 |" in regression
    assert "| `objectives.max_mae` | mae on the hold-out set | <= 55.5 |" in regression
    assert "| `objectives.min_r2` | r2 on the hold-out set | >= 0.3 |" in regression
    assert "| `objectives.max_drift_share` | share of features drifted | <= 0.3 |" in regression
    assert regression.count("\n") == 2 + 4 + 4  # header, rule, three objectives, drift share, service and margin


def fresh_pages(project: Path) -> tuple[Settings, Contract]:
    """The project copy's generated pages written from its own config, whatever the copy held."""
    settings = load_settings(project / "config" / "project.yaml")
    contract = load_contract(settings.resolve(settings.contract))
    for path, text in docs_pages.config_pages(settings, contract).items():
        settings.resolve(path).write_text(text)
    assert docs_pages.stale_pages(settings, contract) == []
    return settings, contract


def test_a_changed_contract_makes_its_page_stale(project: Path) -> None:
    settings, _ = fresh_pages(project)
    contract_file = settings.resolve(settings.contract)
    raw = yaml.safe_load(contract_file.read_text())
    raw["features"][0]["description"] = "changed by the test"
    contract_file.write_text(yaml.safe_dump(raw))
    contract = load_contract(contract_file)
    assert docs_pages.stale_pages(settings, contract) == [docs_pages.CONTRACT_TABLE]
    with pytest.raises(
        GateFailedError, match=r"stale generated docs: docs/snippets/contract-table.md: run `make train docs`"
    ):
        docs_pages.check_pages(settings, contract)


def test_changed_objectives_make_their_page_stale(project: Path) -> None:
    settings, contract = fresh_pages(project)
    objectives = settings.objectives.model_copy(update={"max_drift_share": settings.objectives.max_drift_share / 2})
    changed = settings.model_copy(update={"objectives": objectives})
    assert docs_pages.stale_pages(changed, contract) == [docs_pages.OBJECTIVES_TABLE]


def card_of(settings: Settings, tag: str) -> str:
    model = registry.get_model(settings, tag)
    return docs_pages.model_card(
        registry.describe(model),
        registry.stored_contract(model),
        "## Intended use\n\nTeaching.\n",
        None,
        model_name=settings.model_name,
    )


def test_the_model_card_holds_the_version_metrics_and_lineage(
    trained: tuple[Settings, str], contract: Contract
) -> None:
    settings, tag = trained
    card = card_of(settings, tag)
    version = registry.describe(registry.get_model(settings, tag))
    assert f"| tag | `{tag}` |" in card
    assert f"| task | {contract.task} |" in card
    assert f"| estimator | `{estimator_path(settings.training, contract.task)}` |" in card
    assert f"| data sha256 | `{version.labels['data_sha256']}` |" in card
    limits = {limit.metric: limit for limit in settings.objectives.limits()}
    assert set(version.metadata["metrics"]) == set(TASK_METRICS[contract.task])
    for name, value in version.metadata["metrics"].items():
        limit = limits.get(name)
        objective = f"{limit.symbol} {limit.value:g} | yes" if limit else "- | -"
        assert f"| {name} | {value:.4f} | {objective} |" in card
    for name, value in settings.training.params.items():
        assert f"| `params.{name}` | {value} |" in card
    assert f"| `test_size` | {settings.training.test_size} |" in card
    for feature in contract.features:
        assert f"| `{feature.name}` | {feature.type} |" in card
    assert docs_pages.target_line(contract) in card
    assert "## Intended use\n\nTeaching." in card
    assert "No drift report for this version yet" in card


def test_the_card_of_a_regression_model_shows_its_errors_against_the_objectives(tmp_path: Path) -> None:
    objectives = Objectives(max_rmse=500, max_mae=400, min_r2=0.5)
    settings, tag = train_on(tmp_path, REGRESSION, model_name="card-regression", objectives=objectives)
    card = card_of(settings, tag)
    metrics = registry.describe(registry.get_model(settings, tag)).metadata["metrics"]
    assert set(metrics) == {"rmse", "mae", "r2"}
    assert "| task | regression |" in card
    assert "| estimator | `sklearn.ensemble:HistGradientBoostingRegressor` |" in card
    assert f"| rmse | {metrics['rmse']:.4f} | <= 500 | yes |" in card
    assert f"| mae | {metrics['mae']:.4f} | <= 400 | yes |" in card
    assert f"| r2 | {metrics['r2']:.4f} | >= 0.5 | yes |" in card
    assert "Target `price` Regression, a number in [0, 1000]." in card
    assert "roc_auc" not in card


def _drift_run(reports: Path, name: str, drifted: list[str]) -> Path:
    run = reports / name
    run.mkdir(parents=True)
    summary = {
        "created": f"{name[:4]}-01-01T00:00:00+00:00",
        "drift_detected": bool(drifted),
        "drifted_features": drifted,
        "drifted_share": 0.5 if drifted else 0.0,
        "max_drift_share": 0.3,
        "prediction": {"drifted": False, "method": "Jensen-Shannon distance"},
        "current": {"rows": 500, "sampled_rows": 500, "source": "logs/predictions"},
    }
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "report.html").write_text(f"<html>{name}</html>")
    return run


def test_the_card_shows_the_newest_drift_run_of_its_own_version(
    tmp_path: Path, trained: tuple[Settings, str], contract: Contract
) -> None:
    settings, tag = trained
    settings = settings.model_copy(update={"root": tmp_path})
    reports = settings.resolve(settings.drift.reports_dir)
    version = tag.rsplit(":", 1)[-1]
    _drift_run(reports, f"20260101T000000Z-{version}", [])
    newest = _drift_run(reports, f"20270101T000000Z-{version}", [contract.feature_names[0]])
    _drift_run(reports, "20280101T000000Z-otherversion", [])
    assert docs_pages.latest_drift(settings, tag) == newest
    section = docs_pages.drift_section(newest)
    assert "2027-01-01T00:00:00+00:00, **drift**" in section
    assert "[drift-report.html](drift-report.html)" in section
    assert f"| drifted features | `{contract.feature_names[0]}` |" in section
    docs_pages.write_drift_report(settings, newest)
    assert settings.resolve(docs_pages.DRIFT_REPORT).read_text() == "<html>20270101T000000Z-" + version + "</html>"
    docs_pages.write_drift_report(settings, None)  # a card without a run drops the old copy
    assert not settings.resolve(docs_pages.DRIFT_REPORT).exists()


def test_docs_writes_every_page_or_nothing(project: Path, trained: tuple[Settings, str]) -> None:
    config = str(project / "config" / "project.yaml")
    before = sorted(path.relative_to(project) for path in (project / "docs").rglob("*"))
    refused = CliRunner().invoke(main, ["--config", config, "docs", "--model", "no-such-version"])
    assert refused.exit_code == 2
    model_name = load_settings(project / "config" / "project.yaml").model_name
    assert f"model '{model_name}:no-such-version' is not in the model store" in refused.output
    assert sorted(path.relative_to(project) for path in (project / "docs").rglob("*")) == before

    done = CliRunner().invoke(main, ["--config", config, "docs", "--model", trained[1]])
    assert done.exit_code == 0, done.output
    card = (project / docs_pages.MODEL_CARD).read_text()
    assert f"`{trained[1]}`" in card
    assert (project / docs_pages.INTENDED_USE).read_text().strip() in card
    check = CliRunner().invoke(main, ["--config", config, "docs", "--check"])
    assert check.exit_code == 0, check.output
    assert f"`{trained[1]}`" in (project / docs_pages.REQUEST_EXAMPLE).read_text()


@pytest.mark.parametrize("contract", [MIXED, REGRESSION], ids=["classification", "regression"])
def test_the_request_example_is_a_record_the_api_takes_and_the_answer_it_gets(
    tmp_path: Path, contract: Contract
) -> None:
    settings, tag = train_on(tmp_path, contract, model_name=f"example-{contract.task}")
    page = docs_pages.request_example(registry.load(settings, tag), "uv run pkg")
    record, answer = (json.loads(block.split("```")[0]) for block in page.split("```json")[1:])
    record_model(contract).model_validate(record)
    prediction_model(contract).model_validate(answer)
    assert answer["model_version"] == tag
    assert "`uv run pkg example`" in page


def test_docs_refuses_a_project_without_its_card_sections(project: Path, trained: tuple[Settings, str]) -> None:
    (project / docs_pages.INTENDED_USE).unlink()
    result = CliRunner().invoke(main, ["--config", str(project / "config" / "project.yaml"), "docs"])
    assert result.exit_code == 2
    assert "docs/snippets/intended-use.md is missing: the model card includes it; restore it from git" in result.output
    assert not (project / docs_pages.MODEL_CARD).exists()
