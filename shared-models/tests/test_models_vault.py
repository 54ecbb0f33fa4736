"""Vault request/response models: path and mount validation, secrets hidden, config."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from omnibase_infra.models.vault import (
    ModelVaultAppRoleAuth,
    ModelVaultConfig,
    ModelVaultDatabaseCredentials,
    ModelVaultDatabaseCredentialsRequest,
    ModelVaultKvDeleteRequest,
    ModelVaultKvListRequest,
    ModelVaultKvReadRequest,
    ModelVaultKvWriteRequest,
    ModelVaultLeaseRequest,
    ModelVaultTransitDecryptRequest,
    ModelVaultTransitEncryptRequest,
    parse_vault_request,
    validate_vault_path,
)


@pytest.mark.parametrize("path", ["a", "a/b", "team-1/app_x/db.prod"])
def test_valid_paths(path: str) -> None:
    assert validate_vault_path(path) == path
    assert ModelVaultKvReadRequest(path=path).path == path


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("", "empty"),
        ("/a", "empty segment"),
        ("a/", "empty segment"),
        ("a//b", "empty segment"),
        ("a/../b", "'..'"),
        ("./a", "'.'"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
    ],
)
def test_invalid_paths(path: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        validate_vault_path(path)
    with pytest.raises(ValidationError):
        ModelVaultKvReadRequest(path=path or "x/")


def test_list_paths_allow_root_and_trailing_slash() -> None:
    assert ModelVaultKvListRequest(path="").path == ""
    assert ModelVaultKvListRequest(path="a/b/").path == "a/b/"
    with pytest.raises(ValidationError):
        ModelVaultKvListRequest(path="a//")
    with pytest.raises(ValidationError):
        ModelVaultKvListRequest(path="../")


@pytest.mark.parametrize("mount", ["", "a b", "../x", "a/../b", "/kv"])
def test_invalid_mount_points(mount: str) -> None:
    with pytest.raises(ValidationError, match="mount point"):
        ModelVaultKvReadRequest(path="a", mount_point=mount)
    with pytest.raises(ValidationError, match="mount point"):
        ModelVaultConfig(url="http://127.0.0.1:8200", kv_mount=mount)
    with pytest.raises(ValidationError, match="mount point"):
        ModelVaultKvListRequest(mount_point=mount)


def test_mount_points_accepted() -> None:
    assert ModelVaultKvReadRequest(path="a", mount_point="team/kv").mount_point == "team/kv"
    assert ModelVaultKvListRequest(mount_point="kv-2").mount_point == "kv-2"


def test_config_hides_the_token_and_names_the_target() -> None:
    config = ModelVaultConfig(url="https://vault.internal:8200/", token=SecretStr("hvs.abcdef"))
    assert config.target == "vault.internal:8200"
    assert config.verify_tls is True
    assert "hvs.abcdef" not in repr(config) + str(config.model_dump())
    with pytest.raises(ValidationError):
        ModelVaultConfig(url="https://user:pw@vault.internal:8200")
    with pytest.raises(ValidationError):
        ModelVaultConfig(url="vault.internal:8200")


def test_write_values_are_secret() -> None:
    request = ModelVaultKvWriteRequest(path="a", data={"pw": SecretStr("s3cret")}, cas=0)
    assert "s3cret" not in repr(request) + request.model_dump_json()
    with pytest.raises(ValidationError):
        ModelVaultKvWriteRequest(path="a", data={}, cas=-1)


def test_delete_versions_are_sorted_and_unique() -> None:
    request = ModelVaultKvDeleteRequest(path="a", operation="kv_destroy", versions=[3, 1, 3])
    assert request.versions == [1, 3]
    with pytest.raises(ValidationError):
        ModelVaultKvDeleteRequest(path="a", versions=[0])


def test_parse_vault_request_picks_the_model_by_operation() -> None:
    request = parse_vault_request({"operation": "kv_write", "path": "a", "data": {"k": "v"}})
    assert isinstance(request, ModelVaultKvWriteRequest)
    assert request.data["k"].get_secret_value() == "v"
    undelete = parse_vault_request({"operation": "kv_undelete", "path": "a", "versions": [2]})
    assert isinstance(undelete, ModelVaultKvDeleteRequest)
    with pytest.raises(ValidationError):
        parse_vault_request({"operation": "kv_nothing", "path": "a"})


def test_transit_requests_validate_and_hide_bytes() -> None:
    request = parse_vault_request(
        {"operation": "transit_encrypt", "key_name": "k", "plaintext": b"top-secret"}
    )
    assert isinstance(request, ModelVaultTransitEncryptRequest)
    assert request.mount_point == "transit"
    assert "top-secret" not in repr(request)
    with pytest.raises(ValidationError):
        ModelVaultTransitDecryptRequest(key_name="k", ciphertext="not-a-ciphertext")
    with pytest.raises(ValidationError):
        ModelVaultTransitDecryptRequest(key_name="k/../x", ciphertext="vault:v1:x")
    with pytest.raises(ValidationError, match="mount point"):
        ModelVaultTransitDecryptRequest(key_name="k", ciphertext="vault:v1:x", mount_point="../t")


def test_approle_credentials_are_secret() -> None:
    auth = ModelVaultAppRoleAuth(role_id=SecretStr("role-1234"), secret_id=SecretStr("sid-5678"))
    config = ModelVaultConfig(url="http://127.0.0.1:8200", approle=auth)
    assert auth.mount_point == "approle"
    assert "role-1234" not in repr(config)
    assert "sid-5678" not in config.model_dump_json()
    with pytest.raises(ValidationError, match="mount point"):
        ModelVaultAppRoleAuth(role_id=SecretStr("r"), secret_id=SecretStr("s"), mount_point="a b")


def test_database_and_lease_requests() -> None:
    request = parse_vault_request({"operation": "database_credentials", "role": "app"})
    assert isinstance(request, ModelVaultDatabaseCredentialsRequest)
    assert request.mount_point == "database"
    with pytest.raises(ValidationError, match="mount point"):
        ModelVaultDatabaseCredentialsRequest(role="app", mount_point="../db")
    revoke = parse_vault_request({"operation": "lease_revoke", "lease_id": "database/creds/app/x1"})
    assert isinstance(revoke, ModelVaultLeaseRequest)
    with pytest.raises(ValidationError):
        ModelVaultLeaseRequest(lease_id="database/../sys/x")
    with pytest.raises(ValidationError):
        ModelVaultLeaseRequest(lease_id="a/b", increment_seconds=0)
    creds = ModelVaultDatabaseCredentials(
        lease_id="database/creds/app/x1",
        lease_duration_seconds=60,
        renewable=True,
        username="v-app",
        password=SecretStr("pg-s3cret"),
    )
    assert "pg-s3cret" not in repr(creds) + creds.model_dump_json()
