"""Consul 1.8.7 (Debian bullseye's build), or an external agent.

Where the server comes from, first match wins:

1. ``CONSUL_HTTP_ADDR`` set → that agent, used as-is (it must have a leader).
2. ``consul`` on PATH.
3. The vendored Debian package ``consul_1.8.7+dfsg1-2+b3_amd64.deb`` (``OMNIBASE_INFRA_CONSUL_DEB``,
   else ``shared/vendor/`` next to an ancestor of the working directory or of this file),
   checked against its SHA-256 and extracted with ``dpkg -x`` (or, without dpkg, by reading
   the ``ar``/``tar`` archive) into ``~/.cache/omnibase-infra-testing/consul-1.8.7/``,
   where later sessions find it without unpacking again.
4. ``apt-get download consul`` from deb.debian.org bullseye, with a private sources list and
   private package lists (the system's apt configuration is left alone), then as in 3.
5. A clear error.

The agent runs ``consul agent -dev`` (in-memory server, its own leader) on 127.0.0.1: HTTP,
serf LAN/WAN and server RPC on free ports, DNS and gRPC off, no update check. Readiness is
``/v1/status/leader`` naming a leader.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import json
import os
import pwd
import shutil
import socket
import subprocess
import tarfile
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from omnibase_infra_testing.process import LOOPBACK, ManagedProcess, ServiceStartError
from omnibase_infra_testing.unavailable import serve_for_session

# Straight to loopback, whatever http_proxy/HTTP_PROXY say.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

SERVICE = "Consul 1.8.7"
ADDR_ENV = "CONSUL_HTTP_ADDR"
TOKEN_ENV = "CONSUL_HTTP_TOKEN"  # noqa: S105 - a variable name, not a secret
DEB_ENV = "OMNIBASE_INFRA_CONSUL_DEB"
CONSUL_VERSION = "1.8.7"
DEB_VERSION = "1.8.7+dfsg1-2+b3"
DEB_NAME = f"consul_{DEB_VERSION}_amd64.deb"
DEB_SHA256 = "e4e888bba104daba1d9161f49bfc52649a7e4efd45b1a7ead5bc54f2cb9c89d9"
BULLSEYE = "deb http://deb.debian.org/debian bullseye main"
INSTALL_HINT = (
    f"put consul {CONSUL_VERSION} on PATH, or point {DEB_ENV} at {DEB_NAME} "
    "(unpacked with dpkg -x, or in Python without dpkg), or allow `apt-get download` "
    "from deb.debian.org (bullseye), "
    f"or set {ADDR_ENV}=host:port for an external agent; "
    "pip install 'omnibase-infra-testing[consul]' adds nothing by itself"
)


class ConsulNotFoundError(FileNotFoundError):
    """No consul binary could be found or obtained; the message lists what was tried."""


@dataclass(frozen=True)
class ConsulService:
    """A running Consul agent (dev mode: a single server that is its own leader)."""

    addr: str  # http://127.0.0.1:PORT
    host: str
    port: int
    scheme: str
    external: bool
    token: str | None = None  # CONSUL_HTTP_TOKEN, external agents only
    pid: int | None = None
    binary: Path | None = None
    _process: ManagedProcess | None = field(default=None, repr=False, compare=False)

    def stop(self) -> None:
        """Stop the agent by PID; a no-op for an external agent."""
        if self._process is not None:
            self._process.stop()

    def start(self, *, timeout: float = 60.0) -> None:
        """Start an agent stopped by :meth:`stop` again on the same ports (fault tests).

        A dev agent keeps its state in memory: the restarted one is a new, empty cluster
        whose indexes start over (lower than before). ``pid`` keeps the first start's PID.
        """
        if self._process is None:
            msg = "start: only an agent started by the harness can be started again"
            raise RuntimeError(msg)
        addr = self.addr
        self._process.start(lambda: ready(addr), timeout=timeout)


# --- finding the binary --------------------------------------------------------------------


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "omnibase-infra-testing" / f"consul-{CONSUL_VERSION}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_vendored_deb() -> Path | None:
    """``OMNIBASE_INFRA_CONSUL_DEB``, else ``<ancestor>/shared/vendor/<deb>`` above the
    working directory or this file."""
    override = os.environ.get(DEB_ENV, "").strip()
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            msg = f"{DEB_ENV}={override} does not exist"
            raise ConsulNotFoundError(msg)
        return path
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for ancestor in (start, *start.parents):
            candidate = ancestor / "shared" / "vendor" / DEB_NAME
            if candidate.is_file():
                return candidate
    return None


def _extract_without_dpkg(deb: Path, target: Path) -> None:
    """What ``dpkg -x`` does: unpack ``data.tar.*`` of the ``ar`` archive into ``target``."""
    blob = deb.read_bytes()
    if not blob.startswith(b"!<arch>\n"):
        msg = f"{deb} is not a Debian package"
        raise ServiceStartError(msg)
    offset = 8
    while offset + 60 <= len(blob):
        header = blob[offset : offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        data = blob[offset + 60 : offset + 60 + size]
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
                archive.extractall(target, filter="tar")
            return
        offset += 60 + size + (size % 2)
    msg = f"{deb} has no data.tar member"
    raise ServiceStartError(msg)


def extract_deb(deb: Path, *, expected_sha256: str | None = DEB_SHA256) -> Path:
    """Verify and extract the consul package into the cache; return the ``consul`` binary."""
    target = cache_dir()
    binary = target / "usr" / "bin" / "consul"
    if binary.is_file() and (target / ".complete").is_file():
        return binary
    if expected_sha256 is not None and (actual := _sha256(deb)) != expected_sha256:
        msg = f"{deb} has SHA-256 {actual}, expected {expected_sha256}"
        raise ServiceStartError(msg)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".consul-", dir=target.parent))
    try:
        dpkg = shutil.which("dpkg")
        if dpkg is not None:
            subprocess.run(  # noqa: S603 - argv built here
                [dpkg, "-x", str(deb), str(staging)], check=True, capture_output=True
            )
        else:
            _extract_without_dpkg(deb, staging)
        if not (staging / "usr" / "bin" / "consul").is_file():
            msg = f"{deb} does not contain usr/bin/consul"
            raise ServiceStartError(msg)
        (staging / ".complete").write_text(f"{deb.name}\n")
        if not (target / ".complete").is_file():  # a concurrent session may have finished
            shutil.rmtree(target, ignore_errors=True)  # stale or half-written
            with contextlib.suppress(OSError):
                staging.rename(target)  # loses only to a concurrent session doing the same
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not binary.is_file():
        msg = f"extracting {deb} into {target} failed"
        raise ServiceStartError(msg)
    return binary


def download_deb(workdir: Path) -> Path:
    """``apt-get download consul`` from Debian bullseye, with private sources and lists."""
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        msg = "apt-get is not available"
        raise ConsulNotFoundError(msg)
    sources = workdir / "sources.list"
    sources.write_text(BULLSEYE + "\n")
    lists = workdir / "lists"
    cache = workdir / "cache"
    (lists / "partial").mkdir(parents=True)
    (cache / "archives" / "partial").mkdir(parents=True)
    options = [
        "-q",
        "-o",
        f"Dir::Etc::SourceList={sources}",
        "-o",
        "Dir::Etc::SourceParts=-",
        "-o",
        f"Dir::State::Lists={lists}",
        "-o",
        f"Dir::Cache={cache}",
        "-o",
        "Acquire::Languages=none",
        "-o",
        f"APT::Sandbox::User={pwd.getpwuid(os.getuid()).pw_name}",
    ]
    for argv in (
        [apt_get, *options, "update"],
        [apt_get, *options, "download", f"consul={DEB_VERSION}"],
    ):
        result = subprocess.run(  # noqa: S603 - argv built here
            argv, cwd=workdir, capture_output=True, text=True, check=False, timeout=300
        )
        if result.returncode != 0:
            msg = f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}"
            raise ConsulNotFoundError(msg)
    debs = sorted(workdir.glob("consul_*.deb"))
    if not debs:
        msg = "apt-get download consul produced no package"
        raise ConsulNotFoundError(msg)
    return debs[0]


def find_consul(*, allow_download: bool = True) -> Path:
    """A consul binary: PATH → the vendored .deb → apt-get download; else ConsulNotFoundError."""
    on_path = shutil.which("consul")
    if on_path is not None:
        return Path(on_path)
    cached = cache_dir() / "usr" / "bin" / "consul"
    if cached.is_file() and (cache_dir() / ".complete").is_file():
        return cached
    tried = ["consul is not on PATH"]
    deb = find_vendored_deb()
    if deb is not None:
        return extract_deb(deb)
    tried.append(f"no {DEB_NAME} in shared/vendor above {Path.cwd()} and {DEB_ENV} is unset")
    if allow_download:
        with tempfile.TemporaryDirectory(prefix="omnibase-infra-consul-apt-") as workdir:
            try:
                downloaded = download_deb(Path(workdir))
            except (ConsulNotFoundError, subprocess.TimeoutExpired) as exc:
                tried.append(f"apt-get download consul failed: {exc}")
            else:
                same_file = downloaded.name == DEB_NAME
                return extract_deb(downloaded, expected_sha256=DEB_SHA256 if same_file else None)
    msg = "; ".join(tried)
    raise ConsulNotFoundError(msg)


# --- running it ----------------------------------------------------------------------------


def _free_ports(count: int) -> list[int]:
    """Distinct ports free on 127.0.0.1 for both TCP and UDP (serf gossips over both)."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(tcp)
            tcp.bind((LOOPBACK, 0))
            port: int = tcp.getsockname()[1]
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            held.append(udp)
            try:
                udp.bind((LOOPBACK, port))
            except OSError:
                continue
            ports.append(port)
    finally:
        for sock in held:
            sock.close()
    return ports


