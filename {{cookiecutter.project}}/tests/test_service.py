"""The service in process: its class called directly, then over HTTP through its ASGI app.

Generic over the project's data contract: records come from ``synthetic_frame``, bad fields are
picked from the contract's own features, and answers are checked for the contract's task. The
service is also built for the small REGRESSION and MULTICLASS models of tests/support.py, so
both answer shapes are tested whatever the project's own task.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema_rs
import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families
from pydantic import TypeAdapter, ValidationError
from starlette.testclient import TestClient

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.contract import CategoricalTarget, Contract
from {{ cookiecutter.package }}.data import read_table, write_table
from {{ cookiecutter.package }}.estimator import estimator_path
from {{ cookiecutter.package }}.labels import join_labels
from {{ cookiecutter.package }}.model import LOG_COLUMNS, MODEL_VERSION, PREDICTION, RUNTIME
from {{ cookiecutter.package }}.observability import UNKNOWN_FIELD
from {{ cookiecutter.package }}.prediction_log import PredictionLog
from {{ cookiecutter.package }}.settings import TASK_METRICS, Settings
from {{ cookiecutter.package }}.train import train
from {{ cookiecutter.package }}.upstream_openapi import MAX_LISTED_ERRORS

from .support import (
    BAD_FIELDS,
    CONVERTING,
    MULTICLASS,
    PROJECT_CONTRACT,
    REGRESSION,
    bad_field,
    passing_objectives,
    records_of,
    settings_in,
    synthetic_frame,
    train_on,
)
from .test_labels import plain, with_id

KEY = {"X-API-Key": "test-key"}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def service(service_module: ModuleType) -> Any:
    return service_module.Predictor()


@pytest.fixture(scope="module")
def client(asgi_app: Any) -> Iterator[TestClient]:
    with TestClient(asgi_app, headers=KEY) as client:
        yield client


@pytest.fixture(scope="module")
def anonymous(asgi_app: Any, client: TestClient) -> TestClient:
    """Sends no key, to the service ``client`` started: BentoML keeps one instance, so one lifespan at a time."""
    return TestClient(asgi_app)


@pytest.fixture(scope="module")
def rows(contract: Contract) -> pd.DataFrame:
    """Rows the model has not seen, with nulls where the contract allows them."""
    return synthetic_frame(contract, 40, seed=21)


# -- helpers ------------------------------------------------------------------------------


def check_answer(answer: dict[str, Any], contract: Contract, tag: str) -> None:
    """The answer of the contract's task: a class with its probabilities, or a number alone."""
    assert answer[MODEL_VERSION] == tag
    target = contract.target
    if isinstance(target, CategoricalTarget):
        assert set(answer) == {PREDICTION, "probabilities", MODEL_VERSION}
        probabilities = answer["probabilities"]
        assert set(probabilities) == {str(label) for label in target.classes}  # keyed in the model's class order
        assert sum(probabilities.values()) == pytest.approx(1)
        assert answer[PREDICTION] in target.classes
        assert str(answer[PREDICTION]) == max(probabilities, key=probabilities.__getitem__)
    else:
        assert set(answer) == {PREDICTION, MODEL_VERSION}
        assert isinstance(answer[PREDICTION], float)


def check_matches_the_model(answers: list[dict[str, Any]], frame: pd.DataFrame, settings: Settings, tag: str) -> None:
    """The answers are what the stored model, loaded on its own, predicts for the same rows."""
    model = registry.load(settings, tag, runtime="auto")  # the service's default runtime
    expected = model.predict_frame(model.contract.coerce_features(frame))
    got = [answer[PREDICTION] for answer in answers]
    if expected.probabilities is None:
        assert got == pytest.approx(expected.values)
        return
    assert got == expected.values
    keys = [str(label) for label in model.classes]
    probabilities = [[answer["probabilities"][key] for key in keys] for answer in answers]
    np.testing.assert_allclose(probabilities, expected.probabilities, rtol=1e-9)


