"""The command line: ``{{ cookiecutter.package }} data|validate|train|predict|models|drift|docs|edge|...`` (``--help``).

Exit codes: 0 success; 1 a check failed (quality gate, drift, stale docs); 2 bad input (settings,
contract, data, unknown model version, or a usage error).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import bentoml
import click
from bentoml.exceptions import NotFound

from . import __version__, contract_inference, docs_pages, edge, progress, registry
from .cli_operations import COMMANDS as OPERATIONS
from .contract import Contract, load_contract
from .data import atomic_write, prepare_data, read_table, require_folder
from .drift import check_drift
from .errors import DataError, GateFailedError, ProjectError
from .http_guards import load_api_key
from .predict import predict_file
from .settings import CONFIG_ENV, DEFAULT_CONFIG, Limit, Settings, load_settings
from .train import evaluate, gate_evaluation, train

EXIT_CODES = "Exit codes: 0 ok, 1 a check failed (quality gate, drift), 2 bad input."
BENTO_NAME = "{{ cookiecutter.project }}"  # `make build` names the bento after the distribution
EXPORT_DIR = Path("dist")  # in the project
EDGE_DIR = EXPORT_DIR / "edge"


class _ProjectGroup(click.Group):
    """Turns a ProjectError into one clear message and its exit code, without a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ProjectError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_ProjectGroup, epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar=CONFIG_ENV,
    default=DEFAULT_CONFIG,
    show_default=True,
    help="Project settings file; the project root is the folder above it.",
)
@click.option(
    "--quiet", "-q", is_flag=True, help="No progress on stderr (a bar on a terminal, a line every 10 s in a log)."
)
@click.version_option(__version__)
@click.pass_context
def main(ctx: click.Context, config: Path, quiet: bool) -> None:
    """Train, gate, version and batch-predict with the model defined by config/."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    progress.set_quiet(quiet)
    ctx.obj = config


def _settings(ctx: click.Context) -> Settings:
    settings = load_settings(ctx.find_root().obj)
    registry.use_project_store(settings)
    return settings


def _contract(settings: Settings) -> Contract:
    return load_contract(settings.resolve(settings.contract))


def _print_metrics(metrics: dict[str, float], limits: list[Limit]) -> None:
    by_metric = {limit.metric: limit for limit in limits}
    for name, value in metrics.items():
        limit = by_metric.get(name)
        objective = f"  (objective {limit.symbol} {limit.value:g})" if limit else ""
        click.echo(f"  {name:<10} {value:.4f}{objective}")


def short_revision(revision: str) -> str:
    """A git revision cut to 12 characters, keeping its ``-dirty`` suffix."""
    commit, dirty, _ = revision.partition("-dirty")
    return commit[:12] + dirty


@main.command(epilog=EXIT_CODES)
@click.pass_context
def data(ctx: click.Context) -> None:
    """Make data.path hold the training table of data.source (loader, file or URL), checked against the contract.

    A module:function loader is called and its table written to data.path; a file in the repository
    is only checked; an https:// or file:// URL is downloaded to data.path once its SHA-256 equals
    data.sha256 (skipped when data.path already holds that file).
    """
    settings = _settings(ctx)
    prepared = prepare_data(settings, _contract(settings))
    for warning in prepared.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(prepared.message)


@main.command(epilog=EXIT_CODES)
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False), required=False)
@click.option("--target/--no-target", default=True, show_default=True, help="Require the target column.")
@click.pass_context
def validate(ctx: click.Context, path: Path | None, target: bool) -> None:
    """Check a CSV or Parquet table (default: data.path) against the data contract."""
    settings = _settings(ctx)
    path = path or settings.data_path
    frame = _contract(settings).validate_frame(read_table(path), source=str(path), with_target=target)
    click.echo(f"ok: {len(frame)} rows of {path} satisfy the data contract")


@main.command("train", epilog=EXIT_CODES)
@click.pass_context
def train_command(ctx: click.Context) -> None:
    """Validate, split, fit, evaluate, gate on the objectives, and register the model."""
    settings = _settings(ctx)
    contract = _contract(settings)
    tag = train(settings, contract)
    click.echo(f"metrics: {settings.metrics_path}")
    version = registry.describe(registry.get_model(settings, tag))
    _print_metrics(version.metadata["metrics"], settings.objectives.limits_for(contract.task))
    labels = version.labels
    revision = short_revision(labels["git_revision"])
    click.echo(f"registered {tag} (data sha256 {labels['data_sha256'][:12]}, git {revision})")
    click.echo(f"ONNX graph: {docs_pages.onnx_line(version.metadata)}")


@main.command("evaluate", epilog=EXIT_CODES)
@click.option("--model", "tag", help="Model tag or version (default: latest).")
@click.option(
    "--data", "data_path", type=click.Path(path_type=Path, dir_okay=False), help="Labelled table (default: data.path)."
)
@click.pass_context
def evaluate_command(ctx: click.Context, tag: str | None, data_path: Path | None) -> None:
    """Score a stored model on labelled data and check it against today's objectives."""
    settings = _settings(ctx)
    evaluation = evaluate(settings, tag, data_path)
    click.echo(f"{evaluation.tag} on {evaluation.rows} rows ({evaluation.scope}):")
    _print_metrics(evaluation.metrics, evaluation.limits)
    gate_evaluation(evaluation)
    click.echo("all objectives met")


