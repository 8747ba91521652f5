"""Pictures of a model version's hold-out results and of a drift run's drifted features, as small SVG.

`make train` draws the hold-out plots of the version it registers (stored with it, see
``registry.PLOTS``), `make drift` the distributions of the features that drifted (in its run
folder), and `make docs` copies both next to the model card. Every picture names the model
version in its title and SVG metadata, so a copy left from another version shows itself. The
same inputs and seed give the same bytes: SVG ids come from a fixed salt, no date is written, and
text stays text (small files). matplotlib is imported only when a picture is drawn: the service
image does not ship it.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.inspection import permutation_importance
from sklearn.metrics import average_precision_score, confusion_matrix, precision_recall_curve, roc_auc_score, roc_curve
from threadpoolctl import threadpool_limits

from .contract import CategoricalFeature, Contract
from .model import Model

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

TOP_FEATURES = 10  # permutation importance: the features whose shuffling costs the most
REPEATS = 5  # permutation importance: shuffles per feature
IMPORTANCE_ROWS = 5000  # permutation importance: hold-out rows it scores at most (seeded sample)
MAX_CLASSES = 10  # per-class curves: the most frequent classes of the hold-out set
# At most this many vertices per curve and points per scatter (a seeded sample), so a large hold-out set
# stays a small file: a point costs ~110 bytes of SVG, a vertex ~25.
MAX_VERTICES = 300
MAX_POINTS = 300
MAX_DRIFTED = 6  # drift: the first drifted features (contract order) whose distributions are drawn
MAX_CATEGORIES = 15  # drift: the most frequent categories of a categorical feature
SCORING = {"classification": ("accuracy", "accuracy"), "regression": ("r2", "R²")}  # permutation importance


Curve = tuple[str, np.ndarray, np.ndarray]  # one-vs-rest: legend label, is the class, probability of the class


class Plot(TypedDict):
    """One picture stored with a model version: its file name, the alt text the docs give it, the SVG."""

    file: str
    alt: str
    svg: str


def render(title: str, tag: str, size: tuple[float, float], draw: Callable[[Figure], object]) -> str:
    """SVG text of a fresh figure that ``draw`` fills, titled with ``title`` and the model version ``tag``."""
    import matplotlib
    from matplotlib.figure import Figure

    fixed = matplotlib.rc_context(
        {
            "svg.hashsalt": "model-plots",  # fixed: the ids in the SVG, and so its bytes, repeat run after run
            "svg.fonttype": "none",  # text as text, not paths: a fraction of the size, and searchable
            "text.parse_math": False,  # a `$` in a feature or class name is a dollar sign
            "font.sans-serif": ["DejaVu Sans"],  # matplotlib's own font, which text is measured in
            "font.size": 8,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "legend.fontsize": 7,
            "legend.framealpha": 0.8,
        }
    )
    with fixed:
        figure = Figure(figsize=size, layout="constrained")
        draw(figure)
        figure.suptitle(f"{title}\n{tag}", fontsize=9)
        buffer = io.StringIO()
        metadata = {"Title": f"{title} ({tag})", "Identifier": tag, "Date": None}
        figure.savefig(buffer, format="svg", metadata=metadata)
    return buffer.getvalue()


def _thin(*columns: np.ndarray) -> list[np.ndarray]:
    """At most MAX_VERTICES evenly spaced vertices of a curve, its ends kept."""
    if len(columns[0]) <= MAX_VERTICES:
        return list(columns)
    keep = np.unique(np.linspace(0, len(columns[0]) - 1, MAX_VERTICES).round().astype(int))
    return [column[keep] for column in columns]


def _sample(rows: int, seed: int) -> np.ndarray:
    """Indices of at most MAX_POINTS rows, a seeded sample in row order."""
    if rows <= MAX_POINTS:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, MAX_POINTS, replace=False))


def _rows_note(shown: np.ndarray, rows: int) -> str:
    return f" ({len(shown):,} of {rows:,} rows)" if len(shown) < rows else ""


def _no_curve(axes: Axes, why: str) -> None:
    axes.text(0.5, 0.5, why, ha="center", va="center", transform=axes.transAxes)


def _curve_classes(model: Model, truth: np.ndarray) -> list[Any]:
    """The classes a one-vs-rest curve can be drawn for: the positive one (binary) or the most frequent ones."""
    counts = pd.Series(truth).value_counts()
    drawable = [label for label in counts.index if 0 < counts[label] < len(truth) and label in model.classes]
    if model.positive_class is not None:
        return [model.positive_class] if model.positive_class in drawable else []
    frequent = drawable[:MAX_CLASSES]
    return [label for label in model.classes if label in frequent]  # in class order: the same colour in every plot


def _classes_note(model: Model, shown: int) -> str:
    if model.positive_class is not None:
        return f"positive class {model.positive_class}"
    more = f", {shown} of {len(model.classes)} classes" if shown < len(model.classes) else ""
    return f"one class vs the rest{more}"


def _one_vs_rest(model: Model, truth: np.ndarray, probabilities: np.ndarray) -> list[Curve]:
    """(legend label, is that class, its probability) for each class a curve is drawn for."""
    return [
        (f"class {label}", truth == label, probabilities[:, model.classes.index(label)])
        for label in _curve_classes(model, truth)
    ]


CurveDrawer = Callable[["Axes", str, np.ndarray, np.ndarray], None]  # axes, legend label, is the class, probability


def _curves_plot(
    file: str,
    title: str,
    tag: str,
    curves: list[Curve],
    draw_curve: CurveDrawer,
    *,
    reference: str | None,
    labels: tuple[str, str],
    legend: Literal["lower right", "lower left", "upper left"],
) -> Plot:
    """A unit square with a curve per class drawn by ``draw_curve``, below a dashed ``reference`` diagonal."""

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        if reference is not None:
            axes.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=0.8, label=reference)
        for label, actual, score in curves:
            draw_curve(axes, label, actual, score)
        if not curves:
            _no_curve(axes, "the hold-out set holds a single class: no curve")
        axes.set(xlabel=labels[0], ylabel=labels[1], xlim=(0, 1), ylim=(0, 1.02))
        if curves or reference is not None:
            axes.legend(loc=legend)

    return Plot(file=file, alt=title, svg=render(title, tag, (5.0, 4.2), draw))


def roc_plot(model: Model, truth: np.ndarray, probabilities: np.ndarray, tag: str) -> Plot:
    """ROC curve of the positive class, or one per class (one vs the rest), with its AUC."""
    curves = _one_vs_rest(model, truth, probabilities)

    def curve(axes: Axes, label: str, actual: np.ndarray, score: np.ndarray) -> None:
        fpr, tpr, _ = roc_curve(actual, score)
        axes.plot(*_thin(fpr, tpr), label=f"{label} (AUC {roc_auc_score(actual, score):.3f})")

    title = f"ROC on the hold-out set ({_classes_note(model, len(curves))})"
    labels = ("false positive rate", "true positive rate")
    return _curves_plot("roc.svg", title, tag, curves, curve, reference="chance", labels=labels, legend="lower right")


def precision_recall_plot(model: Model, truth: np.ndarray, probabilities: np.ndarray, tag: str) -> Plot:
    """Precision against recall of the positive class, or of each class, with its average precision."""
    curves = _one_vs_rest(model, truth, probabilities)

    def curve(axes: Axes, label: str, actual: np.ndarray, score: np.ndarray) -> None:
        precision, recall, _ = precision_recall_curve(actual, score, drop_intermediate=True)
        average = average_precision_score(actual, score)
        axes.plot(*_thin(recall, precision), drawstyle="steps-post", label=f"{label} (AP {average:.3f})")

    title = f"Precision and recall on the hold-out set ({_classes_note(model, len(curves))})"
    labels = ("recall", "precision")
    return _curves_plot(
        "precision-recall.svg", title, tag, curves, curve, reference=None, labels=labels, legend="lower left"
    )


def calibration_plot(model: Model, truth: np.ndarray, probabilities: np.ndarray, tag: str) -> Plot:
    """Observed share of a class against its predicted probability, in ten equal bins."""
    curves = _one_vs_rest(model, truth, probabilities)

    def curve(axes: Axes, label: str, actual: np.ndarray, score: np.ndarray) -> None:
        observed, predicted = calibration_curve(actual, score, n_bins=10, strategy="uniform")
        axes.plot(predicted, observed, marker="o", markersize=3, label=label)

    title = f"Calibration on the hold-out set ({_classes_note(model, len(curves))})"
    labels, reference = ("predicted probability", "observed share"), "perfectly calibrated"
    return _curves_plot(
        "calibration.svg", title, tag, curves, curve, reference=reference, labels=labels, legend="upper left"
    )


def confusion_plot(model: Model, truth: np.ndarray, predicted: Sequence[Any], tag: str) -> Plot:
    """Rows per actual and predicted class; counts written in the cells up to 20 classes."""
    classes = model.classes
    counts = confusion_matrix(truth, list(predicted), labels=classes)
    title = "Confusion matrix on the hold-out set"
    side = min(8.0, 2.5 + 0.35 * len(classes))

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        mesh = axes.pcolormesh(counts, cmap="Blues", vmin=0)  # vector cells, not an embedded bitmap
        names = [str(label) for label in classes]
        ticks = np.arange(len(classes)) + 0.5
        axes.set_xticks(ticks, names, rotation=90 if len(classes) > 6 else 0)
        axes.set_yticks(ticks, names)
        axes.set(xlabel="predicted class", ylabel="actual class", aspect="equal")
        axes.invert_yaxis()
        axes.grid(False)
        if len(classes) <= 20:
            middle = counts.max() / 2
            for (row, column), count in np.ndenumerate(counts):
                colour = "white" if count > middle else "black"
                axes.text(column + 0.5, row + 0.5, str(count), ha="center", va="center", color=colour)
        else:
            figure.colorbar(mesh, ax=axes, label="rows")

    return Plot(file="confusion-matrix.svg", alt=title, svg=render(title, tag, (side + 0.5, side), draw))


def predicted_actual_plot(actual: np.ndarray, predicted: np.ndarray, tag: str, seed: int) -> Plot:
    """Each hold-out row's prediction against its actual value; on the diagonal it is exact."""
    shown = _sample(len(actual), seed)
    title = "Predicted against actual on the hold-out set" + _rows_note(shown, len(actual))

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
        axes.plot([low, high], [low, high], linestyle="--", color="0.6", linewidth=0.8, label="exact")
        axes.scatter(actual[shown], predicted[shown], s=6, alpha=0.6, linewidths=0, label="row")
        axes.set(xlabel="actual", ylabel="predicted")
        axes.legend(loc="upper left")

    return Plot(file="predicted-vs-actual.svg", alt=title, svg=render(title, tag, (5.0, 4.2), draw))


