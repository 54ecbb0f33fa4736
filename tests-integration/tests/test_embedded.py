"""All embedded services at once (the demo's and the CLI's default), then all stopped."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from omnibase_infra_testing.embedded import embedded_services


def _status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - http://127.0.0.1 only
        return int(answer.status)


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def test_every_service_starts_answers_and_stops() -> None:
    with embedded_services() as services:
        described = services.describe()
        assert set(described) == {"postgres", "vault", "consul", "oidc", "webhook receiver"}
        assert services.openbao.root_token not in " ".join(described.values())
        assert _status(f"{services.openbao.addr}/v1/sys/health") == 200
        assert _status(f"{services.consul.addr}/v1/status/leader") == 200
        assert _status(services.oidc.discovery_url) == 200
        ports = [
            (services.openbao.host, services.openbao.port),
            (services.consul.host, services.consul.port),
            (services.receiver.host, services.receiver.port),
        ]
        if not services.postgres.external:
            ports.append((services.postgres.host, services.postgres.port))
    assert [p for p in ports if _listening(*p)] == []


def test_a_service_that_cannot_start_stops_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    from omnibase_infra_testing import embedded
    from omnibase_infra_testing.services.receiver import start_webhook_receiver

    started: list[int] = []

    def receiver_then_record() -> object:
        receiver = start_webhook_receiver()
        started.append(receiver.port)
        return receiver

    def broken() -> object:
        raise RuntimeError("no OIDC server here")

    monkeypatch.setattr(embedded, "start_workflow_oidc", broken)
    monkeypatch.setattr(embedded, "start_webhook_receiver", receiver_then_record)
    with pytest.raises(RuntimeError, match="no OIDC server here"), embedded_services():
        pytest.fail("must not get here")
    assert len(started) == 1
    assert not _listening("127.0.0.1", started[0])
