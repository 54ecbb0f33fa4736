"""Fixtures: nodes on the harness's OpenBao dev server (KV v2 at ``secret/``), a root hvac
client to set up and inspect behind the node's back, and a fresh path prefix per test.

Also the suite-wide secret scan: every secret value that goes into or comes out of a node
is noted, every log record (any logger, DEBUG and up) and every exception text is captured,
and the session fails if any captured text contains a noted value (see ``leakscan``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Generator
from typing import Any

import hvac  # type: ignore[import-untyped]
import pytest
from pydantic import SecretStr

from omnibase_infra.effect import load_effect_policies
from omnibase_infra.models.vault import ModelVaultConfig
from omnibase_infra.nodes.node_vault_adapter_effect import (
    CONTRACT_PACKAGE,
    NodeVaultAdapterEffect,
)
from omnibase_infra_testing.services.openbao import OpenBaoService

from .leakscan import LeakScanner

SCANNER = LeakScanner()


def pytest_configure(config: pytest.Config) -> None:
    SCANNER.install(NodeVaultAdapterEffect)


def pytest_unconfigure(config: pytest.Config) -> None:
    SCANNER.uninstall()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.excinfo is not None:
        SCANNER.capture(f"{item.nodeid} exception", str(call.excinfo.getrepr(style="long")))
    if report.longrepr is not None:
        SCANNER.capture(f"{item.nodeid} report", str(report.longrepr))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(SCANNER.summary())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    findings = SCANNER.findings()
    if findings:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_sep("=", "secret scan: secret values found in captured text", red=True)
            for finding in findings:
                reporter.write_line(finding)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def retry_overrides(**retry: float) -> dict[str, dict[str, Any]]:
    """``policy_overrides`` giving every operation of the node's contract these retry
    fields (``ModelRetryPolicy``'s)."""
    policies = load_effect_policies(CONTRACT_PACKAGE)
    return {name: {"retry": dict(retry)} for name in policies.operations}


FAST_RETRY = retry_overrides(max_attempts=3, base_delay_seconds=0.01, max_delay_seconds=0.05)


@pytest.fixture
def config(openbao_service: OpenBaoService) -> ModelVaultConfig:
    SCANNER.note(openbao_service.root_token)
    return ModelVaultConfig(url=openbao_service.addr, token=SecretStr(openbao_service.root_token))


@pytest.fixture
async def node(config: ModelVaultConfig) -> AsyncIterator[NodeVaultAdapterEffect]:
    node = NodeVaultAdapterEffect(config=config, policy_overrides=FAST_RETRY)
    try:
        yield node
    finally:
        await node.close()


@pytest.fixture
def root(openbao_service: OpenBaoService) -> hvac.Client:
    return hvac.Client(url=openbao_service.addr, token=openbao_service.root_token)


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"
