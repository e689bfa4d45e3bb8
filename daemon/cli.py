"""`alvh` command line: the one place exceptions become exit codes.

Exit codes: 0 ok, 64 bad arguments (EX_USAGE), 65 bad input data: a session file that cannot
be read or has a bad header (EX_DATAERR), 70 internal error or contained handler errors
(EX_SOFTWARE), 71 cannot bind the API (EX_OSERR), 73 unusable state directory or
session file that cannot be created (EX_CANTCREAT), 74 ledger or session file write failed
(EX_IOERR), 76 recovery diverged from the ledger, 78 bad config (EX_CONFIG); the API clients add
69 (daemon unreachable, EX_UNAVAILABLE) and 77 (token missing or wrong, EX_NOPERM).
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import sys
from pathlib import Path
from typing import NoReturn

from daemon.calc import add_calc_parser
from daemon.cli_args import (
    add_market_args,
    add_record_arg,
    add_report_arg,
    add_resume_args,
    int_in,
    positive_float,
    speed,
)
from daemon.cli_commands import UsageError, cmd_ledger_verify, cmd_replay, cmd_run, cmd_simulate
from daemon.client import add_client_parsers
from daemon.config import ConfigError
from daemon.config_cli import add_config_parser
from daemon.history import register as add_history_parser
from daemon.report import register as add_report_parser
from daemon.report import write_report

EX_USAGE = 64
EX_SOFTWARE = 70
EX_CANTCREAT = 73
EX_IOERR = 74
EX_DIVERGED = 76
EX_CONFIG = 78
EX_DATAERR = 65


class _Terminated(Exception):
    """SIGTERM arrived before the daemon installed its own handlers."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit 64 instead of usage text and exit 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EX_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="alvh", description="Paper-trading daemon for the Adaptive Layered VIX Hedge."
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the daemon on the simulated market until SIGTERM")
    add_market_args(run, None)
    run.add_argument(
        "--time-scale",
        type=positive_float,
        help="market seconds per wall second (default from config: 60)",
    )
    run.add_argument("--port", type=int_in(0, 65535), help="API port (default from config: 8765)")
    run.add_argument("--log-format", choices=["auto", "json", "console"], default="auto")
    run.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="lowest level logged (default from config: info)",
    )
    run_mode = run.add_mutually_exclusive_group()
    run_mode.add_argument(
        "--new", action="store_true", help="archive the state dir's ledger and start fresh"
    )
    run_mode.add_argument(
        "--adopt",
        action="store_true",
        help="take the ledger's positions and cash as the truth and go on without re-deriving",
    )
    add_record_arg(run)
    run.set_defaults(func=cmd_run)

    sim = sub.add_parser(
        "simulate", help="run D sessions of the simulated market as fast as possible"
    )
    add_market_args(sim, None)
    sim.add_argument("--days", type=int_in(1, 100_000), required=True, help="number of sessions")
    sim.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    mode = add_resume_args(sim)
    mode.add_argument(
        "--adopt",
        action="store_true",
        help="go on from the ledger's positions and cash without re-deriving its history",
    )
    add_record_arg(sim)
    add_report_arg(sim)
    sim.set_defaults(func=cmd_simulate)

    rep = sub.add_parser(
        "replay", help="drive the pipeline from a session file (alvh run/simulate --record)"
    )
    rep.add_argument("file", type=Path, metavar="FILE", help="session file (.jsonl or .jsonl.gz)")
    rep.add_argument(
        "--speed",
        type=speed,
        default=None,
        metavar="max|N",
        help="max: as fast as possible (default); N: N times market time",
    )
    rep.add_argument("--state-dir", type=Path, help="directory of the replay's ledger")
    rep.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    add_resume_args(rep, "replay")
    add_report_arg(rep)
    rep.set_defaults(func=cmd_replay)

    ledger = sub.add_parser("ledger", help="inspect the ledger")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True, parser_class=_Parser)
    verify = ledger_sub.add_parser(
        "verify", help="check the ledger's cash, positions and orders add up"
    )
    verify.add_argument("--state-dir", type=Path, help="directory of the ledger")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=cmd_ledger_verify)

    add_history_parser(sub, report_writer=write_report)
    add_report_parser(sub)
    add_calc_parser(sub)
    add_config_parser(sub)
    add_client_parsers(sub)
    return parser


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: list[str] | None = None) -> int:
    from brokers.adopt import AdoptError
    from brokers.ledger import LedgerError
    from brokers.recovery import Divergence
    from daemon.recording import RecordingCreateError, RecordingError, SessionFileError
    from daemon.runner import ResumeError
    from daemon.statedir import StateDirError

    args = build_parser().parse_args(argv)
    if args.func is cmd_run:
        # Until the daemon's loop owns the signals, SIGTERM means "stop before starting".
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for line in exc.errors:
            print(f"alvh: config: {line}", file=sys.stderr)
        return EX_CONFIG
    except UsageError as exc:
        print(f"alvh: error: {exc}", file=sys.stderr)
        return EX_USAGE
    except StateDirError as exc:
        print(f"alvh: error: {exc}", file=sys.stderr)
        return EX_CANTCREAT
    except SessionFileError as exc:
        print(f"alvh: error: session file {args.file}: {exc}", file=sys.stderr)
        return EX_DATAERR
    except RecordingCreateError as exc:
        print(f"alvh: error: {exc}", file=sys.stderr)
        return EX_CANTCREAT
    except RecordingError as exc:
        print(f"alvh: error: recording failed: {exc}", file=sys.stderr)
        return EX_IOERR
    except ResumeError as exc:
        print(f"alvh: error: {exc}", file=sys.stderr)
        return EX_USAGE
    except Divergence as exc:
        print(f"alvh: error: recovery diverged from the ledger: {exc}", file=sys.stderr)
        return EX_DIVERGED
    except AdoptError as exc:
        print(f"alvh: error: cannot adopt the ledger: {exc}", file=sys.stderr)
        return EX_DIVERGED
    except (LedgerError, sqlite3.Error) as exc:
        print(f"alvh: error: ledger: {exc}", file=sys.stderr)
        return EX_IOERR
    except _Terminated:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
