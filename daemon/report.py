"""The run report's data: a ledger's daily marks, fills and settlements turned into the series
the charts draw and the summary table (issue 6; SPEC sections 11 and 14).

Everything is read from the ledger alone, opened read-only (:mod:`daemon.report_ledger`), so a
report can be written for any state directory, while its daemon runs or long after, and never
changes the ledger. :mod:`daemon.report_stats` computes the performance figures,
:mod:`daemon.report_html` renders the page; `alvh report` is :func:`register` and :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import structlog

from brokers.config import BrokerConfig
from brokers.ledger import Ledger, LedgerError
from daemon.report_books import rebuild_books
from daemon.report_html import render_report
from daemon.report_ledger import open_read_only
from daemon.report_stats import drawdowns, performance
from market.simulator import SimulatorConfig
from strategies.events import ExitRule

log = structlog.get_logger("alvh.daemon.report")

LAYERS = ("condor", "hedge", "press")
EXIT_RULES = (*(rule.value for rule in ExitRule), "settlement", "rebalance", "roll")
ROLL_KEYS = {"time_shift": "time_shift", "delta_band": "delta_band", "roll": "hedge"}
"""A roll fill's reason -> its key in ``rolls`` (the run summary's names)."""
EX_USAGE, EX_CANTCREAT, EX_IOERR = 64, 73, 74


@dataclass(frozen=True, slots=True)
class Mark:
    """One row of ``daily_marks``, checked. ``pnl`` is each layer's realized + unrealized P&L
    at the close (``layer_equity``); marks written before schema v3 hold only ``realized``,
    which ``pnl`` then repeats (``realized_only``). ``equity`` may be zero or negative: a
    loss can exceed the account."""

    session: date
    ts: datetime
    equity: float
    spx: float
    vix: float
    regime: str
    realized: dict[str, float]
    pnl: dict[str, float]
    hedge_size: float
    realized_only: bool


@dataclass(frozen=True, slots=True)
class Series:
    """One value per daily mark, in session order; dollars except ``drawdown`` (value over the
    running peak, minus one), SPX and VIX points and ``hedge_size`` (VX equivalents)."""

    sessions: list[date]
    equity: list[float]
    condor_alone: list[float]
    spx_hold: list[float]
    drawdown: dict[str, list[float]]
    spx: list[float]
    vix: list[float]
    regimes: list[str]
    layer_pnl: dict[str, list[float]]
    interest: list[float]
    hedge_size: list[float]


@dataclass(frozen=True, slots=True)
class Report:
    """What the page shows; ``series`` is None while the ledger holds no usable daily mark."""

    source: str
    run: dict[str, Any]
    series: Series | None
    summary: dict[str, Any]
    fills: list[dict[str, Any]]
    settlements: list[dict[str, Any]]
    vix_levels: dict[str, float]


# -- reading -------------------------------------------------------------------------------


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _layer_json(text: object) -> dict[str, float] | None:
    """A ``{"layer": dollars}`` JSON object, or None when the text is not one."""
    try:
        data = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    if not isinstance(data, dict) or not all(_finite(v) for v in data.values()):
        return None
    return {str(k): float(v) for k, v in data.items()}


def _when(text: object) -> datetime | None:
    """An ISO timestamp with its offset, or None."""
    try:
        ts = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None


def parse_mark(row: dict[str, Any]) -> Mark | str:
    """The mark in ``row``, or why it cannot be used."""
    try:
        session = date.fromisoformat(str(row["session"]))
    except ValueError:
        return "bad_session"
    if (ts := _when(row["ts"])) is None:
        return "bad_timestamp"
    numbers = [row.get(k) for k in ("equity", "spx", "vix", "hedge_size")]
    if not all(_finite(v) for v in numbers):
        return "non_finite_number"
    equity, spx, vix, hedge_size = (float(v) for v in numbers)  # type: ignore[arg-type]
    if min(spx, vix) <= 0:
        return "non_positive_price"
    realized = _layer_json(row.get("layer_pnl"))
    pnl = _layer_json(row.get("layer_equity", "{}"))
    if realized is None or pnl is None:
        return "bad_layer_json"
    # Before schema v3 layer_equity is "{}" (a v2 ledger has no such column): the layers'
    # realized P&L is all there is.
    regime, realized_only = str(row["regime"]), not pnl and bool(realized)
    return Mark(
        session, ts, equity, spx, vix, regime, realized, pnl or realized, hedge_size, realized_only
    )


def _starting_config(ledger: Ledger) -> dict[str, Any]:
    """The config the run started with: its first config version, else its run record."""
    texts = [v["config_text"] for v in ledger.config_versions()[:1]]
    for text in texts + [r["config_text"] for r in ledger.runs()[:1]]:
        try:
            data = json.loads(text)
        except ValueError:
            continue
        if isinstance(data, dict):
            return data
    return {}


def _number(tree: dict[str, Any], path: str, default: float) -> float:
    node: Any = tree
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return float(node) if _finite(node) else default


# -- the report ----------------------------------------------------------------------------


def build_report(ledger: Ledger) -> Report:
    """Read everything the report shows from ``ledger``."""
    config = _starting_config(ledger)
    cash = ledger.cash_movements()
    deposits = [c["amount"] for c in cash if c["kind"] == "deposit"]
    start = _number(config, "account.starting_equity", deposits[0] if deposits else math.nan)
    rate = _number(config, "market.rate", float(SimulatorConfig.model_fields["rate"].default))
    marks, skipped = [], Counter[str]()
    for row in ledger.daily_marks():
        mark = parse_mark(row)
        if isinstance(mark, str):
            skipped[mark] += 1
        else:
            marks.append(mark)
    if skipped:
        log.warning("report_marks_skipped", by_reason=dict(sorted(skipped.items())))
    if not math.isfinite(start) or start <= 0:
        default = float(BrokerConfig.model_fields["starting_equity"].default)
        start = marks[0].equity if marks and marks[0].equity > 0 else default
    credited = [(_when(c["ts"]), c["amount"]) for c in cash if c["kind"] == "interest"]
    interest = [(ts, float(a)) for ts, a in credited if ts is not None and _finite(a)]
    fills, settlements = ledger.fills(), ledger.settlements()
    series = _series(marks, start, interest) if marks else None
    summary = _summary(marks, series, start, rate, fills, settlements)
    summary["interest"] = round(sum(a for _, a in interest), 2)
    summary["skipped_marks"] = dict(sorted(skipped.items()))
    summary["realized_only_marks"] = sum(m.realized_only for m in marks)
    runs = ledger.runs()
    run = {k: runs[0][k] for k in ("scenario", "seed", "start", "alvh_version")} if runs else {}
    levels = {
        "elevated": _number(config, "strategy.regime.elevated_vix", 16.0),
        "stress": _number(config, "strategy.regime.press_threshold", 25.0),
    }
    return Report(str(ledger.path), run, series, summary, fills, settlements, levels)


def _series(marks: list[Mark], start: float, interest: list[tuple[datetime, float]]) -> Series:
    equity = [m.equity for m in marks]
    condor = [start + m.pnl.get("condor", 0.0) for m in marks]
    spx_hold = [start * m.spx / marks[0].spx for m in marks]
    layers = list(LAYERS) + sorted({k for m in marks for k in m.pnl} - set(LAYERS))
    earned, total, i = [], 0.0, 0
    for m in marks:
        while i < len(interest) and interest[i][0] <= m.ts:
            total, i = total + interest[i][1], i + 1
        earned.append(total)
    return Series(
        sessions=[m.session for m in marks],
        equity=equity,
        condor_alone=condor,
        spx_hold=spx_hold,
        drawdown={
            "stack": drawdowns([start, *equity])[1:],
            "condor_alone": drawdowns([start, *condor])[1:],
            "spx": drawdowns(spx_hold),
        },
        spx=[m.spx for m in marks],
        vix=[m.vix for m in marks],
        regimes=[m.regime for m in marks],
        layer_pnl={layer: [m.pnl.get(layer, 0.0) for m in marks] for layer in layers},
        interest=earned,
        hedge_size=[m.hedge_size for m in marks],
    )


def _summary(
    marks: list[Mark],
    series: Series | None,
    start: float,
    rate: float,
    fills: list[dict[str, Any]],
    settlements: list[dict[str, Any]],
) -> dict[str, Any]:
    books = rebuild_books(fills, settlements)
    last = marks[-1] if marks else None
    final_pnl = last.pnl if last else {}
    names = list(LAYERS) + sorted(({f["layer"] for f in fills} | set(final_pnl)) - set(LAYERS))
    layers = {}
    for name in names:
        own = [f for f in fills if f["layer"] == name]
        layers[name] = {
            "opened": books.opened[name],
            "closed": sum(books.exits.get(name, Counter()).values()),
            "fills": len(own),
            "fees": round(float(sum(f["fees"] for f in own)), 2),
            "realized_pnl": round(last.realized.get(name, 0.0), 2) if last else 0.0,
            "pnl": round(final_pnl.get(name, 0.0), 2),
        }
    exits = dict.fromkeys(EXIT_RULES, 0)
    for rule, n in sum(books.exits.values(), Counter[str]()).items():
        exits[rule] = exits.get(rule, 0) + n
    rolls = dict.fromkeys(("time_shift", "delta_band", "hedge"), 0)
    for f in fills:
        if f["reason"] in ROLL_KEYS and f["intent"] != "close":
            rolls[ROLL_KEYS[f["reason"]]] += 1
    rolls["total"] = sum(rolls.values())
    regimes = dict.fromkeys(("calm_days", "elevated_days", "stress_days"), 0)
    for m in marks:
        regimes[f"{m.regime}_days"] = regimes.get(f"{m.regime}_days", 0) + 1
    out: dict[str, Any] = {
        "sessions": len(marks),
        "first_session": marks[0].session.isoformat() if marks else None,
        "last_session": last.session.isoformat() if last else None,
        "calendar_days": (last.session - marks[0].session).days + 1 if last else 0,
        "starting_equity": round(start, 2),
        "risk_free_rate": rate,
        "final_equity": None,
    }
    if series is not None:
        days, labels = out["calendar_days"], [s.isoformat() for s in series.sessions]
        out.update(performance([start, *series.equity], ["start", *labels], days, rate))
        alone = performance([start, *series.condor_alone], ["start", *labels], days, rate)
        out.update(condor_alone=alone, spx=performance(series.spx_hold, labels, days, rate))
    fees = round(float(sum(f["fees"] for f in fills)), 2)
    out.update(layers=layers, fills=len(fills), settlements=len(settlements), fees=fees)
    out.update(exits=exits, rolls=rolls, regimes=regimes)
    return out


# -- writing and the command ---------------------------------------------------------------


def write_report(ledger_path: Path, out: Path) -> dict[str, Any]:
    """Write the HTML report of the ledger at ``ledger_path`` (opened read-only, never
    migrated) to ``out`` (a temporary file beside it, then a rename: never half a report);
    return the summary table."""
    with open_read_only(ledger_path) as ledger:
        report = build_report(ledger)
    text = render_report(report)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    summary = report.summary
    log.info("report_written", path=str(out), sessions=summary["sessions"], fills=summary["fills"])
    return summary


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``alvh report --state-dir DIR --out FILE.html``."""
    p = subparsers.add_parser("report", help="write an HTML report of the run in a state dir")
    p.add_argument(
        "--state-dir", type=Path, help="directory of the ledger (default: $STATE_DIRECTORY)"
    )
    p.add_argument("--out", type=Path, required=True, help="HTML file to write (replaced)")
    p.set_defaults(func=run)


