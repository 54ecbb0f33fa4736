"""OpenBao smoke tests: the Vault test target is a real OpenBao server, driven through hvac."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import hvac  # type: ignore[import-untyped]  # hvac ships no type information
import pytest

from omnibase_infra_testing.process import LOOPBACK, port_accepts
from omnibase_infra_testing.services.openbao import (
    INSTALL_HINT,
    SERVICE,
    OpenBaoService,
    find_bao,
    start_openbao,
    start_sealable_openbao,
)
from omnibase_infra_testing.unavailable import service_unavailable

pytestmark = pytest.mark.real_service


@pytest.fixture
def bao_client(openbao_service: OpenBaoService) -> Iterator[hvac.Client]:
    client = hvac.Client(url=openbao_service.addr, token=openbao_service.root_token, timeout=10)
    try:
        yield client
    finally:
        client.adapter.close()


def test_health_initialized_and_unsealed(
    openbao_service: OpenBaoService, bao_client: hvac.Client
) -> None:
    health = bao_client.sys.read_health_status(method="GET")
    assert health["initialized"] is True
    assert health["sealed"] is False
    assert "version" in health
    assert bao_client.is_authenticated()
    assert openbao_service.addr == f"http://{LOOPBACK}:{openbao_service.port}"


def test_kv_v2_round_trip(bao_client: hvac.Client) -> None:
    path = f"omnibase-smoke/{uuid.uuid4().hex}"
    written = bao_client.secrets.kv.v2.create_or_update_secret(
        path=path, secret={"username": "svc", "password": "s3cr3t"}, mount_point="secret"
    )
    assert written["data"]["version"] == 1
    read = bao_client.secrets.kv.v2.read_secret_version(
        path=path, mount_point="secret", raise_on_deleted_version=True
    )
    assert read["data"]["data"] == {"username": "svc", "password": "s3cr3t"}
    assert read["data"]["metadata"]["version"] == 1
    bao_client.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point="secret")
    with pytest.raises(hvac.exceptions.InvalidPath):
        bao_client.secrets.kv.v2.read_secret_version(
            path=path, mount_point="secret", raise_on_deleted_version=True
        )


def test_wrong_token_is_rejected(openbao_service: OpenBaoService) -> None:
    client = hvac.Client(url=openbao_service.addr, token="not-the-root-token", timeout=10)
    try:
        assert not client.is_authenticated()
    finally:
        client.adapter.close()


def test_stop_by_pid_frees_port() -> None:
    if find_bao() is None:
        service_unavailable(SERVICE, "no bao binary", INSTALL_HINT)
    service = start_openbao()
    pid, port = service.pid, service.port
    os.kill(pid, 0)
    service.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not port_accepts(port)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as any server would
        sock.bind((LOOPBACK, port))  # free again (TIME_WAIT left by the probes is fine)
    service.stop()  # idempotent


def test_sealable_server_seals_and_unseals_in_place() -> None:
    if find_bao() is None:
        service_unavailable(SERVICE, "no bao binary", INSTALL_HINT)
    service = start_sealable_openbao()
    try:
        shown = repr(service)
        assert service.root_token not in shown
        assert service.unseal_key not in shown
        client = hvac.Client(url=service.addr, token=service.root_token, timeout=10)
        try:
            health = client.sys.read_health_status(method="GET")
            assert health["initialized"] is True
            assert health["sealed"] is False
            kv = client.secrets.kv.v2
            kv.create_or_update_secret(path="smoke", secret={"k": "v"}, mount_point="secret")

            service.seal()
            assert service.sealed()
            with pytest.raises(hvac.exceptions.VaultDown):
                kv.read_secret_version(
                    path="smoke", mount_point="secret", raise_on_deleted_version=True
                )

            service.unseal()
            assert not service.sealed()
            read = kv.read_secret_version(
                path="smoke", mount_point="secret", raise_on_deleted_version=True
            )
            assert read["data"]["data"] == {"k": "v"}  # the storage outlived the seal
        finally:
            client.adapter.close()
        pid, storage = service.pid, service._workdir
        assert storage.is_dir()
    finally:
        service.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not storage.exists()
    assert not port_accepts(service.port)
    service.stop()  # idempotent
