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
import asyncio
import json
import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import NoReturn

from daemon.calc import add_calc_parser
from daemon.client import add_client_parsers
from daemon.config import ConfigError, load_config
from daemon.config_cli import add_config_parser
from daemon.history import register as add_history_parser
from daemon.logging import configure_logging
from daemon.progress import ProgressBar
from daemon.report import out_problem, write_report
from daemon.report import register as add_report_parser
from daemon.runner import RunSpec
from daemon.summary_out import report_summary
from market.calendar import CALENDAR_START, CalendarRangeError, trading_calendar

EX_USAGE = 64
EX_SOFTWARE = 70
EX_CANTCREAT = 73
EX_IOERR = 74
EX_DIVERGED = 76
EX_CONFIG = 78
EX_DATAERR = 65
DEFAULT_START = date(2025, 1, 2)
LAST_START = date(2039, 12, 31)
"""Latest --start: the calendar ends 2040-12-31 and the market lists expiries months ahead."""
EXPIRY_HORIZON = timedelta(days=130)
"""Calendar room a simulated session needs after it (four monthly SPX expiries)."""
MAX_SEED = 2**63 - 1


class _Terminated(Exception):
    """SIGTERM arrived before the daemon installed its own handlers."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit 64 instead of usage text and exit 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EX_USAGE)


def _date(text: str) -> date:
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None
    if not CALENDAR_START <= value <= LAST_START:
        raise argparse.ArgumentTypeError(
            f"{value} is outside {CALENDAR_START} .. {LAST_START} (the exchange calendar's range)"
        )
    return value


def _int_in(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be within {lo} .. {hi}, got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not 'max' or a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 'max' or a finite number > 0, got {text}")
    return value


def _add_record_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--record",
        type=Path,
        metavar="FILE",
        help="write every snapshot and control event to this session file (gzip if it ends in"
        " .gz; replaced if it exists)",
    )


def _add_market_args(p: argparse.ArgumentParser, scenario_default: str | None) -> None:
    from market.scenarios import scenario_names

    p.add_argument("--config", type=Path, help="TOML config file (overrides the embedded default)")
    p.add_argument(
        "--scenario",
        choices=scenario_names(),
        default=scenario_default,
        help="scripted VIX path laid over the model (default: the base model)",
    )
    p.add_argument("--seed", type=_int_in(0, MAX_SEED), help="random seed (default 1)")
    p.add_argument("--start", type=_date, help="first session, YYYY-MM-DD (default 2025-01-02)")
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
    run.add_argument("--port", type=_int_in(0, 65535), help="API port (default from config: 8765)")
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
    _add_record_arg(run)
    run.set_defaults(func=_cmd_run)

    sim = sub.add_parser(
        "simulate", help="run D sessions of the simulated market as fast as possible"
    )
    _add_market_args(sim, None)
    sim.add_argument("--days", type=_int_in(1, 100_000), required=True, help="number of sessions")
    sim.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    mode = sim.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume",
        action="store_true",
        help="resume the run in --state-dir (re-derive it from its ledger, then go on)",
    )
    mode.add_argument(
        "--new", action="store_true", help="archive the ledger in --state-dir and start fresh"
    )
    mode.add_argument(
        "--adopt",
        action="store_true",
        help="go on from the ledger's positions and cash without re-deriving its history",
    )
    _add_record_arg(sim)
    _add_report_arg(sim)
    sim.set_defaults(func=_cmd_simulate)

    rep = sub.add_parser(
        "replay", help="drive the pipeline from a session file (alvh run/simulate --record)"
    )
    rep.add_argument("file", type=Path, metavar="FILE", help="session file (.jsonl or .jsonl.gz)")
    rep.add_argument(
        "--speed",
        type=_speed,
        default=None,
        metavar="max|N",
        help="max: as fast as possible (default); N: N times market time",
    )
    rep.add_argument("--state-dir", type=Path, help="directory of the replay's ledger")
    rep.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    rep_mode = rep.add_mutually_exclusive_group()
    rep_mode.add_argument(
        "--resume",
        action="store_true",
        help="resume the replay in --state-dir (re-derive it from its ledger, then go on)",
    )
    rep_mode.add_argument(
        "--new", action="store_true", help="archive the ledger in --state-dir and start fresh"
    )
    _add_report_arg(rep)
    rep.set_defaults(func=_cmd_replay)

    ledger = sub.add_parser("ledger", help="inspect the ledger")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True, parser_class=_Parser)
    verify = ledger_sub.add_parser(
        "verify", help="check the ledger's cash, positions and orders add up"
    )
    verify.add_argument("--state-dir", type=Path, help="directory of the ledger")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=_cmd_ledger_verify)

    add_history_parser(sub, report_writer=write_report)
    add_report_parser(sub)
    add_calc_parser(sub)
    add_config_parser(sub)
    add_client_parsers(sub)
    return parser


def _add_report_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="also write the HTML report of the run (alvh report) to FILE when it ends",
    )


def _check_report(args: argparse.Namespace) -> None:
    """Refuse an unusable --report path before a long run, not after it."""
    if args.report is not None and (problem := out_problem(args.report)):
        raise _UsageError(f"--report: {problem}")


def _write_report(args: argparse.Namespace, ledger_path: Path) -> None:
    if args.report is not None:
        summary = write_report(ledger_path, args.report)
        print(
            f"alvh: report: {args.report} ({summary['sessions']} sessions,"
            f" {summary['fills']} fills)",
            file=sys.stderr,
        )


def _check_span(start: date, days: int) -> None:
    """Refuse, before anything runs, a span the exchange calendar cannot hold."""
    cal = trading_calendar()
    try:
        last = cal.sessions_from(cal.session_on_or_after(start), days)[-1]
    except CalendarRangeError:
        last = None
    if last is None or last + EXPIRY_HORIZON > cal.end:
        raise _UsageError(
            f"--days: {days} sessions from {start} run past the calendar's end ({cal.end})"
        )


class _UsageError(Exception):
    """A bad combination of arguments found after parsing (exit 64)."""


def _fresh_spec(args: argparse.Namespace) -> RunSpec:
    return RunSpec(
        args.scenario,
        1 if args.seed is None else args.seed,
        DEFAULT_START if args.start is None else args.start,
    )


def _given_spec(args: argparse.Namespace) -> dict[str, object]:
    """The run-defining arguments given on the command line (a resume may only repeat them)."""
    given = {"scenario": args.scenario, "seed": args.seed, "start": args.start}
    return {k: v for k, v in given.items() if v is not None}


def _cmd_simulate(args: argparse.Namespace) -> int:
    from daemon.runner import simulate
    from daemon.statedir import open_batch_state_dir

    config = load_config(args.config)
    spec = _fresh_spec(args)
    _check_span(spec.start, args.days)
    _check_report(args)
    if args.adopt and args.record is not None:
        raise _UsageError(_ADOPT_RECORD)
    bar = ProgressBar("simulate", unit="sessions")
    configure_logging(config.runtime.log_level, "json", stream=bar.as_stream())
    mode = "resume" if args.resume or args.adopt else "new" if args.new else "fresh"
    state, temporary = open_batch_state_dir(args.state_dir, mode)
    with state, bar:
        if temporary:
            print(f"alvh: state directory: {state.path}", file=sys.stderr)
        summary = simulate(
            config,
            spec,
            args.days,
            state,
            resume=args.resume,
            adopt=args.adopt,
            expect=_given_spec(args) if args.resume or args.adopt else None,
            record=args.record,
            progress=bar,
        )
        _write_report(args, state.ledger_path)
    return report_summary(summary, args.json)


_ADOPT_RECORD = (
    "--record cannot go with --adopt: an adopted run's books come from the ledger, so its"
    " recording could not be replayed"
)


def _cmd_replay(args: argparse.Namespace) -> int:
    from daemon.replay import SessionReader, replay
    from daemon.statedir import open_batch_state_dir

    configure_logging("info", "json", stream=sys.stderr)
    _check_report(args)
    with SessionReader(args.file) as reader:
        configure_logging(reader.header.config.runtime.log_level, "json", stream=sys.stderr)
        mode = "resume" if args.resume else "new" if args.new else "fresh"
        state, temporary = open_batch_state_dir(args.state_dir, mode)
        with state:
            if temporary:
                print(f"alvh: state directory: {state.path}", file=sys.stderr)
            summary = replay(reader, state, resume=args.resume, speed=args.speed)
            _write_report(args, state.ledger_path)
    return report_summary(summary, args.json)


def _cmd_ledger_verify(args: argparse.Namespace) -> int:
    from brokers.ledger import Ledger
    from brokers.ledger_verify import verify_ledger
    from daemon.statedir import StateDir

    path = args.state_dir or Path(os.environ.get("STATE_DIRECTORY", "alvh-state"))
    with StateDir(path) as state:
        if not state.has_ledger():
            raise _UsageError(f"--state-dir: {path} holds no ledger")
        with Ledger.open(state.ledger_path) as ledger:
            report = verify_ledger(ledger)
    if args.json:
        print(json.dumps(report.to_dict(), sort_keys=True))
    else:
        for line in report.lines():
            print(line)
    return 0 if report.ok else EX_DATAERR


def _cmd_run(args: argparse.Namespace) -> int:
    from daemon.service import run_daemon
    from daemon.statedir import StateDir

    overrides: dict[str, dict[str, object]] = {}
    if args.time_scale is not None:
        overrides["runtime"] = {"time_scale": args.time_scale}
    if args.port is not None:
        overrides["api"] = {"port": args.port}
    if args.log_level is not None:
        overrides.setdefault("runtime", {})["log_level"] = args.log_level
    # The live daemon waits for an operator after a risk halt (SPEC section 9). In the config,
    # not on the actor: a resumed ledger re-derives under the policy stored with it, and a
    # SIGHUP reload (the same overrides) keeps it.
    overrides["strategy"] = {"risk": {"auto_resume": False}}
    config = load_config(args.config, overrides)
    if args.adopt and args.record is not None:
        raise _UsageError(_ADOPT_RECORD)
    logs_dir = os.environ.get("LOGS_DIRECTORY")
    log_file = (
        Path(logs_dir.split(":")[0]) / "alvh.log"
        if config.runtime.log_to_file and logs_dir
        else None
    )
    configure_logging(config.runtime.log_level, args.log_format, log_file=log_file)
    path = args.state_dir or Path(os.environ.get("STATE_DIRECTORY", "alvh-state"))
    with StateDir(path) as state:
        expect = _given_spec(args) if state.has_ledger() and not args.new else None
        return asyncio.run(
            run_daemon(
                config,
                _fresh_spec(args),
                state,
                new=args.new,
                adopt=args.adopt,
                expect=expect,
                reload_config=lambda: load_config(args.config, overrides),
                record=args.record,
            )
        )


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
    if args.func is _cmd_run:
        # Until the daemon's loop owns the signals, SIGTERM means "stop before starting".
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for line in exc.errors:
            print(f"alvh: config: {line}", file=sys.stderr)
        return EX_CONFIG
    except _UsageError as exc:
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
