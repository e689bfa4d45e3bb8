"""The report's charts: line charts over the sessions as inline SVG, drawn here (no script,
no font). Every text put in a chart is escaped (:func:`html.escape`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daemon.report import Series

WIDTH, LEFT, RIGHT, TOP, BOTTOM = 960, 78, 16, 40, 28
PLOT_WIDTH = WIDTH - LEFT - RIGHT
REGIME_COLORS = {"calm": "#e3f2e1", "elevated": "#fdf0c8", "stress": "#f9d6d5"}
LAYER_COLORS = {"condor": "#d9822b", "hedge": "#2a9d8f", "press": "#8e44ad"}
OTHER_COLORS = ("#b03a2e", "#1e8449", "#34495e")
STACK, GREY = "#1f4e9c", "#7f7f7f"


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    values: Sequence[float]
    color: str
    dash: str = ""


# -- axes ----------------------------------------------------------------------------------


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
