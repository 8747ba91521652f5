"""The model store: each registered model carries its data hash, code revision, parameters and metrics.

Models live in BentoML's store (``BENTOML_HOME``, by default ``.bentoml/`` in the project).
A sample of the training rows is stored with each version, as the reference for drift checks.
``load`` gives a stored version as the one ``Model`` object every prediction path uses.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bentoml
import pandas as pd
from bentoml.exceptions import NotFound
from sklearn.pipeline import Pipeline

from .contract import Contract
from .errors import ConfigError, ModelNotFoundError
from .model import Model
from .onnx_graph import Conversion, Runner
from .settings import RuntimeChoice, Settings

if TYPE_CHECKING:
    from .plots import Plot  # the plotting module itself needs matplotlib, which the service image lacks

log = logging.getLogger(__name__)

REFERENCE_SAMPLE = "reference_sample"
ONNX_GRAPH = "onnx_graph"  # the version's serialized ONNX graph, when it converted and passed the parity gate
PLOTS = "plots"  # the version's hold-out plots (plots.Plot, plain dicts), the headline first


def use_project_store(settings: Settings) -> Path:
    """Point BentoML at the project's own store unless BENTOML_HOME is already set.

    An empty (or blank) BENTOML_HOME counts as unset: BentoML would otherwise keep its store in
    the working directory. Must run before the first store access: BentoML caches its paths on
    first use.
    """
    if not os.environ.get("BENTOML_HOME", "").strip():
        if "BENTOML_HOME" in os.environ:
            log.warning("BENTOML_HOME is set but empty: using the project's store %s", settings.root / ".bentoml")
        os.environ["BENTOML_HOME"] = str(settings.root / ".bentoml")
    return Path(os.environ["BENTOML_HOME"])


def git_revision(root: Path) -> str:
    """The commit the code was trained from, suffixed ``-dirty`` with uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=30)
        return done.stdout.strip()

    try:
        revision = git("rev-parse", "--verify", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        log.warning(
            "no git revision for %s (not a git checkout with a commit, or git is missing): "
            "the model is labelled git_revision=unknown",
            root,
        )
        return "unknown"
    return f"{revision}-dirty" if dirty else revision


def params_sha256(params: dict[str, Any]) -> str:
    """A stable hash of the training parameters."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def new_tag(settings: Settings) -> str:
    """A fresh tag ``name:version`` to register under, known before saving so the plots can name it."""
    return str(bentoml.Tag.from_taglike(settings.model_name).make_new_version())


def register(
    settings: Settings,
    contract: Contract,
    pipeline: Pipeline,
    *,
    estimator: str,
    metrics: dict[str, float],
    data_sha256: str,
    rows: dict[str, int],
    reference: pd.DataFrame,
    conversion: Conversion,
    tag: str | None = None,
    plots: Sequence[Plot] = (),
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    mlflow_run_id: str | None = None,
{%- endif %}
) -> str:
    """Save a gated model with its lineage, plots and ONNX graph (if any); returns its tag ``name:version``.

    ``tag`` is one from ``new_tag`` (default: a new version). The plots are custom objects of the
    version: saved in the same step as the model (a failed save leaves neither), and exported and
    imported with it.
    """
    params = settings.training.model_dump(mode="json", exclude_none=True)  # BentoML metadata refuses None
    # ... also inside the estimator's parameters (``max_depth: null``): those are stored as the string
    # "null", YAML's spelling, so the card still shows them; the params_sha256 label hashes the real values.
    stored_params = params | {
        "params": {key: "null" if value is None else value for key, value in params["params"].items()}
    }
    saved = bentoml.sklearn.save_model(
        tag or settings.model_name,
        pipeline,
        labels={
            "git_revision": git_revision(settings.root),
            "data_sha256": data_sha256,
            "params_sha256": params_sha256(params),
        },
        metadata={
            "task": contract.task,
            "estimator": estimator,
            "metrics": metrics,
            "objectives": settings.objectives.declared(),
            "params": stored_params,
            "rows": rows,
            "data_file": str(settings.data.path),
            "contract": contract.model_dump(mode="json", exclude_none=True),
            "onnx": conversion.metadata(),
{%- if cookiecutter.experiment_tracking == "mlflow" %}
            **({} if mlflow_run_id is None else {"mlflow_run_id": mlflow_run_id}),  # its run (tracking.py)
{%- endif %}
        },
        custom_objects={REFERENCE_SAMPLE: reference, PLOTS: list(plots)}
        | ({} if conversion.graph is None else {ONNX_GRAPH: conversion.graph}),
    )
    return str(saved.tag)


@dataclass(frozen=True)
class ModelVersion:
    """A registered model as the store describes it."""

    tag: str
    created: datetime
    labels: dict[str, str]
    metadata: dict[str, Any]


def describe(model: bentoml.Model) -> ModelVersion:
    """Tag, creation time, labels and metadata of a stored model."""
    return ModelVersion(str(model.tag), model.creation_time, dict(model.info.labels), dict(model.info.metadata))


def list_versions(settings: Settings) -> list[ModelVersion]:
    """Every version of the project's model, newest first."""
    try:
        models = bentoml.models.list(settings.model_name)
    except NotFound:
        return []
    return sorted((describe(model) for model in models), key=lambda version: version.created, reverse=True)


def get_model(settings: Settings, tag: str | None = None) -> bentoml.Model:
    """A stored model by tag (``name:version``, a bare version, or None for latest)."""
    reference = tag or "latest"
    if ":" not in reference:
        reference = f"{settings.model_name}:{reference}"
    try:
        return bentoml.models.get(reference)
    except NotFound:
        store = os.environ.get("BENTOML_HOME", "the BentoML store")
        raise ModelNotFoundError(
            f"model {reference!r} is not in the model store ({store}): "
            "run `make train`, or `make models` to list versions"
        ) from None


def stored_contract(entry: bentoml.Model) -> Contract:
    """The contract a stored version was trained under (its inputs may differ from today's file)."""
    return Contract.model_validate(entry.info.metadata["contract"])


def stored_graph(entry: bentoml.Model) -> bytes | None:
    """The version's ONNX graph; None when it has none (see its ``onnx`` metadata for why)."""
    graph = entry.custom_objects.get(ONNX_GRAPH)
    return graph if isinstance(graph, bytes) else None


def stored_plots(entry: bentoml.Model) -> list[Plot]:
    """The version's hold-out plots, the headline first; none for a version registered before plots."""
    plots = entry.custom_objects.get(PLOTS)
    return list(plots) if isinstance(plots, list) else []


def graph_for(entry: bentoml.Model, runtime: RuntimeChoice) -> bytes | None:
    """The graph that answers under ``runtime``, None for the scikit-learn pipeline.

    ``auto`` is the ONNX graph when the version has one; ``onnx`` for a version without one is a
    ConfigError naming the reason.
    """
    graph = stored_graph(entry) if runtime != "sklearn" else None
    if runtime == "onnx" and graph is None:
        onnx = entry.info.metadata.get("onnx")
        reason = str(onnx.get("reason")) if isinstance(onnx, dict) else "registered before ONNX conversion"
        raise ConfigError(
            f"serving.runtime is onnx, but {entry.tag} has no ONNX graph ({reason}): "
            "set serving.runtime to auto or sklearn (or SERVING_RUNTIME), or serve another version"
        )
    return graph


def load_entry(entry: bentoml.Model, runtime: RuntimeChoice = "sklearn") -> Model:
    """A store entry as the Model every prediction path uses, answered by ``runtime`` (see ``graph_for``)."""
    reference = entry.custom_objects.get(REFERENCE_SAMPLE)
    if not isinstance(reference, pd.DataFrame):
        raise ModelNotFoundError(f"{entry.tag} has no reference sample: register models with `make train`")
    graph = graph_for(entry, runtime)
    return Model(
        tag=str(entry.tag),
        contract=stored_contract(entry),
        pipeline=bentoml.sklearn.load_model(entry),
        reference=reference,
        labels=dict(entry.info.labels),
        metadata=dict(entry.info.metadata),
        graph=None if graph is None else Runner(graph),
    )


def load(settings: Settings, tag: str | None = None, runtime: RuntimeChoice = "sklearn") -> Model:
    """A stored version by tag (``name:version``, a bare version, or None for latest), loaded."""
    return load_entry(get_model(settings, tag), runtime)
