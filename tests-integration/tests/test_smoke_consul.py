"""Consul smoke tests: a real Consul 1.8.7 agent with a leader, driven through python-consul.

python-consul 1.1.0 is old: its synchronous client works on Python 3.12, ``consul.aio`` does not.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import consul  # type: ignore[import-untyped]  # python-consul ships no type information
import pytest

from omnibase_infra_testing.process import LOOPBACK, port_accepts
from omnibase_infra_testing.services.consul import (
    CONSUL_VERSION,
    ConsulService,
    cache_dir,
    find_consul_for_test,
    start_consul,
)

pytestmark = pytest.mark.real_service


@pytest.fixture
def consul_client(consul_service: ConsulService) -> Iterator[consul.Consul]:
    client = consul.Consul(
        host=consul_service.host,
        port=consul_service.port,
        scheme=consul_service.scheme,
        token=consul_service.token,
    )
    try:
        yield client
    finally:
        client.http.session.close()


def test_leader_present(consul_service: ConsulService, consul_client: consul.Consul) -> None:
    leader = consul_client.status.leader()
    assert isinstance(leader, str)
    assert leader
    if not consul_service.external:
        assert leader.startswith(f"{LOOPBACK}:")
        version = consul_client.agent.self()["Config"]["Version"]
        if consul_service.binary is not None and consul_service.binary.is_relative_to(cache_dir()):
            assert version == CONSUL_VERSION


def test_kv_put_get_round_trip(consul_client: consul.Consul) -> None:
    key = f"omnibase-smoke/{uuid.uuid4().hex}"
    assert consul_client.kv.put(key, "hello consul") is True
    _, entry = consul_client.kv.get(key)
    assert entry is not None
    assert entry["Value"] == b"hello consul"
    assert consul_client.kv.delete(key) is True
    _, gone = consul_client.kv.get(key)
    assert gone is None


def test_stop_by_pid_frees_port() -> None:
    binary = find_consul_for_test()
    service = start_consul(binary=binary)
    assert service.pid is not None
    pid, port = service.pid, service.port
    os.kill(pid, 0)
    service.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not port_accepts(port)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as any server would
        sock.bind((LOOPBACK, port))
    service.stop()  # idempotent


def test_stop_then_start_again_on_the_same_port() -> None:
    binary = find_consul_for_test()
    service = start_consul(binary=binary)
    try:
        client = consul.Consul(host=service.host, port=service.port)
        assert client.kv.put("restart/key", "v") is True
        service.stop()
        assert not port_accepts(service.port)
        service.start()
        assert port_accepts(service.port)
        assert client.status.leader()
        _, entry = client.kv.get("restart/key")
        assert entry is None  # a dev agent starts over: a new, empty cluster
        client.http.session.close()
    finally:
        service.stop()


def test_an_external_agent_cannot_be_started_again() -> None:
    service = ConsulService(
        addr="http://127.0.0.1:8500", host=LOOPBACK, port=8500, scheme="http", external=True
    )
    service.stop()  # a no-op
    with pytest.raises(RuntimeError, match="only an agent started by the harness"):
        service.start()
