"""`alvh report`: one self-contained HTML page drawn from the ledger, whose numbers agree with
an independent recomputation from the ledger's rows and with the run's own summary."""

from __future__ import annotations

import argparse
import json
import math
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from structlog.testing import capture_logs

from brokers.ledger import Ledger
from daemon.cli import _Parser
from daemon.config import load_config
from daemon.engine import Control
from daemon.report import build_report, register, run, write_report
from daemon.report_books import Books
from daemon.report_charts import PLOT_WIDTH, Line, chart, nice_ticks
from daemon.report_stats import max_drawdown, performance
from daemon.runner import RunSpec, simulate
from daemon.statedir import StateDir

CHARTS = {
    "chart-equity",
    "chart-drawdown",
    "chart-spx",
    "chart-vix",
    "chart-layer-pnl",
    "chart-hedge-size",
}
VOID = {"meta", "br", "link", "img", "input", "hr", "col", "area", "base", "wbr", "source"}


@dataclass(frozen=True)
class Run:
    state: Path
    summary: dict[str, Any]


def _simulate(
    root: Path,
    scenario: str | None,
    seed: int,
    days: int,
    cadence: int = 60,
    overrides: dict[str, Any] | None = None,
    planned: dict[int, list[Control]] | None = None,
) -> Run:
    config = load_config(None, {"market": {"cadence_minutes": cadence}, **(overrides or {})})
    with StateDir(root) as state, capture_logs():  # quiet and fast: nothing rendered
        summary = simulate(
            config, RunSpec(scenario, seed, date(2025, 1, 2)), days, state, planned=planned
        )
    return Run(root, summary)


