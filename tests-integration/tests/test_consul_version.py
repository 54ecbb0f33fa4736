"""The harness uses a Consul found on PATH or named by a variable only if it is 1.8.7.

A ``consul`` on PATH is asked for ``consul version``: a fake script printing another
version is passed over for the vendored 1.8.7. An external agent is asked for
``/v1/agent/self``: a real 1.8.7 agent passes, a stand-in HTTP server reporting another
version fails clearly. ``OMNIBASE_INFRA_TEST_CONSUL_ANY_VERSION=1`` accepts either.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from omnibase_infra_testing.process import LOOPBACK, ServiceStartError
from omnibase_infra_testing.services.consul import (
    ADDR_ENV,
    ANY_VERSION_ENV,
    CONSUL_VERSION,
    DEB_ENV,
    SERVICE,
    TEST_ADDR_ENV,
    TEST_TOKEN_ENV,
    TOKEN_ENV,
    ConsulNotFoundError,
    ConsulService,
    binary_version,
    external_agent,
    external_consul,
    find_consul,
    find_consul_for_test,
    get_consul,
    serve_consul,
)
from omnibase_infra_testing.unavailable import OPT_OUT_ENV as ALLOW_SKIP_ENV

OTHER_VERSION = "1.9.5"


@pytest.fixture(autouse=True)
def _no_consul_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (ADDR_ENV, TOKEN_ENV, TEST_ADDR_ENV, TEST_TOKEN_ENV, ANY_VERSION_ENV):
        monkeypatch.delenv(name, raising=False)


def _fake_consul_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, status: int = 0
) -> Path:
    """A ``consul`` script first on PATH that prints ``output`` for any arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "consul"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\nexit {status}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return script


# --- a consul on PATH ------------------------------------------------------------------------


def test_a_consul_of_another_version_on_path_is_passed_over_for_the_vendored_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _fake_consul_on_path(tmp_path, monkeypatch, f"Consul v{OTHER_VERSION}\nRevision x")
    assert binary_version(fake) == OTHER_VERSION
    found = find_consul_for_test()
    assert found != fake
    assert binary_version(found) == CONSUL_VERSION


def test_a_consul_1_8_7_on_path_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_consul_on_path(
        tmp_path, monkeypatch, f"Consul v{CONSUL_VERSION}\nProtocol 2 spoken by default"
    )
    assert find_consul(allow_download=False) == fake


def test_the_opt_in_uses_a_consul_of_any_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _fake_consul_on_path(tmp_path, monkeypatch, f"Consul v{OTHER_VERSION}")
    monkeypatch.setenv(ANY_VERSION_ENV, "1")
    assert find_consul(allow_download=False) == fake


@pytest.mark.parametrize(
    ("output", "status", "reported"),
    [
        (f"Consul v{OTHER_VERSION}", 0, OTHER_VERSION),
        ("consul: command failed", 1, "no version"),
        (f"Consul v{CONSUL_VERSION}", 2, "no version"),  # a failing run proves nothing
    ],
)
def test_when_nothing_else_is_found_the_error_says_why_path_was_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, status: int, reported: str
) -> None:
    fake = _fake_consul_on_path(tmp_path, monkeypatch, output, status)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv(DEB_ENV, str(tmp_path / "no-such.deb"))
    with pytest.raises(ConsulNotFoundError) as caught:
        find_consul(allow_download=False)
    message = str(caught.value)
    assert f"consul on PATH ({fake}) reports {reported}, not {CONSUL_VERSION}" in message
    assert f"{ANY_VERSION_ENV}=1 would use it" in message
    assert f"{DEB_ENV}={tmp_path / 'no-such.deb'} does not exist" in message


# --- an external agent -----------------------------------------------------------------------


