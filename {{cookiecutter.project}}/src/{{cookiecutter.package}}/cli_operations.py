"""Commands that run the model in operation: ``loadtest``, ``compare``, ``monitoring``, ``retrain``, ``logs-prune``.

cli.py adds them.

Exit codes as everywhere: 0 ok, 1 an objective is missed (or the challenger lost, or the
manifests are stale), 2 bad input.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from . import registry, retrain
from .alerts import check_manifests, write_manifests
from .compare import compare
from .contract import load_contract
from .errors import ConfigError, GateFailedError
from .labels import join_labels
from .loadtest import load_test
from .log_shipping import expired, prune
from .settings import Settings, load_settings

EXIT_CODES = "Exit codes: 0 ok, 1 an objective is missed (or a check failed), 2 bad input."
LABELLED = Path("data/cache/labelled.parquet")  # git-ignored: the joined table holds production inputs


def _settings(ctx: click.Context) -> Settings:
    settings = load_settings(ctx.find_root().obj)
    registry.use_project_store(settings)
    return settings


@click.command("loadtest", epilog=EXIT_CODES)
@click.option("--url", help="The service to drive, e.g. http://127.0.0.1:3000 (default: serve the built bento here).")
@click.option("--duration", "duration_s", type=click.IntRange(10, 3600), default=30, show_default=True, help="Seconds.")
@click.option("--model", "tag", help="Model version whose reference records are sent (default: latest).")
@click.pass_context
def loadtest(ctx: click.Context, url: str | None, duration_s: int, tag: str | None) -> None:
    """Drive the service at objectives.expected_rps with locust; gate on the latency, rate and error objectives.

    Sends records of the model's reference sample to /predict and writes reports/loadtest.json
    (achieved rate, p50/p95/p99 latency, error rate, run time). With --url, API_KEY is the key sent.
    """
    settings = _settings(ctx)
    model = registry.load(settings, tag)
    objectives = settings.objectives
    click.echo(
        f"load test: {objectives.expected_rps:g} requests/s for {duration_s} s against {url or 'the built bento'}"
    )
    result = load_test(settings, model, url, duration_s)
    summary, latency = result.summary, result.summary["latency_ms"]
    click.echo(f"  {summary['model_version']} ({summary['serving_runtime']}), {summary['requests']} requests")
    click.echo(f"  achieved {summary['achieved_rps']:g} requests/s, error rate {summary['error_rate']:.4f}")
    click.echo(f"  latency ms: p50 {latency['p50']:g}, p95 {latency['p95']:g}, p99 {latency['p99']:g}")
    click.echo(f"summary: {result.path}")
    if result.failures:
        raise GateFailedError("\n".join(result.failures))
    click.echo("every service objective met")


@click.command("compare", epilog=EXIT_CODES)
@click.option("--champion", "champion_tag", required=True, help="The model version in use (tag or version).")
@click.option("--challenger", "challenger_tag", required=True, help="The candidate (tag or version).")
@click.option(
    "--data", "data_path", required=True, type=click.Path(path_type=Path, dir_okay=False), help="Labelled table."
)
@click.option("--resamples", type=click.IntRange(100, 100_000), default=2000, show_default=True, help="Bootstrap.")
@click.option("--seed", type=int, help="Seeds the bootstrap (default: training.random_state).")
@click.pass_context
def compare_command(
    ctx: click.Context, champion_tag: str, challenger_tag: str, data_path: Path, resamples: int, seed: int | None
) -> None:
    """Score champion and challenger on the same rows; exit 0 only when the challenger should replace it.

    A paired bootstrap of the primary metric (the first metric objective) gives the challenger's
    gain and its 95% interval; it wins when the interval's lower end is at least
    -objectives.challenger_margin and it meets every objective on these rows. Writes reports/compare.json.
    """
    settings = _settings(ctx)
    champion, challenger = registry.load(settings, champion_tag), registry.load(settings, challenger_tag)
    seed = settings.training.random_state if seed is None else seed
    result = compare(settings, champion, challenger, data_path, resamples=resamples, seed=seed)
    summary, gain = result.summary, result.summary["gain"]
    metric = summary["metric"]
    click.echo(f"{metric} on {summary['data']['rows']} rows of {data_path} ({summary['data']['scope']}):")
    click.echo(f"  champion   {champion.tag}: {summary['champion'][metric]:.4f}")
    click.echo(f"  challenger {challenger.tag}: {summary['challenger'][metric]:.4f}")
    click.echo(f"  gain {gain['point']:+.4f}, 95% interval [{gain['low']:+.4f}, {gain['high']:+.4f}]")
    click.echo(f"summary: {result.path}")
    if result.failures:
        raise GateFailedError("the champion stays:\n" + "\n".join(result.failures))
    click.echo(f"the challenger wins (margin {summary['margin']:g})")


@click.command("monitoring", epilog=EXIT_CODES)
@click.option("--check", is_flag=True, help="Only check that the committed manifests match config/ (1 if stale).")
@click.pass_context
def monitoring(ctx: click.Context, check: bool) -> None:
    """Write the Prometheus Operator manifests (ServiceMonitor, PrometheusRule) from the objectives."""
    settings = _settings(ctx)
    if check:
        check_manifests(settings)
        click.echo("the monitoring manifests match config/project.yaml")
        return
    for path in write_manifests(settings):
        click.echo(f"wrote {path}")


@click.group("retrain", epilog=EXIT_CODES)
def retrain_group() -> None:
    """The steps of retraining on fresh data (retrain.yml): join (labels route), data, compare, decide."""


@retrain_group.command("join", epilog=EXIT_CODES)
@click.option(
    "--labels",
    "labels_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="CSV or Parquet with the contract's id_column and target column (other columns are ignored).",
)
@click.option(
    "--logs",
    help="Prediction log folder or file, or the URI prefix of shipped logs (s3://, gs://, az://, file://) "
    "(default: the service's log folder).",
)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First day (UTC) of logs to read, by date partition.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last day (UTC) of logs to read, inclusive.")
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=LABELLED,
    show_default=True,
    help="The joined table, .parquet or .csv (relative to the project), written atomically.",
)
@click.pass_context
def retrain_join(
    ctx: click.Context,
    labels_path: Path,
    logs: str | None,
    since: datetime | None,
    until: datetime | None,
    output: Path,
) -> None:
    """Join the prediction log with labels on the contract's ID: a fresh labelled table for `retrain data`.

    A record predicted more than once keeps its latest prediction; an ID labelled twice is refused.
    """
    settings = _settings(ctx)
    contract = load_contract(settings.resolve(settings.contract))
    first, last = (None if day is None else day.date() for day in (since, until))
    target = settings.resolve(output)
    joined = join_labels(contract, logs or settings.prediction_log_dir, labels_path, target, first, last)
    click.echo(
        f"{joined.log_rows} log rows ({joined.without_id} without an ID), {joined.labels} labels: "
        f"{joined.joined} joined, {joined.unmatched_labels} labels not in the log, "
        f"{joined.repeated} repeated predictions left out (the latest kept)"
    )
    click.echo(f"wrote {target}: publish it as a snapshot, then make retrain-data URL=<its URL> FILE={output}")


@retrain_group.command("data", epilog=EXIT_CODES)
@click.option(
    "--url", required=True, help="The fresh labelled table: https:// (file:// to rehearse), .csv or .parquet."
)
@click.option(
    "--file",
    "fetched",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The table already downloaded from --url (e.g. with credentials); default: download it.",
)
@click.pass_context
def retrain_data(ctx: click.Context, url: str, fetched: Path | None) -> None:
    """Check the fresh table against the contract and make it the training data (data.source, sha256, path)."""
    settings = _settings(ctx)
    fresh = retrain.point_at(settings, load_contract(settings.resolve(settings.contract)), url, fetched)
    click.echo(
        f"{fresh.rows} rows of {url} (sha256 {fresh.sha256[:12]}) at {fresh.path}; config/project.yaml points at it"
    )


@retrain_group.command("compare", epilog=EXIT_CODES)
@click.option(
    "--bento",
    "archive",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The released bento archive: its model is the champion.",
)
@click.pass_context
def retrain_compare(ctx: click.Context, archive: Path) -> None:
    """Compare the model trained on the fresh data (challenger) with the released one on its hold-out rows."""
    settings = _settings(ctx)
    champion, challenger = retrain.champion_of(settings, archive), retrain.challenger_tag(settings)
    ctx.invoke(compare_command, champion_tag=champion, challenger_tag=challenger, data_path=settings.data_path)


@retrain_group.command("decide", epilog=EXIT_CODES)
@click.pass_context
def retrain_decide(ctx: click.Context) -> None:
    """Write the decision (reports/retrain/); on a win, add the CHANGELOG entry the pull request carries."""
    decision = retrain.decide(_settings(ctx))
    click.echo(decision["text"], nl=False)
    click.echo(f"winner: {decision['winner']}")


@click.command("logs-prune", epilog=EXIT_CODES)
@click.option("--days", type=click.IntRange(1), required=True, help="Keep the last DAYS days of shipped logs.")
@click.option("--uri", help="The log prefix (default: PREDICTION_LOG_URI, else serving.prediction_log_uri).")
@click.option("--yes", "confirmed", is_flag=True, help="Delete; without it, only list what would be deleted.")
@click.pass_context
def logs_prune(ctx: click.Context, days: int, uri: str | None, confirmed: bool) -> None:
    """Delete shipped prediction-log objects older than DAYS days, by date partition (a store without lifecycle)."""
    uri = uri or load_settings(ctx.find_root().obj).prediction_log_uri
    if not uri:
        raise ConfigError("no log prefix: pass --uri, or set PREDICTION_LOG_URI or serving.prediction_log_uri")
    keys = expired(uri, days, datetime.now(UTC).date())
    for key in keys:
        click.echo(f"{'deleting' if confirmed else 'would delete'} {key}")
    if confirmed:
        prune(uri, keys)
    click.echo(f"{len(keys)} object(s) older than {days} days{'' if confirmed else ' (dry run: add --yes to delete)'}")


COMMANDS = [loadtest, compare_command, monitoring, retrain_group, logs_prune]
