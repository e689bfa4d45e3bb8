"""Application config: frozen pydantic models, an embedded default TOML, file and env overrides.

Sources, later beats earlier: the embedded default TOML, the TOML file (``path``, else
``$CONFIGURATION_DIRECTORY/alvh.toml`` if it exists), ``ALVH_<SECTION>__<FIELD>`` environment
variables, then ``overrides`` (command-line flags). Every invalid field is reported (dotted path and
reason, never the value) in one ConfigError.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
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
    log_to_file: bool = Field(
        False,
        description="Also append the JSON log lines to alvh.log in $LOGS_DIRECTORY (systemd"
        " LogsDirectory=) when that is set.",
    )
    stale_after_s: float = Field(
        60.0,
        gt=0,
        description="Wall seconds without a snapshot after which `run` reports its feed stale"
        " (/status feed_stale, /ready 503).",
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


ENV_PREFIX = "ALVH_"
ENV_DELIMITER = "__"
CONFIG_FILE_NAME = "alvh.toml"


def _section_model(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    ann = model.model_fields[name].annotation
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _env_overrides(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """``ALVH_<SECTION>__<FIELD>`` variables as a nested dict, the env variable behind each dotted
    path, and one error per variable naming an unknown section or field.

    Only names with ``__`` after the prefix are config; others (``ALVH_API_TOKEN``) are ignored.
    Names are case-insensitive; values stay strings for pydantic to coerce."""
    data: dict[str, Any] = {}
    origin: dict[str, str] = {}
    errors: list[str] = []
    for var in sorted(env):
        if not var.upper().startswith(ENV_PREFIX) or ENV_DELIMITER not in var[len(ENV_PREFIX) :]:
            continue
        parts = var[len(ENV_PREFIX) :].lower().split(ENV_DELIMITER)
        dotted = ".".join(parts)
        model: type[BaseModel] | None = AppConfig
        problem = None
        for i, part in enumerate(parts):
            if model is None or part not in model.model_fields:
                problem = f"unknown config field {part!r} in {'.'.join(parts[:i]) or '(root)'}"
                break
            model = _section_model(model, part)
        if problem is None and model is not None:
            problem = f"{dotted} is a section, not a field"
        if problem is None and dotted in origin:
            problem = f"{dotted} is also set by {origin[dotted]}"
        if problem is not None:
            errors.append(f"{var}: {problem}")
            continue
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = env[var]
        origin[dotted] = var
    return data, origin, errors


def default_config_path(env: Mapping[str, str] | None = None) -> Path | None:
    """``$CONFIGURATION_DIRECTORY/alvh.toml`` (systemd's ConfigurationDirectory=; the first of a
    colon-separated list that has the file), or None."""
    env = os.environ if env is None else env
    for directory in env.get("CONFIGURATION_DIRECTORY", "").split(":"):
        if directory and (candidate := Path(directory) / CONFIG_FILE_NAME).is_file():
            return candidate
    return None


def load_config(
    path: Path | None = None,
    overrides: dict[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> AppConfig:
    """The effective config: the embedded default, the file (``path``, else
    ``$CONFIGURATION_DIRECTORY/alvh.toml``) merged over it, then ``ALVH_*`` variables from ``env``
    (default ``os.environ``), then ``overrides`` (command-line flags). Raises :class:`ConfigError`
    listing every problem."""
    env = os.environ if env is None else env
    data = _parse(default_config_text(), "embedded default config")
    label = "--config"
    if path is None and (path := default_config_path(env)) is not None:
        label = "$CONFIGURATION_DIRECTORY"
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([f"{label}: cannot read {path}: {exc.strerror}"]) from None
        except UnicodeDecodeError:
            raise ConfigError([f"{label}: {path} is not UTF-8 text"]) from None
        data = _merge(data, _parse(text, str(path)))
    env_data, env_origin, errors = _env_overrides(env)
    data = _merge(data, env_data)
    if overrides:
        data = _merge(data, overrides)
    try:
        config = AppConfig.model_validate(data)
    except ValidationError as exc:
        for line in format_validation_error(exc):
            dotted = line.split(": ", 1)[0]
            var = env_origin.get(dotted)
            in_overrides = overrides is not None and _has_path(overrides, dotted.split("."))
            errors.append(f"{line} (from {var})" if var and not in_overrides else line)
        raise ConfigError(errors) from None
    if errors:
        raise ConfigError(errors)
    return config


def _has_path(data: Mapping[str, Any], parts: list[str]) -> bool:
    node: Any = data
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


LEGACY_DEFAULTS: dict[tuple[str, ...], Any] = {
    ("strategy", "hedge", "floor_fraction"): 0.0,
    ("strategy", "macro", "look_ahead"): False,
}
"""Fields added with a default that changes what the method does, and the value that reproduces
the build before them. A config stored by that build (a ledger's config version or reload, a
session file's header) lacks the field; filled in with today's default it would re-derive other
fills than the ledger holds (a resume would stop with exit 76). Fields added with a neutral default
need no entry."""


def stored_config(raw: str | Mapping[str, Any]) -> AppConfig:
    """An :class:`AppConfig` from a config an earlier run stored (JSON text or its parsed
    object): fields of :data:`LEGACY_DEFAULTS` it lacks take their legacy value (the behaviour of
    the build that wrote it), every other missing field its default. Raises ``ValidationError``
    as ``model_validate`` does."""
    if isinstance(raw, str):
        try:
            data: Any = json.loads(raw)
        except ValueError:
            return AppConfig.model_validate_json(raw)  # not JSON: pydantic's own error
    else:
        data = raw
    if isinstance(data, Mapping):
        data = _with_legacy_defaults(data)
    return AppConfig.model_validate(data)


def _with_legacy_defaults(data: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for path, value in LEGACY_DEFAULTS.items():
        if _has_path(out, list(path)):
            continue
        node: dict[str, Any] = out
        for part in path[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, Mapping) else {}
            node[part] = child
            node = child
        node[path[-1]] = value
    return out