def out_problem(out: Path) -> str | None:
    """Why a report cannot be written to ``out`` (check it before a long run), or None."""
    if out.is_dir():
        return f"{out} is a directory"
    return None if out.parent.is_dir() else f"{out}: directory {out.parent} does not exist"


def run(args: argparse.Namespace) -> int:
    """`alvh report`: 0 written, 64 unusable --out, 73 no ledger or the file cannot be
    written, 74 the ledger cannot be read (nor a schema older than v2 or newer than this
    alvh's: never migrated here)."""
    env_dir = os.environ.get("STATE_DIRECTORY", "alvh-state").split(":")[0]
    state_dir, out = Path(args.state_dir or env_dir), Path(args.out)
    ledger_path = state_dir / "ledger.sqlite"
    if not ledger_path.is_file():
        print(f"alvh: error: --state-dir: {state_dir} holds no ledger", file=sys.stderr)
        return EX_CANTCREAT
    if problem := out_problem(out):
        print(f"alvh: error: --out: {problem}", file=sys.stderr)
        return EX_USAGE
    try:
        summary = write_report(ledger_path, out)
    except (LedgerError, sqlite3.Error) as exc:
        print(f"alvh: error: ledger: {exc}", file=sys.stderr)
        return EX_IOERR
    except OSError as exc:
        print(f"alvh: error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EX_CANTCREAT
    print(f"alvh: report: {out} ({summary['sessions']} sessions, {summary['fills']} fills)")
    return 0
