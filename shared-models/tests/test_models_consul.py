"""The Consul node's models: API bodies, validation, parsing and secret handling."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from omnibase_infra.models.consul import (
    EnumConsulCheckKind,
    EnumConsulCheckStatus,
    EnumConsulSessionBehavior,
    ModelConsulCatalogRequest,
    ModelConsulCatalogWaitRequest,
    ModelConsulCatalogWaitResult,
    ModelConsulCheck,
    ModelConsulConfig,
    ModelConsulDeregisterRequest,
    ModelConsulHealthWaitRequest,
    ModelConsulHealthWaitResult,
    ModelConsulHealthyInstancesRequest,
    ModelConsulKVDeleteRequest,
    ModelConsulKVEntry,
    ModelConsulKVLockRequest,
    ModelConsulKVLockResult,
    ModelConsulKVPutRequest,
    ModelConsulKVReadRequest,
    ModelConsulKVResult,
    ModelConsulKVWaitRequest,
    ModelConsulKVWaitResult,
    ModelConsulRegisterRequest,
    ModelConsulServiceInstance,
    ModelConsulServiceRegistration,
    ModelConsulSessionCreateRequest,
    ModelConsulSessionRequest,
    ModelConsulTTLUpdateRequest,
    parse_consul_request,
    validate_consul_key,
)


def test_config_target_url_and_secret_token() -> None:
    config = ModelConsulConfig(
        host="consul.internal", port=8501, scheme="https", token=SecretStr("t0k")
    )
    assert (config.target, config.base_url) == (
        "consul.internal:8501",
        "https://consul.internal:8501",
    )
    assert "t0k" not in repr(config) + str(config.model_dump(mode="json"))
    with pytest.raises(ValidationError):
        ModelConsulConfig(scheme="ftp")
    with pytest.raises(ValidationError):
        ModelConsulConfig(timeout_seconds=0)


def test_checks_need_the_fields_of_their_kind() -> None:
    with pytest.raises(ValidationError, match="ttl check needs ttl_seconds"):
        ModelConsulCheck(kind=EnumConsulCheckKind.TTL)
    with pytest.raises(ValidationError, match="http check needs http, interval_seconds"):
        ModelConsulCheck(kind=EnumConsulCheckKind.HTTP)
    with pytest.raises(ValidationError, match="interval_seconds"):
        ModelConsulCheck(kind=EnumConsulCheckKind.TCP, tcp="db:5432")


def test_registration_body() -> None:
    registration = ModelConsulServiceRegistration(
        name="api",
        service_id="api-1",
        address="10.0.0.5",
        port=8080,
        tags=("v1",),
        meta={"version": "1"},
        checks=(
            ModelConsulCheck(
                kind=EnumConsulCheckKind.HTTP,
                check_id="api-1-http",
                name="http",
                http="http://10.0.0.5:8080/health",
                interval_seconds=10,
                timeout_seconds=1.5,
                deregister_critical_after_seconds=90,
                initial_status=EnumConsulCheckStatus.WARNING,
            ),
            ModelConsulCheck(kind=EnumConsulCheckKind.TCP, tcp="10.0.0.5:8080", interval_seconds=5),
        ),
    )
    assert registration.to_api() == {
        "Name": "api",
        "ID": "api-1",
        "Address": "10.0.0.5",
        "Port": 8080,
        "Tags": ["v1"],
        "Meta": {"version": "1"},
        "Checks": [
            {
                "CheckID": "api-1-http",
                "Name": "http",
                "HTTP": "http://10.0.0.5:8080/health",
                "Interval": "10s",
                "Timeout": "1.5s",
                "DeregisterCriticalServiceAfter": "90s",
                "Status": "warning",
            },
            {"TCP": "10.0.0.5:8080", "Interval": "5s"},
        ],
    }
    assert ModelConsulServiceRegistration(name="bare").to_api() == {"Name": "bare"}


def test_instance_from_health_entry_falls_back_to_the_node_address() -> None:
    entry = {
        "Node": {"Node": "n1", "Address": "10.0.0.9"},
        "Service": {"ID": "s1", "Service": "api", "Address": "", "Port": 0, "Tags": None},
    }
    instance = ModelConsulServiceInstance.from_health_entry(entry)
    assert (instance.address, instance.port, instance.tags, instance.meta) == (
        "10.0.0.9",
        0,
        (),
        {},
    )


def test_kv_entry_from_api_and_json_value() -> None:
    entry = ModelConsulKVEntry.from_api(
        {"Key": "a", "Value": b'{"x": [1]}', "CreateIndex": 3, "ModifyIndex": 5, "Session": "s"}
    )
    assert (entry.flags, entry.lock_index, entry.session) == (0, 0, "s")
    assert entry.json_value() == {"x": [1]}
    empty = ModelConsulKVEntry.from_api(
        {"Key": "d/", "Value": None, "CreateIndex": 1, "ModifyIndex": 1}
    )
    assert empty.json_value() is None


def test_kv_entry_from_api_builds_consul_types_without_validation_and_validates_others() -> None:
    item = {
        "Key": "a/b",
        "Value": b"v",
        "Flags": 7,
        "CreateIndex": 3,
        "ModifyIndex": 5,
        "LockIndex": 1,
        "Session": "s",
    }
    trusted = ModelConsulKVEntry.from_api(item)
    validated = ModelConsulKVEntry(
        key="a/b", value=b"v", flags=7, create_index=3, modify_index=5, lock_index=1, session="s"
    )
    assert trusted == validated
    assert trusted.model_fields_set == validated.model_fields_set
    assert trusted.model_dump_json() == validated.model_dump_json()
    # Anything but Consul's own types goes through validation: coerced or refused.
    assert ModelConsulKVEntry.from_api({**item, "CreateIndex": "3"}) == validated
    with pytest.raises(ValidationError):
        ModelConsulKVEntry.from_api({**item, "ModifyIndex": "five"})
    with pytest.raises(ValidationError):
        ModelConsulKVEntry.from_api({**item, "Key": None})


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "key is empty"),
        ("/a", "starts with '/'"),
        ("a//b", "empty segment"),
        ("a/../b", "'..' segment"),
        ("./a", "'.' segment"),
        ("a/..", "'..' segment"),
        ("a/\x00", "control character"),
        ("k" * 513, "longer than 512"),
    ],
)
def test_unsafe_keys_are_refused(key: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_consul_key(key)


def test_safe_keys_folders_and_the_root_prefix() -> None:
    for key in ("a", "a/b", "a/b/", "a b/?#%/c", "a..b/.c"):
        assert validate_consul_key(key) == key
    assert validate_consul_key("", prefix=True) == ""
    with pytest.raises(ValueError, match="starts with '/'"):
        validate_consul_key("/", prefix=True)


def test_requests_parse_by_operation() -> None:
    registration = ModelConsulServiceRegistration(name="api")
    cases: list[tuple[dict[str, object], type]] = [
        (
            {"operation": "register_service", "registration": {"name": "api"}},
            ModelConsulRegisterRequest,
        ),
        ({"operation": "deregister_service", "service_id": "api-1"}, ModelConsulDeregisterRequest),
        (
            {"operation": "update_ttl", "check_id": "c", "status": "critical"},
            ModelConsulTTLUpdateRequest,
        ),
        ({"operation": "healthy_instances", "service": "api"}, ModelConsulHealthyInstancesRequest),
        ({"operation": "catalog_nodes"}, ModelConsulCatalogRequest),
        ({"operation": "kv_keys", "key": "", "separator": "/"}, ModelConsulKVReadRequest),
        ({"operation": "kv_put", "key": "a", "value": {"x": 1}, "cas": 0}, ModelConsulKVPutRequest),
        ({"operation": "kv_delete", "key": "a/", "recurse": True}, ModelConsulKVDeleteRequest),
        ({"operation": "session_create", "ttl_seconds": 10}, ModelConsulSessionCreateRequest),
        ({"operation": "session_destroy", "session_id": "s"}, ModelConsulSessionRequest),
        ({"operation": "kv_release", "key": "l", "session_id": "s"}, ModelConsulKVLockRequest),
        ({"operation": "kv_wait", "key": "a", "index": 7}, ModelConsulKVWaitRequest),
        ({"operation": "health_wait", "service": "api"}, ModelConsulHealthWaitRequest),
        ({"operation": "catalog_wait", "wait_seconds": 5}, ModelConsulCatalogWaitRequest),
    ]
    for data, model in cases:
        request = parse_consul_request(data)
        assert type(request) is model
        assert request.operation == data["operation"]
        assert request.timeout_seconds == 10.0
    assert ModelConsulRegisterRequest(registration=registration).registration == registration
    assert ModelConsulSessionCreateRequest().behavior is EnumConsulSessionBehavior.RELEASE
    with pytest.raises(ValidationError):
        parse_consul_request({"operation": "kv_explode", "key": "a"})


def test_requests_check_their_keys() -> None:
    assert ModelConsulKVReadRequest(operation="kv_get_tree", key="").key == ""
    with pytest.raises(ValidationError, match="key is empty"):
        ModelConsulKVReadRequest(key="")
    with pytest.raises(ValidationError, match=r"'\.\.' segment"):
        ModelConsulKVPutRequest(key="a/../b", value=b"x")
    assert ModelConsulKVDeleteRequest(key="", recurse=True).recurse
    with pytest.raises(ValidationError, match="key is empty"):
        ModelConsulKVDeleteRequest(key="")
    with pytest.raises(ValidationError):
        ModelConsulSessionCreateRequest(ttl_seconds=5)  # Consul's minimum TTL is 10 s
    with pytest.raises(ValidationError):
        ModelConsulKVPutRequest(key="a", cas=-1)
    lock = ModelConsulKVLockRequest(key="locks/leader", session_id="s", value={"owner": "a"})
    assert (lock.operation, lock.value) == ("kv_acquire", {"owner": "a"})
    with pytest.raises(ValidationError, match="key starts with '/'"):
        ModelConsulKVLockRequest(key="/leader", session_id="s")
    with pytest.raises(ValidationError, match="key is empty"):
        ModelConsulKVWaitRequest(key="")
    wait = ModelConsulKVWaitRequest(key="a")
    assert (wait.index, wait.wait_seconds) == (0, 30.0)
    with pytest.raises(ValidationError):
        ModelConsulCatalogWaitRequest(wait_seconds=601)  # Consul's longest wait is 10 min
    with pytest.raises(ValidationError):
        ModelConsulHealthWaitRequest(service="api", index=-1)


def test_blocking_and_lock_results() -> None:
    entry = ModelConsulKVEntry(key="a", value=b"v", create_index=1, modify_index=2)
    assert ModelConsulKVWaitResult(index=3, entry=entry).entry == entry
    assert ModelConsulKVWaitResult(index=3).entry is None
    instance = ModelConsulServiceInstance(
        node="n", node_address="10.0.0.1", service_id="api-1", name="api", address="", port=80
    )
    health = ModelConsulHealthWaitResult(index=4, service="api", instances=(instance,))
    assert health.instances == (instance,)
    assert ModelConsulCatalogWaitResult(index=5, services={"api": ["v1"]}).services == {
        "api": ["v1"]
    }
    assert ModelConsulCatalogWaitResult(index=5).services == {}
    lock = ModelConsulKVLockResult(operation="kv_acquire", key="l", succeeded=False)
    assert not lock.succeeded
    with pytest.raises(ValidationError):
        ModelConsulKVLockResult(operation="kv_put", key="l", succeeded=True)  # type: ignore[arg-type]


def test_kv_values_keep_their_type_and_bytes_travel_as_base64_in_json() -> None:
    assert ModelConsulKVPutRequest(key="a", value=b"\xff").value == b"\xff"
    assert ModelConsulKVPutRequest(key="a", value="text").value == "text"
    assert ModelConsulKVPutRequest(key="a").value is None
    entry = ModelConsulKVEntry(key="a", value=b"\xff\x00", create_index=1, modify_index=2)
    result = ModelConsulKVResult(operation="kv_get", key="a", entry=entry)
    dumped = result.model_dump_json()
    assert '"value":"_wA="' in dumped
    assert ModelConsulKVResult.model_validate_json(dumped).entry == entry