def residuals_plot(actual: np.ndarray, predicted: np.ndarray, tag: str, seed: int) -> Plot:
    """Residuals (actual minus predicted) against the prediction, and their histogram."""
    residuals = actual - predicted
    shown = _sample(len(actual), seed)
    title = "Residuals (actual minus predicted) on the hold-out set" + _rows_note(shown, len(actual))

    def draw(figure: Figure) -> None:
        scatter, histogram = figure.subplots(1, 2, width_ratios=(2, 1))
        scatter.axhline(0, linestyle="--", color="0.6", linewidth=0.8)
        scatter.scatter(predicted[shown], residuals[shown], s=6, alpha=0.6, linewidths=0)
        scatter.set(xlabel="predicted", ylabel="residual")
        histogram.hist(residuals, bins=30, orientation="horizontal", histtype="stepfilled", color="C0", alpha=0.8)
        histogram.set(xlabel="rows", ylabel="residual")

    return Plot(file="residuals.svg", alt=title, svg=render(title, tag, (6.5, 4.0), draw))


@dataclass(frozen=True)
class Importance:
    """The fall of the score when a feature is shuffled: mean and spread over the shuffles."""

    feature: str
    mean: float
    std: float


def permutation_ranking(model: Model, features: pd.DataFrame, target: np.ndarray, seed: int) -> list[Importance]:
    """The TOP_FEATURES features whose shuffling costs the hold-out score most, the costliest first."""
    # Hundreds of small predictions: OpenMP threads cost more than they give (the starter data on a busy
    # 2-core machine: 13 s with them, 0.5 s without).
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # R² of fewer than two rows: NaN, drawn as no bar
        result = permutation_importance(
            model.pipeline,
            model.frame_matrix(features),
            target,
            scoring=SCORING[model.task][0],
            n_repeats=REPEATS,
            random_state=seed,
            max_samples=min(len(target), IMPORTANCE_ROWS),
        )
    names = model.contract.feature_names
    top = np.argsort(-result.importances_mean, kind="stable")[:TOP_FEATURES]
    return [Importance(names[i], float(result.importances_mean[i]), float(result.importances_std[i])) for i in top]


