"""/metrics stays bounded: whatever paths and fields clients send, the number of series does not grow."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.observability import UNKNOWN_FIELD
from {{ cookiecutter.package }}.server_limits import UNMATCHED_PATH

KEY = {"X-API-Key": "test-key"}


@pytest.fixture(scope="module")
def client(asgi_app: Any) -> Iterator[TestClient]:
    with TestClient(asgi_app) as client:
        yield client


def series(client: TestClient) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every series of /metrics, by name and labels."""
    text = client.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def endpoints(found: set[tuple[str, tuple[tuple[str, str], ...]]]) -> set[str]:
    return {value for _, labels in found for name, value in labels if name == "endpoint"}


def random_paths(count: int) -> list[str]:
    return [f"/{uuid.uuid4().hex}" for _ in range(count)] + [f"/static_content/{uuid.uuid4().hex}" for _ in range(3)]


def visit(client: TestClient, paths: list[str]) -> None:
    for path in paths:
        client.get(path)  # no key: 401 (or 404 where a key is not needed)
        client.post(path, headers=KEY, json={})  # a key: 404


def test_paths_that_match_no_route_share_one_label(client: TestClient, record: dict[str, Any]) -> None:
    visit(client, random_paths(1))
    client.post("/predict", headers=KEY, json=record)
    before = series(client)
    visit(client, random_paths(150))
    after = series(client)
    assert after == before
    assert {UNMATCHED_PATH, "/static_content", "/predict"} <= endpoints(after)
    assert not [endpoint for endpoint in endpoints(after) if endpoint.startswith("/static_content/")]


def test_the_app_still_sees_the_real_path(client: TestClient) -> None:
    assert client.post(f"/{uuid.uuid4().hex}", headers=KEY, json={}).status_code == 404
    assert client.get("/static_content/index.css", headers=KEY).status_code == 200  # a real file under the mount


def test_validation_failures_of_unknown_fields_share_one_label(
    client: TestClient, record: dict[str, Any], contract: Contract
) -> None:
    client.post("/predict", headers=KEY, json=record | {"not_a_feature": 1})
    before = series(client)
    for _ in range(50):
        client.post("/predict", headers=KEY, json=record | {uuid.uuid4().hex: 1})
    after = series(client)
    assert after == before
    fields = {value for name, labels in after for key, value in labels if name.startswith("model_input_validation")}
    assert UNKNOWN_FIELD in fields
    assert fields <= {*contract.feature_names, "(body)", UNKNOWN_FIELD}