def leader(addr: str, token: str | None = None) -> str:
    """The leader address reported by ``/v1/status/leader`` (empty when there is none)."""
    request = urllib.request.Request(f"{addr}/v1/status/leader")  # noqa: S310
    if token:
        request.add_header("X-Consul-Token", token)
    with _DIRECT.open(request, timeout=2) as response:
        value = json.loads(response.read())
    return value if isinstance(value, str) else ""


def ready(addr: str) -> bool:
    """A leader is elected and the agent's own node is in the catalog: before that, a
    session create answers 500 "Missing node registration" (seen right after a restart)."""
    if not leader(addr):
        return False
    request = urllib.request.Request(f"{addr}/v1/catalog/nodes")  # noqa: S310
    with _DIRECT.open(request, timeout=2) as response:
        nodes = json.loads(response.read())
    return isinstance(nodes, list) and len(nodes) > 0


def external_consul(raw_addr: str) -> ConsulService:
    """Describe the agent at ``CONSUL_HTTP_ADDR`` (``host:port`` or a URL) after checking it."""
    parts = urlsplit(raw_addr if "://" in raw_addr else f"http://{raw_addr}")
    host = parts.hostname or LOOPBACK
    port = parts.port or (443 if parts.scheme == "https" else 8500)
    addr = f"{parts.scheme}://{host}:{port}"
    token = os.environ.get(TOKEN_ENV) or None
    try:
        current = leader(addr, token)
    except OSError as exc:
        msg = f"{ADDR_ENV}={raw_addr} does not answer: {exc}"
        raise ServiceStartError(msg) from exc
    if not current:
        msg = f"the agent at {ADDR_ENV}={raw_addr} has no leader"
        raise ServiceStartError(msg)
    return ConsulService(
        addr=addr, host=host, port=port, scheme=parts.scheme, external=True, token=token
    )


