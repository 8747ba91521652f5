"""Limits that BentoML 1.4's server (uvicorn 0.5x with httptools in each worker) does not set.

1. **Request headers.** uvicorn's httptools protocol waits for headers forever and buffers them
   without a limit: a client that never finishes its headers holds a connection, and a 64 MB header
   is read into memory and answered. ``LimitedHttpToolsProtocol`` closes a connection whose headers
   do not arrive within ``serving.header_timeout_s``, and answers 431 (then closes) when the request
   line and headers exceed ``serving.max_header_bytes``. It has to be a protocol: ASGI middleware
   only runs once the headers are complete. BentoML builds uvicorn's config with the default
   ``http="auto"``, so the class is installed under that name (and ``"httptools"``).
2. **/metrics labels.** BentoML's traffic middleware labels its series with the raw request path,
   so requests to random paths (even answered 401 or 404) add series without bound. Paths that
   match no route share the label ``UNMATCHED_PATH``; a mounted folder (the Swagger UI's files)
   is labelled by its mount path.
3. **Killed workers.** Live gauges (``bentoml_service_request_in_progress``) of a worker that died
   without exiting (SIGKILL, out of memory) stay in the multiprocess files, so the exposition
   keeps its last values forever. The arbiter restarts the worker, which imports the service:
   ``apply`` then removes the gauge files of processes that no longer exist. Counters and
   histograms of dead workers are kept: they are totals, and dropping them would make them fall.

tests/test_server_limits.py fails when upstream changes any of these, so the patch can be dropped.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

from bentoml._internal.server.http.instruments import RunnerTrafficMetricsMiddleware
from prometheus_client import multiprocess
from starlette.routing import Mount, Route
from uvicorn import config as uvicorn_config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .http_guards import Receive, Scope, Send
from .settings import ServingSettings

UNMATCHED_PATH = "(unmatched)"
_REAL_PATH = "{{ cookiecutter.package }}.real_path"  # scope key carrying the path past the metrics label
_GAUGE_FILE = re.compile(r"gauge_(?:live\w+|all)_(\d+)\.db")


_TOO_LARGE = b'{"error": "request headers too large: send less in the URL, cookies and headers"}'


async def _headers_too_large(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers a request whose headers were too large; the connection then closes."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(_TOO_LARGE))]
    await send({"type": "http.response.start", "status": 431, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": _TOO_LARGE})


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit on each request's headers.

    One timer per connection, re-armed only when it fires: a request only sets or clears its
    deadline (a float) and adds up its header sizes: a few microseconds per request.
    """

    header_timeout_s = 10.0
    max_header_bytes = 16_384

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """The first request's headers are due ``header_timeout_s`` after the connection opens."""
        super().connection_made(transport)
        self._header_bytes: int | None = 0  # bytes received for this request's headers; None once complete
        self._headers_due: float | None = self.loop.time() + self.header_timeout_s
        self._header_timer: asyncio.TimerHandle | None = self.loop.call_at(self._headers_due, self._check_headers)

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the timer with the connection."""
        if self._header_timer is not None:
            self._header_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Count header bytes as they arrive: a header block still incomplete past the limit is refused."""
        if self._header_bytes is not None:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._header_bytes is not None and self._header_bytes > self.max_header_bytes:
            self._refuse_oversized()

    def on_message_begin(self) -> None:
        """The next request on a kept-alive connection gets its own deadline."""
        super().on_message_begin()
        if self._headers_due is None:
            self._headers_due = self.loop.time() + self.header_timeout_s
            if self._header_timer is None:
                self._header_timer = self.loop.call_at(self._headers_due, self._check_headers)

    def on_headers_complete(self) -> None:
        """Clear the deadline; give a request over the size limit to the 431 answer, not the app."""
        self._headers_due = None
        self._header_bytes = None
        size = len(self.url) + sum(len(name) + len(value) for name, value in self.headers)
        if size <= self.max_header_bytes:
            super().on_headers_complete()
            return
        app, self.app = self.app, _headers_too_large
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        """Count the next request's headers from zero."""
        super().on_message_complete()
        self._header_bytes = 0

    def _check_headers(self) -> None:
        """Close the connection if headers are overdue; else wait for the deadline of the current request."""
        self._header_timer = None
        if self._headers_due is None:  # no request waiting for its headers: the next one re-arms
            return
        if self.loop.time() >= self._headers_due - 0.01:  # timers may fire a clock tick early
            self.transport.close()
            return
        self._header_timer = self.loop.call_at(self._headers_due, self._check_headers)

    def _refuse_oversized(self) -> None:
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # not in the middle of another answer
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TOO_LARGE), _TOO_LARGE)
            )
        self.transport.close()


UPSTREAM_TRAFFIC_METRICS_CALL = RunnerTrafficMetricsMiddleware.__call__


class _RestoreRealPath:
    """Inside BentoML's metrics middleware: gives the app the path the label replaced."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _REAL_PATH in scope:
            scope = dict(scope)
            scope["path"] = scope.pop(_REAL_PATH)
        await self.app(scope, receive, send)


def _route_labels(app: Any) -> tuple[frozenset[str], tuple[str, ...]]:
    """The app's exact route paths, and its mount paths (each ending with ``/``)."""
    routes = getattr(app, "routes", [])
    exact = frozenset(route.path for route in routes if isinstance(route, Route) and "{" not in route.path)
    return exact, tuple(route.path + "/" for route in routes if isinstance(route, Mount))


async def _bounded_traffic_metrics_call(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """BentoML's traffic metrics, labelled by route rather than by raw path."""
    if scope["type"] != "http":
        await UPSTREAM_TRAFFIC_METRICS_CALL(self, scope, receive, send)
        return
    routes = self.__dict__.get("_bounded_routes")
    if routes is None:
        routes = self._bounded_routes = _route_labels(scope.get("app"))
        self.app = _RestoreRealPath(self.app)
    path = scope["path"]
    if path not in routes[0]:
        label = next((mount[:-1] for mount in routes[1] if path.startswith(mount)), UNMATCHED_PATH)
        scope = {**scope, "path": label, _REAL_PATH: path}
    await UPSTREAM_TRAFFIC_METRICS_CALL(self, scope, receive, send)


def remove_dead_workers_gauges(folder: Path) -> list[int]:
    """Remove the gauge files of processes that no longer exist; their PIDs."""
    dead = set()
    for path in folder.glob("gauge_*.db"):
        match = _GAUGE_FILE.fullmatch(path.name)
        if match and not _alive(int(match[1])):
            dead.add(int(match[1]))
    for pid in sorted(dead):
        multiprocess.mark_process_dead(pid, str(folder))  # type: ignore[no-untyped-call]  # the live* gauges
        (folder / f"gauge_all_{pid}.db").unlink(missing_ok=True)  # a series per pid: drop the dead one's
    return sorted(dead)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


def apply(serving: ServingSettings) -> None:
    """Install the header limits and bounded metric labels, and clean dead workers' gauges (idempotent)."""
    LimitedHttpToolsProtocol.header_timeout_s = serving.header_timeout_s
    LimitedHttpToolsProtocol.max_header_bytes = serving.max_header_bytes
    protocol = f"{__name__}:{LimitedHttpToolsProtocol.__name__}"
    uvicorn_config.HTTP_PROTOCOLS["auto"] = protocol
    uvicorn_config.HTTP_PROTOCOLS["httptools"] = protocol
    RunnerTrafficMetricsMiddleware.__call__ = _bounded_traffic_metrics_call  # type: ignore[method-assign]
    if folder := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        remove_dead_workers_gauges(Path(folder))
