"""The upstream behaviour each patch works around: these fail once BentoML, skl2onnx or Evidently changes it."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import logging
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _bentoml_impl.server import app as bentoml_app  # type: ignore[import-untyped]
from _bentoml_sdk.io_models import ensure_io_descriptor
from bentoml._internal import server as bentoml_server
from pydantic import ValidationError
from starlette.testclient import TestClient

from {{ cookiecutter.package }} import upstream_openapi, upstream_patches

KEY = {"X-API-Key": "test-key"}
JSON = {"Content-Type": "application/json"}


def count_schema_builds(root_type: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = root_type.model_json_schema

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(root_type, "model_json_schema", counted)
    return calls


@pytest.fixture
def root_type() -> Any:
    return ensure_io_descriptor(list[int])


def test_upstream_serializes_a_list_answer_with_the_standard_json_module(root_type: Any) -> None:
    answer = root_type([1, 2])
    # json.dumps' separators; if this fails, BentoML serializes with pydantic now: drop the patch
    assert upstream_patches.UPSTREAM_MODEL_DUMP_JSON(answer) == "[1, 2]"


def test_upstream_rebuilds_the_json_schema_for_every_answer_s_media_type(
    root_type: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_schema_builds(root_type, monkeypatch)
    for _ in range(3):
        assert upstream_patches.UPSTREAM_MIME_TYPE.__func__(root_type) == "application/json"
    assert len(calls) == 3  # if this fails, BentoML caches it now: drop the patch


def test_the_patch_serializes_answers_with_pydantic_and_works_out_the_media_type_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upstream_patches.apply()
    fresh = ensure_io_descriptor(list[dict[str, float | None]])
    calls = count_schema_builds(fresh, monkeypatch)
    answer = fresh([{"a": 0.1, "b": None}, {"a": 2.5e-08, "b": 3.0}])
    assert json.loads(answer.model_dump_json(exclude=set())) == answer.root
    assert answer.model_dump_json(exclude=set()) == '[{"a":0.1,"b":null},{"a":2.5e-8,"b":3.0}]'
    assert [fresh.mime_type() for _ in range(3)] == ["application/json"] * 3
    assert len(calls) == 1


def test_upstream_lets_malformed_json_escape_as_a_json_error(root_type: Any) -> None:
    with pytest.raises(json.JSONDecodeError):  # if this fails, BentoML fixed it: drop the patch
        upstream_patches.UPSTREAM_MODEL_VALIDATE_JSON.__func__(root_type, b"[1, oops")


def test_upstream_rebuilds_the_json_schema_on_every_request(root_type: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_schema_builds(root_type, monkeypatch)
    for _ in range(3):
        upstream_patches.UPSTREAM_MODEL_VALIDATE_JSON.__func__(root_type, b"[1, 2]")
    assert len(calls) == 3  # if this fails, BentoML caches it now: drop the patch


def test_the_patch_turns_malformed_json_into_a_validation_error(root_type: Any) -> None:
    upstream_patches.apply()
    with pytest.raises(ValidationError) as caught:
        root_type.model_validate_json(b"[1, oops")
    assert caught.value.errors()[0]["type"] == "json_invalid"
    assert root_type.model_validate_json(b"[1, 2]").root == [1, 2]


def test_the_patch_builds_the_schema_once_per_type(root_type: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    upstream_patches.apply()
    fresh = ensure_io_descriptor(list[float])
    calls = count_schema_builds(fresh, monkeypatch)
    for _ in range(3):
        fresh.model_validate_json(b"[1.5]")
    assert len(calls) == 1


# -- the HTTP app: each upstream behaviour with its patch taken off, then the patch -----------


@pytest.fixture(scope="module")
def client(asgi_app: Any) -> Iterator[TestClient]:
    with TestClient(asgi_app, headers=KEY) as client:
        yield client


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Put one of BentoML's own request-time ServiceAppFactory methods back for the test."""
    originals = {
        "api_endpoint": upstream_patches.UPSTREAM_API_ENDPOINT,
        "_add_response_headers": upstream_patches.UPSTREAM_ADD_RESPONSE_HEADERS,
    }
    return lambda name: monkeypatch.setattr(bentoml_app.ServiceAppFactory, name, originals[name])


def factory_of(asgi_app: Any) -> Any:
    """The ServiceAppFactory that built the app (its views are bound when the app is built)."""
    (route,) = [route for route in asgi_app.routes if getattr(route, "path", None) == "/docs.json"]
    return route.endpoint.__self__


# Each record holds a field no contract has (whatever the project's contract requires): 150 problems at least.
UNKNOWN_FIELD_RECORDS = b"[" + b",".join([b'{"no such feature": 1}'] * 150) + b"]"


def test_upstream_logs_each_400_with_a_traceback_and_lists_every_problem(
    client: TestClient, upstream: Callable[[str], None], caplog: pytest.LogCaptureFixture
) -> None:
    upstream("api_endpoint")
    with caplog.at_level(logging.INFO):
        response = client.post("/predict_batch", content=UNKNOWN_FIELD_RECORDS, headers=JSON)
    assert response.status_code == 400
    assert len(response.json()["detail"]) > 100  # if this fails, BentoML bounds its 400s now: drop the patch
    assert any(record.levelno == logging.ERROR and record.exc_info for record in caplog.records)


