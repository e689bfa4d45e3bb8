"""The run report as one self-contained HTML file: inline CSS and inline SVG charts drawn
here, no script, no font, nothing fetched (a Content-Security-Policy tells the browser so).

Every text that comes from the ledger or the config is escaped (:func:`html.escape`).
The data comes from :mod:`daemon.report`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from daemon.report import Report, Series

NEW_YORK = ZoneInfo("America/New_York")
WIDTH, LEFT, RIGHT, TOP, BOTTOM = 960, 78, 16, 40, 28
PLOT_WIDTH = WIDTH - LEFT - RIGHT
REGIME_COLORS = {"calm": "#e3f2e1", "elevated": "#fdf0c8", "stress": "#f9d6d5"}
LAYER_COLORS = {"condor": "#d9822b", "hedge": "#2a9d8f", "press": "#8e44ad"}
OTHER_COLORS = ("#b03a2e", "#1e8449", "#34495e")
STACK, GREY = "#1f4e9c", "#7f7f7f"
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


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    values: Sequence[float]
    color: str
    dash: str = ""


# -- numbers -------------------------------------------------------------------------------


def money(value: float | None) -> str:
    return "n/a" if value is None else f"{'-' if value < 0 else ''}${abs(value):,.2f}"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def price(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) that cover ``lo`` .. ``hi``."""
    if not hi > lo:
        lo, hi = lo - max(1.0, abs(lo) * 0.05), hi + max(1.0, abs(hi) * 0.05)
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * 0.999)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [k * step for k in range(first, last + 1)]


def _axis_format(kind: str, ticks: list[float]) -> Callable[[float], str]:
    """Tick labels with as many decimals as the step needs: ``pct``, ``money`` or plain."""
    step, top = ticks[1] - ticks[0], max(abs(t) for t in ticks)
    scale, prefix, suffix = 1.0, "", ""
    if kind == "pct":
        scale, suffix = 100.0, "%"
    elif kind == "money":
        prefix = "$"
        # the largest unit the values reach whose ticks need at most two decimals
        units = [(1e6, "M", 1e6), (1e3, "k", 1e4), (1.0, "", 0.0)]
        unit, suffix = next((u, x) for u, x, least in units if top >= least and step >= u / 100)
        scale = 1 / unit
    scaled = [t * scale for t in ticks]
    places = next(
        (p for p in range(4) if all(abs(round(v, p) - v) < 1e-9 * max(1, abs(v)) for v in scaled)),
        4,
    )
    return lambda v: (
        f"{'-' if v < 0 else ''}{prefix}{abs(v) * scale:,.{places}f}{suffix}" if v else "0"
    )


# -- charts --------------------------------------------------------------------------------


def _kept(values: Sequence[float]) -> Sequence[int]:
    """Indices worth drawing: all of them up to two per pixel column; past that each column
    keeps its first, lowest, highest and last value, so spikes survive and the file stays small."""
    n = len(values)
    if n <= 2 * PLOT_WIDTH:
        return range(n)
    chosen: set[int] = set()
    for col in range(PLOT_WIDTH):
        idx = range(int(col * n / PLOT_WIDTH), int((col + 1) * n / PLOT_WIDTH))
        if idx:
            pick = values.__getitem__
            chosen.update((idx[0], idx[-1], min(idx, key=pick), max(idx, key=pick)))
    return sorted(chosen)


def _runs(labels: Sequence[str]) -> list[tuple[int, int]]:
    """First and last index of each run of equal labels."""
    runs: list[tuple[int, int]] = []
    for i, label in enumerate(labels):
        if runs and labels[runs[-1][0]] == label:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _rule(y: float, attrs: str) -> str:
    return f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" {attrs}/>'


