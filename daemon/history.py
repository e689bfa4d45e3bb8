"""`alvh history`: the whole stack on real daily data (SPEC sections 4 and 11).

The inputs are read and joined (:mod:`market.history_feed`), their bad rows and dropped dates
logged (a few lines per reason, then counts), and the snapshots driven through the same pipeline
as `simulate` over a state directory. The summary is `simulate`'s plus a ``data`` block.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import structlog

from daemon.cli_args import add_resume_args
from daemon.config import AppConfig, load_config
from daemon.logging import configure_logging
from daemon.progress import ProgressBar
from daemon.report import out_problem
from daemon.runner import RunSpec, prepare
from daemon.statedir import StateDir, open_batch_state_dir
from daemon.summary_out import report_summary
from market.history_data import HistoryDataError
from market.history_feed import HistoryFeed, HistoryInputs

log = structlog.get_logger("alvh.daemon.history")

SCENARIO = "history"
"""The run record's scenario for a history run (seed 0, start = the first joined session)."""
EX_USAGE = 64
EX_DATAERR = 65

ReportWriter = Callable[[Path, Path], object]
"""``write_report(ledger_path, out_path)``: draws the HTML report from a closed ledger."""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def register(
    subparsers: argparse._SubParsersAction[Any], *, report_writer: ReportWriter | None = None
) -> None:
    """Add ``history`` to the CLI; ``report_writer`` backs ``--report`` (without it, ``--report``
    exits 64)."""
    p = subparsers.add_parser(
        "history", help="run the stack on real daily VIX and SPX data (open and close snapshots)"
    )
    p.add_argument(
        "--vix", type=Path, required=True, help="VIX daily CSV (Cboe, OHLC, Yahoo or FRED style)"
    )
    p.add_argument(
        "--spx", type=Path, required=True, help="SPX daily CSV (Cboe, OHLC, Yahoo or FRED style)"
    )
    p.add_argument(
        "--vx",
        type=Path,
        help="VX term structure CSV (date, vx1..vxN, vx1_expiry..); default: the model curve",
    )
    p.add_argument(
        "--macro", type=Path, help="date,event CSV of cpi/ppi/fomc days; default: the simulator's"
    )
    p.add_argument(
        "--rates",
        type=Path,
        help="FRED-style DATE,<SERIES> rate CSV in percent; default: market.rate",
    )
    p.add_argument(
        "--ad",
        type=Path,
        help="NYSE advance-decline CSV (date,advances,declines or date,ad_line); default: none,"
        " so every macro trigger counts as stress",
    )
    p.add_argument("--start", type=_date, help="first date used, YYYY-MM-DD (default: all)")
    p.add_argument("--end", type=_date, help="last date used, YYYY-MM-DD (default: all)")
    p.add_argument("--state-dir", type=Path, help="directory of the ledger (default: a new one)")
    p.add_argument("--config", type=Path, help="TOML config file (overrides the embedded default)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--report", type=Path, help="write the HTML report to this file at the end")
    add_resume_args(p)
    p.set_defaults(func=run, report_writer=report_writer)


