"""ASGI middleware in front of the API: API-key authentication and a request-body size limit.

Health probes and metrics stay open (orchestrators and Prometheus call them without a key);
CORS pre-flight ``OPTIONS`` requests pass. Keys are compared in constant time.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/metrics"})


def load_api_key(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """The key from API_KEY, or from the file named by API_KEY_FILE (a mounted secret)."""
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


def _presented_key(scope: Scope) -> bytes | None:
    """The key as sent, in raw header bytes (compared as bytes, never decoded)."""
    headers: dict[bytes, bytes] = {name.lower(): value for name, value in scope.get("headers", [])}
    if key := headers.get(b"x-api-key"):
        return key
    scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" and token.strip() else None


class ApiKeyMiddleware:
    """401 unless the request carries the key (``X-API-Key`` or ``Authorization: Bearer``)."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self._key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass open paths and pre-flights; check the key on everything else."""
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        presented = _presented_key(scope)
        if presented is not None and hmac.compare_digest(presented, self._key):
            await self.app(scope, receive, send)
            return
        await send_json(
            send,
            401,
            {"error": "missing or invalid API key: send it as `X-API-Key: <key>` or `Authorization: Bearer <key>`"},
            [(b"www-authenticate", b"Bearer")],
        )


class BodyLimitMiddleware:
    """413 for request bodies over ``max_bytes``, whether declared up front or streamed.

    The body is read here (it is small by construction) and replayed to the app, so an
    oversize chunked upload is refused before the app starts parsing it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body up to the limit, then hand it to the app."""
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        too_large = {"error": f"request body is larger than {self.max_bytes} bytes: send fewer records per request"}
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await send_json(send, 413, too_large)
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
            if size > self.max_bytes:
                await send_json(send, 413, too_large)
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
