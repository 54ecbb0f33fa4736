"""Redis: a private ``redis-server`` on 127.0.0.1, or an external server.

``OMNIBASE_INFRA_TEST_REDIS_URL`` (``redis://[:password@]host:port[/db]``) selects an external
server, checked with ``PING`` first. Otherwise ``redis-server`` from PATH runs on a free
loopback port with persistence off (``--save "" --appendonly no``) in a temporary directory,
and is stopped by PID. Readiness is a raw ``PING`` answered ``+PONG`` over a socket: the
plugin never imports the redis client (a package's isolated test environment must not gain
it from the harness).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from omnibase_infra_testing.process import LOOPBACK, ManagedProcess, ServiceStartError, free_port
from omnibase_infra_testing.unavailable import serve_for_session

SERVICE = "Redis"
URL_ENV = "OMNIBASE_INFRA_TEST_REDIS_URL"
INSTALL_HINT = f"apt-get install redis-server, or set {URL_ENV}"
DEFAULT_PORT = 6379


class RedisNotFoundError(FileNotFoundError):
    """No ``redis-server`` binary on PATH."""


@dataclass(frozen=True)
class RedisService:
    """A running Redis server; connect with ``redis.asyncio.Redis.from_url(service.url)``."""

    url: str = field(repr=False)  # may carry an external server's password
    host: str
    port: int
    pid: int | None
    external: bool
    _process: ManagedProcess | None = field(default=None, repr=False, compare=False)
    _workdir: Path | None = field(default=None, repr=False, compare=False)

    def stop(self) -> None:
        """Stop the server by PID; a no-op for an external server."""
        if self._process is not None:
            self._process.stop()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)


def _command(*args: str) -> bytes:
    """One RESP command (an array of bulk strings)."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _read_line(sock: socket.socket) -> bytes:
    line = b""
    while not line.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            msg = "connection closed by the server"
            raise ConnectionError(msg)
        line += chunk
    return line[:-2]


def ping(
    host: str,
    port: int,
    *,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 2.0,
) -> None:
    """Send ``[AUTH] PING`` over a raw socket; raise ``OSError`` unless the answer is PONG."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        if password is not None:
            auth = ("AUTH", username, password) if username else ("AUTH", password)
            sock.sendall(_command(*auth))
            answer = _read_line(sock)
            if answer != b"+OK":
                # The server's error text, never our arguments (they hold the password).
                msg = f"AUTH refused: {answer.decode(errors='replace')}"
                raise ConnectionError(msg)
        sock.sendall(_command("PING"))
        answer = _read_line(sock)
    if answer != b"+PONG":
        msg = f"PING answered {answer.decode(errors='replace')!r}"
        raise ConnectionError(msg)


def _answers_ping(port: int) -> bool:
    ping(LOOPBACK, port, timeout=0.5)
    return True


def find_redis_server() -> Path:
    found = shutil.which("redis-server")
    if found is None:
        msg = "redis-server is not on PATH"
        raise RedisNotFoundError(msg)
    return Path(found)


def external_redis(url: str) -> RedisService:
    """Describe the server at ``url`` once it answers PING (with AUTH when the URL has one)."""
    parts = urlsplit(url)
    if parts.scheme != "redis":
        msg = f"{URL_ENV} must be a redis:// URL, got scheme {parts.scheme!r}"
        raise ServiceStartError(msg)
    host = parts.hostname or LOOPBACK
    port = parts.port or DEFAULT_PORT
    password = unquote(parts.password) if parts.password is not None else None
    username = unquote(parts.username) if parts.username else None
    try:
        ping(host, port, username=username, password=password)
    except OSError as exc:
        msg = f"the server at {URL_ENV} ({host}:{port}) does not answer PING: {exc}"
        raise ServiceStartError(msg) from exc
    return RedisService(url=url, host=host, port=port, pid=None, external=True)


def start_redis(*, binary: Path | None = None, timeout: float = 30.0) -> RedisService:
    """Start a private ``redis-server`` on 127.0.0.1; call :meth:`RedisService.stop` when done."""
    server = binary or find_redis_server()
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="omnibase-infra-redis-"))
    process = ManagedProcess(
        "redis",
        [
            str(server),
            "--save",
            "",
            "--appendonly",
            "no",
            "--port",
            str(port),
            "--bind",
            LOOPBACK,
            "--dir",
            str(workdir),
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ],
    )
    try:
        process.start(lambda: _answers_ping(port), timeout=timeout)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    service = RedisService(
        url=f"redis://{LOOPBACK}:{port}/0",
        host=LOOPBACK,
        port=port,
        pid=process.pid,
        external=False,
        _process=process,
        _workdir=workdir,
    )
    atexit.register(service.stop)
    return service


def get_redis() -> RedisService:
    """The external server of ``OMNIBASE_INFRA_TEST_REDIS_URL``, else a private one."""
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        return external_redis(url)
    return start_redis()


@pytest.fixture(scope="session")
def redis_service() -> Iterator[RedisService]:
    """A real Redis server for the whole session (private and empty unless external)."""
    yield from serve_for_session(
        SERVICE,
        get_redis,
        missing=(RedisNotFoundError,),
        how_to_get_it=INSTALL_HINT,
        external_env=URL_ENV,
    )
