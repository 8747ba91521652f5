"""Schemathesis against the service's own OpenAPI: whatever the input, never a 5xx.

Seeded and bounded for the test suite (1000 cases by default, weighted to the endpoints with
a body); `make fuzz FUZZ_EXAMPLES=n` runs n cases per endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from starlette.testclient import TestClient

pytestmark = pytest.mark.slow  # about 30 s of requests: `make test-slow` (and `make fuzz`), not `make test`

KEY = {"X-API-Key": "test-key"}
DEFAULT_EXAMPLES = {"/predict": 700, "/predict_batch": 200, "/model_info": 100}
BODY_KEYS = ("method", "url", "headers", "params", "json", "data", "content", "files")  # no cookies in this API


def examples(path: str) -> int:
    return int(os.environ.get("FUZZ_EXAMPLES") or DEFAULT_EXAMPLES[path])


@pytest.fixture(scope="module")
def client(asgi_app: Any) -> Iterator[TestClient]:
    with TestClient(asgi_app, headers=KEY) as client:  # one client: the service starts once
        yield client


@pytest.fixture(scope="module")
def operations(asgi_app: Any) -> dict[str, Any]:
    schema = schemathesis.openapi.from_asgi("/docs.json", asgi_app, headers=KEY)
    found = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    return {operation.path: operation for operation in found if operation.method == "post"}


def test_the_schema_lists_every_prediction_endpoint(operations: dict[str, Any]) -> None:
    assert set(operations) == set(DEFAULT_EXAMPLES)


@pytest.mark.parametrize("path", list(DEFAULT_EXAMPLES))
def test_no_generated_request_gets_a_server_error(client: TestClient, operations: dict[str, Any], path: str) -> None:
    sent: list[int] = []

    @given(case=operations[path].as_strategy())
    @settings(max_examples=examples(path), derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        request = case.as_transport_kwargs(base_url=str(client.base_url), headers=KEY)
        response = client.request(**{key: value for key, value in request.items() if key in BODY_KEYS})
        sent.append(response.status_code)
        assert response.status_code < 500, f"{response.status_code} for {case.as_curl_command()}: {response.text}"

    check()
    assert len(sent) == examples(path)
