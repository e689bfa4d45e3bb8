"""What `alvh run`, `simulate`, `replay` and `ledger verify` do once their arguments parse.

Each command returns its exit code or raises; `daemon.cli.main` maps the exceptions, including
`UsageError` for a bad combination of arguments found after parsing, to exit codes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path

from daemon.config import load_config
from daemon.logging import configure_logging
from daemon.progress import ProgressBar
from daemon.report import out_problem, write_report
from daemon.runner import RunSpec
from daemon.summary_out import report_summary
from market.calendar import CalendarRangeError, trading_calendar

EX_DATAERR = 65
"""`ledger verify` found a ledger that does not add up."""
DEFAULT_START = date(2025, 1, 2)
EXPIRY_HORIZON = timedelta(days=130)
"""Calendar room a simulated session needs after it (four monthly SPX expiries)."""


class UsageError(Exception):
    """A bad combination of arguments found after parsing (exit 64)."""


_ADOPT_RECORD = (
    "--record cannot go with --adopt: an adopted run's books come from the ledger, so its"
    " recording could not be replayed"
)


def _check_report(args: argparse.Namespace) -> None:
    """Refuse an unusable --report path before a long run, not after it."""
    if args.report is not None and (problem := out_problem(args.report)):
        raise UsageError(f"--report: {problem}")


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
        raise UsageError(
            f"--days: {days} sessions from {start} run past the calendar's end ({cal.end})"
        )


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


def cmd_simulate(args: argparse.Namespace) -> int:
    from daemon.runner import simulate
    from daemon.statedir import open_batch_state_dir

    config = load_config(args.config)
    spec = _fresh_spec(args)
    _check_span(spec.start, args.days)
    _check_report(args)
    if args.adopt and args.record is not None:
        raise UsageError(_ADOPT_RECORD)
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


def cmd_replay(args: argparse.Namespace) -> int:
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


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    from brokers.ledger import Ledger
    from brokers.ledger_verify import verify_ledger
    from daemon.statedir import StateDir

    path = args.state_dir or Path(os.environ.get("STATE_DIRECTORY", "alvh-state"))
    with StateDir(path) as state:
        if not state.has_ledger():
            raise UsageError(f"--state-dir: {path} holds no ledger")
        with Ledger.open(state.ledger_path) as ledger:
            report = verify_ledger(ledger)
    if args.json:
        print(json.dumps(report.to_dict(), sort_keys=True))
    else:
        for line in report.lines():
            print(line)
    return 0 if report.ok else EX_DATAERR


def cmd_run(args: argparse.Namespace) -> int:
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
        raise UsageError(_ADOPT_RECORD)
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
