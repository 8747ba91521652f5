"""ASGI middleware in front of the API: API-key authentication, JSON bodies under a size limit, safe headers.

One layer does it all, so a request pays for one header scan. Health probes and metrics stay open
(orchestrators and Prometheus call them without a key); CORS pre-flight ``OPTIONS`` requests pass.
Keys are compared in constant time. A JSON endpoint takes ``Content-Type: application/json`` only:
any other type is 415, which also keeps a web page from posting to it without a CORS pre-flight
(``text/plain`` is a "simple" request browsers send cross-site).
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Awaitable, Callable, Collection, MutableMapping, Sequence
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/metrics"})
DOCS_UI_PATHS = ("/static_content/", "/assets/")  # BentoML's Swagger UI files, besides the page at "/"
JSON_MEDIA_TYPE = b"application/json"
# On every answer: no MIME sniffing, no framing (clickjacking), and no caching of predictions or
# errors by browsers and proxies.
SAFE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
)
UNAUTHORIZED = {"error": "missing or invalid API key: send it as `X-API-Key: <key>` or `Authorization: Bearer <key>`"}
NOT_JSON = {"error": "the body must be JSON, sent with the header `Content-Type: application/json`"}
DOCS_UI_OFF = {"error": "the Swagger UI is off (serving.docs_ui); the OpenAPI schema is at /docs.json"}


def load_api_key(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """The key from API_KEY, or from the file named by API_KEY_FILE (a mounted secret).

    An empty (or blank) variable counts as unset: ``API_KEY=`` never becomes an empty key.
    """
    if key := environ.get("API_KEY", "").strip():
        return key
    if path := environ.get("API_KEY_FILE", "").strip():
        try:
            key = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SystemExit(f"API_KEY_FILE={path}: cannot read the API key: {exc}") from None
        if not key:
            raise SystemExit(f"API_KEY_FILE={path}: the file is empty")
        return key
    return None


async def send_json(send: Send, status: int, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """A small JSON response straight from middleware."""
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def presented_key(headers: dict[bytes, bytes]) -> bytes | None:
    """The key as sent, in raw header bytes (compared as bytes, never decoded)."""
    if key := headers.get(b"x-api-key"):
        return key
    scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" and token.strip() else None


def is_json(content_type: bytes | None) -> bool:
    """Whether a Content-Type is JSON (``application/json``, parameters such as a charset allowed)."""
    return content_type is not None and content_type.partition(b";")[0].strip().lower() == JSON_MEDIA_TYPE


class HttpGuard:
    """401 without the key, 415 for a non-JSON body on a JSON endpoint, 413 over ``max_body_bytes``.

    ``api_key`` None turns authentication off; ``json_paths`` are the endpoints that take JSON;
    ``docs_ui`` False answers 404 for the Swagger UI. Every answer gets ``SAFE_HEADERS``.
    """

    def __init__(
        self, app: ASGIApp, *, api_key: str | None, max_body_bytes: int, json_paths: Collection[str], docs_ui: bool
    ) -> None:
        self.app = app
        self.api_key = api_key
        self._key = api_key.encode() if api_key is not None else None
        self.max_body_bytes = max_body_bytes
        self.json_paths = frozenset(json_paths)
        self.docs_ui = docs_ui
        self._too_large = {
            "error": f"request body is larger than {max_body_bytes} bytes: send fewer records per request"
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request in the order auth, media type, size; then hand it to the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_safely(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *SAFE_HEADERS]
            await send(message)

        method, path = scope["method"], scope["path"]
        if method == "OPTIONS" or path in OPEN_PATHS:
            await self.app(scope, receive, send_safely)
            return
        if not self.docs_ui and (path == "/" or path.startswith(DOCS_UI_PATHS)):
            await send_json(send_safely, 404, DOCS_UI_OFF)
            return
        headers: dict[bytes, bytes] = dict(scope.get("headers", []))
        if self._key is not None:
            presented = presented_key(headers)
            if presented is None or not hmac.compare_digest(presented, self._key):
                await send_json(send_safely, 401, UNAUTHORIZED, [(b"www-authenticate", b"Bearer")])
                return
        if method in {"GET", "HEAD"}:
            await self.app(scope, receive, send_safely)
            return
        if path in self.json_paths and not is_json(headers.get(b"content-type")):
            await send_json(send_safely, 415, NOT_JSON)
            return
        await self._with_bounded_body(scope, receive, send_safely, headers.get(b"content-length"))

    async def _with_bounded_body(self, scope: Scope, receive: Receive, send: Send, declared: bytes | None) -> None:
        """Read the body up to the limit, declared or streamed, and replay it to the app.

        The body is small by construction, so an oversize chunked upload is refused before the
        app starts parsing it.
        """
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await send_json(send, 413, self._too_large)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_body_bytes:
                await send_json(send, 413, self._too_large)
                return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
