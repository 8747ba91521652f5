"""The server limits of server_limits.py, against an in-process uvicorn; and the upstream gaps they close."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from bentoml._internal.server.http.instruments import RunnerTrafficMetricsMiddleware
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from {{ cookiecutter.package }} import server_limits
from {{ cookiecutter.package }}.http_guards import Receive, Scope, Send
from {{ cookiecutter.package }}.server_limits import LimitedHttpToolsProtocol, remove_dead_workers_gauges
from {{ cookiecutter.package }}.settings import ServingSettings


class QuickLimits(LimitedHttpToolsProtocol):
    header_timeout_s = 0.2
    max_header_bytes = 2048


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body, answers 200 with its size."""
    size, more = 0, True
    while more:
        message = await receive()
        size, more = size + len(message.get("body", b"")), message.get("more_body", False)
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def serving(protocol: type[asyncio.Protocol]) -> Iterator[tuple[str, int]]:
    """uvicorn with ``protocol`` in a thread, on a free port of 127.0.0.1."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(hello, http=protocol, lifespan="off", log_level="critical", timeout_keep_alive=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    try:
        yield listener.getsockname()
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


def connect(address: tuple[str, int]) -> socket.socket:
    connection = socket.create_connection(address, timeout=5)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def answer(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset counts as closed), within the socket's timeout."""
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def one_response(connection: socket.socket) -> bytes:
    """One whole response on a kept-alive connection: its head, then the body's declared length.

    A head and its body may arrive in separate segments, so one ``recv`` is not enough.
    """
    received = b""
    while True:
        head, blank_line, body = received.partition(b"\r\n\r\n")
        if blank_line:
            fields = dict(line.split(b": ", 1) for line in head.lower().split(b"\r\n")[1:])
            assert b"content-length" in fields, f"the answer declares no length: {head!r}"
            if len(body) >= int(fields[b"content-length"]):
                return received
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection after {received!r}"
        received += chunk


