"""The suite-wide secret scan catches a leak it is fed (and only real ones)."""

from __future__ import annotations

import logging

from pydantic import BaseModel, SecretBytes, SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraError, InfraNotFoundError

from .leakscan import LeakScanner

LEAKED = "s3cr3t-leak-probe-value"


class _Request(BaseModel):
    data: dict[str, SecretStr]
    blobs: list[SecretBytes]


class _FakeNode:
    def __init__(self, token: SecretStr) -> None:
        self.token = token

    async def write(self, request: _Request) -> SecretStr:
        return SecretStr("returned-secret-value")


async def test_scanner_notes_values_and_finds_them_in_logs_and_errors() -> None:
    scanner = LeakScanner()
    scanner.install(_FakeNode)
    try:
        node = _FakeNode(SecretStr("token-secret-value"))
        await node.write(_Request(data={"k": SecretStr(LEAKED), "short": SecretStr("1")}, blobs=[]))
        assert scanner.findings() == []
        logging.getLogger("probe").debug("value is %s", LEAKED)
        try:
            raise ValueError("unrelated")
        except ValueError:
            logging.getLogger("probe").exception("failed with token-secret-value")
        error = InfraNotFoundError(
            "missing returned-secret-value", transport=EnumTransport.VAULT, operation="probe"
        )
    finally:
        scanner.uninstall()
    findings = scanner.findings()
    assert findings == [
        "log probe: secret #1 (23 chars)",
        "log probe: secret #2 (18 chars)",
        "exception InfraNotFoundError: secret #0 (21 chars)",
    ]
    assert all(LEAKED not in line for line in findings)
    # uninstalled: nothing more is captured, the error class is the original again
    logging.getLogger("probe").debug("after %s", LEAKED)
    assert len(scanner.findings()) == 3
    InfraNotFoundError(LEAKED, transport=EnumTransport.VAULT, operation="probe")
    assert len(scanner.findings()) == 3
    assert isinstance(error, InfraError)


def test_bytes_and_short_values() -> None:
    scanner = LeakScanner()
    scanner.note_all(
        _Request(
            data={"a": SecretStr("abc")},
            blobs=[SecretBytes(b"bytes-secret"), SecretBytes(b"\xff\xfe")],
        )
    )
    scanner.capture("text", "Ynl0ZXMtc2VjcmV0 and abc")
    assert scanner.findings() == ["text: secret #0 (16 chars)"]
