"""Issue 6's acceptance run: the whole stack on the real 2017-2020 data (``../shared/data``) with
the default config — layer 2 engages in February 2018 and in February-March 2020, layer 3 sells
spreads in 2018 and 2020 — read from the ledger, as the report draws them."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from brokers.ledger import Ledger
from daemon.config import load_config
from daemon.history import run_history
from daemon.statedir import StateDir
from market.history_feed import HistoryInputs

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

pytestmark = pytest.mark.skipif(
    not (SHARED_DATA / "vix_futures_term_structure.csv").exists(),
    reason=f"the real data set is not at {SHARED_DATA}",
)


@pytest.fixture(scope="module")
def run_2017_2020(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Summary, ledger fills and the hedge's sizing events of one 2017-2020 history run."""
    inputs = HistoryInputs(
        SHARED_DATA / "vix_daily.csv",
        SHARED_DATA / "spx_daily.csv",
        SHARED_DATA / "vix_futures_term_structure.csv",
        start=date(2017, 1, 1),
        end=date(2020, 12, 31),
    )
    path = tmp_path_factory.mktemp("history") / "state"
    with capture_logs() as logs, StateDir(path) as state:
        summary = run_history(load_config(None), inputs, state)
    with Ledger.open(path / "ledger.sqlite") as ledger:
        fills = ledger.fills()
    sizings = [e for e in logs if e["event"] == "hedge_rebalanced"]
    return json.loads(json.dumps(summary)), fills, sizings


def _month(fills: list[dict[str, Any]], layer: str, *months: str) -> list[dict[str, Any]]:
    return [f for f in fills if f["layer"] == layer and f["ts"][:7] in months]


def test_layer_2_engages_in_february_2018_from_the_floor(
    run_2017_2020: tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    """The January melt-up stopped both condors (01-11 and 01-26) and no monthly is 45-60 days
    out from 01-31 to 02-18, so no condor is open when the VIX doubles on 02-05; the hedge
    floor (the reference condor, within floor_sessions of the 01-26 stop) buys VXM at the
    02-02 close, when the regime goes ELEVATED, and the hedge is cut into the spike."""
    summary, fills, sizings = run_2017_2020
    assert summary["handler_errors"] == 0
    opens = [f for f in _month(fills, "hedge", "2018-02") if f["intent"] == "open"]
    assert opens and opens[0]["ts"][:10] == "2018-02-02" and opens[0]["reason"] == "entry"
    assert opens[0]["legs"][0]["symbol"] == "VXM 2018-02-14"
    first = next(e for e in sizings if e["market_ts"][:10] == "2018-02-02")
    assert first["base"] == "floor" and first["book_vega_dollars"] == 0.0
    assert first["target"] == opens[0]["quantity"] > 0
    closes = [f for f in _month(fills, "hedge", "2018-02") if f["intent"] == "close"]
    assert any(f["net_price"] < -20.0 for f in closes)  # sold VXM above 20 in the spike
    assert not _month(fills, "condor", "2018-02")  # nothing for the floor to stand in for


def test_layer_2_engages_in_february_march_2020_from_the_condor_book(
    run_2017_2020: tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    _, fills, sizings = run_2017_2020
    entries = [
        f
        for f in _month(fills, "hedge", "2020-02", "2020-03")
        if f["intent"] == "open" and f["reason"] == "entry"
    ]
    assert any("2020-02-20" <= f["ts"][:10] <= "2020-02-29" for f in entries)
    at_entry = next(e for e in sizings if e["market_ts"][:10] == entries[0]["ts"][:10])
    assert at_entry["base"] == "book" and at_entry["book_vega_dollars"] < 0.0


def test_layer_3_sells_spreads_in_2018_and_2020(
    run_2017_2020: tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    summary, fills, _ = run_2017_2020
    press_2018 = [f for f in _month(fills, "press", "2018-02") if f["intent"] == "open"]
    assert [f["ts"][:10] for f in press_2018][:1] == ["2018-02-14"]
    press_2020 = [f for f in _month(fills, "press", "2020-02", "2020-03") if f["intent"] == "open"]
    assert press_2020
    assert summary["layers"]["press"]["opened"] >= len(press_2018) + len(press_2020)