def send_big_header(connection: socket.socket, size: int) -> bool:
    """A GET with one header of ``size`` bytes, in pieces; whether all of it could be sent."""
    try:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        for _ in range(size // 65536):
            connection.sendall(b"a" * 65536)
        connection.sendall(b"\r\nConnection: close\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def request(path: str = "/", headers: bytes = b"", body: bytes = b"") -> bytes:
    length = b"Content-Length: %d\r\n" % len(body) if body else b""
    return b"POST %s HTTP/1.1\r\nHost: x\r\n%s%s\r\n%s" % (path.encode(), headers, length, body)


def test_requests_within_the_limits_are_served_on_a_kept_alive_connection() -> None:
    with serving(QuickLimits) as address, connect(address) as connection:
        body = b"x" * 200_000  # bodies are not headers: far above the header limit
        connection.sendall(request(headers=b"X-Small: " + b"a" * 1000 + b"\r\n", body=body))
        first = one_response(connection)
        assert first.startswith(b"HTTP/1.1 200")
        assert first.endswith(b"\r\n\r\n200000")
        time.sleep(0.3)  # longer than the header deadline: it only runs while headers are awaited
        connection.sendall(request())
        assert one_response(connection).startswith(b"HTTP/1.1 200")


def test_headers_over_the_limit_get_431_and_a_closed_connection() -> None:
    with serving(QuickLimits) as address, connect(address) as connection:
        connection.sendall(request(headers=b"X-Big: " + b"a" * 3000 + b"\r\n"))  # complete, in one piece
        response = answer(connection)
    assert response.startswith(b"HTTP/1.1 431")
    assert b"request headers too large" in response


def test_a_huge_header_is_refused_while_it_arrives() -> None:
    with serving(QuickLimits) as address, connect(address) as connection:
        sent_all = send_big_header(connection, 8_000_000)
        response = answer(connection)
    assert response.startswith(b"HTTP/1.1 431") or not sent_all or response == b""


@pytest.mark.parametrize("start", [b"", b"GET / HTTP/1.1\r\nHost: x\r\n"], ids=["idle", "unfinished-headers"])
def test_a_connection_whose_headers_do_not_arrive_in_time_is_closed(start: bytes) -> None:
    with serving(QuickLimits) as address, connect(address) as connection:
        began = time.monotonic()
        connection.sendall(start)
        assert answer(connection) == b""
        waited = time.monotonic() - began
    assert QuickLimits.header_timeout_s - 0.05 <= waited < 4


def test_the_next_request_on_a_connection_has_its_own_deadline() -> None:
    with serving(QuickLimits) as address, connect(address) as connection:
        connection.sendall(request())
        assert one_response(connection).startswith(b"HTTP/1.1 200")  # whole, so the read below sees only the deadline
        connection.sendall(b"GET / HTTP/1.1\r\nHost")
        began = time.monotonic()
        assert answer(connection) == b""
    assert time.monotonic() - began < 4


def test_apply_installs_the_protocol_for_uvicorn_s_default_and_httptools() -> None:
    server_limits.apply(ServingSettings(header_timeout_s=3, max_header_bytes=4096))
    try:
        for name in ("auto", "httptools"):
            config = uvicorn.Config(hello, http=name)
            config.load()
            assert config.http_protocol_class is LimitedHttpToolsProtocol
        assert (LimitedHttpToolsProtocol.header_timeout_s, LimitedHttpToolsProtocol.max_header_bytes) == (3, 4096)
    finally:
        server_limits.apply(ServingSettings())


# -- upstream: when one of these fails, uvicorn or BentoML changed and the patch may go -------------


def test_upstream_uvicorn_serves_httptools_by_default() -> None:
    """BentoML leaves ``http`` at "auto", which is the class the patch extends."""
    from uvicorn.protocols.http import auto

    assert auto.AutoHTTPProtocol is HttpToolsProtocol


def test_upstream_uvicorn_reads_headers_without_a_size_limit() -> None:
    with serving(HttpToolsProtocol) as address, connect(address) as connection:
        assert send_big_header(connection, 1_000_000)
        assert answer(connection).startswith(b"HTTP/1.1 200")


def test_upstream_uvicorn_waits_for_headers_without_a_deadline() -> None:
    with serving(HttpToolsProtocol) as address, connect(address) as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        connection.settimeout(2.5 * QuickLimits.header_timeout_s)
        with pytest.raises(TimeoutError):  # still open, nothing sent
            connection.recv(1)


class Recorder:
    """Stands in for BentoML's metric objects; keeps the labels they were given."""

    def __init__(self) -> None:
        self.labels_seen: list[dict[str, Any]] = []

    def labels(self, **labels: Any) -> Any:
        self.labels_seen.append(labels)
        return self

    def track_inprogress(self) -> Any:
        from contextlib import nullcontext

        return nullcontext()

    def inc(self, *args: Any) -> None: ...

    def observe(self, *args: Any) -> None: ...

    def set_to_current_time(self) -> None: ...


def test_upstream_bentoml_labels_traffic_metrics_by_raw_path() -> None:
    middleware = RunnerTrafficMetricsMiddleware(hello)
    recorder = Recorder()
    for name in ("request_duration", "request_total", "request_in_progress", "last_request_timestamp"):
        setattr(middleware, f"metrics_{name}", recorder)
    middleware._is_setup = True
    scope = {"type": "http", "path": "/random-3f9c", "method": "GET", "headers": []}
    messages = iter([{"type": "http.request", "body": b""}])

    async def receive() -> Any:
        return next(messages)

    async def send(message: Any) -> None: ...

    asyncio.run(server_limits.UPSTREAM_TRAFFIC_METRICS_CALL(middleware, scope, receive, send))
    assert {"/random-3f9c"} == {labels["endpoint"] for labels in recorder.labels_seen if "endpoint" in labels}


# -- dead workers' gauges -----------------------------------------------------------------------------


def dead_pid() -> int:
    """The PID of a process that has exited and been reaped."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_the_gauges_of_dead_processes_are_removed_and_the_rest_kept(tmp_path: Path) -> None:
    gone, alive = dead_pid(), os.getpid()
    names = [f"gauge_livesum_{gone}.db", f"gauge_all_{gone}.db", f"counter_{gone}.db", f"histogram_{gone}.db"]
    names += [f"gauge_livesum_{alive}.db", f"gauge_all_{alive}.db", f"gauge_max_{gone}.db"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert remove_dead_workers_gauges(tmp_path) == [gone]
    left = {path.name for path in tmp_path.iterdir()}
    assert left == set(names) - {f"gauge_livesum_{gone}.db", f"gauge_all_{gone}.db"}