@main.command(epilog=EXIT_CODES)
@click.option(
    "--input",
    "input_path",
    type=click.Path(),
    help="CSV or Parquet file (default: data.path); with --engine spark, Parquet at any URI Spark reads.",
)
@click.option(
    "--output",
    "output_path",
    type=click.Path(),
    help="Where to write the scored rows, .csv or .parquet, in an existing folder "
    "(default: predictions/<input name>, the folder created if missing); with --engine spark, a Parquet URI.",
)
@click.option("--model", "tag", help="Model tag or version (default: latest).")
@click.option(
    "--engine",
    type=click.Choice(["pandas", "spark"]),
    default="pandas",
    show_default=True,
    help="pandas streams a file on this machine; spark runs on a Spark cluster (`uv sync --group spark`).",
)
@click.pass_context
def predict(ctx: click.Context, input_path: str | None, output_path: str | None, tag: str | None, engine: str) -> None:
    """Score a file; every input column is kept, predictions and the model version are added."""
    settings = _settings(ctx)
    if engine == "spark":
        from .spark_batch import predict_spark  # pyspark only on this path

        if input_path is None or output_path is None:
            raise DataError("--engine spark needs --input URI and --output URI (Parquet)")
        result = predict_spark(settings, input_path, output_path, tag)
        click.echo(f"wrote {result.rows} predictions by {result.tag} to {result.output}")
        return
    source = Path(input_path) if input_path else settings.data_path
    if source.is_dir():
        raise DataError(
            f"{source}: is a folder; the pandas engine reads one .csv or .parquet file (--engine spark reads folders)"
        )
    if output_path is not None:
        require_folder(Path(output_path).parent, f"--output {output_path}")
    target = Path(output_path) if output_path else settings.resolve(Path("predictions") / source.name)
    result = predict_file(settings, source, target, tag)
    click.echo(f"wrote {result.rows} predictions by {result.tag} to {result.output}")


@main.command(epilog=EXIT_CODES)
@click.pass_context
def models(ctx: click.Context) -> None:
    """List the registered model versions, newest first, with their metrics and lineage."""
    settings = _settings(ctx)
    versions = registry.list_versions(settings)
    if not versions:
        click.echo(f"no versions of {settings.model_name} yet: run `make train`")
        return
    metric_names = list(dict.fromkeys(name for version in versions for name in version.metadata["metrics"]))
    width = max(len(version.tag) for version in versions)
    header = [
        "tag".ljust(width),
        f"{'created (UTC)':<19}",
        f"{'task':<14}",
        f"{'onnx':<4}",
        *(f"{m:>9}" for m in metric_names),
    ]
    click.echo("  ".join([*header, f"{'data_sha256':<12}", "git_revision"]))
    for version in versions:
        metrics = version.metadata["metrics"]
        row = [
            version.tag.ljust(width),
            version.created.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            f"{version.metadata.get('task', '?'):<14}",
            f"{'yes' if version.metadata.get('onnx', {}).get('runtime') == 'onnx' else 'no':<4}",
            *(f"{metrics[m]:>9.4f}" if m in metrics else f"{'-':>9}" for m in metric_names),
            f"{version.labels.get('data_sha256', '?')[:12]:<12}",
            short_revision(version.labels.get("git_revision", "?")),
        ]
        click.echo("  ".join(row))
    for version in versions:  # why a version answers from scikit-learn only
        if version.metadata.get("onnx", {}).get("runtime") != "onnx":
            click.echo(f"{version.tag}: no ONNX graph: {docs_pages.onnx_line(version.metadata).removeprefix('none: ')}")


@main.command(epilog=EXIT_CODES)
@click.option("--rows", type=click.IntRange(1, 1000), default=1, show_default=True, help="Records to print.")
@click.option("--model", "tag", help="Model tag or version (default: latest).")
@click.pass_context
def example(ctx: click.Context, rows: int, tag: str | None) -> None:
    """Print API request records drawn from a model's reference sample, as JSON (one object, or a list)."""
    records = registry.load(_settings(ctx), tag).example_records(rows)
    click.echo(json.dumps(records[0] if rows == 1 else records))


