"""The load test: its pacing and statistics (fast), bad input (exit 2), and real runs against `bentoml serve` (slow)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from {{ cookiecutter.package }}.cli import main
from {{ cookiecutter.package }}.loadtest import RPS_SHARE, Pace, free_port, measure, percentile, verdicts
from {{ cookiecutter.package }}.settings import Objectives, Settings

from .support import ROOT


def test_the_users_leave_each_request_twice_the_latency_objective() -> None:
    pace = Pace.of(Objectives(expected_rps=20, max_p95_latency_ms=100))
    assert (pace.users, pace.user_rps) == (4, 5.0)  # 5 requests/s each: 200 ms per request
    assert Pace.of(Objectives(expected_rps=0.5, max_p95_latency_ms=100)) == Pace(1, 0.5)
    fast = Pace.of(Objectives(expected_rps=300, max_p95_latency_ms=10))
    assert fast.users * fast.user_rps == pytest.approx(300)
    assert 1 / fast.user_rps >= 2 * 0.010


def test_percentiles_from_locusts_histogram() -> None:
    histogram = {"10": 90, "20": 5, "250": 4, "900": 1}  # milliseconds (as locust rounds them): count
    assert percentile(histogram, 0.50) == 10
    assert percentile(histogram, 0.95) == 20
    assert percentile(histogram, 0.99) == 250
    assert percentile(histogram, 1.0) == 900


def stats(requests: int, failures: int, seconds: float, histogram: dict[str, int]) -> dict[str, Any]:
    return {
        "name": "/predict",
        "num_requests": requests,
        "num_failures": failures,
        "start_time": 1000.0,
        "last_request_timestamp": 1000.0 + seconds,
        "max_response_time": max(float(key) for key in histogram),
        "response_times": histogram,
    }


def test_each_missed_objective_is_named_with_its_measured_value_and_limit() -> None:
    objectives = Objectives(expected_rps=20, max_p95_latency_ms=50, max_error_rate=0.01)
    measured = measure(stats(300, 6, 20.0, {"30": 280, "120": 20}), duration_s=20)
    assert measured["achieved_rps"] == 15
    assert measured["error_rate"] == 0.02
    misses = [verdict.miss for verdict in verdicts(measured, objectives) if not verdict.met]
    assert misses == [
        f"achieved 15 requests/s, below objectives.expected_rps = 20 (at least {RPS_SHARE * 20:g}, 95% of it, "
        "is required)",
        "p95 latency = 120 ms is above objectives.max_p95_latency_ms = 50",
        "error rate = 0.0200 (6 of 300 requests) is above objectives.max_error_rate = 0.01",
    ]
    passing = measure(stats(400, 0, 20.0, {"30": 400}), duration_s=20)
    assert all(verdict.met for verdict in verdicts(passing, objectives))


def test_no_answered_request_fails_the_gate() -> None:
    from {{ cookiecutter.package }}.errors import GateFailedError

    with pytest.raises(GateFailedError, match="no request to /predict completed in 30 s"):
        measure(None, duration_s=30)


def project_copy(folder: Path, **objectives: float) -> Path:
    """config/ of the project in ``folder`` (reports land there), with objectives changed."""
    shutil.copytree(ROOT / "config", folder / "config")
    config = folder / "config" / "project.yaml"
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["objectives"].update(objectives)
    raw["contract"] = str(ROOT / "config" / "contract.yaml")
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return config


def run(config: Path, *arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--config", str(config), "loadtest", *arguments])
    return result.exit_code, result.output


def test_an_unreachable_url_exits_2(tmp_path: Path, trained: tuple[Settings, str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, output = run(project_copy(tmp_path), "--url", url, "--model", trained[1])
    assert code == 2
    assert f"--url {url}: the service does not answer {url}/readyz" in output
    code, output = run(project_copy(tmp_path / "other"), "--url", "ftp://example.org", "--model", trained[1])
    assert (code, "expected an http:// or https:// address" in output) == (2, True)


def test_no_model_exits_2(tmp_path: Path) -> None:
    code, output = run(project_copy(tmp_path), "--url", "http://127.0.0.1:9", "--model", "no-such-version")
    assert code == 2
    assert "is not in the model store" in output


@pytest.mark.slow
def test_a_real_server_meets_generous_objectives_and_misses_an_impossible_one(
    tmp_path: Path, trained: tuple[Settings, str]
) -> None:
    from .test_serve import serving

    with serving(trained[1], tmp_path) as (base, _):
        generous = project_copy(tmp_path / "generous", expected_rps=10, max_p95_latency_ms=2000, max_error_rate=0.05)
        code, output = run(generous, "--url", base, "--duration", "10", "--model", trained[1])
        assert code == 0, output
        assert "every service objective met" in output
        summary = json.loads((tmp_path / "generous" / "reports" / "loadtest.json").read_text())
        assert summary["model_version"] == trained[1]
        assert summary["passed"] is True
        assert summary["requests"] >= 0.8 * 10 * 10  # locust's start-up takes a little of the 10 s
        assert summary["latency_ms"]["p50"] <= summary["latency_ms"]["p95"] <= summary["latency_ms"]["p99"]

        impossible = project_copy(tmp_path / "impossible", expected_rps=10, max_p95_latency_ms=0.01)
        code, output = run(impossible, "--url", base, "--duration", "10", "--model", trained[1])
        assert code == 1, output
        assert "is above objectives.max_p95_latency_ms = 0.01" in output
        summary = json.loads((tmp_path / "impossible" / "reports" / "loadtest.json").read_text())
        assert summary["objectives"]["max_p95_latency_ms"]["met"] is False
        assert summary["passed"] is False


def test_the_model_card_shows_the_load_test_of_its_own_version_only() -> None:
    from {{ cookiecutter.package }}.docs_pages import loadtest_section

    objectives = Objectives(expected_rps=20, max_p95_latency_ms=50)
    measured = measure(stats(400, 0, 20.0, {"12": 390, "80": 10}), duration_s=20)
    summary = {
        "created": "2026-12-01T10:00:00Z",
        "model_version": "m:v1",
        "serving_runtime": "onnx",
        "endpoint": "/predict",
        "generator": "locust 2.47.0",
        "duration_s": 20,
        "users": 4,
        "target": "bento x:latest, served here",
        **measured,
        "objectives": {verdict.setting: verdict.as_json() for verdict in verdicts(measured, objectives)},
    }
    section = loadtest_section(summary, "m:v1")
    assert "400 requests to `/predict` in 20 s by 4 locust 2.47.0 users" in section
    assert "| `objectives.expected_rps` | >= 20 requests/s | 20 | yes |" in section
    assert "| `objectives.max_p95_latency_ms` | <= 50 ms | 12 | yes |" in section
    assert "| `objectives.max_error_rate` | <= 0.01 | 0 | yes |" in section
    assert "drove `m:v1`, not this version" in loadtest_section(summary, "m:v2")
    assert "No load test yet" in loadtest_section(None, "m:v1")