def importance_plot(model: Model, features: pd.DataFrame, target: np.ndarray, tag: str, seed: int) -> Plot:
    """Permutation importance on the hold-out set: how much the score falls when one feature is shuffled."""
    ranking = permutation_ranking(model, features, target, seed)
    count = len(model.contract.feature_names)
    title = f"Permutation importance on the hold-out set (top {len(ranking)} of {count} features)"

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        rows = np.arange(len(ranking))
        means, spreads = [item.mean for item in ranking], [item.std for item in ranking]
        axes.barh(rows, means, xerr=spreads, color="C0", alpha=0.8)
        axes.set_yticks(rows, [item.feature for item in ranking])
        axes.invert_yaxis()
        axes.axvline(0, color="0.4", linewidth=0.8)
        score = SCORING[model.task][1]
        axes.set(xlabel=f"fall in {score} when the feature is shuffled (mean and spread of {REPEATS} shuffles)")

    size = (6.0, 1.4 + 0.3 * len(ranking))
    return Plot(file="permutation-importance.svg", alt=title, svg=render(title, tag, size, draw))


def model_plots(model: Model, features: pd.DataFrame, labels: pd.Series, *, tag: str, seed: int) -> list[Plot]:
    """Every hold-out plot of the model's task, the headline first (ROC, or predicted against actual)."""
    target = model.contract.coerce_target(labels).to_numpy()
    predictions = model.predict_frame(features)
    importance = importance_plot(model, features, target, tag, seed)
    if model.task == "regression":
        predicted = np.asarray(predictions.values, dtype=np.float64)
        return [
            predicted_actual_plot(target, predicted, tag, seed),
            residuals_plot(target, predicted, tag, seed),
            importance,
        ]
    probabilities = predictions.probabilities
    assert probabilities is not None  # noqa: S101 (a classifier's predictions always carry them)
    return [
        roc_plot(model, target, probabilities, tag),
        precision_recall_plot(model, target, probabilities, tag),
        confusion_plot(model, target, predictions.values, tag),
        calibration_plot(model, target, probabilities, tag),
        importance,
    ]