@main.command("drift", epilog=EXIT_CODES)
@click.option(
    "--current",
    "current_path",
    help="Prediction log folder, a CSV/Parquet/JSON-lines file or folder, or a URI prefix of shipped logs "
    "(s3://, gs://, az://, file://) (default: the service's log folder).",
)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First day (UTC) of logs to read, by date partition.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last day (UTC) of logs to read, inclusive.")
@click.option("--model", "tag", help="Model version whose reference to compare with (default: the one that served).")
@click.pass_context
def drift_command(
    ctx: click.Context, current_path: str | None, since: datetime | None, until: datetime | None, tag: str | None
) -> None:
    """Compare current data with a model's reference: data, prediction and quality drift (Evidently)."""
    settings = _settings(ctx)
    first, last = (None if day is None else day.date() for day in (since, until))
    result = check_drift(settings, current_path, tag, first, last)
    summary, current = result.summary, result.summary["current"]
    sampled = f" (sampled {current['sampled_rows']})" if current["sampled_rows"] < current["rows"] else ""
    click.echo(f"{summary['model_version']}: {current['rows']} current rows{sampled} from {current['source']}")
    for name, verdict in summary["features"].items():
        if verdict["drifted"]:
            method, value, threshold = verdict["method"], verdict["score"], verdict["threshold"]
            click.echo(f"  drifted: {name} ({method} {value:.4g}, threshold {threshold})")
    prediction = summary["prediction"]
    changed = "drifted" if prediction["drifted"] else "stable"
    click.echo(f"  prediction: {changed} ({prediction['method']} {prediction['score']:.4g})")
    click.echo(f"  drifted share {summary['drifted_share']:.2f} (max {summary['max_drift_share']})")
    click.echo(f"report: {result.folder / summary['report']}")
    if result.failures:
        raise GateFailedError("\n".join(result.failures))
    click.echo("no drift beyond the thresholds")


@main.command("docs", epilog=EXIT_CODES)
@click.option("--model", "tag", help="Model version of the model card (default: latest).")
@click.option("--check", is_flag=True, help="Only check the committed pages generated from config/ (1 if stale).")
@click.pass_context
def docs_command(ctx: click.Context, tag: str | None, check: bool) -> None:
    """Write the docs pages generated from config/ and the model store (contract, objectives, model card)."""
    settings = _settings(ctx)
    contract = _contract(settings)
    if check:
        docs_pages.check_pages(settings, contract)
        click.echo("the generated docs pages match config/")
        return
    for path in docs_pages.write_pages(settings, contract, tag):
        click.echo(f"wrote {path}")


