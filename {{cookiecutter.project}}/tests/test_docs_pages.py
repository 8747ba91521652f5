"""The generated docs pages: tables from config/, the model card from the store, staleness."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from {{ cookiecutter.package }} import docs_pages, registry
from {{ cookiecutter.package }}.cli import main
from {{ cookiecutter.package }}.contract import Contract, NumericFeature, Target, load_contract
from {{ cookiecutter.package }}.errors import GateFailedError
from {{ cookiecutter.package }}.settings import Settings, load_settings

from .support import MIXED, ROOT


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


def test_the_contract_table_shows_ranges_categories_and_nullability() -> None:
    table = docs_pages.contract_table(MIXED)
    assert "| `tenure_months` | numeric | [0, 240] | no |" in table
    assert "| `plan` | categorical | `basic`, `pro`, `team` | yes |" in table
    assert "Target `churned` Classes `no`, `yes`; positive class `yes`." in table


def test_open_bounds_descriptions_and_pipes_stay_in_their_cells() -> None:
    contract = Contract(
        target=Target(name="y", classes=[0, 1]),
        features=[NumericFeature(name="a|b", type="numeric", min=0, description="kg | lb")],
    )
    table = docs_pages.contract_table(contract)
    assert "| feature | type | range or categories | nullable | description |" in table
    assert "| `a\\|b` | numeric | [0, inf] | no | kg \\| lb |" in table


def test_a_changed_contract_makes_its_page_stale(project: Path) -> None:
    settings = load_settings(project / "config" / "project.yaml")
    contract_file = project / "config" / "contract.yaml"
    contract_file.write_text(
        contract_file.read_text().replace(
            "name: mean_radius, type: numeric, min: 0, max: 100", "name: mean_radius, type: numeric, min: 0, max: 120"
        )
    )
    contract = load_contract(contract_file)
    assert docs_pages.stale_pages(settings, contract) == [docs_pages.CONTRACT_TABLE]
    with pytest.raises(
        GateFailedError, match=r"stale generated docs: docs/snippets/contract-table.md: run `make train docs`"
    ):
        docs_pages.check_pages(settings, contract)


def test_the_model_card_holds_the_version_metrics_and_lineage(trained: tuple[Settings, str]) -> None:
    settings, tag = trained
    model = registry.get_model(settings, tag)
    version = registry.describe(model)
    card = docs_pages.model_card(
        version, registry.model_contract(model), "## Intended use\n\nTeaching.\n", None, model_name=settings.model_name
    )
    assert f"| tag | `{tag}` |" in card
    assert f"| data sha256 | `{version.labels['data_sha256']}` |" in card
    for name, value in version.metadata["metrics"].items():
        floor = settings.objectives.floors().get(name)
        expected = f"| {name} | {value:.4f} | {floor:g} | yes |" if floor else f"| {name} | {value:.4f} | - | - |"
        assert expected in card
    assert "| `params.max_iter` | 100 |" in card
    assert "| `mean_radius` | numeric | [0, 100] | no |" in card
    assert "## Intended use\n\nTeaching." in card
    assert "No drift report for this version yet" in card


def _drift_run(reports: Path, name: str, drifted: list[str]) -> Path:
    run = reports / name
    run.mkdir(parents=True)
    summary = {
        "created": f"{name[:4]}-01-01T00:00:00+00:00",
        "drift_detected": bool(drifted),
        "drifted_features": drifted,
        "drifted_share": len(drifted) / 30,
        "max_drift_share": 0.3,
        "prediction": {"drifted": False, "method": "Jensen-Shannon distance"},
        "current": {"rows": 500, "sampled_rows": 500, "source": "logs/predictions"},
    }
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "report.html").write_text(f"<html>{name}</html>")
    return run


def test_the_card_shows_the_newest_drift_run_of_its_own_version(tmp_path: Path, trained: tuple[Settings, str]) -> None:
    settings, tag = trained
    settings = settings.model_copy(update={"root": tmp_path})
    reports = settings.resolve(settings.drift.reports_dir)
    version = tag.rsplit(":", 1)[-1]
    _drift_run(reports, f"20260101T000000Z-{version}", [])
    newest = _drift_run(reports, f"20270101T000000Z-{version}", ["mean_radius"])
    _drift_run(reports, "20280101T000000Z-otherversion", [])
    assert docs_pages.latest_drift(settings, tag) == newest
    section = docs_pages.drift_section(newest)
    assert "2027-01-01T00:00:00+00:00, **drift**" in section
    assert "[drift-report.html](drift-report.html)" in section
    assert "| drifted features | `mean_radius` |" in section
    docs_pages.write_drift_report(settings, newest)
    assert settings.resolve(docs_pages.DRIFT_REPORT).read_text() == "<html>20270101T000000Z-" + version + "</html>"
    docs_pages.write_drift_report(settings, None)  # a card without a run drops the old copy
    assert not settings.resolve(docs_pages.DRIFT_REPORT).exists()


def test_docs_writes_every_page_or_nothing(project: Path, trained: tuple[Settings, str]) -> None:
    config = str(project / "config" / "project.yaml")
    before = sorted(path.relative_to(project) for path in (project / "docs").rglob("*"))
    refused = CliRunner().invoke(main, ["--config", config, "docs", "--model", "no-such-version"])
    assert refused.exit_code == 2
    assert "model '{{ cookiecutter.package }}:no-such-version' is not in the model store" in refused.output
    assert sorted(path.relative_to(project) for path in (project / "docs").rglob("*")) == before

    done = CliRunner().invoke(main, ["--config", config, "docs", "--model", trained[1]])
    assert done.exit_code == 0, done.output
    card = (project / docs_pages.MODEL_CARD).read_text()
    assert f"`{trained[1]}`" in card
    assert (project / docs_pages.INTENDED_USE).read_text().strip() in card
    check = CliRunner().invoke(main, ["--config", config, "docs", "--check"])
    assert check.exit_code == 0, check.output


def test_docs_refuses_a_project_without_its_card_sections(project: Path, trained: tuple[Settings, str]) -> None:
    (project / docs_pages.INTENDED_USE).unlink()
    result = CliRunner().invoke(main, ["--config", str(project / "config" / "project.yaml"), "docs"])
    assert result.exit_code == 2
    assert "docs/snippets/intended-use.md is missing: the model card includes it; restore it from git" in result.output
    assert not (project / docs_pages.MODEL_CARD).exists()