@pytest.fixture(scope="module")
def spike(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _simulate(tmp_path_factory.mktemp("spike"), "spike-and-revert", 1, 60)


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The base model with an operator's flatten: stops, unwinds, a settlement, hedge rolls."""
    flatten = {500: [Control("flatten", {"reason": "operator"})]}
    return _simulate(tmp_path_factory.mktemp("busy"), None, 4, 250, 120, planned=flatten)


class _Page(HTMLParser):
    """Collects tags and checks every non-void element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: Counter[str] = Counter()
        self.attrs: list[tuple[str, str, str]] = []
        self.svg_ids: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_startendtag(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        if tag == "svg":
            self.svg_ids.append(dict(attrs).get("id") or "")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    assert not page.errors and not page.stack, (page.errors, page.stack)
    return page


def _rows(state: Path, sql: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(state / "ledger.sqlite")
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _execute(state: Path, sql: str, *params: object) -> None:
    conn = sqlite3.connect(state / "ledger.sqlite")
    with conn:
        conn.execute(sql, params)
    conn.close()


# -- the page ------------------------------------------------------------------------------


def test_the_report_is_one_self_contained_deterministic_html_file_with_a_chart_each(
    spike: Run, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    summary = write_report(spike.state / "ledger.sqlite", out)
    text = out.read_text(encoding="utf-8")
    page = _parse(text)
    assert "http://" not in text and "https://" not in text and "url(" not in text
    assert page.tags["script"] == 0 and page.tags["link"] == 0 and page.tags["img"] == 0
    assert all(not v.startswith(("//", "data:")) for _, k, v in page.attrs if k in ("src", "href"))
    assert set(page.svg_ids) == CHARTS and len(page.svg_ids) == len(CHARTS)
    assert page.tags["polyline"] >= 9  # three equity lines, three drawdowns, the layers ...
    words = " ".join(page.text)
    assert f"Trade blotter ({summary['fills']} fills)" in words
    assert words.count("F0000") == summary["fills"] == spike.summary["fills"]
    assert not list(tmp_path.glob(".*.tmp"))
    write_report(spike.state / "ledger.sqlite", out)  # replaced, byte for byte the same
    assert out.read_text(encoding="utf-8") == text


def test_summary_numbers_agree_with_an_independent_recomputation_from_the_ledger(
    spike: Run, tmp_path: Path
) -> None:
    summary = write_report(spike.state / "ledger.sqlite", tmp_path / "r.html")
    (config_text,) = _rows(spike.state, "SELECT config_text FROM runs")[0]
    config = json.loads(config_text)
    start, rate = config["account"]["starting_equity"], config["market"]["rate"]
    marks = _rows(spike.state, "SELECT * FROM daily_marks ORDER BY session")
    equity = [start] + [m["equity"] for m in marks]

    assert summary["total_return"] == pytest.approx(equity[-1] / start - 1, abs=1e-6)
    assert summary["final_equity"] == spike.summary["final_equity"]
    worst, peak = 0.0, equity[0]
    for value in equity:
        peak = max(peak, value)
        worst = max(worst, (peak - value) / peak)
    assert summary["max_drawdown"] == pytest.approx(worst, abs=1e-6)
    returns = np.diff(equity) / np.array(equity[:-1]) - rate / 252
    sharpe = returns.mean() / returns.std(ddof=1) * np.sqrt(252)
    assert summary["sharpe"] == pytest.approx(sharpe, abs=1e-4)
    days = (date.fromisoformat(marks[-1]["session"]) - date.fromisoformat(marks[0]["session"])).days
    cagr = (equity[-1] / start) ** (365.25 / (days + 1)) - 1
    assert summary["cagr"] == pytest.approx(cagr, abs=1e-6)

    condor_end = start + json.loads(marks[-1]["layer_equity"]).get("condor", 0.0)
    assert summary["condor_alone"]["final_equity"] == pytest.approx(condor_end, abs=0.01)
    spx_return = marks[-1]["spx"] / marks[0]["spx"] - 1
    assert summary["spx"]["total_return"] == pytest.approx(spx_return, abs=1e-6)

    fees = {
        r["layer"]: r["fees"]
        for r in _rows(spike.state, "SELECT layer, SUM(fees) AS fees FROM fills GROUP BY layer")
    }
    for layer, row in summary["layers"].items():
        assert row["fees"] == pytest.approx(fees.get(layer, 0.0), abs=0.005)
        assert row["realized_pnl"] == spike.summary["layers"][layer]["realized_pnl"]
        assert (row["opened"], row["closed"]) == (
            spike.summary["layers"][layer]["opened"],
            spike.summary["layers"][layer]["closed"],
        )
    assert summary["fees"] == pytest.approx(spike.summary["fees"], abs=0.01)
    assert summary["regimes"] == spike.summary["regimes"]
    assert summary["sessions"] == sum(spike.summary["regimes"].values()) == 60
    _assert_exits_and_rolls_match(summary, spike.summary)


def _assert_exits_and_rolls_match(report: dict[str, Any], engine: dict[str, Any]) -> None:
    for rule in set(report["exits"]) | set(engine["exits"]):
        assert report["exits"].get(rule, 0) == engine["exits"].get(rule, 0), rule
    assert report["rolls"] == engine["rolls"]


def test_exits_by_rule_match_the_engine_through_a_flatten_settlements_and_hedge_rolls(
    busy: Run, tmp_path: Path
) -> None:
    summary = write_report(busy.state / "ledger.sqlite", tmp_path / "r.html")
    assert sum(busy.summary["exits"].values()) > 10
    _assert_exits_and_rolls_match(summary, busy.summary)
    for layer, row in summary["layers"].items():
        engine = busy.summary["layers"][layer]
        assert (row["opened"], row["closed"]) == (engine["opened"], engine["closed"])
    assert summary["settlements"] == busy.summary["settlements"]


def test_an_empty_ledger_gives_a_report_that_says_so(tmp_path: Path) -> None:
    Ledger.open(tmp_path / "ledger.sqlite").close()
    out = tmp_path / "empty.html"
    summary = write_report(tmp_path / "ledger.sqlite", out)
    page = _parse(out.read_text(encoding="utf-8"))
    words = " ".join(page.text)
    assert "holds no daily mark yet" in words and "No trades" in words
    assert page.tags["svg"] == 0
    assert summary["sessions"] == 0 and summary["final_equity"] is None
    assert summary["starting_equity"] == 1_000_000.0
    assert all(v == 0 for v in summary["exits"].values())


def test_a_single_session_draws_each_chart_as_a_point(tmp_path: Path) -> None:
    one = _simulate(tmp_path / "one", "spike-and-revert", 1, 1)
    out = tmp_path / "one.html"
    summary = write_report(one.state / "ledger.sqlite", out)
    page = _parse(out.read_text(encoding="utf-8"))
    assert set(page.svg_ids) == CHARTS and page.tags["polyline"] == 0 and page.tags["circle"] > 0
    assert summary["sessions"] == 1 and summary["calendar_days"] == 1
    assert summary["sharpe"] is None  # one daily return has no spread
    assert summary["spx"]["total_return"] == 0.0


def test_a_run_without_trades_reports_every_layer_at_zero(tmp_path: Path) -> None:
    idle = _simulate(
        tmp_path / "idle", "calm", 1, 20, overrides={"strategy": {"condor": {"max_condors": 0}}}
    )
    assert idle.summary["fills"] == 0
    out = tmp_path / "idle.html"
    summary = write_report(idle.state / "ledger.sqlite", out)
    page = _parse(out.read_text(encoding="utf-8"))
    assert "No trades" in " ".join(page.text) and set(page.svg_ids) == CHARTS
    for name in ("condor", "hedge", "press"):
        assert summary["layers"][name] == {
            "opened": 0, "closed": 0, "fills": 0, "fees": 0.0, "realized_pnl": 0.0, "pnl": 0.0
        }  # fmt: skip
    # cash alone earns the configured rate: the stack's whole return is its interest
    assert summary["final_equity"] == pytest.approx(1_000_000 + summary["interest"], abs=0.01)
    assert summary["condor_alone"]["total_return"] == 0.0


# -- what the ledger may hold ----------------------------------------------------------------


def test_marks_written_before_schema_v3_fall_back_to_realized_pnl(
    spike: Run, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "ledger.sqlite").write_bytes((spike.state / "ledger.sqlite").read_bytes())
    _execute(copy, "UPDATE daily_marks SET layer_equity = '{}'")
    with Ledger.open(copy / "ledger.sqlite") as ledger:
        report = build_report(ledger)
    marks = _rows(copy, "SELECT layer_pnl FROM daily_marks ORDER BY session")
    assert report.series is not None
    realized = [1_000_000 + json.loads(m["layer_pnl"]).get("condor", 0.0) for m in marks]
    assert report.series.condor_alone == pytest.approx(realized)


def test_unreadable_marks_are_left_out_counted_and_logged(spike: Run, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "ledger.sqlite").write_bytes((spike.state / "ledger.sqlite").read_bytes())
    _execute(copy, "UPDATE daily_marks SET layer_pnl = 'not json' WHERE session = '2025-01-06'")
    _execute(copy, "UPDATE daily_marks SET equity = 1e999 WHERE session = '2025-01-07'")
    _execute(copy, "UPDATE daily_marks SET spx = -1 WHERE session = '2025-01-08'")
    out = tmp_path / "r.html"
    with capture_logs() as logs:
        summary = write_report(copy / "ledger.sqlite", out)
    reasons = {"bad_layer_json": 1, "non_finite_number": 1, "non_positive_price": 1}
    assert summary["skipped_marks"] == reasons and summary["sessions"] == 57
    assert {"event": "report_marks_skipped", "by_reason": reasons, "log_level": "warning"} in logs
    assert "Unreadable daily marks left out" in out.read_text(encoding="utf-8")


def test_text_from_the_ledger_is_escaped(spike: Run, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "ledger.sqlite").write_bytes((spike.state / "ledger.sqlite").read_bytes())
    _execute(
        copy, "UPDATE fills SET reason = '<script>alert(1)</script>' WHERE fill_id = 'F00000001'"
    )
    _execute(copy, "UPDATE runs SET scenario = '\"><img src=x onerror=alert(2)>'")
    _execute(copy, "UPDATE daily_marks SET regime = '<b>odd</b>' WHERE session = '2025-01-03'")
    out = tmp_path / "r.html"
    write_report(copy / "ledger.sqlite", out)
    text = out.read_text(encoding="utf-8")
    page = _parse(text)
    assert page.tags["script"] == 0 and page.tags["img"] == 0 and page.tags["b"] == 0
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;b&gt;odd&lt;/b&gt;" in text


# -- the measures, on paths with known answers -----------------------------------------------


def test_max_drawdown_finds_the_deepest_fall_and_its_peak() -> None:
    assert max_drawdown([100, 120, 90, 130, 65, 140]) == (0.5, 3, 4)
    assert max_drawdown([100, 101, 102]) == (0.0, 0, 0)


def test_performance_of_a_steady_path_has_no_sharpe_and_compounds_by_calendar_days() -> None:
    flat = performance([100.0, 100.0, 100.0], ["a", "b", "c"], 365, 0.0)
    assert flat["sharpe"] is None and flat["max_drawdown_peak"] is None
    doubled = performance([100.0, 150.0, 200.0], ["a", "b", "c"], 731, 0.0)
    assert doubled["cagr"] == pytest.approx(2 ** (365.25 / 731) - 1, abs=1e-6)
    assert doubled["total_return"] == 1.0


def test_structures_exit_once_whatever_the_number_of_fills_and_legs() -> None:
    books = Books()
    # two identical press spreads, closed one by one by the RSI
    books.fill("press", "entry", [("C36", -13), ("C41", 13)])
    books.fill("press", "entry", [("C36", -13), ("C41", 13)])
    books.fill("press", "rsi", [("C36", 13), ("C41", -13)])
    books.fill("press", "rsi", [("C36", 13), ("C41", -13)])
    # a hedge built, added to, rolled, reduced and rebalanced to nothing: one exit
    books.fill("hedge", "entry", [("VXM1", 3)])
    books.fill("hedge", "rebalance", [("VXM1", 2)])
    books.fill("hedge", "roll", [("VXM1", -5), ("VXM2", 5)])
    books.fill("hedge", "rebalance", [("VXM2", -4)])
    books.fill("hedge", "rebalance", [("VXM2", -1)])
    # a condor whose put side is rolled, then held to expiry: four legs settle, one exit
    books.fill("condor", "entry", [("P1", 1), ("P2", -1), ("C1", -1), ("C2", 1)])
    books.fill("condor", "delta_band", [("P1", -1), ("P2", 1), ("P3", -1), ("P4", 1)])
    for symbol, qty in [("P3", -1), ("P4", 1), ("C1", -1), ("C2", 1)]:
        books.settle("condor", symbol, qty)
    assert books.exits == {
        "press": Counter(rsi=2),
        "hedge": Counter(rebalance=1),
        "condor": Counter(settlement=1),
    }
    assert books.opened == Counter(press=2, hedge=1, condor=1)
    assert all(not structures for structures in books.open.values())


def test_long_series_are_thinned_per_pixel_but_keep_their_extremes() -> None:
    n = 20_000
    values = [math.sin(i / 500) for i in range(n)]
    values[12_345] = 10.0  # a one-day spike, at the top tick
    sessions = [date(1990, 1, 1)] * n
    svg = chart("c", "t", sessions, [Line("x", values, "#000")], "num")
    (points,) = re.findall(r'points="([^"]+)"', svg)
    pairs = [tuple(map(float, p.split(","))) for p in points.split()]
    assert len(pairs) <= 4 * PLOT_WIDTH
    assert min(y for _, y in pairs) == pytest.approx(40.0, abs=0.5)  # the spike is the top


def test_axis_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0.3, 9.6) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(-0.031, 0.0)[0] <= -0.031 and nice_ticks(-0.031, 0.0)[-1] >= 0
    assert nice_ticks(5.0, 5.0)[0] < 5.0 < nice_ticks(5.0, 5.0)[-1]


# -- the command -----------------------------------------------------------------------------


def _args(*argv: str) -> argparse.Namespace:
    parser = _Parser(prog="alvh")
    register(parser.add_subparsers(dest="command", required=True, parser_class=_Parser))
    return parser.parse_args(["report", *argv])


def test_report_command_writes_the_file_and_says_where(
    spike: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    args = _args("--state-dir", str(spike.state), "--out", str(out))
    assert args.func is run and run(args) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "60 sessions" in capsys.readouterr().out


def test_report_command_reads_the_state_directory_from_the_environment(
    spike: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(spike.state))
    assert run(_args("--out", str(tmp_path / "r.html"))) == 0


def test_report_command_refuses_a_state_dir_without_a_ledger_and_a_bad_out(
    spike: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(_args("--state-dir", str(tmp_path), "--out", str(tmp_path / "r.html"))) == 73
    assert "holds no ledger" in capsys.readouterr().err
    missing = tmp_path / "no" / "such" / "r.html"
    assert run(_args("--state-dir", str(spike.state), "--out", str(missing))) == 64
    assert run(_args("--state-dir", str(spike.state), "--out", str(tmp_path))) == 64
    with pytest.raises(SystemExit) as exc:
        _args("--state-dir", str(spike.state))  # --out is required
    assert exc.value.code == 64
    assert not (tmp_path / "r.html").exists()