def check_openapi(spec: dict[str, Any], contract: Contract) -> None:
    """The OpenAPI of /predict: the contract's features in, the task's answer out."""
    operation = spec["paths"]["/predict"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]
    assert list(request["properties"]) == contract.feature_names
    assert request.get("required", []) == [f.name for f in contract.features if not f.nullable]  # absent: none
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    target = contract.target
    if isinstance(target, CategoricalTarget):
        assert answer["required"] == [PREDICTION, "probabilities", MODEL_VERSION]
        assert answer["properties"][PREDICTION]["enum"] == target.classes
    else:
        assert answer["required"] == [PREDICTION, MODEL_VERSION]
        assert answer["properties"][PREDICTION]["type"] == "number"


def check_model_info(info: dict[str, Any], settings: Settings, tag: str, contract: Contract) -> None:
    assert info["tag"] == tag
    assert info["task"] == contract.task
    assert info["runtime"] == registry.load(settings, tag, runtime="auto").runtime
    assert info["estimator"] == estimator_path(settings.training, contract.task)
    assert set(info["metrics"]) == set(TASK_METRICS[contract.task])
    assert len(info["labels"]["data_sha256"]) == 64
    assert Contract.model_validate(info["contract"]) == contract


def read_log(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(folder.glob("*.jsonl")) for line in path.read_text().splitlines()]


def check_log(rows: list[dict[str, Any]], records: list[dict[str, Any]], answers: list[dict[str, Any]]) -> None:
    """One log row per answer: the record's features as sent, the prediction, the model version, a timestamp."""
    assert len(rows) == len(records)
    for row, record, answer in zip(rows, records, answers, strict=True):
        assert set(row) == {*record, *LOG_COLUMNS}
        assert {name: row[name] for name in record} == record
        prediction = answer[PREDICTION]
        assert row[PREDICTION] == (pytest.approx(prediction) if isinstance(prediction, float) else prediction)
        assert row[MODEL_VERSION] == answer[MODEL_VERSION]
        assert row[RUNTIME] in ("onnx", "sklearn")


@pytest.fixture
def private_log(tmp_path: Path) -> Iterator[Any]:
    """Give a service instance a prediction log of this test's own, restoring its log afterwards."""
    swapped: list[tuple[Any, PredictionLog]] = []

    def swap(instance: Any) -> Path:
        swapped.append((instance, instance.prediction_log))
        folder = tmp_path / f"log-{len(swapped)}"
        instance.prediction_log = PredictionLog(folder, on_failure=lambda reason: None)
        return folder

    yield swap
    for instance, shared in swapped:
        instance.prediction_log.close()
        instance.prediction_log = shared


