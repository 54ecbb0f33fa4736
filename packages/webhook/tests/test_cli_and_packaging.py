"""The CLI (send, dead-letters, replay), the entry point and the contract."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from importlib.metadata import entry_points
from importlib.resources import files
from pathlib import Path

import pytest
import standardwebhooks
from omnibase_core.models.contracts.model_contract_effect import ModelContractEffect
from pydantic import SecretStr

from omnibase_infra.contracts import load_node_contract, node_kind
from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.nodes.node_webhook_effect.v1_0_0 import (
    CONTRACT_PACKAGE,
    CONTRACT_RESOURCE,
    NodeWebhookEffect,
)
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.__main__ import SECRET_ENV, URL_ENV, main
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.effect import (
    ALLOW_HOSTS_ENV,
    ALLOW_NETWORKS_ENV,
    NAT64_PREFIXES_ENV,
    OUTBOX_PATH_ENV,
    env_config,
)
from omnibase_infra_testing.services.receiver import WebhookReceiver

MODULE = "omnibase_infra.nodes.node_webhook_effect.v1_0_0"


def _cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.real_service
def test_send_dead_letters_and_replay(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    webhook_receiver: WebhookReceiver,
    secret: SecretStr,
    outbox_path: str,
) -> None:
    monkeypatch.setenv(SECRET_ENV, secret.get_secret_value())
    base = ["--outbox", outbox_path, "--allow-network", "127.0.0.0/8", "--timeout", "5"]
    url = webhook_receiver.url_for("/cli")
    code, out, _ = _cli(
        monkeypatch,
        capsys,
        [*base, "send", url, "--event-type", "a.b", "--message-id", "msg_1"],
        '{"hello": "world"}',
    )
    assert code == 0
    assert json.loads(out)["outcome"] == "delivered"
    (recorded,) = webhook_receiver.requests
    standardwebhooks.Webhook(secret.get_secret_value()).verify(
        recorded.body, dict(recorded.headers)
    )

    webhook_receiver.respond_with(404)
    code, out, _ = _cli(monkeypatch, capsys, [*base, "send", url, "--message-id", "msg_2"], "1")
    assert code == 1
    assert json.loads(out)["outcome"] == "dead_lettered"
    code, out, _ = _cli(monkeypatch, capsys, [*base, "dead-letters"])
    letters = json.loads(out)
    assert code == 0
    assert [letter["message_id"] for letter in letters] == ["msg_2"]
    assert secret.get_secret_value() not in out

    webhook_receiver.respond_with(200)
    code, out, _ = _cli(monkeypatch, capsys, [*base, "replay", "msg_2"])
    assert code == 0
    assert json.loads(out)["outcome"] == "delivered"
    assert webhook_receiver.requests[-1].header("webhook-id") == "msg_2"

    code, _, err = _cli(monkeypatch, capsys, [*base, "replay", "msg_unknown"])
    assert code == 1
    assert "no dead letter" in err


def test_cli_errors_are_reported_without_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], outbox_path: str
) -> None:
    base = ["--outbox", outbox_path]
    monkeypatch.delenv(SECRET_ENV, raising=False)
    code, _, err = _cli(monkeypatch, capsys, [*base, "send", "http://127.0.0.1:1/x"], "{}")
    assert code == 1
    assert SECRET_ENV in err
    monkeypatch.setenv(SECRET_ENV, "whsec_tooshort")
    code, _, err = _cli(monkeypatch, capsys, [*base, "send", "http://127.0.0.1:1/x"], "{}")
    assert code == 1
    assert "tooshort" not in err
    monkeypatch.setenv(SECRET_ENV, "whsec_" + "A" * 44)
    code, _, err = _cli(monkeypatch, capsys, [*base, "send", "http://127.0.0.1:1/x"], "{}")
    assert code == 1
    assert "not a public address" in err


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example/in?token=cli-Secret-9",
        "https://user:cli-Secret-9@hooks.example/in",
        "https://hooks.example/in?api_key=cli-Secret-9",
    ],
)
def test_a_url_with_a_token_is_refused_on_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], outbox_path: str, url: str
) -> None:
    monkeypatch.setenv(SECRET_ENV, "whsec_" + "A" * 44)
    with pytest.raises(SystemExit) as refused:
        _cli(monkeypatch, capsys, ["--outbox", outbox_path, "send", url], "{}")
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert URL_ENV in err
    assert "cli-Secret-9" not in err


def test_the_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], outbox_path: str
) -> None:
    """From the variable the URL is used (here refused by the SSRF guard: it is loopback,
    which proves it was read); without argument or variable it is a usage error."""
    monkeypatch.setenv(SECRET_ENV, "whsec_" + "A" * 44)
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:1/x?token=from-env")
    code, _, err = _cli(monkeypatch, capsys, ["--outbox", outbox_path, "send"], "{}")
    assert code == 1
    assert "not a public address" in err
    assert "from-env" not in err
    monkeypatch.delenv(URL_ENV)
    with pytest.raises(SystemExit) as missing:
        _cli(monkeypatch, capsys, ["--outbox", outbox_path, "send"], "{}")
    assert missing.value.code == 2
    assert URL_ENV in capsys.readouterr().err


def test_python_dash_m_runs(outbox_path: str) -> None:
    done = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", MODULE, "--outbox", outbox_path, "dead-letters"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_entry_point_and_contract() -> None:
    (ep,) = [
        e for e in entry_points(group="omnibase_infra.nodes") if e.name == "node_webhook_effect"
    ]
    assert ep.load() is NodeWebhookEffect
    assert files(CONTRACT_PACKAGE).joinpath(CONTRACT_RESOURCE).is_file()
    contract = load_node_contract(CONTRACT_PACKAGE, CONTRACT_RESOURCE, ModelContractEffect)
    assert contract.name == "node_webhook_effect"
    assert str(node_kind(contract.node_type)).lower() == "effect"
    assert [op.operation_type for op in contract.io_operations] == ["send"]


async def test_repr_and_close_are_safe(secret: SecretStr) -> None:
    node = NodeWebhookEffect()
    assert "memory" in repr(node)
    await node.close()
    await node.close()


async def test_configuration_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Every field under OMNIBASE_INFRA_WEBHOOK_<FIELD>; lists and nested fields as JSON.
    outbox = tmp_path / "outbox.sqlite"
    monkeypatch.setenv(OUTBOX_PATH_ENV, str(outbox))
    monkeypatch.setenv(ALLOW_NETWORKS_ENV, '["127.0.0.0/8", "::1/128"]')
    monkeypatch.setenv(ALLOW_HOSTS_ENV, '["Hooks.Internal."]')
    monkeypatch.setenv(NAT64_PREFIXES_ENV, '["64:ff9b:1:0:0:0::/96"]')
    monkeypatch.setenv("OMNIBASE_INFRA_WEBHOOK_MAX_CONCURRENCY", "7")
    monkeypatch.setenv("OMNIBASE_INFRA_WEBHOOK_RETRY_POLICY__SCHEDULE_SECONDS", "[1, 60]")
    config = env_config()
    assert config.nat64_prefixes == ("64:ff9b:1::/96",)
    assert config.outbox_path == str(outbox)
    assert config.allow_networks == ("127.0.0.0/8", "::1/128")
    assert config.allow_hosts == ("hooks.internal",)
    assert config.max_concurrency == 7
    assert config.retry_policy.schedule_seconds == (1.0, 60.0)
    assert config.retry_policy.max_attempts == 3
    node = NodeWebhookEffect()
    try:
        assert str(outbox) in repr(node)
        assert node.config == config
    finally:
        await node.close()
    assert outbox.exists()

    # The lists' older comma-separated form still reads, with a deprecation warning.
    monkeypatch.setenv(ALLOW_NETWORKS_ENV, "127.0.0.0/8, ::1/128,")
    monkeypatch.setenv(ALLOW_HOSTS_ENV, "Hooks.Internal.")
    with pytest.warns(DeprecationWarning, match="comma-separated list is deprecated"):
        config = env_config()
    assert config.allow_networks == ("127.0.0.0/8", "::1/128")
    assert config.allow_hosts == ("hooks.internal",)
    monkeypatch.delenv(ALLOW_NETWORKS_ENV)
    monkeypatch.delenv(ALLOW_HOSTS_ENV)
    monkeypatch.setenv("OMNIBASE_INFRA_WEBHOOK_MAX_CONCURRENCY", "none")
    with pytest.raises(InfraConfigurationError, match="OMNIBASE_INFRA_WEBHOOK_MAX_CONCURRENCY"):
        env_config()


def test_an_empty_environment_is_the_default_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (ALLOW_NETWORKS_ENV, ALLOW_HOSTS_ENV, NAT64_PREFIXES_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(OUTBOX_PATH_ENV, " ")  # blank: in memory
    config = env_config()
    assert (config.outbox_path, config.allow_networks, config.allow_hosts) == (None, (), ())
    assert config.nat64_prefixes == ()
