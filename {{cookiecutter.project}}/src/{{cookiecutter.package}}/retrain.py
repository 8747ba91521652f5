"""Retraining on fresh labelled data: point the config at it, and record the decision (retrain.yml's steps).

``point_at`` makes a fresh table the training data the way a release needs it: a copy at
``data/cache/retrain.<csv|parquet>`` and ``data.source`` / ``data.sha256`` / ``data.path`` naming its
URL and checksum in config/project.yaml, so that `make data train` (here, and in the release workflow
once the pull request is merged) trains on exactly those bytes. ``decide`` turns the gate verdict and
the comparison into the decision: a CHANGELOG entry when the challenger wins, and a text for the
pull request or for the comment on the open ``drift`` issue.
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import bentoml
import yaml

from . import registry
from .contract import Contract
from .data import atomic_write, download, file_sha256, read_table
from .errors import ConfigError, DataError, ModelNotFoundError
from .settings import Settings, load_settings

RETRAIN_DIR = Path("reports/retrain")  # decision.json, decision.md, proposal.patch
CACHE = Path("data/cache")  # git-ignored: the fresh table is downloaded again by `make data`
CONFIG = Path("config/project.yaml")
CHANGELOG = Path("CHANGELOG.md")
_DATA_BLOCK = re.compile(r"^data:[ \t]*\n((?:[ \t]+.*\n|[ \t]*\n)*)", re.MULTILINE)


def _suffix(url: str) -> str:
    suffix = Path(urlsplit(url).path).suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ConfigError(f"{url}: the URL's path must end in .csv or .parquet (the table's format)")
    return suffix


def _set_key(block: str, key: str, value: str) -> str:
    line = f"  {key}: {value}\n"
    pattern = re.compile(rf"^  {key}:.*\n", re.MULTILINE)
    if pattern.search(block):
        return pattern.sub(lambda _: line, block, count=1)
    return re.sub(r"^(  source:.*\n)", lambda found: found.group(1) + line, block, count=1, flags=re.MULTILINE)


def pointed_config(text: str, url: str, sha256: str, path: Path) -> str:
    """config/project.yaml with ``data.source``, ``data.sha256`` and ``data.path`` set; comments kept."""
    found = _DATA_BLOCK.search(text)
    if not found or not re.search(r"^  source:", found.group(1), re.MULTILINE):
        raise ConfigError(f"{CONFIG}: no `data:` block with `  source:` (two-space indent) to point at {url}")
    block = found.group(1)
    for key, value in (("source", url), ("sha256", sha256), ("path", str(path))):
        block = _set_key(block, key, value)
    return text[: found.start(1)] + block + text[found.end(1) :]


@dataclass(frozen=True)
class Fresh:
    """The fresh table, as config/project.yaml now names it."""

    url: str
    sha256: str
    path: Path
    rows: int


def point_at(settings: Settings, contract: Contract, url: str, fetched: Path | None) -> Fresh:
    """Check the table at ``url`` (or already ``fetched`` from it) against the contract; make it the training data.

    A table failing the contract changes nothing (exit 2). The config is rewritten only after the
    new settings load, so a failure leaves it as it was.
    """
    if not url.startswith(("https://", "file://")):
        raise ConfigError(f"{url}: the fresh data's URL must be https:// (or file:// to rehearse locally)")
    target = settings.resolve(CACHE / f"retrain{_suffix(url)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target, suffix=target.suffix) as temporary:  # read_table tells the format by suffix
        if fetched is None:
            download(url, temporary)
        else:
            shutil.copyfile(fetched, temporary)
        frame = contract.validate_frame(read_table(temporary), source=url, with_target=True)
        sha256 = file_sha256(temporary)
    config = settings.resolve(CONFIG)
    text = pointed_config(config.read_text(encoding="utf-8"), url, sha256, CACHE / target.name)
    with atomic_write(config) as temporary:
        temporary.write_text(text, encoding="utf-8")
        load_settings(temporary)  # the rewritten file must still be valid settings before it replaces the old
    return Fresh(url, sha256, target, len(frame))


def champion_of(settings: Settings, archive: Path) -> str:
    """The model tag of a bento archive (a release asset), imported into the store when it is not there yet."""
    try:
        with tarfile.open(archive) as bundle:
            manifest = yaml.safe_load(bundle.extractfile("./bento.yaml") or b"")
    except (OSError, tarfile.TarError, KeyError, yaml.YAMLError) as exc:
        raise DataError(f"{archive}: not a bento archive (make export writes one): {exc}") from None
    tags = [model["tag"] for service in manifest.get("services", []) for model in service.get("models", [])]
    tags += [model["tag"] for model in manifest.get("models", [])]
    if not tags:
        raise DataError(f"{archive}: the bento references no model")
    try:
        registry.get_model(settings, tags[0])
    except ModelNotFoundError:
        bentoml.bentos.import_bento(str(archive.resolve()))  # brings its models along
    return str(tags[0])


def challenger_tag(settings: Settings) -> str:
    """The newest model version trained on the fresh data (its data_sha256 is data.sha256)."""
    for version in registry.list_versions(settings):
        if version.labels.get("data_sha256") == settings.data.sha256:
            return version.tag
    raise ModelNotFoundError(
        f"no model version was trained on data.sha256 {settings.data.sha256}: run `make data train`"
    )


def changelog_with(text: str, entry: str) -> str:
    """CHANGELOG.md with ``entry`` as a bullet under ``## [Unreleased]`` / ``### Changed``."""
    heading = re.search(r"^## \[Unreleased\][ \t]*\n", text, re.MULTILINE)
    if heading is None:
        raise ConfigError(f"{CHANGELOG}: no `## [Unreleased]` heading to add the retraining entry under")
    section_end = re.search(r"^## ", text[heading.end() :], re.MULTILINE)
    end = heading.end() + (section_end.start() if section_end else len(text) - heading.end())
    section = text[heading.end() : end]
    changed = re.search(r"^### Changed[ \t]*\n\n?", section, re.MULTILINE)
    if changed:
        section = section[: changed.end()] + f"- {entry}\n" + section[changed.end() :]
    else:
        section = f"\n### Changed\n\n- {entry}\n" + section
    return text[: heading.end()] + section + text[end:]


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def decide(settings: Settings) -> dict[str, Any]:
    """The decision from reports/metrics.json (the gate) and reports/compare.json; a CHANGELOG entry on a win.

    Writes reports/retrain/decision.json and decision.md (the pull request's body or the comment).
    """
    data = settings.data
    if data.kind != "url" or data.sha256 is None:
        raise DataError("data.source is not a URL pinned by sha256: run `make retrain-data` first")
    metrics = _read(settings.metrics_path)
    comparison = _read(settings.resolve(settings.reports_dir) / "compare.json")
    short = data.sha256[:12]
    if metrics is None or metrics.get("data_sha256") != data.sha256:
        winner, lines = "champion", [f"No model was trained on the fresh data (sha256 {short}): see the run's log."]
    elif not metrics["passed"]:
        winner = "champion"
        lines = [
            "The model trained on the fresh data missed the quality gate:",
            *(f"- {f}" for f in metrics["failures"]),
        ]
    elif comparison is None or comparison["data"]["sha256"] != data.sha256:
        winner, lines = "champion", ["The challenger passed the gate, but the comparison did not run: see the log."]
    else:
        winner = comparison["winner"]
        gain, metric = comparison["gain"], comparison["metric"]
        lines = [
            f"{metric} on {comparison['data']['rows']} rows ({comparison['data']['scope']}): champion "
            f"`{comparison['champion']['tag']}` {comparison['champion'][metric]:.4f}, challenger "
            f"`{comparison['challenger']['tag']}` {comparison['challenger'][metric]:.4f}; gain {gain['point']:+.4f}, "
            f"95% interval [{gain['low']:+.4f}, {gain['high']:+.4f}], margin {comparison['margin']:g}.",
            *(f"- {reason}" for reason in comparison["reasons"]),
        ]
    title = "The challenger wins" if winner == "challenger" else "The champion stays"
    body = "\n".join([f"**{title}** (fresh data {data.source}, sha256 {short}).", "", *lines]) + "\n"
    if winner == "challenger":
        assert comparison is not None  # noqa: S101 (the challenger only wins a comparison that ran)
        metric, champion, challenger = comparison["metric"], comparison["champion"], comparison["challenger"]
        entry = (
            f"Retrained on {data.source} (sha256 {short}): {metric} {champion[metric]:.4f} -> "
            f"{challenger[metric]:.4f} against `{champion['tag']}` (`make compare`)."
        )
        changelog = settings.resolve(CHANGELOG)
        with atomic_write(changelog) as temporary:
            temporary.write_text(changelog_with(changelog.read_text(encoding="utf-8"), entry), encoding="utf-8")
    decision = {"winner": winner, "data": {"source": data.source, "sha256": data.sha256}, "text": body}
    folder = settings.resolve(RETRAIN_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "decision.json").write_text(json.dumps(decision, indent=2) + "\n", encoding="utf-8")
    (folder / "decision.md").write_text(body, encoding="utf-8")
    return decision