class _StandInAgent:
    """An HTTP server on loopback answering the two requests the harness makes of an
    external agent (``/v1/status/leader``, ``/v1/agent/self``), recording the tokens sent."""

    def __init__(self, agent_self: object) -> None:
        self.tokens: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.tokens.append(self.headers.get("X-Consul-Token"))
                if self.path == "/v1/status/leader":
                    body: object = "127.0.0.1:8300"
                elif self.path == "/v1/agent/self":
                    body = agent_self
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.addr = f"{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))

    def __enter__(self) -> _StandInAgent:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def other_version_agent() -> Iterator[_StandInAgent]:
    with _StandInAgent({"Config": {"Version": OTHER_VERSION, "VersionPrerelease": ""}}) as agent:
        yield agent


@pytest.mark.real_service
def test_a_real_1_8_7_agent_passes_the_check(consul_service: ConsulService) -> None:
    checked = external_consul(consul_service.addr, variable=TEST_ADDR_ENV)
    assert checked.external
    assert (checked.host, checked.port) == (consul_service.host, consul_service.port)


def test_an_agent_of_another_version_fails_clearly(
    other_version_agent: _StandInAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    addr = other_version_agent.addr
    monkeypatch.setenv(ADDR_ENV, addr)
    with pytest.raises(ServiceStartError) as caught:
        get_consul()
    message = str(caught.value)
    assert f"{ADDR_ENV}={addr} reports Consul {OTHER_VERSION}" in message
    assert f"target {CONSUL_VERSION}" in message
    assert f"{ANY_VERSION_ENV}=1" in message


def test_a_prerelease_of_1_8_7_is_not_1_8_7() -> None:
    prerelease = {"Config": {"Version": CONSUL_VERSION, "VersionPrerelease": "rc1"}}
    with (
        _StandInAgent(prerelease) as agent,
        pytest.raises(ServiceStartError, match=f"reports Consul {CONSUL_VERSION}-rc1"),
    ):
        external_consul(agent.addr)


def test_the_opt_in_accepts_an_agent_of_another_version(
    other_version_agent: _StandInAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    addr = other_version_agent.addr
    monkeypatch.setenv(ADDR_ENV, addr)
    monkeypatch.setenv(ANY_VERSION_ENV, "1")
    service = get_consul()
    assert service.external
    assert service.addr == f"http://{addr}"


def test_the_test_variable_wins_and_sends_its_own_token(
    other_version_agent: _StandInAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    addr = other_version_agent.addr
    monkeypatch.setenv(ADDR_ENV, "127.0.0.1:1")  # would not answer: must not be used
    monkeypatch.setenv(TOKEN_ENV, "ambient-token")
    monkeypatch.setenv(TEST_ADDR_ENV, addr)
    monkeypatch.setenv(TEST_TOKEN_ENV, "test-token")
    assert external_agent() == (TEST_ADDR_ENV, addr, "test-token")
    with pytest.raises(ServiceStartError, match=f"{TEST_ADDR_ENV}={addr} reports"):
        get_consul()
    assert other_version_agent.tokens == ["test-token", "test-token"]


@pytest.mark.parametrize("agent_self", [[], {"Config": "none"}, {}])
def test_a_server_that_is_no_consul_agent_fails_clearly(agent_self: object) -> None:
    with (
        _StandInAgent(agent_self) as agent,
        pytest.raises(ServiceStartError, match="reports Consul no version"),
    ):
        external_consul(agent.addr)


def test_the_consul_fixture_fails_with_the_version_problem(
    other_version_agent: _StandInAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the session fixture's body, a wrong external agent fails the test that asked
    for it, saying what to do."""
    addr = other_version_agent.addr
    monkeypatch.setenv(TEST_ADDR_ENV, addr)
    monkeypatch.delenv(ALLOW_SKIP_ENV, raising=False)
    with pytest.raises(pytest.fail.Exception) as caught:
        next(serve_consul())
    message = str(caught.value)
    assert message.startswith(f"{SERVICE} is not available: the agent at {TEST_ADDR_ENV}={addr}")
    assert f"reports Consul {OTHER_VERSION}" in message
    assert f"unset {TEST_ADDR_ENV}" in message
