"""OMNIBASE_INFRA_<NODE>_<FIELD>: one configuration scheme from the environment."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, SecretStr

from omnibase_infra.effect import env_name, env_values, settings_from_env
from omnibase_infra.errors import InfraConfigurationError


class Login(BaseModel):
    role_id: str
    secret_id: SecretStr


class Config(BaseModel):
    url: str
    token: SecretStr | None = None
    max_workers: int = 4
    verify: bool = True
    hosts: list[str] = Field(default_factory=list)
    login: Login | None = None
    primary: Login = Login(role_id="r", secret_id=SecretStr("s"))
    either: int | str = 0


def test_names() -> None:
    assert env_name("vault", "url") == "OMNIBASE_INFRA_VAULT_URL"
    assert env_name("Vault", "login", "role_id") == "OMNIBASE_INFRA_VAULT_LOGIN__ROLE_ID"


def test_every_field_from_the_environment_with_nested_and_json_values() -> None:
    env = {
        "OMNIBASE_INFRA_VAULT_URL": "http://127.0.0.1:8200",
        "OMNIBASE_INFRA_VAULT_TOKEN": "s.secret",
        "OMNIBASE_INFRA_VAULT_MAX_WORKERS": "9",
        "OMNIBASE_INFRA_VAULT_VERIFY": "false",
        "OMNIBASE_INFRA_VAULT_HOSTS": '["a", "b"]',
        "OMNIBASE_INFRA_VAULT_LOGIN__ROLE_ID": "role",
        "OMNIBASE_INFRA_VAULT_LOGIN__SECRET_ID": "sid",
        "OMNIBASE_INFRA_CONSUL_URL": "not ours",
    }
    config = settings_from_env(Config, "VAULT", environ=env)
    assert config is not None
    assert (config.url, config.max_workers, config.verify, config.hosts) == (
        "http://127.0.0.1:8200",
        9,
        False,
        ["a", "b"],
    )
    assert config.token is not None
    assert config.token.get_secret_value() == "s.secret"
    assert config.login is not None
    assert config.login.secret_id.get_secret_value() == "sid"
    whole = env_values(Config, "VAULT", environ={"OMNIBASE_INFRA_VAULT_LOGIN": '{"role_id": "r"}'})
    assert whole == {"login": {"role_id": "r"}}
    nested = env_values(
        Config,
        "VAULT",
        environ={"OMNIBASE_INFRA_VAULT_PRIMARY__ROLE_ID": "p", "OMNIBASE_INFRA_VAULT_EITHER": "x"},
    )
    assert nested == {"primary": {"role_id": "p"}, "either": "x"}


def test_nothing_set_is_none_and_explicit_fields_win() -> None:
    assert settings_from_env(Config, "VAULT", environ={}) is None
    env = {"OMNIBASE_INFRA_VAULT_URL": "http://env", "OMNIBASE_INFRA_VAULT_MAX_WORKERS": "2"}
    config = settings_from_env(Config, "VAULT", environ=env, explicit={"url": "http://given"})
    assert config is not None
    assert (config.url, config.max_workers) == ("http://given", 2)
    only = settings_from_env(Config, "VAULT", environ={}, explicit={"url": "u"})
    assert only is not None
    assert only.url == "u"


def test_older_names_still_read_with_a_deprecation_warning() -> None:
    env = {"ONEX_INFRA_URL": "http://old"}
    with pytest.warns(DeprecationWarning, match="set OMNIBASE_INFRA_VAULT_URL instead"):
        config = settings_from_env(
            Config, "VAULT", environ=env, deprecated={"ONEX_INFRA_URL": "url"}
        )
    assert config is not None
    assert config.url == "http://old"
    both = {**env, "OMNIBASE_INFRA_VAULT_URL": "http://new"}
    config = settings_from_env(Config, "VAULT", environ=both, deprecated={"ONEX_INFRA_URL": "url"})
    assert config is not None
    assert config.url == "http://new"


def test_bad_values_name_the_variable_never_the_value() -> None:
    env = {"OMNIBASE_INFRA_VAULT_MAX_WORKERS": "many", "OMNIBASE_INFRA_VAULT_TOKEN": "s.hunter2"}
    with pytest.raises(InfraConfigurationError) as info:
        settings_from_env(Config, "VAULT", environ=env)
    message = info.value.message
    assert "OMNIBASE_INFRA_VAULT_MAX_WORKERS" in message
    assert "OMNIBASE_INFRA_VAULT_URL" in message
    assert "many" not in message
    assert "hunter2" not in message
    with pytest.raises(InfraConfigurationError, match="OMNIBASE_INFRA_VAULT_HOSTS must be JSON"):
        settings_from_env(Config, "VAULT", environ={"OMNIBASE_INFRA_VAULT_HOSTS": "a,b"})
