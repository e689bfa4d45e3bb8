"""Application config: frozen pydantic models, an embedded default TOML, file overrides.

``load_config(None)`` is the embedded default; ``load_config(path)`` deep-merges the file over it.
Every invalid field is reported (dotted path and reason, never the value) in one ConfigError.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from brokers.config import BrokerConfig
from market.simulator import SimulatorConfig
from strategies.config import StrategyConfig


class ConfigError(Exception):
    """The config is unusable; ``errors`` holds one line per problem. Exit code 78 (EX_CONFIG)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class ApiConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    host: str = Field("127.0.0.1", description="Address the HTTP API binds to.")
    port: int = Field(
        8765, ge=0, le=65535, description="TCP port of the HTTP API (0 picks a free one)."
    )


class RuntimeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    time_scale: float = Field(
        60.0, gt=0, description="Market seconds per wall second in `alvh run`."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Lowest log level written."
    )
    bus_queue_size: int = Field(10_000, ge=1, description="Bound of the bus intake queue (events).")


class AppConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    account: BrokerConfig = BrokerConfig()
    market: SimulatorConfig = SimulatorConfig()
    strategy: StrategyConfig = StrategyConfig()
    api: ApiConfig = ApiConfig()
    runtime: RuntimeConfig = RuntimeConfig()


def default_config_text() -> str:
    return resources.files("daemon").joinpath("default_config.toml").read_text(encoding="utf-8")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{source}: not valid TOML: {exc}"]) from None


def format_validation_error(exc: ValidationError) -> list[str]:
    """One line per invalid field: dotted location and reason, without the input value."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        lines.append(f"{loc}: {err['msg']}")
    return lines


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> AppConfig:
    """The effective config: the embedded default, ``path`` merged over it, then ``overrides``
    (command-line flags). Raises :class:`ConfigError` listing every problem."""
    data = _parse(default_config_text(), "embedded default config")
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([f"--config: cannot read {path}: {exc.strerror}"]) from None
        except UnicodeDecodeError:
            raise ConfigError([f"--config: {path} is not UTF-8 text"]) from None
        data = _merge(data, _parse(text, str(path)))
    if overrides:
        data = _merge(data, overrides)
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