def samples(text: str) -> Samples:
    """Every sample of a Prometheus exposition, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def process_metrics() -> Samples:
    """This process's metrics as /metrics serves them (BentoML's multiprocess files)."""
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
    return samples(generate_latest(collected).decode())


def increase(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def check_prediction_metrics(before: Samples, after: Samples, answers: list[dict[str, Any]]) -> None:
    """Classification: a count per class and the winning probability; regression: the count and sum of values."""
    if "probabilities" in answers[0]:
        for label in {str(answer[PREDICTION]) for answer in answers}:
            expected = sum(str(answer[PREDICTION]) == label for answer in answers)
            assert increase(before, after, "model_predictions_total", prediction=label) == expected
        assert increase(before, after, "model_prediction_score_count") == len(answers)
        winning = sum(max(answer["probabilities"].values()) for answer in answers)
        assert increase(before, after, "model_prediction_score_sum") == pytest.approx(winning)
    else:
        assert increase(before, after, "model_predictions_total", prediction="value") == len(answers)
        assert increase(before, after, "model_prediction_value_count") == len(answers)
        total = sum(answer[PREDICTION] for answer in answers)
        assert increase(before, after, "model_prediction_value_sum") == pytest.approx(total)


def dumped(answers: list[Any]) -> list[dict[str, Any]]:
    return [answer.model_dump() for answer in answers]


# -- the class, called directly -----------------------------------------------------------


def test_the_service_is_ready_after_a_warm_up_prediction(service: Any) -> None:
    assert service.__is_ready__() is True


def test_predict_answers_for_the_task_of_the_contract(
    service: Any, service_module: ModuleType, record: dict[str, Any], contract: Contract, trained: tuple[Any, str]
) -> None:
    answer = asyncio.run(service.predict(service_module.Record(**record)))
    check_answer(answer.model_dump(), contract, trained[1])


def test_predict_batch_answers_what_the_model_predicts_in_order(
    service: Any, service_module: ModuleType, rows: pd.DataFrame, contract: Contract, trained: tuple[Settings, str]
) -> None:
    records = [service_module.Record(**record) for record in records_of(rows, contract)]
    answers = dumped(asyncio.run(service.predict_batch(records)))
    check_matches_the_model(answers, rows, *trained)


def test_model_info_describes_the_served_model(
    service: Any, trained: tuple[Settings, str], contract: Contract, frame: pd.DataFrame
) -> None:
    info = service.model_info().model_dump()
    check_model_info(info, *trained, contract)
    assert info["rows"]["train"] + info["rows"]["test"] == len(frame)


def test_served_records_reach_the_prediction_log(
    service: Any, service_module: ModuleType, rows: pd.DataFrame, contract: Contract, private_log: Any
) -> None:
    folder = private_log(service)
    records = records_of(rows.head(5), contract)
    answers = dumped(asyncio.run(service.predict_batch([service_module.Record(**record) for record in records])))
    service.prediction_log.close()
    check_log(read_log(folder), records, answers)


# -- the service of a regression and of a multi-class model ---------------------------------


@dataclass(frozen=True)
class Served:
    """A service module made for one model, an instance of its class, and what the model was trained under."""

    module: ModuleType
    instance: Any
    settings: Settings
    tag: str

    @property
    def contract(self) -> Contract:
        return registry.stored_contract(registry.get_model(self.settings, self.tag))


def service_for(tag: str, name: str, runtime: str = "auto") -> ModuleType:
    """A separate copy of the service module, serving ``tag`` on ``runtime`` (SERVING_RUNTIME).

    The service module picks its model (MODEL_TAG) at import, and the session's import serves the
    project's model. ``importlib.reload`` would re-run it in the same module dict, so the session's
    service class would see the new model's Record and Prediction types: instead the module is
    executed again under a name of its own, with its own globals. Only its class is called, never
    ``to_asgi()``: BentoML registers its HTTP metrics once per process, and a second ASGI app
    raises DuplicateTimeseries (our own metrics live in ``observability``, imported once and
    shared). Under pytest-xdist each worker is a process with its own model store and its own
    copies; a subprocess would do too, at the cost of seconds of imports per model.
    """
    module_name = f"{{ cookiecutter.package }}.{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.find_spec("{{ cookiecutter.package }}.service")
    assert spec is not None
    assert spec.origin is not None
    copy = importlib.util.spec_from_file_location(module_name, spec.origin)
    assert copy is not None
    assert copy.loader is not None
    module = importlib.util.module_from_spec(copy)
    chosen = {"MODEL_TAG": tag, "SERVING_RUNTIME": runtime}
    previous = {name: os.environ.get(name) for name in chosen}
    os.environ.update(chosen)
    sys.modules[module_name] = module  # BentoML resolves the API's type hints through it
    try:
        copy.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    finally:
        for variable, value in previous.items():
            if value is None:
                del os.environ[variable]
            else:
                os.environ[variable] = value
    return module


@pytest.fixture(scope="module", params=["regression", "multiclass"])
def served(request: pytest.FixtureRequest) -> Served:
    settings, tag = request.getfixturevalue(f"{request.param}_model")
    module = service_for(tag, f"_service_of_{request.param}")
    return Served(module, module.Predictor(), settings, tag)


def test_a_served_contract_is_the_model_s_own(served: Served) -> None:
    expected = REGRESSION if served.contract.task == "regression" else MULTICLASS
    assert served.contract == expected
    assert expected == served.module.CONTRACT


def test_other_tasks_answer_in_their_own_shape(served: Served, private_log: Any) -> None:
    contract, module = served.contract, served.module
    frame = synthetic_frame(contract, 30, seed=5)
    records = records_of(frame, contract)
    folder = private_log(served.instance)
    before = process_metrics()
    answers = dumped(asyncio.run(served.instance.predict_batch([module.Record(**record) for record in records])))
    single = asyncio.run(served.instance.predict(module.Record(**records[0]))).model_dump()
    after = process_metrics()
    served.instance.prediction_log.close()
    for answer in [*answers, single]:
        check_answer(answer, contract, served.tag)
    assert single == answers[0]
    check_matches_the_model(answers, frame, served.settings, served.tag)
    check_prediction_metrics(before, after, [*answers, single])
    check_log(read_log(folder), [*records, records[0]], [*answers, single])


def test_other_tasks_describe_their_model_and_api(served: Served) -> None:
    check_model_info(served.instance.model_info().model_dump(), served.settings, served.tag, served.contract)
    spec = json.loads(json.dumps(served.module.Predictor.openapi_spec.asdict()))  # as /docs.json serves it
    check_openapi(spec, served.contract)


def test_other_tasks_refuse_bad_records_by_their_own_contract(served: Served) -> None:
    contract, record_type = served.contract, served.module.Record
    good = records_of(synthetic_frame(contract, 1, seed=6), contract)[0]
    for case in BAD_FIELDS:
        broken = bad_field(contract, case)
        assert broken is not None, case  # both contracts have a feature of every kind
        name, value, rule = broken
        assert (name, rule) in validation_errors(record_type, good | {name: value})


def validation_errors(record_type: Any, record: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, pydantic error type) of each problem the record type finds in a JSON body."""
    try:
        record_type.model_validate_json(json.dumps(record))
    except ValidationError as exc:
        return [(".".join(map(str, error["loc"])), error["type"]) for error in exc.errors()]
    return []