def _distribution(axes: Axes, feature: str, contract: Contract, reference: pd.Series, current: pd.Series) -> None:
    """Histograms (numeric) or category shares (categorical) of one feature, reference against current."""
    axes.set_title(feature)
    axes.grid(False)  # six small panels: grid lines would be a third of the file
    axes.locator_params(axis="y", nbins=4)
    spec = next(f for f in contract.features if f.name == feature)
    if isinstance(spec, CategoricalFeature):
        shares = pd.DataFrame(
            {
                "reference": reference.value_counts(normalize=True),
                "current": current.value_counts(normalize=True),
            }
        ).fillna(0.0)
        known = [c for c in spec.categories if c in shares.index]
        shares = shares.loc[known + [c for c in shares.index if c not in known]]  # contract order, then the others
        kept = shares.sum(axis=1).nlargest(MAX_CATEGORIES, keep="first").index
        shares = shares[shares.index.isin(kept)]
        positions = np.arange(len(shares))
        axes.bar(positions - 0.2, shares["reference"], width=0.4, label="reference")
        axes.bar(positions + 0.2, shares["current"], width=0.4, label="current")
        axes.set_xticks(positions, [str(c) for c in shares.index], rotation=90 if len(shares) > 4 else 0)
        axes.set(ylabel="share of rows")
        return
    sides = {"reference": reference.dropna().to_numpy(float), "current": current.dropna().to_numpy(float)}
    values = np.concatenate(list(sides.values()))
    if not len(values):
        _no_curve(axes, "every value is missing")
        return
    edges = np.histogram_bin_edges(values, bins=20)
    axes.locator_params(axis="x", nbins=4)
    for name, side in sides.items():
        if len(side):
            axes.hist(side, bins=edges.tolist(), density=True, histtype="step", linewidth=1.2, label=name)
    axes.set(ylabel="density")


def drift_plot(
    contract: Contract, reference: pd.DataFrame, current: pd.DataFrame, drifted: Sequence[str], tag: str
) -> str | None:
    """SVG of the drifted features' distributions in the reference and the current data; None if none drifted."""
    shown = list(drifted)[:MAX_DRIFTED]
    if not shown:
        return None
    columns = min(3, len(shown))
    grid = math.ceil(len(shown) / columns)
    more = f", the first {len(shown)} of {len(drifted)}" if len(shown) < len(drifted) else ""
    title = f"Drifted features: reference against current data{more}"

    def draw(figure: Figure) -> None:
        axes = figure.subplots(grid, columns, squeeze=False).ravel()
        for panel, feature in zip(axes, shown, strict=False):
            _distribution(panel, feature, contract, reference[feature], current[feature])
        for panel in axes[len(shown) :]:
            panel.set_visible(False)
        labelled = next((panel for panel in axes if panel.get_legend_handles_labels()[0]), None)
        if labelled is not None:  # one legend: the sides are the same in every panel
            labelled.legend(loc="best")

    return render(title, tag, (3.2 * columns, 0.8 + 2.4 * grid), draw)
