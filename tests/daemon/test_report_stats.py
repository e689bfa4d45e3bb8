"""The report's performance figures: checked against independent numpy calculations, and not
given (with the reason on the page) once a value path reaches zero."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from brokers.ledger import Ledger
from daemon.report import write_report
from daemon.report_stats import cagr, performance, sharpe

START, RATE = 100_000.0, 0.04


def _reference(path: np.ndarray, calendar_days: int, rate: float) -> dict[str, float]:
    """Total return, CAGR, max drawdown and Sharpe as the README defines them, in numpy."""
    peaks = np.maximum.accumulate(path)
    returns = path[1:] / path[:-1] - 1 - rate / 252
    return {
        "total_return": path[-1] / path[0] - 1,
        "cagr": (path[-1] / path[0]) ** (365.25 / calendar_days) - 1,
        "max_drawdown": float(np.max(1 - path / peaks)),
        "trough": int(np.argmax(1 - path / peaks)),
        "sharpe": returns.mean() / returns.std(ddof=1) * np.sqrt(252),
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_figures_of_a_positive_path_match_an_independent_numpy_calculation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    path = START * np.cumprod(np.r_[1.0, 1 + rng.normal(0.0004, 0.012, 999)])
    labels = [f"d{i}" for i in range(len(path))]
    days = 1451  # about 1,000 sessions
    ref = _reference(path, days, RATE)
    perf = performance(list(path), labels, days, RATE)
    assert perf["total_return"] == pytest.approx(ref["total_return"], abs=1e-6)
    assert perf["cagr"] == pytest.approx(ref["cagr"], abs=1e-6)
    assert perf["max_drawdown"] == pytest.approx(ref["max_drawdown"], abs=1e-6)
    assert perf["max_drawdown_trough"] == labels[ref["trough"]]
    assert perf["sharpe"] == pytest.approx(ref["sharpe"], abs=1e-4)
    assert perf["reached_zero"] is None and perf["undefined"] == {}


@pytest.mark.parametrize(
    ("path", "zero_at"),
    [
        ([100.0, 60.0, 20.0, -10.0, -40.0, 30.0, 150.0], 3),  # through zero and back above start
        ([100.0, 50.0, 0.0, 50.0, 120.0], 2),  # touches zero exactly
        ([100.0, 80.0, 30.0, -5.0], 3),  # ends below zero
    ],
)
def test_a_path_that_reaches_zero_has_no_cagr_or_sharpe_and_says_when(
    path: list[float], zero_at: int
) -> None:
    labels = ["start", *(f"2008-10-{i:02d}" for i in range(1, len(path)))]
    perf = performance(path, labels, 400, RATE)
    assert perf["cagr"] is None and perf["sharpe"] is None
    assert perf["reached_zero"] == labels[zero_at]
    assert perf["undefined"]["cagr"] == f"the path reached zero on {labels[zero_at]}"
    assert perf["undefined"]["sharpe"].startswith(f"the path reached zero on {labels[zero_at]}")
    # dollars over the start and over the peak still mean what they say
    assert perf["total_return"] == pytest.approx(path[-1] / path[0] - 1)
    peaks = np.maximum.accumulate(path)
    assert perf["max_drawdown"] == pytest.approx(float(np.max(1 - np.array(path) / peaks)))


def test_figures_that_cannot_be_given_say_why() -> None:
    assert sharpe([100.0, 101.0], 0.0) == "fewer than two daily returns"
    assert sharpe([100.0, 100.0, 100.0], 0.0) == "the daily returns do not vary"
    assert str(cagr(1e6, 1)).startswith("too large to annualize")
    assert cagr(2.0, 0) == "no calendar day to compound over"
    assert performance([100.0, 101.0], ["start", "a"], 1, 0.0)["undefined"] == {
        "sharpe": "fewer than two daily returns"
    }
    with pytest.raises(ValueError):
        performance([0.0, 1.0], ["start", "a"], 1, 0.0)


# -- on the page -----------------------------------------------------------------------------


def _sessions(n: int) -> list[date]:
    days = (date(2008, 9, 1) + timedelta(d) for d in range(2 * n))
    return [d for d in days if d.weekday() < 5][:n]


def _ledger_with_marks(path: Path, equity: list[float], condor: list[float]) -> list[date]:
    """A v3 ledger whose daily marks carry ``equity`` and the condor's P&L at mid ``condor``
    (dollars), SPX rising 0.1% a session with a wobble."""
    sessions = _sessions(len(equity))
    config = json.dumps({"account": {"starting_equity": START}, "market": {"rate": RATE}})
    with Ledger.open(path) as ledger:
        ledger.record_run(1, None, sessions[0].isoformat(), 60, "test", config)
        for i, (session, value, pnl) in enumerate(zip(sessions, equity, condor, strict=True)):
            ledger.record_daily_mark(
                {
                    "session": session.isoformat(),
                    "ts": datetime.combine(session, time(21), UTC).isoformat(),
                    "equity": value,
                    "cash": value,
                    "spx": 1200 * 1.001**i * (1 + 0.01 * (-1) ** i),
                    "vix": 30.0,
                    "regime": "stress",
                    "layer_pnl": json.dumps({"condor": 0.0}),
                    "hedge_size": 0.0,
                    "layer_equity": json.dumps({"condor": pnl}),
                }
            )
    return sessions


class _Cells(HTMLParser):
    """The text of each table row, by its first cell."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._row = []
        elif tag == "td" and self._row is not None:
            self._row.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row:
            self.rows.setdefault(self._row[0], self._row[1:])
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row:
            self._row[-1] += data


