"""The alert manifests: valid for the Prometheus Operator's CRDs, real PromQL, regenerated when the objectives change.

The CRD schemas are vendored in tests/schemas/ (the openAPIV3Schema of each CRD, prometheus-operator
v0.93.0). Kubernetes refuses a field a structural schema does not declare (``kubectl apply`` with
strict field validation), so objects without ``x-kubernetes-preserve-unknown-fields`` are checked
with ``additionalProperties: false`` here. The PromQL is parsed by promql-parser (a Rust parser of
Prometheus' grammar that also type-checks function arguments).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no type hints
import promql_parser
import pytest
import yaml

from {{ cookiecutter.package }} import alerts
from {{ cookiecutter.package }}.errors import GateFailedError
from {{ cookiecutter.package }}.settings import Settings, load_settings

from .support import ROOT

SCHEMAS = Path(__file__).with_name("schemas")
KUBERNETES = (ROOT / "deploy" / "kubernetes").is_dir()  # deploy_target=kubernetes


def strict(schema: Any) -> Any:
    """The schema with undeclared fields refused, as the API server's strict field validation does."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    tightened = {key: strict(value) for key, value in schema.items()}
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        tightened.setdefault("additionalProperties", False)
    return tightened


def validator(kind: str) -> Any:
    schema = json.loads((SCHEMAS / f"{kind.lower()}.v1.json").read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(strict(schema))


def documents(settings: Settings) -> dict[str, Any]:
    return {path.name: yaml.safe_load(text) for path, text in alerts.manifests(settings).items()}


@pytest.fixture
def project(tmp_path: Path) -> Settings:
    """The project's settings in a copy holding config/ and the HPA, with the manifests written."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / alerts.HPA).parent.mkdir(parents=True)
    hpa = ROOT / alerts.HPA
    if hpa.is_file():
        shutil.copyfile(hpa, tmp_path / alerts.HPA)
    else:  # another deploy_target: an HPA like the template's
        target = alerts.quantity(load_settings(ROOT / "config" / "project.yaml").objectives.expected_rps)
        (tmp_path / alerts.HPA).write_text(HPA.replace("TARGET", target), encoding="utf-8")
    settings = load_settings(tmp_path / "config" / "project.yaml")
    alerts.write_manifests(settings)
    return settings


HPA = """
spec:
  metrics:
    - type: Pods
      pods:
        metric:
          name: bentoml_service_request_per_second
        target:
          type: AverageValue
          averageValue: "TARGET"
"""


def test_the_manifests_are_valid_prometheus_operator_objects(project: Settings) -> None:
    for name, document in documents(project).items():
        errors = [error.message for error in validator(document["kind"]).iter_errors(document)]
        assert errors == [], name


def test_the_strict_schema_refuses_a_misspelt_field(project: Settings) -> None:
    monitor = documents(project)["servicemonitor.yaml"]
    monitor["spec"]["endpoints"][0]["paht"] = "/metrics"
    assert not validator("ServiceMonitor").is_valid(monitor)
    rule = documents(project)["prometheusrule.yaml"]
    rule["spec"]["groups"][0]["rules"][0]["for"] = "ten minutes"  # not a Prometheus duration
    assert not validator("PrometheusRule").is_valid(rule)


def rules(settings: Settings) -> dict[str, Any]:
    group = documents(settings)["prometheusrule.yaml"]["spec"]["groups"][0]
    return {rule["alert"]: rule for rule in group["rules"]}


def test_every_expression_is_promql_and_compares_with_its_objective(project: Settings) -> None:
    objectives = project.objectives
    thresholds = {
        "ModelLatencyHigh": objectives.max_p95_latency_ms / 1000,
        "ModelErrorRateHigh": objectives.max_error_rate,
        "ModelNoPredictions": 0,
        "ModelPodsNotReady": 0,
    }
    found = rules(project)
    assert set(found) == set(thresholds)
    for name, rule in found.items():
        expression = promql_parser.parse(rule["expr"])
        assert isinstance(expression, promql_parser.BinaryExpr), name
        assert isinstance(expression.rhs, promql_parser.NumberLiteral), name
        assert expression.rhs.val == pytest.approx(thresholds[name]), name


def test_the_parser_refuses_broken_promql() -> None:
    with pytest.raises(ValueError, match="expected type matrix"):
        promql_parser.parse("rate(bentoml_service_request_total)")  # a range is missing
    with pytest.raises(ValueError, match="unclosed left parenthesis"):
        promql_parser.parse("sum(rate(bentoml_service_request_total[5m])")


def test_every_alert_links_its_runbook_section(project: Settings) -> None:
    headings = re.findall(r"^## (\w+)$", (ROOT / "docs" / "alerts.md").read_text(encoding="utf-8"), re.MULTILINE)
    for name, rule in rules(project).items():
        assert rule["annotations"]["runbook_url"] == f"{alerts.DOCS_URL}alerts/#{name.lower()}"
        assert name in headings, f"docs/alerts.md has no section `## {name}`"


def test_changed_objectives_make_the_manifests_stale_until_regenerated(project: Settings) -> None:
    alerts.check_manifests(project)
    objectives = project.objectives.model_copy(update={"max_p95_latency_ms": 250.0})
    changed = project.model_copy(update={"objectives": objectives})
    with pytest.raises(GateFailedError, match=r"prometheusrule.yaml: stale, run `make monitoring`") as raised:
        alerts.check_manifests(changed)
    assert "servicemonitor" not in str(raised.value)
    alerts.write_manifests(changed)
    alerts.check_manifests(changed)
    assert "> 0.25" in rules(changed)["ModelLatencyHigh"]["expr"]


def test_the_hpa_target_must_follow_expected_rps(project: Settings) -> None:
    objectives = project.objectives.model_copy(update={"expected_rps": 12.5})
    changed = project.model_copy(update={"objectives": objectives})
    alerts.write_manifests(changed)
    before = alerts.quantity(project.objectives.expected_rps)
    expected = f'target is {before}, objectives.expected_rps is 12500m: set averageValue: "12500m"'
    with pytest.raises(GateFailedError, match=re.escape(expected)):
        alerts.check_manifests(changed)


def promtool_cases(settings: Settings) -> dict[str, Any]:
    """A `promtool test rules` file: series that break each objective, and the alerts they must raise."""
    objectives, job = settings.objectives, f'job="{alerts.PROJECT}"'
    slow = objectives.max_p95_latency_ms / 1000

    def series(metric: str, labels: str, values: str) -> dict[str, str]:
        return {"series": metric + "{" + labels + "}", "values": values}

    per_minute = 600  # requests; failures are twice the allowed share, half the answers slower than 10x the p95
    failed = max(1, round(2 * objectives.max_error_rate * per_minute))
    inputs = [
        series(
            "bentoml_service_request_total", f'{job},endpoint="/predict",http_response_code="200"', f"0+{per_minute}x60"
        ),
        series(
            "bentoml_service_request_total", f'{job},endpoint="/predict",http_response_code="500"', f"0+{failed}x60"
        ),
        series("model_predictions_total", f'{job},prediction="x"', f"0+{per_minute}x10 {10 * per_minute}x50"),
        series("kube_deployment_status_replicas_unavailable", f'deployment="{alerts.PROJECT}"', "0x5 1x55"),
    ]
    for bound, share in ((slow / 2, 0.5), (slow * 10, 1.0), ("+Inf", 1.0)):
        le = bound if isinstance(bound, str) else f"{bound:g}"
        inputs.append(
            series(
                "bentoml_service_request_duration_seconds_bucket",
                f'{job},endpoint="/predict",le="{le}"',
                f"0+{round(share * per_minute)}x60",
            )
        )
    fired = {rule["alert"]: rule for rule in prometheus_rules(settings)}

    def expect(name: str, minute: int, extra: dict[str, str] | None = None) -> dict[str, Any]:
        labels = fired[name]["labels"] | (extra or {})
        alert = {"exp_labels": labels, "exp_annotations": fired[name]["annotations"]}
        return {"eval_time": f"{minute}m", "alertname": name, "exp_alerts": [alert]}

    checks = [
        expect("ModelLatencyHigh", 20),
        expect("ModelErrorRateHigh", 20),
        {"eval_time": "20m", "alertname": "ModelNoPredictions", "exp_alerts": []},
        expect("ModelNoPredictions", 50),
        expect("ModelPodsNotReady", 20, {"deployment": alerts.PROJECT}),
    ]
    return {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": inputs, "alert_rule_test": checks}],
    }


def prometheus_rules(settings: Settings) -> list[dict[str, Any]]:
    return list(documents(settings)["prometheusrule.yaml"]["spec"]["groups"][0]["rules"])


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (Debian: prometheus)")
def test_promtool_parses_the_rules_and_each_alert_fires_when_its_objective_is_missed(
    project: Settings, tmp_path: Path
) -> None:
    spec = documents(project)["prometheusrule.yaml"]["spec"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(promtool_cases(project)), encoding="utf-8")
    for command in (["check", "rules", "rules.yaml"], ["test", "rules", "tests.yaml"]):
        done = subprocess.run(["promtool", *command], cwd=tmp_path, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(not KUBERNETES, reason="deploy_target is not kubernetes: no manifests in the project")
def test_the_committed_manifests_match_config() -> None:
    alerts.check_manifests(load_settings(ROOT / "config" / "project.yaml"))
