"""Consul 1.8.7 (Debian bullseye's build), or an external agent.

Where the server comes from, first match wins:

1. An external agent: ``OMNIBASE_INFRA_TEST_CONSUL_ADDR`` (token:
   ``OMNIBASE_INFRA_TEST_CONSUL_TOKEN``), else ``CONSUL_HTTP_ADDR`` (token:
   ``CONSUL_HTTP_TOKEN``). It must have a leader and report Consul 1.8.7 in
   ``/v1/agent/self``; another version fails the tests that need it, saying so. (The nox
   sessions remove ``CONSUL_*`` from the environment; the ``OMNIBASE_INFRA_TEST_`` pair is
   the explicit opt-in that stays.)
2. ``consul`` on PATH, if ``consul version`` reports 1.8.7; another version is passed over.
3. The vendored Debian package ``consul_1.8.7+dfsg1-2+b3_amd64.deb`` (``OMNIBASE_INFRA_CONSUL_DEB``,
   else ``shared/vendor/`` next to an ancestor of the working directory or of this file),
   checked against its SHA-256 and extracted with ``dpkg -x`` (or, without dpkg, by reading
   the ``ar``/``tar`` archive) into ``~/.cache/omnibase-infra-testing/consul-1.8.7/``,
   where later sessions find it without unpacking again.
4. ``apt-get download consul`` from deb.debian.org bullseye, with a private sources list and
   private package lists (the system's apt configuration is left alone), then as in 3.
5. A clear error.

``OMNIBASE_INFRA_TEST_CONSUL_ANY_VERSION=1`` accepts any version in 1 and 2 (the tests are
written against 1.8.7's API; a newer Consul mostly answers the same, with no promise).

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
import re
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
from omnibase_infra_testing.unavailable import serve_for_session, service_unavailable

# Straight to loopback, whatever http_proxy/HTTP_PROXY say.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

SERVICE = "Consul 1.8.7"
ADDR_ENV = "CONSUL_HTTP_ADDR"
TOKEN_ENV = "CONSUL_HTTP_TOKEN"  # noqa: S105 - a variable name, not a secret
# The explicit opt-in for an external agent: the nox sessions remove CONSUL_* but keep these.
TEST_ADDR_ENV = "OMNIBASE_INFRA_TEST_CONSUL_ADDR"
TEST_TOKEN_ENV = "OMNIBASE_INFRA_TEST_CONSUL_TOKEN"  # noqa: S105 - a variable name
ANY_VERSION_ENV = "OMNIBASE_INFRA_TEST_CONSUL_ANY_VERSION"
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
    f"or set {TEST_ADDR_ENV}=host:port for an external agent (Consul {CONSUL_VERSION}, "
    f"or {ANY_VERSION_ENV}=1); "
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


def any_version_allowed() -> bool:
    """``OMNIBASE_INFRA_TEST_CONSUL_ANY_VERSION=1``: use a consul of another version."""
    return os.environ.get(ANY_VERSION_ENV, "").strip() == "1"


def _consul_env() -> dict[str, str]:
    """The environment a consul process gets: no CONSUL_* settings, no update check."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONSUL_")}
    env["CHECKPOINT_DISABLE"] = "1"  # nothing but loopback
    return env


_VERSION_LINE = re.compile(r"^Consul v(\S+)", re.MULTILINE)


