"""The run report as one self-contained HTML file: inline CSS and the inline SVG charts of
:mod:`daemon.report_charts`, no script, no font, nothing fetched (a Content-Security-Policy
tells the browser so).

Every text that comes from the ledger or the config is escaped (:func:`html.escape`).
The data comes from :mod:`daemon.report`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from daemon.report_charts import charts

if TYPE_CHECKING:
    from daemon.report import Report

NEW_YORK = ZoneInfo("America/New_York")
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#222;
margin:0 auto;max-width:1000px;padding:0 16px 48px}h1{font-size:22px;margin:20px 0 4px}
h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}.meta{color:#555;margin:0}
.notice{background:#fff4e5;border:1px solid #f0c36d;padding:8px 12px}
table{border-collapse:collapse;margin:8px 0 16px}th,td{padding:3px 10px;text-align:right;
border-bottom:1px solid #eee;vertical-align:top}th:first-child,td:first-child{text-align:left}
thead th{background:#f5f5f5;position:sticky;top:0}.grid{display:flex;flex-wrap:wrap;gap:0 32px}
.scroll{max-height:36em;overflow:auto;border:1px solid #ddd}.scroll table{margin:0;width:100%}
.legs{display:block;text-align:left;white-space:nowrap;font:12px ui-monospace,Menlo,monospace}
svg{display:block;margin:6px 0 14px;max-width:100%;height:auto}svg text{font-size:11px;fill:#444}
"""


# -- numbers -------------------------------------------------------------------------------


