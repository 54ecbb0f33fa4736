"""NATS smoke tests: the harness's server is a real nats-server with JetStream, on its own
port and store (never the machine's NATS on 4222), and restarts keep its streams."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest

from omnibase_infra_testing.process import LOOPBACK, port_accepts
from omnibase_infra_testing.services import nats as nats_module
from omnibase_infra_testing.services.nats import (
    BINARY_ENV,
    INSTALL_HINT,
    NatsNotFoundError,
    NatsService,
    find_nats_server,
    ping,
    start_nats,
)

pytestmark = pytest.mark.real_service


async def test_jetstream_round_trip(nats_service: NatsService) -> None:
    assert nats_service.host == LOOPBACK
    assert nats_service.port != 4222
    assert nats_service.url == f"nats://{LOOPBACK}:{nats_service.port}"
    nc = await nats.connect(nats_service.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="smoke", subjects=["smoke.>"])
        ack = await js.publish("smoke.hello", b"hi")
        assert (ack.stream, ack.seq) == ("smoke", 1)
        message = await js.get_msg("smoke", 1)
        assert message.data == b"hi"
        await js.delete_stream("smoke")
    finally:
        await nc.close()


async def test_a_restart_keeps_port_and_store() -> None:
    service = start_nats()
    try:
        store = service.store_dir
        nc = await nats.connect(service.url)
        js = nc.jetstream()
        await js.add_stream(name="kept", subjects=["kept"])
        await js.publish("kept", b"1")
        await nc.close()
        first_pid = service.current_pid
        service.stop_server(kill=True)
        assert not service.running
        assert not port_accepts(service.port)
        service.start_server()
        assert service.current_pid != first_pid
        assert service.pid == first_pid
        ping(service.port)
        nc = await nats.connect(service.url)
        try:
            info = await nc.jetstream().stream_info("kept")
            assert info.state.messages == 1
        finally:
            await nc.close()
        assert store.is_dir()
    finally:
        service.stop()
    assert not store.exists()


def test_a_missing_binary_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(BINARY_ENV, str(tmp_path / "nats-server"))
    with pytest.raises(NatsNotFoundError, match="not an executable file"):
        find_nats_server()
    monkeypatch.delenv(BINARY_ENV)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(nats_module, "_DEBIAN_PATH", tmp_path / "sbin" / "nats-server")
    with pytest.raises(NatsNotFoundError, match="not on PATH"):
        find_nats_server()
    assert "apt-get install nats-server" in INSTALL_HINT
