"""The docs' pictures: the card and the home page show the plots of their own version, never a stale copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from {{ cookiecutter.package }} import docs_pages, docs_plots, registry
from {{ cookiecutter.package }}.drift import DISTRIBUTIONS
from {{ cookiecutter.package }}.onnx_graph import Conversion
from {{ cookiecutter.package }}.settings import Settings, load_settings

from .support import MULTICLASS, ROOT, train_on


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with the config and the hand-written card sections, holding nothing generated."""
    shutil.copytree(ROOT / "config", tmp_path / "project" / "config")
    shutil.copytree(ROOT / "docs" / "snippets", tmp_path / "project" / "docs" / "snippets")
    return tmp_path / "project"


def two_versions(folder: Path, project: Path) -> tuple[Settings, str, str]:
    """Settings rooted in ``project`` and two versions of one model, trained on different samples."""
    settings, first = train_on(folder / "first", MULTICLASS, model_name="card-plots", seed=0, plots=True)
    _, second = train_on(folder / "second", MULTICLASS, model_name="card-plots", seed=1, plots=True)
    return settings.model_copy(update={"root": project}), first, second


def test_the_card_and_home_page_show_the_plots_of_their_own_version(tmp_path: Path, project: Path) -> None:
    settings, first, second = two_versions(tmp_path, project)
    folder = project / docs_plots.PLOTS_DIR
    folder.mkdir(parents=True)
    (folder / "roc.svg").write_text("a copy left by another version")
    (folder / "left-over.svg").write_text("a file no version has")
    for tag, other in ((first, second), (second, first), (first, second)):  # back and forth: nothing sticks
        stored = registry.stored_plots(registry.get_model(settings, tag))
        written = docs_pages.write_pages(settings, MULTICLASS, tag)
        assert [docs_plots.PLOTS_DIR / plot["file"] for plot in stored] == [
            path for path in written if path.parent == docs_plots.PLOTS_DIR
        ]
        assert sorted(path.name for path in folder.iterdir()) == sorted(plot["file"] for plot in stored)
        for plot in stored:
            copy = (folder / plot["file"]).read_text()
            assert copy == plot["svg"]
            assert f"<dc:identifier>{tag}</dc:identifier>" in copy
            assert other not in copy
        card = (project / docs_pages.MODEL_CARD).read_text()
        for plot in stored:
            assert f"![{plot['alt']}](plots/{plot['file']})" in card
        home = (project / docs_plots.HEADLINE).read_text()
        assert f"![{stored[0]['alt']}](plots/roc.svg)" in home
        assert f"`{tag}`" in home
        assert other not in card + home


def test_a_version_without_plots_says_so_and_leaves_no_picture(tmp_path: Path, project: Path) -> None:
    trained, first = train_on(tmp_path, MULTICLASS, model_name="card-without-plots", plots=True)
    settings = trained.model_copy(update={"root": project})
    docs_pages.write_pages(settings, MULTICLASS, first)  # the plots of the version before
    model = registry.load(settings, first)
    bare = registry.register(  # as a version registered before plots were drawn
        settings,
        model.contract,
        model.pipeline,
        estimator=model.metadata["estimator"],
        metrics=model.metadata["metrics"],
        data_sha256="none",
        rows=model.metadata["rows"],
        reference=model.reference,
        conversion=Conversion(None, "not converted", None),
    )
    assert registry.stored_plots(registry.get_model(settings, bare)) == []
    written = docs_pages.write_pages(settings, MULTICLASS, bare)
    assert not any(path.parent == docs_plots.PLOTS_DIR for path in written)
    assert list((project / docs_plots.PLOTS_DIR).iterdir()) == []
    assert "No plots are stored with this version" in (project / docs_pages.MODEL_CARD).read_text()
    assert f"`{bare}` has no stored plots" in (project / docs_plots.HEADLINE).read_text()


def _run(reports: Path, picture: str | None) -> Path:
    run = reports / "20270101T000000Z-version"
    run.mkdir(parents=True)
    summary = {
        "created": "2027-01-01T00:00:00+00:00",
        "drift_detected": True,
        "drifted_features": ["length"],
        "drifted_share": 0.33,
        "max_drift_share": 0.3,
        "prediction": {"drifted": False, "method": "Jensen-Shannon distance"},
        "current": {"rows": 500, "sampled_rows": 500, "source": "logs/predictions"},
        "distributions": None if picture is None else DISTRIBUTIONS,
    }
    (run / "summary.json").write_text(json.dumps(summary))
    if picture is not None:
        (run / DISTRIBUTIONS).write_text(picture)
    return run


def test_the_drift_section_shows_its_run_s_picture_and_a_run_without_one_drops_the_copy(
    tmp_path: Path, project: Path
) -> None:
    settings = load_settings(project / "config" / "project.yaml")
    copy = project / docs_plots.PLOTS_DIR / docs_plots.DRIFT_PLOT
    drifted = _run(tmp_path / "drifted", "<svg>the run's picture</svg>")
    image = "![Distributions of the drifted features, reference against current data](plots/drift-distributions.svg)"
    assert image in docs_pages.drift_section(drifted)
    assert docs_plots.write_plots(settings, [], drifted) == [docs_plots.PLOTS_DIR / docs_plots.DRIFT_PLOT]
    assert copy.read_text() == "<svg>the run's picture</svg>"
    stable = _run(tmp_path / "stable", None)
    assert "drift-distributions.svg" not in docs_pages.drift_section(stable)
    assert docs_plots.write_plots(settings, [], stable) == []
    assert not copy.exists()
