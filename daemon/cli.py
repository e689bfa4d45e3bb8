"""`alvh` command line: the one place exceptions become exit codes.

Exit codes: 0 ok, 64 bad arguments (EX_USAGE), 70 internal error (EX_SOFTWARE), 71 cannot bind
the API (EX_OSERR), 73 unusable state directory (EX_CANTCREAT), 78 bad config (EX_CONFIG).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import NoReturn

from daemon.calc import add_calc_parser
from daemon.config import AppConfig, ConfigError, load_config
from daemon.logging import configure_logging

EX_USAGE = 64
EX_CONFIG = 78
EX_CANTCREAT = 73
DEFAULT_START = date(2025, 1, 2)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit 64 instead of usage text and exit 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EX_USAGE)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _add_market_args(p: argparse.ArgumentParser, scenario_default: str | None) -> None:
    from market.scenarios import scenario_names

    p.add_argument("--config", type=Path, help="TOML config file (overrides the embedded default)")
    p.add_argument(
        "--scenario",
        choices=scenario_names(),
        default=scenario_default,
        help="scripted VIX path laid over the model (default: the base model)",
    )
    p.add_argument("--seed", type=_non_negative_int, default=1, help="random seed (default 1)")
    p.add_argument(
        "--start",
        type=_date,
        default=DEFAULT_START,
        help="first session, YYYY-MM-DD (default 2025-01-02)",
    )
    p.add_argument("--state-dir", type=Path, help="directory of the ledger")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="alvh", description="Paper-trading daemon for the Adaptive Layered VIX Hedge."
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the daemon on the simulated market until SIGTERM")
    _add_market_args(run, None)
    run.add_argument(
        "--time-scale",
        type=_positive_float,
        help="market seconds per wall second (default from config: 60)",
    )
    run.add_argument("--port", type=_non_negative_int, help="API port (default from config: 8765)")
    run.add_argument("--log-format", choices=["auto", "json", "console"], default="auto")
    run.set_defaults(func=_cmd_run)

    sim = sub.add_parser(
        "simulate", help="run D sessions of the simulated market as fast as possible"
    )
    _add_market_args(sim, None)
    sim.add_argument("--days", type=_positive_int, required=True, help="number of sessions")
    sim.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    sim.set_defaults(func=_cmd_simulate)

    add_calc_parser(sub)
    return parser


def _load(path: Path | None) -> tuple[AppConfig, str]:
    return load_config(path)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from daemon.runner import RunSpec, prepare_batch_state_dir, simulate

    config, text = _load(args.config)
    configure_logging(config.runtime.log_level, "json", stream=sys.stderr)
    state_dir, temporary = prepare_batch_state_dir(args.state_dir)
    if temporary:
        print(f"alvh: state directory: {state_dir}", file=sys.stderr)
    summary = simulate(
        config, text, RunSpec(args.scenario, args.seed, args.start), args.days, state_dir
    )
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        _print_summary(summary)
    return 0


def _print_summary(summary: dict[str, object]) -> None:
    def walk(d: dict[str, object], prefix: str = "") -> None:
        for key, value in d.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                print(f"{prefix + key:<32} {value}")

    walk(summary)


def _cmd_run(args: argparse.Namespace) -> int:
    from daemon.runner import RunSpec, run_daemon

    config, text = _load(args.config)
    overrides: dict[str, dict[str, object]] = {}
    if args.time_scale is not None:
        overrides["runtime"] = {**config.runtime.model_dump(), "time_scale": args.time_scale}
    if args.port is not None:
        overrides["api"] = {**config.api.model_dump(), "port": args.port}
    if overrides:
        config = AppConfig.model_validate({**config.model_dump(), **overrides})
    configure_logging(config.runtime.log_level, args.log_format)
    state_dir = args.state_dir or Path(os.environ.get("STATE_DIRECTORY", "alvh-state"))
    spec = RunSpec(args.scenario, args.seed, args.start)
    return asyncio.run(run_daemon(config, text, spec, state_dir))


def main(argv: list[str] | None = None) -> int:
    from daemon.runner import StateDirError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for line in exc.errors:
            print(f"alvh: config: {line}", file=sys.stderr)
        return EX_CONFIG
    except StateDirError as exc:
        print(f"alvh: error: {exc}", file=sys.stderr)
        return EX_CANTCREAT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
