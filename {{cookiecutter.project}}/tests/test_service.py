"""The service in process: its class called directly, then over HTTP through its ASGI app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from starlette.testclient import TestClient

from {{ cookiecutter.package }} import registry

KEY = {"X-API-Key": "test-key"}


@pytest.fixture(scope="module")
def service(service_module: ModuleType) -> Any:
    return service_module.Predictor()


@pytest.fixture(scope="module")
def client(asgi_app: Any) -> Iterator[TestClient]:
    with TestClient(asgi_app, headers=KEY) as client:
        yield client


@pytest.fixture(scope="module")
def anonymous(asgi_app: Any) -> Iterator[TestClient]:
    with TestClient(asgi_app) as client:
        yield client


# -- the class, called directly -----------------------------------------------------------


def test_the_service_is_ready_after_a_warm_up_prediction(service: Any) -> None:
    assert service.__is_ready__() is True


def test_predict_returns_the_class_probabilities_and_model_version(
    service: Any, service_module: ModuleType, record: dict[str, float], trained: tuple[Any, str]
) -> None:
    answer = asyncio.run(service.predict(service_module.Record(**record)))
    assert answer.prediction in (0, 1)
    assert set(answer.probabilities) == {"0", "1"}
    assert sum(answer.probabilities.values()) == pytest.approx(1)
    assert answer.model_version == trained[1]


def test_predict_batch_answers_each_record_in_order(
    service: Any, service_module: ModuleType, breast_cancer: Any, contract: Any
) -> None:
    rows = breast_cancer.head(20)[contract.feature_names]
    records = [service_module.Record(**row) for row in rows.to_dict("records")]
    answers = asyncio.run(service.predict_batch(records))
    pipeline = registry.load_pipeline(service.model)
    assert [a.prediction for a in answers] == pipeline.predict(rows).tolist()
    expected = pipeline.predict_proba(rows)[:, 1]
    assert [a.probabilities["1"] for a in answers] == pytest.approx(expected.tolist())


def test_model_info_describes_the_served_model(service: Any, trained: tuple[Any, str]) -> None:
    info = service.model_info()
    assert info.tag == trained[1]
    assert set(info.metrics) == {"accuracy", "roc_auc", "f1", "precision", "recall"}
    assert len(info.labels["data_sha256"]) == 64
    assert info.contract["target"]["name"] == "malignant"


def test_served_records_reach_the_prediction_log(
    service: Any, service_module: ModuleType, record: dict[str, float]
) -> None:
    asyncio.run(service.predict(service_module.Record(**record)))
    service.prediction_log.close()
    service.prediction_log = type(service.prediction_log)(
        service.prediction_log.folder, on_failure=lambda reason: None
    )  # reopen for the tests that follow
    files = Path(service.prediction_log.folder).glob("*.jsonl")
    lines = [json.loads(line) for path in files for line in path.read_text().splitlines()]
    row = lines[-1]
    assert {name: row[name] for name in record} == record
    assert {"timestamp", "prediction", "model_version"} <= row.keys()


# -- HTTP, in process -------------------------------------------------------------------


def test_http_predict_takes_the_record_as_the_body(
    client: TestClient, record: dict[str, float], trained: tuple[Any, str]
) -> None:
    response = client.post("/predict", json=record)
    assert response.status_code == 200
    assert response.json()["model_version"] == trained[1]


def test_http_predict_batch_returns_one_answer_per_record(client: TestClient, record: dict[str, float]) -> None:
    response = client.post("/predict_batch", json=[record] * 3)
    assert response.status_code == 200
    assert len(response.json()) == 3


def errors_of(response: Any) -> list[tuple[str, str]]:
    return [(".".join(str(p) for p in e["loc"]), e["type"]) for e in response.json()["detail"]]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"mean_radius": -1.0}, ("mean_radius", "greater_than_equal")),
        ({"mean_area": 1e9}, ("mean_area", "less_than_equal")),
        ({"mean_radius": "12"}, ("mean_radius", "float_type")),
        ({"mean_radius": None}, ("mean_radius", "float_type")),
        ({"patient": "x"}, ("patient", "extra_forbidden")),
    ],
)
def test_bad_fields_are_400_naming_the_field_and_rule(
    client: TestClient, record: dict[str, float], change: dict[str, Any], expected: tuple[str, str]
) -> None:
    response = client.post("/predict", json=record | change)
    assert response.status_code == 400
    assert expected in errors_of(response)


def test_a_missing_field_is_named(client: TestClient, record: dict[str, float]) -> None:
    response = client.post("/predict", json={k: v for k, v in record.items() if k != "worst_area"})
    assert response.status_code == 400
    assert errors_of(response) == [("worst_area", "missing")]


@pytest.mark.parametrize(
    ("body", "status", "rule"),
    [
        ([], 400, "too_short"),
        (None, 400, "json_invalid"),
    ],
)
def test_bad_batches_are_refused(client: TestClient, body: Any, status: int, rule: str) -> None:
    response = client.post("/predict_batch", content=b"{oops" if body is None else json.dumps(body))
    assert response.status_code == status
    assert errors_of(response)[0][1] == rule


def test_an_oversize_batch_is_refused(client: TestClient, record: dict[str, float], service_module: ModuleType) -> None:
    size = service_module.SERVING.max_batch_size + 1
    response = client.post("/predict_batch", json=[record] * size)
    assert response.status_code in (400, 413)


def test_a_huge_body_is_413(client: TestClient) -> None:
    response = client.post("/predict", content=b" " * 2_000_000, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]


def test_a_wrong_content_type_is_4xx(client: TestClient) -> None:
    response = client.post("/predict", content=b"mean_radius=1", headers={"Content-Type": "text/plain"})
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic test-key"}],
    ids=["none", "wrong-header", "wrong-bearer", "not-bearer"],
)
def test_requests_without_the_key_are_401(
    anonymous: TestClient, record: dict[str, float], headers: dict[str, str]
) -> None:
    response = anonymous.post("/predict", json=record, headers=headers)
    assert response.status_code == 401
    assert "API key" in response.json()["error"]


def test_bearer_tokens_are_accepted(anonymous: TestClient, record: dict[str, float]) -> None:
    response = anonymous.post("/predict", json=record, headers={"Authorization": "Bearer test-key"})
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/metrics"])
def test_probes_and_metrics_stay_open(anonymous: TestClient, path: str) -> None:
    assert anonymous.get(path).status_code == 200


def test_cors_preflight_passes_without_a_key(anonymous: TestClient) -> None:
    response = anonymous.options("/predict", headers={"Origin": "http://x", "Access-Control-Request-Method": "POST"})
    assert response.status_code != 401


def test_metrics_count_predictions_and_validation_failures(client: TestClient, record: dict[str, float]) -> None:
    client.post("/predict", json=record)
    client.post("/predict", json=record | {"mean_texture": -5.0})
    metrics = client.get("/metrics").text
    assert 'model_predictions_total{prediction="' in metrics
    assert 'model_input_validation_failures_total{field="mean_texture"}' in metrics
    assert "model_prediction_score_bucket" in metrics


def test_http_model_info(client: TestClient, trained: tuple[Any, str]) -> None:
    response = client.post("/model_info", json={})
    assert response.status_code == 200
    assert response.json()["tag"] == trained[1]
