"""A real HTTP server on 127.0.0.1 that records every request and answers as scripted.

Standard library only (``http.server.ThreadingHTTPServer`` in a daemon thread, HTTP/1.1 with
keep-alive). Each test gets its own server on a fresh port, so retries still in flight from an
earlier test can never land in a later test's records.

Scripting: :meth:`WebhookReceiver.respond_with` sets what the server answers, for one path or
for all, either from now on (``times=None``) or for the next ``times`` requests (a queue,
consumed first). A request is answered by, in order: the queue of its path, the queue for all
paths, the standing answer of its path, the standing answer for all paths, ``200`` empty.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from omnibase_infra_testing.process import LOOPBACK

_NO_BODY_STATUSES = frozenset({204, 304})


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the receiver saw it."""

    method: str
    path: str  # without the query string
    query: str  # raw query string, "" when none
    headers: tuple[tuple[str, str], ...]  # as sent, in order, original case
    body: bytes  # exact bytes (chunked transfer encoding decoded)
    received_at: float  # time.time() when the request was complete
    received_monotonic: float  # time.monotonic(), for measuring delays between requests

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (case-insensitive)."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), default)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class ScriptedResponse:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds to wait before answering


_DEFAULT = ScriptedResponse()


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)
    requests: list[RecordedRequest] = field(default_factory=list)
    queues: dict[str | None, deque[ScriptedResponse]] = field(default_factory=dict)
    standing: dict[str | None, ScriptedResponse] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def record_and_pick(self, request: RecordedRequest) -> ScriptedResponse:
        with self.changed:
            self.requests.append(request)
            self.changed.notify_all()
            for key in (request.path, None):
                queue = self.queues.get(key)
                if queue:
                    return queue.popleft()
            return self.standing.get(request.path) or self.standing.get(None) or _DEFAULT


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: _State) -> None:
        self.state = state
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__((LOOPBACK, 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        with self.connections_lock:
            self.connections.add(conn)
        return conn, address

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up (e.g. timed out on a slow answer) is not an error here

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        declared = self.headers.get("Content-Length")
        if declared is not None and len(body) < int(declared):
            # The client went away mid-body (a killed sender): no request arrived, as for
            # any server; recording it would show a body that was never sent.
            self.close_connection = True
            return
        url = urlsplit(self.path)
        response = self.server.state.record_and_pick(
            RecordedRequest(
                method=self.command,
                path=url.path,
                query=url.query,
                headers=tuple(self.headers.items()),
                body=body,
                received_at=time.time(),
                received_monotonic=time.monotonic(),
            )
        )
        if response.delay > 0:
            time.sleep(response.delay)
        self.send_response(response.status)
        names = {key.lower() for key, _ in response.headers}
        for key, value in response.headers:
            self.send_header(key, value)
        with_body = response.status not in _NO_BODY_STATUSES and response.status >= 200
        if with_body and "content-length" not in names:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if with_body and self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


@dataclass(frozen=True)
class WebhookReceiver:
    """A running recording HTTP server: ``url`` is its base URL (no trailing slash)."""

    url: str  # http://127.0.0.1:PORT
    host: str
    port: int
    _server: _Server = field(repr=False, compare=False)
    _thread: threading.Thread = field(repr=False, compare=False)

    def url_for(self, path: str) -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request recorded so far, in arrival order."""
        with self._server.state.lock:
            return list(self._server.state.requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    def respond_with(
        self,
        status: int = 200,
        body: bytes | str = b"",
        *,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        times: int | None = None,
        path: str | None = None,
    ) -> None:
        """Answer ``status``/``body``/``headers`` after ``delay`` seconds, for requests to
        ``path`` (``None``: any path), the next ``times`` times (``None``: from now on)."""
        response = ScriptedResponse(
            status=status,
            body=body.encode() if isinstance(body, str) else bytes(body),
            headers=tuple((headers or {}).items()),
            delay=delay,
        )
        state = self._server.state
        with state.lock:
            if times is None:
                state.standing[path] = response
            else:
                state.queues.setdefault(path, deque()).extend([response] * times)

    def redirect(
        self,
        location: str,
        status: int = 307,
        *,
        times: int | None = None,
        path: str | None = None,
    ) -> None:
        """Answer with a redirect to ``location`` (a URL, or a path on this receiver)."""
        self.respond_with(status, headers={"Location": location}, times=times, path=path)

    def clear(self) -> None:
        """Forget recorded requests and all scripting."""
        state = self._server.state
        with state.lock:
            state.requests.clear()
            state.queues.clear()
            state.standing.clear()

    def wait_for(
        self, count: int = 1, timeout: float = 5.0, path: str | None = None
    ) -> list[RecordedRequest]:
        """Block until ``count`` requests (to ``path``, if given) arrived; return them all."""

        def matching() -> list[RecordedRequest]:
            return [r for r in state.requests if path is None or r.path == path]

        state = self._server.state
        with state.changed:
            if not state.changed.wait_for(lambda: len(matching()) >= count, timeout=timeout):
                got = [f"{r.method} {r.target}" for r in state.requests]
                where = path or "any path"
                msg = f"expected {count} request(s) to {where} within {timeout} s, got {got}"
                raise AssertionError(msg)
            return matching()

    def stop(self) -> None:
        """Stop serving and drop open connections."""
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join(timeout=5)


def start_webhook_receiver() -> WebhookReceiver:
    """Start a recording HTTP server on 127.0.0.1 with a free port (in a daemon thread)."""
    server = _Server(_State())
    port: int = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"webhook-receiver-{port}",
        daemon=True,
    )
    thread.start()
    return WebhookReceiver(
        url=f"http://{LOOPBACK}:{port}", host=LOOPBACK, port=port, _server=server, _thread=thread
    )


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A fresh recording HTTP server for each test (records nothing, answers 200 until scripted)."""
    receiver = start_webhook_receiver()
    try:
        yield receiver
    finally:
        receiver.stop()