def chart(
    chart_id: str,
    title: str,
    sessions: Sequence[date],
    lines: Sequence[Line],
    kind: str,
    *,
    height: int = 260,
    regimes: Sequence[str] = (),
    levels: Sequence[tuple[str, float]] = (),
    zero: bool = False,
) -> str:
    """A line chart over the sessions (one even step per session) as inline SVG: regimes shade
    the background, ``levels`` are dashed reference lines, ``zero`` keeps 0 in range."""
    n = len(sessions)
    values = [v for line in lines for v in line.values] + [v for _, v in levels] + [0.0] * zero
    ticks = nice_ticks(min(values), max(values))
    lo, hi, bottom = ticks[0], ticks[-1], height - BOTTOM

    def x(i: float) -> float:
        return LEFT + (i / (n - 1) if n > 1 else 0.5) * PLOT_WIDTH

    def y(v: float) -> float:
        return bottom - (v - lo) / (hi - lo) * (bottom - TOP)

    fmt = _axis_format(kind, ticks)
    out = [
        f'<svg id="{escape(chart_id)}" role="img" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}"'
        f' height="{height}"><title>{escape(title)}</title>'
        f'<text x="{LEFT}" y="16" style="font-size:13px;font-weight:600">{escape(title)}</text>'
    ]
    for first, last in _runs(regimes):
        x0, x1 = max(LEFT, x(first - 0.5)), min(WIDTH - RIGHT, x(last + 0.5))
        out.append(
            f'<rect x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 0.5):.1f}" height="{bottom - TOP}"'
            f' fill="{REGIME_COLORS.get(regimes[first], "#eeeeee")}"/>'
        )
    for t in ticks:
        out.append(_rule(y(t), 'stroke="#e6e6e6"'))
        label = escape(fmt(t))
        out.append(f'<text x="{LEFT - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{label}</text>')
    out.append(_rule(bottom, 'stroke="#999"'))
    for k in sorted({round(j * (n - 1) / 5) for j in range(6)}):
        label = sessions[k].isoformat() if n < 500 else sessions[k].strftime("%Y-%m")
        anchor = "end" if k == n - 1 and n > 1 else "start" if k == 0 else "middle"
        out.append(
            f'<line x1="{x(k):.1f}" x2="{x(k):.1f}" y1="{bottom}" y2="{bottom + 4}" stroke="#999"/>'
            f'<text x="{x(k):.1f}" y="{bottom + 16}" text-anchor="{anchor}">{escape(label)}</text>'
        )
    if zero and lo < 0 < hi:
        out.append(_rule(y(0), 'stroke="#888" stroke-dasharray="2 3"'))
    for label, level in levels:
        out.append(_rule(y(level), 'stroke="#999" stroke-dasharray="6 4"'))
        out.append(
            f'<text x="{WIDTH - RIGHT - 4}" y="{y(level) - 4:.1f}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
    for line in lines:
        if n == 1:
            cy = y(line.values[0])
            out.append(f'<circle cx="{x(0):.1f}" cy="{cy:.1f}" r="3" fill="{line.color}"/>')
            continue
        points = " ".join(f"{x(i):.1f},{y(line.values[i]):.1f}" for i in _kept(line.values))
        dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
        out.append(
            f'<polyline fill="none" stroke="{line.color}" stroke-width="1.5"{dash}'
            f' points="{points}"/>'
        )
    out.append(_legend(lines, regimes))
    return "".join(out) + "</svg>"


def _legend(lines: Sequence[Line], regimes: Sequence[str]) -> str:
    items = []
    for line in lines:
        dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
        swatch = (
            f'<line x1="0" x2="18" y1="-4" y2="-4" stroke="{line.color}" stroke-width="2"{dash}/>'
        )
        items.append((line.label, swatch))
    for regime in (r for r in REGIME_COLORS if r in set(regimes)):
        color = REGIME_COLORS[regime]
        items.append((regime, f'<rect x="0" y="-10" width="18" height="10" fill="{color}"/>'))
    out, at = [], WIDTH - RIGHT
    for label, swatch in reversed(items):
        at -= 32 + round(6.5 * len(label))
        out.append(f'<g transform="translate({at},32)">{swatch}')
        out.append(f'<text x="22" y="0">{escape(label)}</text></g>')
    return "".join(out)


def charts(series: Series, vix_levels: dict[str, float]) -> str:
    """Equity and drawdown, SPX and VIX by regime, P&L per layer and the hedge size."""
    s, dd = series.sessions, series.drawdown
    stack = Line("full stack", series.equity, STACK)
    condor = Line("condor layer alone", series.condor_alone, LAYER_COLORS["condor"])
    spx = Line("SPX buy and hold", series.spx_hold, GREY, "5 3")
    falls = [
        Line(stack.label, dd["stack"], stack.color),
        Line(condor.label, dd["condor_alone"], condor.color),
        Line(spx.label, dd["spx"], spx.color, spx.dash),
    ]
    layers = [
        Line(name, values, LAYER_COLORS.get(name) or OTHER_COLORS[i % len(OTHER_COLORS)])
        for i, (name, values) in enumerate(series.layer_pnl.items())
    ]
    layers.append(Line("interest on cash", series.interest, GREY, "5 3"))
    levels = [(f"{name} {v:g}", v) for name, v in vix_levels.items()]
    hedge = [Line("hedge", series.hedge_size, LAYER_COLORS["hedge"])]
    by_regime = {"regimes": series.regimes}
    specs: list[tuple[str, str, list[Line], str, dict[str, Any]]] = [
        ("chart-equity", "Equity at the close", [stack, condor, spx], "money", {}),
        ("chart-drawdown", "Drawdown from the running peak", falls, "pct", {"zero": True}),
        ("chart-spx", "SPX at the close, by regime", [Line("SPX", series.spx, STACK)], "num",
         by_regime),
        ("chart-vix", "VIX at the close, by regime", [Line("VIX", series.vix, "#c0392b")], "num",
         {**by_regime, "levels": levels}),
        ("chart-layer-pnl", "Cumulative P&L per layer (realized + unrealized)", layers, "money",
         {"zero": True}),
        ("chart-hedge-size", "Hedge size at the close (VX equivalents)", hedge, "num",
         {"zero": True, "height": 200}),
    ]  # fmt: skip
    return "\n".join(
        chart(cid, title, s, lines, kind, **kw) for cid, title, lines, kind, kw in specs
    )


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


def performance_table(summary: dict[str, Any]) -> str:
    cols = [summary, summary["condor_alone"], summary["spx"]]
    return table(
        ["", "full stack", "condor layer alone", "SPX buy and hold"],
        [
            ["final value", *(money(c["final_equity"]) for c in cols)],
            ["total return", *(pct(c["total_return"]) for c in cols)],
            ["CAGR", *(pct(c["cagr"]) for c in cols)],
            ["max drawdown (peak to trough)", *(_drawdown(c) for c in cols)],
            ["Sharpe", *(num(c["sharpe"]) for c in cols)],
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
<li>Exits count structures rebuilt from the fills and settlements: a structure exits under the reason
of the fill (or settlement) that leaves it without a contract, so a hedge reduced but not to zero has
not exited. Rolls count fills with reason time_shift, delta_band or roll (the hedge's).</li>
<li>Fees are the fills' fees. Days by regime count sessions by the regime at their close.</li>
</ul>"""


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