def run(args: argparse.Namespace) -> int:
    """`alvh history`: exit 0, 64 (arguments), 65 (unusable data) or 70 (contained errors);
    config, state-dir and ledger errors propagate to the CLI's one mapping."""
    writer: ReportWriter | None = getattr(args, "report_writer", None)
    if args.report is not None and writer is None:
        print("alvh: error: --report: the report module is not available", file=sys.stderr)
        return EX_USAGE
    if args.report is not None and (problem := out_problem(args.report)):
        print(f"alvh: error: --report: {problem}", file=sys.stderr)
        return EX_USAGE
    if args.start is not None and args.end is not None and args.start > args.end:
        print(f"alvh: error: --start {args.start} is after --end {args.end}", file=sys.stderr)
        return EX_USAGE
    config = load_config(args.config)
    bar = ProgressBar("history")
    configure_logging(config.runtime.log_level, "json", stream=bar.as_stream())
    inputs = HistoryInputs(
        args.vix, args.spx, args.vx, args.macro, args.rates, args.start, args.end, args.ad
    )
    try:
        feed = load_feed(config, inputs)
    except HistoryDataError as exc:
        print(f"alvh: error: {exc}", file=sys.stderr)
        return EX_DATAERR
    mode = "resume" if args.resume else "new" if args.new else "fresh"
    state, temporary = open_batch_state_dir(args.state_dir, mode)
    with state, bar:
        if temporary:
            print(f"alvh: state directory: {state.path}", file=sys.stderr)
        summary = run_history(
            config,
            feed,
            state,
            resume=args.resume,
            progress=bar,
            report_writer=writer,
            report_path=args.report,
        )
    return report_summary(summary, args.json)


def load_feed(config: AppConfig, inputs: HistoryInputs) -> HistoryFeed:
    """Read and join the inputs; log what was skipped or dropped (a few lines per reason, then
    one ``history_data_loaded`` line with the counts). Raises :class:`HistoryDataError`."""
    feed = HistoryFeed(inputs, config.market)
    for problem in feed.problems:
        log.warning(
            "history_row_skipped",
            input=problem.input,
            line=problem.line,
            reason=problem.reason,
            row=problem.detail,
        )
    for reason, day in feed.drop_samples:
        log.info("history_date_dropped", reason=reason, date=day.isoformat())
    data = feed.data_summary()
    log.info(
        "history_data_loaded",
        sessions=data["sessions"],
        snapshots=data["snapshots"],
        first_session=data["first_session"],
        last_session=data["last_session"],
        rows_skipped_by_reason=data["rows_skipped_by_reason"],
        dates_dropped_by_join=data["dates_dropped_by_join"],
        vx_curve=data["vx_curve"],
        spx_vix_correlation=data["spx_vix_correlation"],
        ad_sessions_missing=data.get("ad_sessions_missing"),
    )
    return feed


def run_history(
    config: AppConfig,
    inputs: HistoryInputs | HistoryFeed,
    state: StateDir,
    *,
    resume: bool = False,
    progress: ProgressBar | None = None,
    report_writer: ReportWriter | None = None,
    report_path: Path | None = None,
) -> dict[str, Any]:
    """Drive the pipeline over the inputs' snapshots; return `simulate`'s summary plus ``data``.

    The run is recorded as scenario ``history``, seed 0, starting at the first joined session; a
    resume must see the same first session (the same files and ``--start``) and re-derives the
    run from its ledger, then goes on (with more data, past where it stopped). With
    ``report_writer`` and ``report_path``, the report is written once the ledger is closed.
    """
    feed = inputs if isinstance(inputs, HistoryFeed) else load_feed(config, inputs)
    spec = RunSpec(SCENARIO, 0, feed.first_session)
    expect: dict[str, object] | None = (
        {"scenario": SCENARIO, "seed": 0, "start": feed.first_session} if resume else None
    )
    prepared = prepare(config, spec, state, resume=resume, expect=expect)
    try:
        # The overlay reads the releases ahead from the calendar the snapshots are stamped from.
        prepared.engine.use_macro_calendar(feed.macro_calendar)
        process = prepared.pipeline.process
        if progress is not None:
            progress.reset(feed.snapshot_count)
            advance = progress.advance
            for snap in feed.snapshots():
                process(snap)
                advance()
        else:
            for snap in feed.snapshots():
                process(snap)
        prepared.pipeline.finish()
        summary = prepared.engine.summary()
    finally:
        if progress is not None:
            progress.close()
        prepared.pipeline.close()
        prepared.ledger.close()
    summary["data"] = feed.data_summary()
    if report_writer is not None and report_path is not None:
        report_writer(state.ledger_path, report_path)
    return summary