def money(value: float | None) -> str:
    return "n/a" if value is None else f"{'-' if value < 0 else ''}${abs(value):,.2f}"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def price(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


# -- tables --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Markup:
    """Markup built here from escaped parts, put in a table cell as it is."""

    html: str


def table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A table; every cell is escaped (pre-built markup comes in as :class:`Markup`)."""

    def cell(value: object) -> str:
        return value.html if isinstance(value, Markup) else escape(str(value))

    head_html = "".join(f"<th>{cell(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head_html}</tr></thead><tbody>{body}</tbody></table>"


def _drawdown(perf: dict[str, Any]) -> str:
    text = pct(perf["max_drawdown"])
    if perf["max_drawdown_peak"]:
        text += f" ({perf['max_drawdown_peak']} to {perf['max_drawdown_trough']})"
    return text


def _figure(perf: dict[str, Any], key: str, fmt: Callable[[float | None], str]) -> str:
    """A figure, or "n/a" with the reason it is not given."""
    reason = perf["undefined"].get(key) if perf[key] is None else None
    return f"n/a — {reason}" if reason else fmt(perf[key])


def performance_table(summary: dict[str, Any]) -> str:
    cols = [summary, summary["condor_alone"], summary["spx"]]
    return table(
        ["", "full stack", "condor layer alone", "SPX buy and hold"],
        [
            ["final value", *(money(c["final_equity"]) for c in cols)],
            ["total return", *(pct(c["total_return"]) for c in cols)],
            ["CAGR", *(_figure(c, "cagr", pct) for c in cols)],
            ["max drawdown (peak to trough)", *(_drawdown(c) for c in cols)],
            ["Sharpe", *(_figure(c, "sharpe", num) for c in cols)],
        ],
    )


def layers_table(summary: dict[str, Any]) -> str:
    rows: list[list[object]] = [
        [name, v["opened"], v["closed"], v["fills"], money(v["fees"]), money(v["realized_pnl"])]
        + [money(v["pnl"])]
        for name, v in summary["layers"].items()
    ]
    interest = money(summary["interest"])
    rows.append(["interest on cash", "", "", "", "", interest, interest])
    if summary["final_equity"] is not None:
        total = money(summary["final_equity"] - summary["starting_equity"])
        fees = money(summary["fees"])
        rows.append(["equity − starting equity", "", "", summary["fills"], fees, "", total])
    head = ["layer", "opened", "closed", "fills", "fees", "realized P&L", "P&L at the last close"]
    return table(head, rows)


def counts_table(title: str, counts: dict[str, int], total: int = 0) -> str:
    rows = [
        [k.removesuffix("_days"), v, *([pct(v / total)] if total else [])]
        for k, v in counts.items()
    ]
    return table([title, "count", *(["share"] if total else [])], rows)


def _et(ts: str) -> str:
    try:
        return datetime.fromisoformat(ts).astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return ts


def blotter(fills: Sequence[dict[str, Any]]) -> str:
    if not fills:
        return '<p class="notice">No trades: the ledger holds no fill.</p>'
    head = ["time (ET)", "fill", "layer", "intent", "reason", "legs: contracts symbol @ price"]
    rows = []
    for f in fills:
        legs = [
            f"{leg['quantity']:+d} {leg['symbol']} @ {price(leg['price'])}" for leg in f["legs"]
        ]
        cell = Markup('<span class="legs">' + "<br>".join(escape(g) for g in legs) + "</span>")
        row = [_et(f["ts"]), f["fill_id"], f["layer"], f["intent"], f["reason"], cell]
        rows.append(row + [f["quantity"], price(f["net_price"]), money(f["fees"])])
    return f'<div class="scroll">{table([*head, "quantity", "net price", "fees"], rows)}</div>'


def settlements_table(settlements: Sequence[dict[str, Any]]) -> str:
    if not settlements:
        return "<p>No contract was held to its settlement.</p>"
    rows = [
        [_et(s["ts"]), s["layer"], s["symbol"], f"{int(s['quantity']):+d}"]
        + [price(s["settlement_price"]), money(s["cash"]), "proxy" if s["proxy"] else ""]
        for s in settlements
    ]
    head = ["time (ET)", "layer", "symbol", "contracts", "print", "cash", ""]
    return f'<div class="scroll">{table(head, rows)}</div>'


# -- the page ------------------------------------------------------------------------------

NOTES = """<ul>
<li>Equity is the ledger's daily mark at each session close: cash plus every position at mid.
The condor layer alone is the starting equity plus the condor layer's realized and unrealized P&amp;L
at the close; SPX buy and hold is the starting equity times SPX over its first close (price only).</li>
<li>Total return: the final value over the starting equity (SPX: over its first close), minus one.
CAGR compounds it over the calendar days from the first session to the last, both counted, in years
of 365.25 days. Max drawdown: the deepest fall from a running peak, the starting equity included.</li>
<li>Sharpe: the daily returns of the values at the closes (from the starting equity) less the
configured risk-free rate / 252; their mean over their sample standard deviation, times √252.</li>
<li>A loss can exceed the starting equity. Once a path reaches zero or below, its CAGR and Sharpe are
n/a: growth cannot compound through zero, and a return on a value at or below zero has no meaning.
The table names the session. Its total return and drawdown are still dollars over the starting
equity or the peak, so a drawdown can then pass 100%.</li>
<li>Exits count structures rebuilt from the fills and settlements: a structure exits under the reason
of the fill (or settlement) that leaves it without a contract, so a hedge reduced but not to zero has
not exited. Rolls count fills with reason time_shift, delta_band or roll (the hedge's).</li>
<li>Fees are the fills' fees. Days by regime count sessions by the regime at their close.</li>
</ul>"""


def _realized_only(marks: int, sessions: int) -> str:
    return (
        f"{marks} of {sessions} daily marks were written before ledger schema v3 and hold only"
        " each layer's realized P&L: for those sessions the condor layer alone and the P&L per"
        " layer leave out open positions at mid. The report reads the ledger as it is and never"
        " migrates it; a migration would not add what these marks did not record."
    )


def render_report(report: Report) -> str:
    """The whole report page."""
    summary, run = report.summary, dict(report.run)
    if "scenario" in run:
        run["scenario"] = run["scenario"] or "base model"
    meta = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in run.items()) or "no run recorded"
    period = (
        f"{summary['sessions']} sessions, {summary['first_session']} to {summary['last_session']}"
        f" ({summary['calendar_days']} calendar days)"
        if summary["sessions"]
        else "no session closed yet"
    )
    facts = (
        f"ledger {report.source}; {period}; starting equity {money(summary['starting_equity'])};"
        f" risk-free rate {pct(summary['risk_free_rate'])}"
    )
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';'
        " style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>alvh report: {escape(period)}</title><style>{STYLE}</style></head><body>",
        f'<h1>alvh report</h1><p class="meta">{escape(meta)}</p>',
        f'<p class="meta">{escape(facts)}</p>',
    ]
    if summary["skipped_marks"]:
        reasons = ", ".join(f"{k} {v}" for k, v in summary["skipped_marks"].items())
        parts.append(f'<p class="notice">Unreadable daily marks left out: {escape(reasons)}.</p>')
    if old := summary["realized_only_marks"]:
        parts.append(f'<p class="notice">{escape(_realized_only(old, summary["sessions"]))}</p>')
    parts.append("<h2>Summary</h2>")
    if report.series is None:
        parts.append(
            '<p class="notice">The ledger holds no daily mark yet: returns and charts start'
            " with the first session close. The trades so far are below.</p>"
        )
    else:
        parts.append(performance_table(summary))
    parts += [layers_table(summary), '<div class="grid">']
    parts.append(counts_table("exits by rule", summary["exits"]))
    parts.append(counts_table("rolls", summary["rolls"]))
    parts.append(counts_table("days by regime", summary["regimes"], summary["sessions"]))
    parts.append("</div>")
    if report.series is not None:
        parts += ["<h2>Charts</h2>", charts(report.series, report.vix_levels)]
    parts += [f"<h2>Trade blotter ({len(report.fills)} fills)</h2>", blotter(report.fills)]
    parts.append(f"<h2>Settlements ({len(report.settlements)})</h2>")
    parts.append(settlements_table(report.settlements))
    parts.append(f"<h2>How the figures are computed</h2>{NOTES}</body></html>")
    return "\n".join(parts)
