"""Argument types and the flags `alvh run`, `simulate`, `replay` and `history` share.

The types raise `argparse.ArgumentTypeError`, so a bad value becomes a one-line usage error
(exit 64) naming the flag and the accepted range.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date
from pathlib import Path

from market.calendar import CALENDAR_START

LAST_START = date(2039, 12, 31)
"""Latest --start: the calendar ends 2040-12-31 and the market lists expiries months ahead."""
MAX_SEED = 2**63 - 1


def session_date(text: str) -> date:
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None
    if not CALENDAR_START <= value <= LAST_START:
        raise argparse.ArgumentTypeError(
            f"{value} is outside {CALENDAR_START} .. {LAST_START} (the exchange calendar's range)"
        )
    return value


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be within {lo} .. {hi}, got {value}")
        return value

    return parse


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not 'max' or a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 'max' or a finite number > 0, got {text}")
    return value


def add_resume_args(
    p: argparse.ArgumentParser, what: str = "run"
) -> argparse._MutuallyExclusiveGroup:
    """The batch commands' ``--resume | --new`` (``what``: the noun in --resume's help); the
    group is returned so a command can add a third choice (``simulate --adopt``)."""
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume",
        action="store_true",
        help=f"resume the {what} in --state-dir (re-derive it from its ledger, then go on)",
    )
    mode.add_argument(
        "--new", action="store_true", help="archive the ledger in --state-dir and start fresh"
    )
    return mode


def add_record_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--record",
        type=Path,
        metavar="FILE",
        help="write every snapshot and control event to this session file (gzip if it ends in"
        " .gz; replaced if it exists)",
    )


def add_market_args(p: argparse.ArgumentParser, scenario_default: str | None) -> None:
    from market.scenarios import scenario_names

    p.add_argument("--config", type=Path, help="TOML config file (overrides the embedded default)")
    p.add_argument(
        "--scenario",
        choices=scenario_names(),
        default=scenario_default,
        help="scripted VIX path laid over the model (default: the base model)",
    )
    p.add_argument("--seed", type=int_in(0, MAX_SEED), help="random seed (default 1)")
    p.add_argument(
        "--start", type=session_date, help="first session, YYYY-MM-DD (default 2025-01-02)"
    )
    p.add_argument("--state-dir", type=Path, help="directory of the ledger")


def add_report_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="also write the HTML report of the run (alvh report) to FILE when it ends",
    )