# -- HTTP, in process -------------------------------------------------------------------


def test_http_predict_takes_the_record_as_the_body(
    client: TestClient, record: dict[str, Any], contract: Contract, trained: tuple[Any, str]
) -> None:
    response = client.post("/predict", json=record)
    assert response.status_code == 200
    check_answer(response.json(), contract, trained[1])


def test_http_predict_batch_answers_what_the_model_predicts(
    client: TestClient, rows: pd.DataFrame, contract: Contract, trained: tuple[Settings, str]
) -> None:
    response = client.post("/predict_batch", json=records_of(rows, contract))
    assert response.status_code == 200
    answers = response.json()
    for answer in answers:
        check_answer(answer, contract, trained[1])
    check_matches_the_model(answers, rows, *trained)


def test_http_openapi_follows_the_contract(client: TestClient, contract: Contract) -> None:
    check_openapi(client.get("/docs.json").json(), contract)


API_PATHS = ["/predict", "/predict_batch", "/model_info"]


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/docs.json").json())


def documented(spec: dict[str, Any], path: str, status: int) -> jsonschema_rs.Validator:
    """A validator of the body the schema documents for ``status`` on ``path``."""
    answer = spec["paths"][path]["post"]["responses"][str(status)]["content"]["application/json"]["schema"]
    return jsonschema_rs.validator_for(answer | {"components": spec["components"]})