@main.command(epilog=EXIT_CODES)
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Serve the API locally with BentoML (port from serving.port, or BENTOML_PORT)."""
    settings = _settings(ctx)
    if load_api_key() is None:
        click.echo("API_KEY is not set: serving without authentication (fine locally; deployments set it)")
    service = f"{__package__}.service:Predictor"
    command = [sys.executable, "-m", "bentoml", "serve", service, "--working-dir", str(settings.root)]
    os.execv(sys.executable, command)  # noqa: S606  (replace this process: signals reach BentoML directly)


@main.command(epilog=EXIT_CODES)
@click.option("--version", "bento_version", help="Bento version (default: generated by BentoML).")
@click.pass_context
def build(ctx: click.Context, bento_version: str | None) -> None:
    """Build the bento from [tool.bentoml.build] in pyproject.toml (offline)."""
    settings = _settings(ctx)
    registry.get_model(settings, os.environ.get("MODEL_TAG") or None)  # a clear error before BentoML's
    hidden = [part for part in settings.root.parts if part.startswith(".") and part not in (".", "..")]
    if hidden:
        raise ProjectError(f"BentoML refuses to build under a hidden folder ({hidden[0]}): move {settings.root}")
    command = [sys.executable, "-m", "bentoml", "build", str(settings.root), "--output", "tag"]
    if bento_version:
        command += ["--version", bento_version]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise ProjectError(f"bentoml build failed:\n{done.stdout}{done.stderr}")
    tag = done.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    click.echo(f"built bento {tag}")


def _bento(tag: str) -> bentoml.Bento:
    try:
        return bentoml.bentos.get(tag)
    except NotFound:
        raise ProjectError(f"bento {tag!r} is not in the store: run `make build` first") from None


@main.command(epilog=EXIT_CODES)
@click.option("--bento", "bento_tag", default=f"{BENTO_NAME}:latest", show_default=True, help="Bento to look up.")
@click.pass_context
def dockerfile(ctx: click.Context, bento_tag: str) -> None:
    """Print the path of the Dockerfile BentoML generated for a bento (its folder is the build context)."""
    _settings(ctx)
    click.echo(Path(_bento(bento_tag).path) / "env" / "docker" / "Dockerfile")


@main.command("import", epilog=EXIT_CODES)
@click.argument("archive", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.pass_context
def import_command(ctx: click.Context, archive: Path) -> None:
    """Import a ``.bento`` archive (``make export``, or a release asset) with its model into the store."""
    _settings(ctx)
    try:
        bento = bentoml.bentos.import_bento(str(archive.resolve()))
    except Exception as exc:  # BentoML, tarfile and lzma raise many types for a file that is not a bento
        raise ProjectError(f"{archive}: cannot be imported as a bento: {exc}") from None
    models = ", ".join(str(model.tag) for model in bento.info.all_models) or "no models"
    click.echo(f"imported {bento.tag} with {models}")


@main.command("export", epilog=EXIT_CODES)
@click.option("--bento", "bento_tag", default=f"{BENTO_NAME}:latest", show_default=True, help="Bento to export.")
@click.option(
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help=f"An existing folder to write to, relative to the project (default: {EXPORT_DIR}, created if missing).",
)
@click.pass_context
def export_command(ctx: click.Context, bento_tag: str, output_dir: Path | None) -> None:
    """Write a bento with its model to one archive (``<name>-<version>.bento``, mode 0600), e.g. for CI artefacts."""
    settings = _settings(ctx)
    folder = settings.resolve(output_dir or EXPORT_DIR).resolve()  # BentoML's exporter needs an absolute path
    if output_dir is not None:
        require_folder(folder, f"--output-dir {output_dir}")
    bento = _bento(bento_tag)
    path = folder / f"{bento.tag.name}-{bento.tag.version}.bento"
    with atomic_write(path, suffix=".tmp.bento") as temporary:  # BentoML appends .bento to any other name
        bentoml.bentos.export_bento(bento.tag, str(temporary))
        temporary.chmod(0o600)  # the archive holds the model and its training sample: the owner's only
    click.echo(f"exported {bento.tag} to {path}")


@main.command("edge", epilog=EXIT_CODES)
@click.option("--model", "tag", help="Model tag or version (default: latest).")
@click.option("--optional", is_flag=True, help="A version without an ONNX graph is not an error (exit 0, say why).")
@click.pass_context
def edge_command(ctx: click.Context, tag: str | None, optional: bool) -> None:
    """Write the version's edge bundle (ONNX graph, contract, standalone predictor) to dist/edge/."""
    settings = _settings(ctx)
    entry = registry.get_model(settings, tag)
    graph = registry.stored_graph(entry)
    if graph is None:
        message = f"{entry.tag} has no ONNX graph, so no edge bundle: {docs_pages.onnx_line(entry.info.metadata)}"
        if optional:
            click.echo(f"skipped: {message}")
            return
        raise DataError(f"{message}; train it with an estimator that converts (docs/edge.md)")
    bundle = edge.write_bundle(registry.load_entry(entry), graph, settings.resolve(EDGE_DIR))
    packed = edge.archive(bundle)
    click.echo(f"wrote {bundle} ({sum(p.stat().st_size for p in bundle.iterdir())} bytes) and {packed}")


@main.group("contract", epilog=EXIT_CODES)
def contract_group() -> None:
    """Draft the data contract from a data file (contract infer)."""


@contract_group.command(
    "infer",
    epilog=EXIT_CODES,
    help="Infer a data contract from a CSV or Parquet file and write it, with the docs tables made from it.\n\n"
    + contract_inference.RULES,
)
@click.option(
    "--data", "data_path", required=True, type=click.Path(path_type=Path, dir_okay=False), help="CSV or Parquet file."
)
@click.option("--target", required=True, help="The column to predict.")
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write it, in an existing folder (default: the contract config/project.yaml names).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.pass_context
def contract_infer(ctx: click.Context, data_path: Path, target: str, output: Path | None, force: bool) -> None:
    """Infer a data contract from a file (help: contract_inference.RULES)."""
    settings = _settings(ctx)
    if output is not None:
        require_folder(output.parent, f"--output {output}")
    output = output or settings.resolve(settings.contract)
    contract_inference.refuse_overwrite(output, force=force)
    inference, text = contract_inference.infer_file(data_path, target)
    for notice in inference.left_out:
        click.echo(notice)
    for path in contract_inference.write(settings, output, inference, text):
        click.echo(f"wrote {path}")
    contract = inference.contract
    kinds = f"{len(contract.numeric)} numeric, {len(contract.categorical)} categorical"
    click.echo(f"{len(contract.features)} features ({kinds}); target {contract.target.name!r}: {contract.task}")
    click.echo("next:")
    for step in contract_inference.next_steps(settings, contract, data_path, output):
        click.echo(f"  - {step}")


for operation in OPERATIONS:  # loadtest, compare, monitoring, retrain (cli_operations.py)
    main.add_command(operation)
