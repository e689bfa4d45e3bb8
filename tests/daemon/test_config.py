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