def test_the_patch_logs_one_line_and_bounds_the_answer(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        response = client.post("/predict_batch", content=UNKNOWN_FIELD_RECORDS, headers=JSON)
    assert response.status_code == 400
    body = response.json()
    assert len(body["detail"]) == upstream_openapi.MAX_LISTED_ERRORS
    assert body["error_count"] > upstream_openapi.MAX_LISTED_ERRORS
    assert f"the first {upstream_openapi.MAX_LISTED_ERRORS} are listed" in body["error"]
    logged = [record for record in caplog.records if not record.name.startswith(("httpx", "httpcore"))]
    assert [(record.levelno, record.exc_info) for record in logged] == [(logging.INFO, None)]
    assert logged[0].getMessage() == f"400 on /predict_batch: {body['error_count']} validation errors"


def test_upstream_swagger_ui_loads_google_tag_manager(asgi_app: Any) -> None:
    page = asyncio.run(upstream_patches.UPSTREAM_INDEX_PAGE(factory_of(asgi_app), None))
    assert "googletagmanager.com" in Path(page.path).read_text()  # if this fails, BentoML dropped it: drop the patch


def test_upstream_swagger_ui_keeps_the_online_validator(asgi_app: Any) -> None:
    page = Path(asyncio.run(upstream_patches.UPSTREAM_INDEX_PAGE(factory_of(asgi_app), None)).path).read_text()
    assert upstream_patches.UPSTREAM_INITIALIZER.search(page)  # if this fails, BentoML changed its page: revisit
    initializer = Path(bentoml_server.__file__).parent / "static_content" / "swagger-initializer.js"
    assert "validatorUrl" not in initializer.read_text()  # Swagger UI's default then: validator.swagger.io


def test_the_patched_swagger_ui_loads_only_its_own_files(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "swagger-ui" in page.text
    assert "googletagmanager" not in page.text
    assert "validatorUrl: null" in page.text
    sources = re.findall(r"""<(?:script|iframe|img|link)[^>]*(?:src|href)=["']([^"']+)""", page.text)
    assert sources  # the page's own scripts and styles
    assert all(source.startswith("./") for source in sources), sources


def test_upstream_names_the_service_in_a_server_header(client: TestClient, upstream: Callable[[str], None]) -> None:
    upstream("_add_response_headers")
    server = client.post("/model_info", json={}).headers.get("server", "")
    assert server.startswith("BentoML Service/")  # if this fails, BentoML stopped: drop the patch


def test_the_patched_answers_carry_no_server_header(client: TestClient) -> None:
    response = client.post("/model_info", json={})
    assert response.status_code == 200
    assert "server" not in response.headers


def test_upstream_openapi_misdescribes_the_service(asgi_app: Any) -> None:
    spec = json.loads(asyncio.run(upstream_openapi.UPSTREAM_OPENAPI_SPEC_VIEW(factory_of(asgi_app), None)).body)
    operation = spec["paths"]["/predict"]["post"]
    # if any of these fails, BentoML's schema changed: revisit upstream_openapi.py
    assert "required" not in operation["requestBody"]
    assert set(operation["responses"]) == {"200", "400", "404", "500"}
    assert spec["components"]["schemas"]["InvalidArgument"]["properties"]["detail"]["type"] == "string"
    assert "securitySchemes" not in spec["components"]
    assert "](https://img.shields.io/" in spec["info"]["description"]  # a badge image the Swagger UI fetches


def test_the_schema_is_introduced_by_the_service_docstring(client: TestClient, asgi_app: Any) -> None:
    service = factory_of(asgi_app).service
    info = client.get("/docs.json").json()["info"]
    assert set(info) == {"title", "version", "description"}  # no BentoML contact either
    assert info["title"] == service.name
    assert info["description"] == f"# {service.name}\n\n{inspect.cleandoc(service.inner.__doc__)}"


def test_without_a_key_the_schema_asks_for_none(asgi_app: Any) -> None:
    service = factory_of(asgi_app).service
    as_served = json.loads(json.dumps(service.openapi_spec.asdict()))
    spec = upstream_openapi.corrected(as_served, upstream_openapi.guard_options(service) | {"api_key": None})
    operation = spec["paths"]["/predict"]["post"]
    assert "security" not in operation
    assert "401" not in operation["responses"]
    assert "securitySchemes" not in spec["components"]
    assert {"400", "413", "415"} <= set(operation["responses"])


def test_skl2onnx_still_builds_bool_attributes_that_onnx_refuses() -> None:
    """Drop apply_skl2onnx when this fails: skl2onnx then converts HistGradientBoosting by itself."""
    from skl2onnx import to_onnx
    from skl2onnx.common._container import ModelComponentContainer
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 3))
    estimator = HistGradientBoostingClassifier(max_iter=3).fit(features, features[:, 0] > 0)
    inputs = [("features", FloatTensorType([None, 3]))]
    options = {id(estimator): dict(zipmap=False)}
    upstream_patches.apply_skl2onnx()
    patched = ModelComponentContainer.add_node
    ModelComponentContainer.add_node = patched.__wrapped__
    try:
        with pytest.raises(ValueError, match="Unable to create node") as failed:
            to_onnx(estimator, initial_types=inputs, options=options)
        assert "Expected an int, got a boolean" in str(failed.value.__cause__)
    finally:
        ModelComponentContainer.add_node = patched
    assert to_onnx(estimator, initial_types=inputs, options=options) is not None


def test_evidently_still_holds_an_invalid_escape_sequence() -> None:
    """Drop the warning filter around drift_report's Evidently imports when this fails."""
    spec = importlib.util.find_spec("evidently.descriptors.text_match")
    assert spec is not None
    assert spec.origin is not None
    source = Path(spec.origin).read_text(encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SyntaxError, match="invalid escape sequence"):
            compile(source, spec.origin, "exec")
