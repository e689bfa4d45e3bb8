from pathlib import Path

import pytest
from pydantic import BaseModel

from daemon.config import AppConfig, ConfigError, default_config_text, load_config

README = Path(__file__).resolve().parents[2] / "README.md"


def _field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += _field_paths(ann, f"{prefix}{name}.")
        else:
            out.append(f"{prefix}{name}")
    return out


def test_embedded_default_config_equals_the_model_defaults() -> None:
    assert load_config(None) == AppConfig()
    assert "[strategy.condor]" in default_config_text()


def test_every_config_field_is_documented_with_a_description_and_in_the_readme() -> None:
    readme = README.read_text()
    for path in _field_paths(AppConfig):
        assert f"`{path}`" in readme, f"README config table misses {path}"


def test_config_file_overrides_merge_over_the_default(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[strategy.condor]\nmax_condors = 1\n")
    config = load_config(cfg)
    assert config.strategy.condor.max_condors == 1
    assert config.strategy.condor.short_delta == 0.16


def test_unreadable_and_malformed_config_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[account\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_inconsistent_condor_window_is_rejected(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[strategy.condor]\nmin_dte = 70\n")
    with pytest.raises(ConfigError, match="min_dte"):
        load_config(cfg)


def test_env_overrides_the_file_and_the_file_the_default(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[strategy.condor]\nmax_condors = 3\nclose_at_dte = 0\n")
    env = {"ALVH_STRATEGY__CONDOR__MAX_CONDORS": "1"}
    config = load_config(cfg, env=env)
    assert config.strategy.condor.max_condors == 1  # env beats file
    assert config.strategy.condor.close_at_dte == 0  # file beats default
    assert config.strategy.condor.short_delta == 0.16  # default


def test_overrides_beat_env() -> None:
    env = {"ALVH_API__PORT": "9000"}
    assert load_config(None, {"api": {"port": 9001}}, env=env).api.port == 9001
    assert load_config(None, env=env).api.port == 9000


def test_nested_env_vars_are_coerced_and_case_insensitive() -> None:
    env = {
        "ALVH_ACCOUNT__FEES__SPX_OPTION__COMMISSION": "0.5",
        "alvh_account__cap_at_quoted_size": "true",
        "ALVH_Runtime__Log_Level": "debug",
        "ALVH_API__PORT": "0",
    }
    config = load_config(env=env)
    assert config.account.fees.spx_option.commission == 0.5
    assert config.account.fees.spx_option.exchange == 0.6
    assert config.account.cap_at_quoted_size is True
    assert config.runtime.log_level == "debug"
    assert config.api.port == 0


def test_unknown_alvh_sections_and_fields_are_errors_naming_the_variable() -> None:
    env = {
        "ALVH_BOGUS__X": "1",
        "ALVH_STRATEGY__CONDOR__MAX_CONDOR": "1",
        "ALVH_STRATEGY__CONDOR": "1",
        "ALVH_API__PORT__X": "1",
    }
    with pytest.raises(ConfigError) as info:
        load_config(env=env)
    text = "\n".join(info.value.errors)
    assert len(info.value.errors) == 4
    for var in env:
        assert var in text


def test_api_token_and_other_non_config_vars_are_ignored() -> None:
    env = {"ALVH_API_TOKEN": "s3cret", "ALVH_SOMETHING": "x", "HOME": "/root"}
    assert load_config(env=env) == AppConfig()


def test_bad_env_value_names_field_and_variable_but_not_the_value() -> None:
    env = {"ALVH_API__PORT": "s3cret-port", "ALVH_RUNTIME__TIME_SCALE": "-1"}
    with pytest.raises(ConfigError) as info:
        load_config(env=env)
    errors = info.value.errors
    assert any(e.startswith("api.port:") and "ALVH_API__PORT" in e for e in errors)
    assert any(e.startswith("runtime.time_scale:") for e in errors)
    assert "s3cret" not in "\n".join(errors)


def test_configuration_directory_file_is_used_without_a_path(tmp_path: Path) -> None:
    (tmp_path / "alvh.toml").write_text("[api]\nport = 9100\n")
    env = {"CONFIGURATION_DIRECTORY": str(tmp_path)}
    assert load_config(env=env).api.port == 9100
    assert load_config(env={**env, "ALVH_API__PORT": "9200"}).api.port == 9200
    explicit = tmp_path / "explicit.toml"
    explicit.write_text("[api]\nport = 9300\n")
    assert load_config(explicit, env=env).api.port == 9300  # an explicit path wins
    # systemd joins several directories with ':'; a directory without the file is skipped
    env = {"CONFIGURATION_DIRECTORY": f"{tmp_path / 'nope'}:{tmp_path}"}
    assert load_config(env=env).api.port == 9100
    assert load_config(env={"CONFIGURATION_DIRECTORY": str(tmp_path / "nope")}) == AppConfig()


def test_the_same_field_set_twice_in_different_case_is_an_error() -> None:
    with pytest.raises(ConfigError, match="ALVH_API__PORT.*also set by alvh_api__port|also set"):
        load_config(env={"ALVH_API__PORT": "1", "alvh_api__port": "2"})