def start_consul(*, binary: Path | None = None, timeout: float = 60.0) -> ConsulService:
    """Start ``consul agent -dev`` on 127.0.0.1; call :meth:`ConsulService.stop` when done."""
    consul = binary or find_consul()
    http, serf_lan, serf_wan, server = _free_ports(4)
    addr = f"http://{LOOPBACK}:{http}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONSUL_")}
    env["CHECKPOINT_DISABLE"] = "1"  # no update check: nothing but loopback
    process = ManagedProcess(
        "consul",
        [
            str(consul),
            "agent",
            "-dev",
            "-node=omnibase-infra-test",
            f"-bind={LOOPBACK}",
            f"-client={LOOPBACK}",
            f"-http-port={http}",
            "-dns-port=-1",
            "-grpc-port=-1",
            f"-serf-lan-port={serf_lan}",
            f"-serf-wan-port={serf_wan}",
            f"-server-port={server}",
            "-hcl=disable_update_check = true",
            "-log-level=warn",
        ],
        env=env,
    )
    process.start(lambda: ready(addr), timeout=timeout)
    service = ConsulService(
        addr=addr,
        host=LOOPBACK,
        port=http,
        scheme="http",
        external=False,
        pid=process.pid,
        binary=consul,
        _process=process,
    )
    atexit.register(service.stop)
    return service


def get_consul() -> ConsulService:
    """The external agent of ``CONSUL_HTTP_ADDR``, else a fresh dev agent."""
    raw_addr = os.environ.get(ADDR_ENV, "").strip()
    if raw_addr:
        return external_consul(raw_addr)
    return start_consul()


@pytest.fixture(scope="session")
def consul_service() -> Iterator[ConsulService]:
    """A real Consul 1.8.7 agent for the whole session (dev mode, no ACLs)."""
    yield from serve_for_session(
        SERVICE,
        get_consul,
        missing=(ConsulNotFoundError,),
        how_to_get_it=INSTALL_HINT,
        external_env=ADDR_ENV,
    )
