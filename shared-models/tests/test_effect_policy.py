"""Operation policies from a node's contract YAML, and strict overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from omnibase_infra.effect import (
    ModelEffectPolicies,
    load_effect_policies,
    parse_effect_policies,
)
from omnibase_infra.errors import InfraConfigurationError

DATA_DIR = Path(__file__).parent / "data"
PKG = "infra_effect_fixture"
CONTRACT = DATA_DIR / PKG / "contracts" / "effect_contract.yaml"


@pytest.fixture(autouse=True)
def fixture_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(DATA_DIR))


def _raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CONTRACT.read_text())
    return data


def test_the_contract_is_the_source_of_every_operations_policy() -> None:
    policies = load_effect_policies(PKG)
    assert policies.node == "node_demo_effect"
    get, put = policies.get("get"), policies.get("put")
    assert (get.timeout_seconds, get.idempotent, get.guarded) == (5, True, True)
    assert (put.timeout_seconds, put.idempotent) == (7, False)  # idempotent_operations: false
    assert get.retry.max_attempts == 3
    assert get.retry.base_delay_seconds == pytest.approx(0.01)
    assert get.retry.max_delay_seconds == pytest.approx(0.2)
    assert get.retry.jitter == "none"
    delete = policies.get("delete")
    assert (delete.retry.max_attempts, delete.retry.base_delay_seconds) == (5, 0)
    health = policies.get("health")
    assert (health.guarded, health.retry.max_attempts) == (False, 1)


def test_breaker_settings_come_from_core_fields_and_our_extension() -> None:
    policies = load_effect_policies(PKG)
    assert policies.breaker_enabled
    config = policies.breaker_config(half_open_max_probes=2)
    assert config.wait_in_open_seconds == 45
    assert config.minimum_calls == 3  # core's circuit_breaker_threshold
    assert (config.sliding_window_size, config.failure_rate_threshold) == (10, 60)
    assert config.half_open_max_probes == 2  # a code default the contract does not set
    plain = load_effect_policies(PKG, "contracts/no_breaker.yaml")
    assert not plain.breaker_enabled
    assert plain.get("get").idempotent  # idempotent_operations: true
    assert plain.get("get").timeout_seconds == 30  # core's default io timeout


def test_changing_the_yaml_changes_the_policy() -> None:
    raw = _raw()
    raw["io_operations"][0]["timeout_seconds"] = 11
    raw["io_operations"][0]["idempotent"] = False
    raw["retry_policies"]["max_attempts"] = 1
    raw["retry_policies"]["circuit_breaker_threshold"] = 1  # core: at most max_attempts
    policies = parse_effect_policies(raw, source="edited")
    get = policies.get("get")
    assert (get.timeout_seconds, get.idempotent, get.retry.max_attempts) == (11, False, 1)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda r: r["io_operations"][0].update(idempotant=True), "idempotant"),
        (lambda r: r["retry_policies"].update(circuit_breaker=[1]), "must be a mapping"),
        (
            lambda r: r["retry_policies"].update(circuit_breaker={"failure_rate": 5}),
            "failure_rate",
        ),
        (lambda r: r["io_operations"].append({"operation_type": "get"}), "listed twice"),
        (lambda r: r["io_operations"][1].update(max_attempts=0), "max_attempts"),
        (
            lambda r: r["retry_policies"].update(circuit_breaker={"sliding_window_size": 2}),
            "minimum_calls must be <= sliding_window_size",
        ),
    ],
)
def test_a_bad_contract_is_a_clear_error(edit: Any, expected: str) -> None:
    raw = _raw()
    edit(raw)
    with pytest.raises(InfraConfigurationError) as info:
        parse_effect_policies(raw, source="demo.yaml")
    assert expected in info.value.message
    assert "demo.yaml" in info.value.message


def test_overrides_are_validated_strictly_and_merge_the_retry_policy() -> None:
    policies = load_effect_policies(
        PKG, overrides={"get": {"timeout_seconds": 1.5, "retry": {"max_attempts": 1}}}
    )
    get = policies.get("get")
    assert (get.timeout_seconds, get.retry.max_attempts) == (1.5, 1)
    assert get.retry.base_delay_seconds == pytest.approx(0.01)  # merged, not replaced
    assert load_effect_policies(PKG).get("get").timeout_seconds == 5  # the original stays

    with pytest.raises(InfraConfigurationError, match="no operation 'gett'"):
        load_effect_policies(PKG, overrides={"gett": {"timeout_seconds": 1}})
    with pytest.raises(InfraConfigurationError, match="timeout_secs"):
        load_effect_policies(PKG, overrides={"get": {"timeout_secs": 1}})
    with pytest.raises(InfraConfigurationError, match="timeout_seconds"):
        load_effect_policies(PKG, overrides={"get": {"timeout_seconds": -1}})


def test_an_unknown_operation_names_the_known_ones() -> None:
    policies = ModelEffectPolicies(node="n", operations={})
    with pytest.raises(InfraConfigurationError, match=r"no operation 'x' \(known: \)"):
        policies.get("x")
