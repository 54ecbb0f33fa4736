"""NATS with JetStream: a private ``nats-server -js`` on 127.0.0.1, never the machine's own.

``nats-server`` comes from PATH or ``/usr/sbin`` (Debian's package installs it there,
outside a normal user's PATH); ``OMNIBASE_INFRA_TEST_NATS_SERVER`` names another binary.
It runs as ``nats-server -js -a 127.0.0.1 -p <free port> -sd <own store dir>`` (plus a
monitoring port on loopback, for the readiness probe) in a temporary directory, and is
stopped by PID. A server already listening on 4222 (a NATS service of the machine) is never
used: the harness has its own port and store.

Readiness is the monitoring endpoint's ``/healthz?js-enabled-only=true`` answering 200 (the
server accepts clients and JetStream is up), then a raw ``PING`` answered ``PONG`` on the
client port: the plugin never imports nats-py (a package's isolated test environment must not
gain it from the harness).

For fault tests, :meth:`NatsService.stop_server` stops the server (SIGTERM, or SIGKILL with
``kill=True``) keeping its port and store directory, and :meth:`NatsService.start_server`
starts it again on both: JetStream recovers its streams and consumers from the store.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pytest

from omnibase_infra_testing.process import LOOPBACK, ManagedProcess, free_port
from omnibase_infra_testing.unavailable import serve_for_session

SERVICE: Final = "NATS (nats-server with JetStream)"
BINARY_ENV: Final = "OMNIBASE_INFRA_TEST_NATS_SERVER"
INSTALL_HINT: Final = (
    f"apt-get install nats-server (Debian's package, 2.9 or later), or set {BINARY_ENV} "
    "to a nats-server binary; tools/run-tests.sh installs it where missing"
)
_DEBIAN_PATH: Final = Path("/usr/sbin/nats-server")


class NatsNotFoundError(FileNotFoundError):
    """No ``nats-server`` binary could be found."""


@dataclass(frozen=True)
class NatsService:
    """A running nats-server with JetStream; connect with ``nats.connect(service.url)``."""

    url: str  # nats://127.0.0.1:PORT
    host: str
    port: int
    monitor_port: int
    store_dir: Path
    pid: int
    binary: Path
    _process: ManagedProcess = field(repr=False, compare=False)
    _workdir: Path = field(repr=False, compare=False)

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process.running

    @property
    def current_pid(self) -> int:
        """The PID of the server now (``pid`` stays the first start's)."""
        return self._process.pid

    def stop_server(self, *, kill: bool = False, grace: float = 10.0) -> None:
        """Stop the server, keeping its port and store (fault tests). ``kill``: SIGKILL,
        no shutdown at all (what a crash looks like to clients); otherwise SIGTERM."""
        if kill and self._process.running:
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.stop(grace=grace)

    def start_server(self, *, timeout: float = 30.0) -> None:
        """Start a server stopped by :meth:`stop_server` again: same port, same store."""
        self._process.start(lambda: ready(self.port, self.monitor_port), timeout=timeout)

    def stop(self) -> None:
        """Stop the server by PID and remove its store and work directory."""
        self._process.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)


def find_nats_server() -> Path:
    """``OMNIBASE_INFRA_TEST_NATS_SERVER``, else ``nats-server`` on PATH, else Debian's."""
    configured = os.environ.get(BINARY_ENV, "").strip()
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            msg = f"{BINARY_ENV}={configured} is not an executable file"
            raise NatsNotFoundError(msg)
        return path
    found = shutil.which("nats-server")
    if found is not None:
        return Path(found)
    if _DEBIAN_PATH.is_file() and os.access(_DEBIAN_PATH, os.X_OK):
        return _DEBIAN_PATH
    msg = f"nats-server is not on PATH nor at {_DEBIAN_PATH}"
    raise NatsNotFoundError(msg)


def ping(port: int, *, host: str = LOOPBACK, timeout: float = 2.0) -> None:
    """Read the server's ``INFO``, send ``PING``; raise ``OSError`` unless ``PONG`` comes."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        stream = sock.makefile("rb")
        info = stream.readline()
        if not info.startswith(b"INFO "):
            msg = f"expected INFO, got {info[:40]!r}"
            raise ConnectionError(msg)
        sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
        answer = stream.readline()
    if answer.strip() != b"PONG":
        msg = f"PING answered {answer[:40]!r}"
        raise ConnectionError(msg)


def ready(port: int, monitor_port: int) -> bool:
    """JetStream is enabled and healthy, and the client port answers PING."""
    url = f"http://{LOOPBACK}:{monitor_port}/healthz?js-enabled-only=true"
    with urllib.request.urlopen(url, timeout=2) as response:
        if response.status != 200:
            return False
    ping(port)
    return True


def start_nats(*, binary: Path | None = None, timeout: float = 30.0) -> NatsService:
    """Start a private nats-server with JetStream; call :meth:`NatsService.stop` when done."""
    server = binary or find_nats_server()
    port, monitor_port = free_port(), free_port()
    while monitor_port == port:
        monitor_port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="omnibase-infra-nats-"))
    store = workdir / "store"
    process = ManagedProcess(
        "nats",
        [
            str(server),
            "-js",
            "-a",
            LOOPBACK,
            "-p",
            str(port),
            "-sd",
            str(store),
            "-m",
            str(monitor_port),
            "-n",
            f"omnibase-infra-test-{port}",
        ],
        cwd=workdir,
    )
    try:
        process.start(lambda: ready(port, monitor_port), timeout=timeout)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    service = NatsService(
        url=f"nats://{LOOPBACK}:{port}",
        host=LOOPBACK,
        port=port,
        monitor_port=monitor_port,
        store_dir=store,
        pid=process.pid,
        binary=server,
        _process=process,
        _workdir=workdir,
    )
    atexit.register(service.stop)
    return service


@pytest.fixture(scope="session")
def nats_service() -> Iterator[NatsService]:
    """A private nats-server with JetStream for the whole session (empty at first)."""
    yield from serve_for_session(
        SERVICE, start_nats, missing=(NatsNotFoundError,), how_to_get_it=INSTALL_HINT
    )