def test_the_report_says_why_cagr_and_sharpe_are_missing_once_a_path_crosses_zero(
    tmp_path: Path,
) -> None:
    # the condor layer loses more than the account, then recovers; the stack dips below zero
    condor = [0.0, -40_000, -90_000, -100_000, -130_000, -60_000, 10_000, 30_000, 25_000]
    equity = [99_000.0, 60_000, 20_000, 5_000, -5_000, 40_000, 90_000, 120_000, 118_000]
    sessions = _ledger_with_marks(tmp_path / "ledger.sqlite", equity, condor)
    out = tmp_path / "r.html"
    summary = write_report(tmp_path / "ledger.sqlite", out)

    assert summary["skipped_marks"] == {} and summary["sessions"] == len(equity)
    stack, alone = summary, summary["condor_alone"]
    assert stack["reached_zero"] == sessions[4].isoformat()  # equity -5,000
    assert alone["reached_zero"] == sessions[3].isoformat()  # 100,000 - 100,000 = 0
    for perf in (stack, alone):
        assert perf["cagr"] is None and perf["sharpe"] is None
        assert set(perf["undefined"]) == {"cagr", "sharpe"}
    assert stack["total_return"] == pytest.approx(118_000 / START - 1)
    assert alone["max_drawdown"] == pytest.approx(1.3)  # to -30,000 from the 100,000 start

    # the SPX column is a normal path: its figures match numpy
    spx = np.array([1200 * 1.001**i * (1 + 0.01 * (-1) ** i) for i in range(len(equity))])
    days = (sessions[-1] - sessions[0]).days + 1
    ref = _reference(START * spx / spx[0], days, RATE)
    assert summary["spx"]["cagr"] == pytest.approx(ref["cagr"], abs=1e-6)
    assert summary["spx"]["sharpe"] == pytest.approx(ref["sharpe"], abs=1e-4)
    assert summary["spx"]["max_drawdown"] == pytest.approx(ref["max_drawdown"], abs=1e-6)

    page = _Cells()
    page.feed(out.read_text(encoding="utf-8"))
    stack_cagr, alone_cagr, spx_cagr = page.rows["CAGR"]
    assert stack_cagr == f"n/a — the path reached zero on {sessions[4]}"
    assert alone_cagr == f"n/a — the path reached zero on {sessions[3]}"
    assert spx_cagr == f"{ref['cagr'] * 100:.2f}%"
    stack_sharpe, alone_sharpe, _ = page.rows["Sharpe"]
    assert stack_sharpe.startswith(f"n/a — the path reached zero on {sessions[4]}:")
    assert alone_sharpe.startswith(f"n/a — the path reached zero on {sessions[3]}:")
