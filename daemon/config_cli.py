"""``alvh config check|show``: validate the effective config, or print it with secrets masked."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from daemon.config import ConfigError, load_config

EXIT_CONFIG = 78
SECRET_MARKERS = ("token", "secret", "password")
MASK = "***"


def mask_secrets(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with every value whose key contains "token", "secret" or "password"
    (any case, at any depth) replaced by ``"***"``."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if any(marker in str(key).lower() for marker in SECRET_MARKERS):
            out[key] = MASK
        elif isinstance(value, dict):
            out[key] = mask_secrets(value)
        elif isinstance(value, list):
            out[key] = [mask_secrets(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def to_toml(data: dict[str, Any]) -> str:
    """TOML for a nested dict of scalars and lists (``null`` values are left out)."""
    lines: list[str] = []

    def table(d: dict[str, Any], name: str) -> None:
        scalars = [(k, v) for k, v in d.items() if not isinstance(v, dict) and v is not None]
        if name and (scalars or not any(isinstance(v, dict) for v in d.values())):
            lines.append(f"{chr(10) if lines else ''}[{name}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars)
        for k, v in d.items():
            if isinstance(v, dict):
                table(v, f"{name}.{k}" if name else k)

    table(data, "")
    return "\n".join(lines) + "\n"


def _load(args: argparse.Namespace) -> dict[str, Any] | None:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        for line in exc.errors:
            print(f"alvh: config: {line}", file=sys.stderr)
        return None
    return config.model_dump(mode="json")


def _cmd_check(args: argparse.Namespace) -> int:
    if _load(args) is None:
        return EXIT_CONFIG
    print("config OK")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    data = _load(args)
    if data is None:
        return EXIT_CONFIG
    masked = mask_secrets(data)
    if args.json:
        print(json.dumps(masked, indent=2))
    else:
        print(to_toml(masked), end="")
    return 0


def add_config_parser(subparsers: Any) -> None:
    """Register ``config check [FILE]`` and ``config show [FILE] [--json]``."""
    config = subparsers.add_parser(
        "config",
        help="validate or show the effective config",
        description="The effective config is the embedded default, then FILE (else "
        "$CONFIGURATION_DIRECTORY/alvh.toml), then ALVH_<SECTION>__<FIELD> environment variables.",
    )
    sub = config.add_subparsers(dest="config_command", required=True)
    file_help = "TOML config file (default: $CONFIGURATION_DIRECTORY/alvh.toml if it exists)"
    check = sub.add_parser(
        "check", help="validate the effective config: prints 'config OK' or exits 78"
    )
    check.add_argument("file", nargs="?", type=Path, metavar="FILE", help=file_help)
    check.set_defaults(func=_cmd_check)
    show = sub.add_parser("show", help="print the effective config, secrets masked")
    show.add_argument("file", nargs="?", type=Path, metavar="FILE", help=file_help)
    show.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    show.set_defaults(func=_cmd_show)
