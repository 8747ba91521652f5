"""The pictures of the generated docs: a version's plots on its model card, its headline plot on the home page.

`make docs` copies the plots stored with the version the card describes (``registry.stored_plots``)
and the distributions picture of that version's newest drift run into ``docs/plots/``, replacing
the folder whole: no picture of another version survives there. Each SVG names its version in
its title and metadata.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .drift import DISTRIBUTIONS
from .errors import DataError
from .settings import Settings

if TYPE_CHECKING:
    from .plots import Plot

PLOTS_DIR = Path("docs/plots")
HEADLINE = Path("docs/snippets/headline-plot.md")  # docs/index.md includes it (git-ignored, like the card)
DRIFT_PLOT = "drift-distributions.svg"


def image(file: str, alt: str) -> str:
    """Markdown of a picture of docs/plots/, as a page in docs/ shows it."""
    text = alt.replace("[", "\\[").replace("]", "\\]")
    return f"![{text}]({PLOTS_DIR.name}/{file})"


def plots_section(plots: Sequence[Plot]) -> str:
    """The card's plots of the hold-out set, or why the version has none."""
    if not plots:
        return (
            "No plots are stored with this version (trained with `training.plots: false`, "
            "or before training drew them).\n"
        )
    return "\n".join(image(plot["file"], plot["alt"]) + "\n" for plot in plots)


def headline(plots: Sequence[Plot], tag: str) -> str:
    """The home page's headline plot of the version (the first of its plots), linked to its card."""
    if not plots:
        return f"`{tag}` has no stored plots; its [model card](model-card.md) has its metrics.\n"
    return (
        image(plots[0]["file"], plots[0]["alt"])
        + f"\n\n`{tag}`: its other plots and its metrics are on its [model card](model-card.md).\n"
    )


def drift_picture(run: Path | None) -> Path | None:
    """The drift run's picture of the drifted features' distributions; None without a run or a drifted feature."""
    picture = None if run is None else run / DISTRIBUTIONS
    return picture if picture is not None and picture.is_file() else None


def drift_image(run: Path | None) -> str:
    """The drift section's picture, or nothing when no feature drifted."""
    if drift_picture(run) is None:
        return ""
    return "\n" + image(DRIFT_PLOT, "Distributions of the drifted features, reference against current data") + "\n"


def write_plots(settings: Settings, plots: Sequence[Plot], run: Path | None) -> list[Path]:
    """Replace docs/plots/ with the version's plots and its drift run's picture, in one rename."""
    folder = settings.resolve(PLOTS_DIR)
    staging = folder.with_name(f".{folder.name}.tmp")
    pictures = {plot["file"]: plot["svg"] for plot in plots}
    picture = drift_picture(run)
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name, svg in pictures.items():
            (staging / name).write_text(svg, encoding="utf-8")
        if picture is not None:
            shutil.copyfile(picture, staging / DRIFT_PLOT)
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"{folder}: cannot write the docs' plots: {exc}") from None
    return [PLOTS_DIR / name for name in [*pictures, *([DRIFT_PLOT] if picture else [])]]
