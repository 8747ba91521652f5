"""The HTTP guard on its own, around a small echo app: key, media type, body size, headers, Swagger UI switch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from {{ cookiecutter.package }}.errors import ConfigError
from {{ cookiecutter.package }}.http_guards import (
    SAFE_HEADERS,
    HttpGuard,
    Message,
    Receive,
    Scope,
    Send,
    is_json,
    load_api_key,
)
from {{ cookiecutter.package }}.settings import ServingSettings

from .support import ROOT

KEY = {"X-API-Key": "k"}
JSON = {"Content-Type": "application/json"}


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers 200 with the request body it received."""
    body, more = b"", scope["type"] == "http"
    while more:
        message: Message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


def guarded(*, api_key: str | None = "k", docs_ui: bool = True) -> TestClient:
    guard = HttpGuard(echo, api_key=api_key, max_body_bytes=1024, json_paths={"/predict"}, docs_ui=docs_ui)
    return TestClient(guard)  # used without `with`: the echo app has no lifespan


@pytest.fixture(scope="module")
def client() -> TestClient:
    return guarded()


# -- the key -------------------------------------------------------------------------------


def test_the_key_comes_from_api_key_first(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("from-file\n")
    assert load_api_key({"API_KEY": " k1 ", "API_KEY_FILE": str(tmp_path / "key")}) == "k1"


def test_the_key_can_come_from_a_mounted_secret_file(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("from-file\n")
    assert load_api_key({"API_KEY_FILE": str(tmp_path / "key")}) == "from-file"


def test_no_key_means_authentication_is_off() -> None:
    assert load_api_key({}) is None


@pytest.mark.parametrize("empty", ["", "  ", "\n"])
def test_an_empty_api_key_counts_as_unset(tmp_path: Path, empty: str) -> None:
    assert load_api_key({"API_KEY": empty}) is None
    assert load_api_key({"API_KEY": empty, "API_KEY_FILE": empty}) is None
    (tmp_path / "key").write_text("from-file\n")
    assert load_api_key({"API_KEY": empty, "API_KEY_FILE": str(tmp_path / "key")}) == "from-file"


@pytest.mark.parametrize(("content", "message"), [(None, "cannot read the API key"), ("  \n", "the file is empty")])
def test_a_bad_key_file_stops_start_up(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "key"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit, match=message):
        load_api_key({"API_KEY_FILE": str(path)})


@pytest.mark.parametrize(
    "headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer k2"}, {"Authorization": "Basic k"}]
)
def test_requests_without_the_key_are_401_before_anything_else(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/predict", content=b"x" * 2000, headers=headers | {"Content-Type": "text/plain"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_without_a_key_every_request_passes() -> None:
    assert guarded(api_key=None).post("/predict", json={"a": 1}).status_code == 200


# -- media type and size ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        (b"application/json", True),
        (b"application/json; charset=utf-8", True),
        (b"Application/JSON;charset=UTF-8", True),
        (b"application/jsonx", False),
        (b"application/vnd.bentoml+pickle", False),
        (b"text/plain", False),
        (b"multipart/form-data", False),
        (b"", False),
        (None, False),
    ],
)
def test_only_application_json_is_json(content_type: bytes | None, expected: bool) -> None:
    assert is_json(content_type) is expected


@pytest.mark.parametrize(
    "content_type", ["text/plain", "multipart/form-data", "application/x-www-form-urlencoded", None]
)
def test_a_json_endpoint_refuses_other_bodies_with_415(client: TestClient, content_type: str | None) -> None:
    headers = KEY | ({"Content-Type": content_type} if content_type else {})
    response = client.post("/predict", content=b'{"a": 1}', headers=headers)
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/json"
    assert "Content-Type: application/json" in response.json()["error"]


def test_json_passes_with_its_body_intact(client: TestClient) -> None:
    response = client.post(
        "/predict", content=b'{"a": 1}', headers=KEY | {"Content-Type": "application/json; charset=utf-8"}
    )
    assert (response.status_code, response.content) == (200, b'{"a": 1}')


def test_other_paths_take_any_media_type(client: TestClient) -> None:
    assert client.post("/elsewhere", content=b"x", headers=KEY | {"Content-Type": "text/plain"}).status_code == 200


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "streamed"])
def test_a_body_over_the_limit_is_413(client: TestClient, chunked: bool) -> None:
    body = b" " * 1025
    content: Any = iter([body[:500], body[500:]]) if chunked else body
    response = client.post("/predict", content=content, headers=KEY | JSON)
    assert response.status_code == 413
    assert "larger than 1024 bytes" in response.json()["error"]


# -- open paths, pre-flights and headers -----------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/metrics"])
def test_probes_need_no_key(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_a_cors_preflight_passes_without_key_or_media_type(client: TestClient) -> None:
    response = client.options("/predict", headers={"Origin": "http://x", "Access-Control-Request-Method": "POST"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("POST", "/predict", KEY | JSON, 200),
        ("POST", "/predict", {}, 401),
        ("POST", "/predict", KEY, 415),
        ("GET", "/healthz", {}, 200),
        ("OPTIONS", "/predict", {}, 200),
    ],
)
def test_every_answer_carries_the_safe_headers(
    client: TestClient, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    response = client.request(method, path, content=b"{}", headers=headers)
    assert response.status_code == status
    for name, value in SAFE_HEADERS:
        assert response.headers[name.decode()] == value.decode()


# -- the Swagger UI switch -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/static_content/swagger-ui-bundle.js"])
def test_the_swagger_ui_can_be_turned_off(path: str) -> None:
    off = guarded(docs_ui=False)
    response = off.get(path, headers=KEY)
    assert response.status_code == 404
    assert "serving.docs_ui" in response.json()["error"]
    assert off.get("/docs.json", headers=KEY).status_code == 200  # the schema stays
    assert guarded(docs_ui=True).get(path, headers=KEY).status_code == 200


@pytest.mark.parametrize(("value", "expected"), [("", True), ("false", False), (" FALSE ", False), ("true", True)])
def test_docs_ui_env_overrides_the_setting(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("DOCS_UI", value)
    assert ServingSettings().docs_ui_on() is expected
    assert ServingSettings(docs_ui=False).docs_ui_on() is (expected if value.strip() else False)


def test_a_bad_docs_ui_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCS_UI", "maybe")
    with pytest.raises(ConfigError, match="DOCS_UI='maybe': expected true or false"):
        ServingSettings().docs_ui_on()


def test_the_production_manifest_turns_the_swagger_ui_off() -> None:
    if not (ROOT / "deploy" / "kubernetes").is_dir():
        pytest.skip("deploy_target is not kubernetes: no manifests in the project")
    deployment = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {"name": "DOCS_UI", "value": "false"} in container["env"]