def binary_version(binary: Path) -> str | None:
    """The version ``consul version`` reports (``1.8.7``), None when it does not say."""
    try:
        result = subprocess.run(  # noqa: S603 - argv built here
            [str(binary), "version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=_consul_env(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION_LINE.search(result.stdout)
    return match.group(1) if match and result.returncode == 0 else None


def find_consul(*, allow_download: bool = True) -> Path:
    """A consul binary: PATH (if it is 1.8.7) → the vendored .deb → apt-get download; else
    ConsulNotFoundError."""
    tried: list[str] = []
    on_path = shutil.which("consul")
    if on_path is None:
        tried.append("consul is not on PATH")
    else:
        version = binary_version(Path(on_path))
        if version == CONSUL_VERSION or any_version_allowed():
            return Path(on_path)
        tried.append(
            f"consul on PATH ({on_path}) reports {version or 'no version'}, not "
            f"{CONSUL_VERSION} ({ANY_VERSION_ENV}=1 would use it)"
        )
    cached = cache_dir() / "usr" / "bin" / "consul"
    if cached.is_file() and (cache_dir() / ".complete").is_file():
        return cached
    try:
        deb = find_vendored_deb()
    except ConsulNotFoundError as exc:
        msg = "; ".join([*tried, str(exc)])
        raise ConsulNotFoundError(msg) from None
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


def find_consul_for_test() -> Path:
    """:func:`find_consul` inside a test: a missing consul fails the test (a skip only behind
    ``OMNIBASE_INFRA_TEST_ALLOW_SKIP=1``), saying what to install."""
    problem: str | None = None
    try:
        binary = find_consul()
    except ConsulNotFoundError as exc:
        problem = str(exc)
    if problem is not None:  # outside the except block: no chained traceback in the report
        service_unavailable(SERVICE, problem, INSTALL_HINT)
    return binary


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


def agent_version(addr: str, token: str | None = None) -> str:
    """The version the agent reports in ``/v1/agent/self`` (``Config.Version``, with
    ``-<VersionPrerelease>`` when there is one)."""
    request = urllib.request.Request(f"{addr}/v1/agent/self")  # noqa: S310
    if token:
        request.add_header("X-Consul-Token", token)
    with _DIRECT.open(request, timeout=5) as response:
        body = json.loads(response.read())
    config = body.get("Config") if isinstance(body, dict) else None
    if not isinstance(config, dict):
        config = {}
    version = str(config.get("Version") or "")
    prerelease = str(config.get("VersionPrerelease") or "")
    return f"{version}-{prerelease}" if prerelease else version


def external_agent() -> tuple[str, str, str | None] | None:
    """The external agent asked for, as (variable, address, token), or None.

    ``OMNIBASE_INFRA_TEST_CONSUL_ADDR`` (with ``OMNIBASE_INFRA_TEST_CONSUL_TOKEN``) wins over
    ``CONSUL_HTTP_ADDR`` (with ``CONSUL_HTTP_TOKEN``).
    """
    for addr_env, token_env in ((TEST_ADDR_ENV, TEST_TOKEN_ENV), (ADDR_ENV, TOKEN_ENV)):
        raw_addr = os.environ.get(addr_env, "").strip()
        if raw_addr:
            return addr_env, raw_addr, os.environ.get(token_env) or None
    return None


def external_consul(
    raw_addr: str, *, token: str | None = None, variable: str = ADDR_ENV
) -> ConsulService:
    """Describe the agent at ``raw_addr`` (``host:port`` or a URL; ``variable`` names where
    it came from, for the messages) after checking it has a leader and is Consul 1.8.7."""
    parts = urlsplit(raw_addr if "://" in raw_addr else f"http://{raw_addr}")
    host = parts.hostname or LOOPBACK
    port = parts.port or (443 if parts.scheme == "https" else 8500)
    addr = f"{parts.scheme}://{host}:{port}"
    where = f"{variable}={raw_addr}"
    try:
        current = leader(addr, token)
        version = None if any_version_allowed() else agent_version(addr, token)
    except (OSError, ValueError) as exc:
        msg = f"the agent at {where} does not answer as Consul does: {exc}"
        raise ServiceStartError(msg) from exc
    if not current:
        msg = f"the agent at {where} has no leader"
        raise ServiceStartError(msg)
    if version is not None and version != CONSUL_VERSION:
        msg = (
            f"the agent at {where} reports Consul {version or 'no version'}, and the tests "
            f"target {CONSUL_VERSION}: point {variable} at a {CONSUL_VERSION} agent, unset it "
            f"(the harness then starts its own), or set {ANY_VERSION_ENV}=1 to use this one"
        )
        raise ServiceStartError(msg)
    return ConsulService(
        addr=addr, host=host, port=port, scheme=parts.scheme, external=True, token=token
    )


def start_consul(*, binary: Path | None = None, timeout: float = 60.0) -> ConsulService:
    """Start ``consul agent -dev`` on 127.0.0.1; call :meth:`ConsulService.stop` when done."""
    consul = binary or find_consul()
    http, serf_lan, serf_wan, server = _free_ports(4)
    addr = f"http://{LOOPBACK}:{http}"
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
        env=_consul_env(),
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
    """The external agent asked for (:func:`external_agent`), else a fresh dev agent."""
    external = external_agent()
    if external is not None:
        variable, raw_addr, token = external
        return external_consul(raw_addr, token=token, variable=variable)
    return start_consul()


@pytest.fixture(scope="session")
def consul_service() -> Iterator[ConsulService]:
    """A real Consul 1.8.7 agent for the whole session (dev mode, no ACLs)."""
    yield from serve_consul()


def serve_consul() -> Iterator[ConsulService]:
    """The body of :func:`consul_service`: a test whose agent cannot be had fails, saying why."""
    external = external_agent()
    yield from serve_for_session(
        SERVICE,
        get_consul,
        missing=(ConsulNotFoundError,),
        how_to_get_it=INSTALL_HINT,
        external_env=external[0] if external else None,
    )