@pytest.mark.parametrize("path", API_PATHS)
def test_openapi_documents_the_key_the_body_and_every_error(spec: dict[str, Any], path: str) -> None:
    operation = spec["paths"][path]["post"]
    assert operation["requestBody"]["required"] is True
    assert set(operation["responses"]) == {"200", "400", "401", "413", "415", "429", "504"}
    assert operation["security"] == [{"ApiKey": []}, {"Bearer": []}]
    assert spec["components"]["securitySchemes"]["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert "securitySchemes" not in json.dumps(spec["paths"]["/readyz"])  # probes stay open


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (400, b'[{"no such feature": 1}]', {"Content-Type": "application/json"}),
        (401, b"{}", {"Content-Type": "application/json", "X-API-Key": "wrong"}),
        (413, b" " * 2_000_000, {"Content-Type": "application/json"}),
        (415, b"{}", {"Content-Type": "text/plain"}),
    ],
)
def test_error_answers_match_their_documented_schema(
    client: TestClient, spec: dict[str, Any], status: int, body: bytes, headers: dict[str, str]
) -> None:
    response = client.post("/predict_batch", content=body, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    documented(spec, "/predict_batch", status).validate(response.json())


def test_a_documented_schema_refuses_upstream_s_400_body(spec: dict[str, Any]) -> None:
    upstream_body = {"error": "1 validation error", "detail": [{"type": "missing", "loc": ["x"], "msg": "m"}]}
    assert not documented(spec, "/predict", 400).is_valid(upstream_body)  # no error_count: the check can fail


def test_predictions_are_not_cached_framed_sniffed_or_branded(client: TestClient, record: dict[str, Any]) -> None:
    response = client.post("/predict", json=record)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert "server" not in response.headers


def test_an_empty_api_key_is_no_key(
    monkeypatch: pytest.MonkeyPatch, trained: tuple[Settings, str], caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("API_KEY", "")
    with caplog.at_level(logging.WARNING):
        module = service_for(trained[1], "_service_without_a_key")
    assert module.API_KEY is None
    assert "API_KEY is not set: the API accepts requests without a key" in caplog.text


def errors_of(response: Any) -> list[tuple[str, str]]:
    return [(".".join(str(p) for p in e["loc"]), e["type"]) for e in response.json()["detail"]]


@pytest.mark.parametrize("case", list(BAD_FIELDS))
def test_bad_fields_are_400_naming_the_field_and_rule(
    client: TestClient, record: dict[str, Any], contract: Contract, case: str
) -> None:
    broken = bad_field(contract, case)
    if broken is None:
        pytest.skip(f"the project's contract has no {BAD_FIELDS[case]}")
    name, value, rule = broken
    response = client.post("/predict", json=record | {name: value})
    assert response.status_code == 400
    assert (name, rule) in errors_of(response)


def test_a_missing_field_is_named(client: TestClient, record: dict[str, Any], contract: Contract) -> None:
    required = [feature.name for feature in contract.features if not feature.nullable]
    if not required:
        pytest.skip("every feature of the project's contract is nullable, so none is required")
    response = client.post("/predict", json={k: v for k, v in record.items() if k != required[-1]})
    assert response.status_code == 400
    assert errors_of(response) == [(required[-1], "missing")]


@pytest.mark.parametrize(
    ("body", "rule"),
    [(b"[]", "too_short"), (b"{oops", "json_invalid"), (b"{}", "list_type")],
    ids=["empty", "not-json", "not-a-list"],
)
def test_bad_batches_are_refused(client: TestClient, body: bytes, rule: str) -> None:
    response = client.post("/predict_batch", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert errors_of(response)[0][1] == rule


def test_a_bad_record_in_a_batch_is_named_by_its_position(
    client: TestClient, records: list[dict[str, Any]], contract: Contract
) -> None:
    name, value, rule = bad_field(contract, "unknown-field") or pytest.fail("a contract always allows an extra field")
    batch = [*records[:2], records[2] | {name: value}]
    response = client.post("/predict_batch", json=batch)
    assert response.status_code == 400
    assert errors_of(response) == [(f"root.2.{name}", rule)]


def test_an_oversize_batch_is_refused(client: TestClient, record: dict[str, Any], service_module: ModuleType) -> None:
    size = service_module.SERVING.max_batch_size + 1
    response = client.post("/predict_batch", json=[record] * size)
    assert response.status_code in (400, 413)  # too many records, or a body over the size limit first
    if response.status_code == 400:
        assert errors_of(response)[0][1] == "too_long"


def test_a_batch_holds_at_most_max_batch_size_records(record: dict[str, Any], service_module: ModuleType) -> None:
    batch = TypeAdapter(service_module.Records)
    size = service_module.SERVING.max_batch_size
    assert len(batch.validate_python([record] * size)) == size
    with pytest.raises(ValidationError) as caught:
        batch.validate_python([record] * (size + 1))
    assert [error["type"] for error in caught.value.errors()] == ["too_long"]


def test_a_body_over_the_limit_is_413(client: TestClient, service_module: ModuleType) -> None:
    limit = service_module.SERVING.max_body_bytes
    response = client.post("/predict", content=b" " * (limit + 1), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]


@pytest.mark.parametrize("path", ["/predict", "/predict_batch", "/model_info"])
@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "text/plain", "application/x-www-form-urlencoded", None]
)
def test_a_body_not_sent_as_json_is_415(client: TestClient, path: str, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(path, content=b"{}", headers=headers)
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.json()["error"]


def test_json_with_a_charset_is_json(client: TestClient, record: dict[str, Any]) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    assert client.post("/predict", content=json.dumps(record).encode(), headers=headers).status_code == 200
    assert client.post("/model_info", content=b"{}", headers=headers).status_code == 200


def test_many_problems_give_a_short_answer_and_one_log_line(
    client: TestClient, record: dict[str, Any], contract: Contract, caplog: pytest.LogCaptureFixture
) -> None:
    required = sum(not feature.nullable for feature in contract.features)
    if not required:
        pytest.skip("every feature of the project's contract is nullable: an empty record is valid")
    sent_value = "do-not-log-this-value"
    batch: list[dict[str, Any]] = [{}] * 999 + [record | {"feature_from_a_client": sent_value}]
    with caplog.at_level(logging.DEBUG):
        response = client.post("/predict_batch", json=batch)
    assert response.status_code == 400
    body = response.json()
    assert len(response.content) < 20_000
    assert len(body["detail"]) == MAX_LISTED_ERRORS
    assert body["error_count"] == 999 * required + 1  # every missing feature, and the unknown one
    assert (
        body["error"]
        == f"{body['error_count']} validation errors in the request body; the first {MAX_LISTED_ERRORS} are listed"
    )
    logged = [record for record in caplog.records if not record.name.startswith(("httpx", "httpcore"))]
    assert len(logged) == 1
    assert logged[0].exc_info is None
    assert sent_value not in caplog.text
    assert "feature_from_a_client" not in caplog.text


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic test-key"}],
    ids=["none", "wrong-header", "wrong-bearer", "not-bearer"],
)
def test_requests_without_the_key_are_401(
    anonymous: TestClient, record: dict[str, Any], headers: dict[str, str]
) -> None:
    response = anonymous.post("/predict", json=record, headers=headers)
    assert response.status_code == 401
    assert "API key" in response.json()["error"]


def test_bearer_tokens_are_accepted(anonymous: TestClient, record: dict[str, Any]) -> None:
    response = anonymous.post("/predict", json=record, headers={"Authorization": "Bearer test-key"})
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/metrics"])
def test_probes_and_metrics_stay_open(anonymous: TestClient, path: str) -> None:
    assert anonymous.get(path).status_code == 200


def test_cors_preflight_passes_without_a_key(anonymous: TestClient) -> None:
    response = anonymous.options("/predict", headers={"Origin": "http://x", "Access-Control-Request-Method": "POST"})
    assert response.status_code != 401


def test_metrics_count_predictions_for_the_task(
    client: TestClient, records: list[dict[str, Any]], contract: Contract
) -> None:
    before = samples(client.get("/metrics").text)
    answers = [client.post("/predict", json=record).json() for record in records[:3]]
    answers += client.post("/predict_batch", json=records[3:8]).json()
    after = samples(client.get("/metrics").text)
    check_prediction_metrics(before, after, answers)


def test_metrics_count_validation_failures_by_field(
    client: TestClient, record: dict[str, Any], contract: Contract
) -> None:
    name, value, _ = bad_field(contract, "unknown-field") or pytest.fail("a contract always allows an extra field")
    first = contract.feature_names[0]
    before = samples(client.get("/metrics").text)
    client.post("/predict", json=record | {name: value})
    client.post("/predict", json={k: v for k, v in record.items() if k != first} | {name: value})
    after = samples(client.get("/metrics").text)
    assert increase(before, after, "model_input_validation_failures_total", field=UNKNOWN_FIELD) == 2
    missing = 1 if not contract.features[0].nullable else 0
    assert increase(before, after, "model_input_validation_failures_total", field=first) == missing


def test_http_model_info(client: TestClient, trained: tuple[Settings, str], contract: Contract) -> None:
    response = client.post("/model_info", json={})
    assert response.status_code == 200
    check_model_info(response.json(), *trained, contract)


# -- runtimes ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    """A model of the project's contract with an estimator that converts to ONNX whatever the contract holds."""
    linear = CONVERTING[PROJECT_CONTRACT.task]
    return train_on(tmp_path_factory.mktemp("graph"), PROJECT_CONTRACT, model_name="test-graph", estimator=linear)


def test_both_runtimes_answer_alike_and_say_which_answered(graph_model: tuple[Settings, str], private_log: Any) -> None:
    _, tag = graph_model
    on = {runtime: service_for(tag, f"_service_on_{runtime}", runtime) for runtime in ("onnx", "sklearn")}
    records = records_of(synthetic_frame(PROJECT_CONTRACT, 30, seed=8), PROJECT_CONTRACT)
    answers = {}
    for runtime, module in on.items():
        instance = module.Predictor()
        folder = private_log(instance)
        assert instance.model_info().runtime == runtime
        answers[runtime] = dumped(asyncio.run(instance.predict_batch([module.Record(**r) for r in records])))
        instance.prediction_log.close()
        assert {row[RUNTIME] for row in read_log(folder)} == {runtime}
    for ours, theirs in zip(answers["onnx"], answers["sklearn"], strict=True):
        if PROJECT_CONTRACT.task == "regression":
            assert ours[PREDICTION] == pytest.approx(theirs[PREDICTION], rel=1e-4)
            continue
        assert ours[PREDICTION] == theirs[PREDICTION]
        assert ours["probabilities"] == pytest.approx(theirs["probabilities"], abs=1e-5)


def test_the_onnx_runtime_without_a_graph_refuses_to_start_and_says_why(multiclass_model: tuple[Settings, str]) -> None:
    _, tag = multiclass_model  # native categorical splits: registered scikit-learn only
    with pytest.raises(
        SystemExit, match=r"cannot start the service: serving.runtime is onnx, but .* has no ONNX graph \("
    ):
        service_for(tag, "_service_without_a_graph", "onnx")


# -- a contract with a record ID --------------------------------------------------------


@pytest.fixture(scope="module")
def id_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    """A model of the project's contract with an ID column, trained on rows that carry IDs (ignored)."""
    contract = with_id(PROJECT_CONTRACT)
    assert contract.id_column is not None
    settings = settings_in(tmp_path_factory.mktemp("id"), model_name="test-id", objectives=passing_objectives(contract))
    frame = synthetic_frame(contract, 600, seed=0)
    write_table(frame.assign(**{contract.id_column: [f"t{i}" for i in range(len(frame))]}), settings.data_path)
    return settings, train(settings, contract)


def test_a_record_id_is_echoed_logged_and_joins_the_labels(
    id_model: tuple[Settings, str], private_log: Any, tmp_path: Path
) -> None:
    _, tag = id_model
    module = service_for(tag, "_service_with_an_id")
    instance, contract = module.Predictor(), module.CONTRACT
    name, target = contract.id_column, contract.target.name
    frame = synthetic_frame(contract, 20, seed=9)
    records = [record | {name: f"order-{i}"} for i, record in enumerate(records_of(frame, contract))]
    del records[-1][name]  # the ID is optional
    folder = private_log(instance)
    answers = dumped(asyncio.run(instance.predict_batch([module.Record(**record) for record in records])))
    single = asyncio.run(instance.predict(module.Record(**records[0]))).model_dump()
    instance.prediction_log.close()
    assert [answer[name] for answer in [*answers, single]] == [*(f"order-{i}" for i in range(19)), None, "order-0"]
    for answer in [*answers, single]:
        check_answer({key: value for key, value in answer.items() if key != name}, contract, tag)
    logged = read_log(folder)
    assert [row[name] for row in logged] == [answer[name] for answer in [*answers, single]]
    assert set(logged[0]) == {*contract.feature_names, name, *LOG_COLUMNS}
    good = records[0]
    for value, error in [(7, "string_type"), ("x" * 1000, "string_too_long")]:
        assert validation_errors(module.Record, good | {name: value}) == [(name, error)]

    labels = pd.DataFrame({name: ["order-3", "order-0"], target: frame[target].iloc[[3, 0]].to_numpy()})
    write_table(labels, tmp_path / "labels.csv")
    joined = join_labels(contract, folder, tmp_path / "labels.csv", tmp_path / "fresh.parquet")
    assert (joined.log_rows, joined.without_id, joined.joined, joined.repeated) == (21, 1, 2, 1)
    table = read_table(tmp_path / "fresh.parquet").set_index(name).loc[["order-3", "order-0"]]
    expected = contract.validate_frame(frame.iloc[[3, 0]], source="sent", with_target=True)
    pd.testing.assert_frame_equal(plain(table.reset_index(drop=True)), plain(expected.reset_index(drop=True)))
