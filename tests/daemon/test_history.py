"""`alvh history` end to end (through ``register``/``run`` on a parser of our own and through
``run_history``), on generated files and on the real data in ``../shared/data``; and the
terminal progress bar it draws."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from brokers.ledger import Ledger
from daemon.config import AppConfig, load_config
from daemon.history import EX_DATAERR, EX_USAGE, SCENARIO, register, run, run_history
from daemon.progress import REDRAWS, ProgressBar
from daemon.runner import RunSpec, simulate
from daemon.statedir import StateDir, StateDirError
from market.calendar import trading_calendar, vx_expiries_after
from market.history_feed import HistoryInputs

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
START, END = date(2018, 1, 2), date(2018, 6, 29)


def _vix_path(i: int) -> float:
    """Calm near 12.5, a spike to about 31 at session 40 that holds above 25, a decay to 14."""
    if i < 38:
        return 12.5 + 0.4 * math.sin(i)
    if i < 46:
        return (17.0, 27.0, 31.0, 29.0, 28.0, 27.0, 26.0, 24.0)[i - 38]
    return 14.0 + 10.0 * math.exp(-(i - 46) / 8.0) + 0.3 * math.sin(i)


def write_inputs(root: Path, start: date = START, end: date = END) -> HistoryInputs:
    """Cboe-style VIX, ISO OHLC SPX, a term structure, rates and macro files for the sessions
    ``start .. end``, with real opens except where the SPX open repeats the previous close."""
    days = trading_calendar().sessions_between(start, end)
    vix_rows = ["DATE,OPEN,HIGH,LOW,CLOSE"]
    spx_rows = ["date,open,high,low,close,volume,source"]
    vx_rows = ["date,vx1,vx2,vx3,vx4,vx1_expiry,vx2_expiry,vx3_expiry,vx4_expiry"]
    prev_vix, prev_spx = _vix_path(0), 2700.0
    for i, day in enumerate(days):
        vix = _vix_path(i)
        spx = 2700.0 * math.exp(0.0004 * i - 0.012 * (vix - 12.5))
        vix_open = round((prev_vix + vix) / 2 + 0.05, 2)
        spx_open = prev_spx if i % 7 == 3 else round(prev_spx * 1.001, 2)
        vix_rows.append(
            f"{day:%m/%d/%Y},{vix_open:.2f},{max(vix_open, vix) * 1.02:.2f},"
            f"{min(vix_open, vix) * 0.98:.2f},{vix:.2f}"
        )
        spx_rows.append(
            f"{day},{spx_open:.2f},{max(spx_open, spx) * 1.003:.2f},"
            f"{min(spx_open, spx) * 0.997:.2f},{spx:.2f},1000,synthetic"
        )
        expiries = vx_expiries_after(day, 4)
        prices = [vix + (19.0 - vix) * (1 - math.exp(-(e - day).days / 90)) for e in expiries]
        vx_rows.append(
            f"{day}," + ",".join(f"{p:.2f}" for p in prices) + "," + ",".join(map(str, expiries))
        )
        prev_vix, prev_spx = vix, round(spx, 2)
    files = {
        "vix.csv": vix_rows,
        "spx.csv": spx_rows,
        "vx.csv": vx_rows,
        "rates.csv": ["DATE,DGS3MO", "2017-12-29,1.39", "2018-01-01,.", "2018-03-22,1.70"],
        "macro.csv": ["date,event", "2018-01-31,fomc", "2018-02-14,cpi", "2018-03-21,fomc"],
    }
    for name, rows in files.items():
        (root / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return HistoryInputs(
        root / "vix.csv",
        root / "spx.csv",
        root / "vx.csv",
        root / "macro.csv",
        root / "rates.csv",
    )


def write_ad(root: Path, net_per_session: int, start: date = START, end: date = END) -> Path:
    """An advance-decline file of daily counts for the sessions ``start .. end``: the line moves
    by ``net_per_session`` each session."""
    rows = ["date,advances,declines"]
    for day in trading_calendar().sessions_between(start, end):
        rows.append(f"{day},{1500 + net_per_session // 2},{1500 - net_per_session // 2}")
    path = root / f"ad_{net_per_session}.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _run(config: AppConfig, inputs: HistoryInputs, path: Path, **kw: Any) -> dict[str, Any]:
    with StateDir(path) as state:
        return run_history(config, inputs, state, **kw)


def _fills(path: Path) -> list[dict[str, Any]]:
    with Ledger.open(path / "ledger.sqlite") as ledger:
        return [
            {k: f[k] for k in ("client_order_id", "ts", "quantity", "net_price", "legs")}
            for f in ledger.fills()
        ]


def test_a_history_run_is_deterministic_and_has_simulates_summary_plus_data(
    tmp_path: Path,
) -> None:
    config = load_config(None)
    inputs = write_inputs(tmp_path)
    first = _run(config, inputs, tmp_path / "a")
    second = _run(config, inputs, tmp_path / "b")
    assert first == second
    assert _fills(tmp_path / "a") == _fills(tmp_path / "b")

    fast = load_config(None, {"market": {"cadence_minutes": 405}})
    with StateDir(tmp_path / "sim") as state:
        simulated = simulate(fast, RunSpec(None, 1, START), 1, state)
    assert set(first) == set(simulated) | {"data"}
    data = first["data"]
    assert first["ticks"] == data["snapshots"] == data["sessions"] + data["open_snapshots"]
    assert data["sessions"] == len(trading_calendar().sessions_between(START, END))
    assert (data["vx_curve"], data["rates"], data["macro"]) == ("file", "file", "file")
    assert data["opens_skipped_by_reason"]["no_real_spx_open"] > 0
    assert first["layers"]["condor"]["opened"] >= 1
    assert first["regimes"]["stress_days"] >= 1
    with Ledger.open(tmp_path / "a" / "ledger.sqlite") as ledger:
        run_record = ledger.runs()[0]
        marks = ledger.daily_marks()
    assert (run_record["scenario"], run_record["seed"], run_record["start"]) == (
        SCENARIO,
        0,
        "2018-01-02",
    )
    assert [m["session"] for m in marks][:2] == ["2018-01-02", "2018-01-03"]


def test_a_resumed_history_run_goes_on_to_the_same_fills_as_one_run(tmp_path: Path) -> None:
    config = load_config(None)
    inputs = write_inputs(tmp_path)
    whole = _run(config, inputs, tmp_path / "whole")
    short = dataclasses.replace(inputs, end=date(2018, 3, 15))
    _run(config, short, tmp_path / "parts")
    resumed = _run(config, inputs, tmp_path / "parts", resume=True)
    assert _fills(tmp_path / "parts") == _fills(tmp_path / "whole")
    assert resumed["fills"] == whole["fills"]
    assert resumed["final_equity"] == whole["final_equity"]


def test_bad_rows_are_logged_a_few_per_reason_and_counted_in_full(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path)
    with inputs.vix.open("a", encoding="utf-8") as f:
        for day in range(1, 21):
            f.write(f"07/{day:02d}/2018,abc,1,1,1\n")
    with capture_logs() as logs, StateDir(tmp_path / "s") as state:
        summary = run_history(load_config(None), inputs, state)
    skipped = [e for e in logs if e["event"] == "history_row_skipped" and e["input"] == "vix"]
    assert len(skipped) == 5
    assert skipped[0]["reason"] == "unparseable_number"
    assert skipped[0]["line"] == len(trading_calendar().sessions_between(START, END)) + 2
    loaded = next(e for e in logs if e["event"] == "history_data_loaded")
    assert loaded["rows_skipped_by_reason"]["vix"] == {"unparseable_number": 20}
    assert summary["data"]["rows_skipped_by_reason"]["vix"] == {"unparseable_number": 20}


def _classified(
    config: AppConfig, inputs: HistoryInputs, path: Path
) -> tuple[list[dict[str, Any]], dict[str, Any], list[str]]:
    """The run's ``macro_classified`` events, its summary, and when the hedge entered; the
    ``history_data_loaded`` event is the first of the events."""
    with capture_logs() as logs:
        summary = _run(config, inputs, path)
    with Ledger.open(path / "ledger.sqlite") as ledger:
        entries = [
            f["ts"][:16]
            for f in ledger.fills()
            if f["layer"] == "hedge" and f["intent"] == "open" and f["reason"] == "entry"
        ]
    events = [e for e in logs if e["event"] in ("history_data_loaded", "macro_classified")]
    assert events[0]["event"] == "history_data_loaded"
    return events, summary, entries


def test_with_a_rising_ad_line_a_jump_around_a_cpi_day_is_headline_and_the_hedge_waits(
    tmp_path: Path,
) -> None:
    """The VIX leaves CALM at the 02-27 close (17 from about 12.6), the session before a CPI day,
    and jumps again at the 02-28 open (22.05). Without the A/D line both triggers are stress;
    with a line rising 600 a session both are headline; with a falling one, stress again."""
    config = load_config(None)
    inputs = write_inputs(tmp_path)
    (tmp_path / "cpi.csv").write_text("date,event\n2018-02-28,cpi\n", encoding="utf-8")
    inputs = dataclasses.replace(inputs, macro=tmp_path / "cpi.csv")
    rising = dataclasses.replace(inputs, ad=write_ad(tmp_path, 600))
    falling = dataclasses.replace(inputs, ad=write_ad(tmp_path, -600))

    def triggers(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [
            (e["market_ts"][:16], e["trigger"], e["kind"], e["ad_change"], e["macro_events"])
            for e in events[1:3]
        ]

    without, plain, plain_entries = _classified(config, inputs, tmp_path / "without")
    assert triggers(without) == [
        ("2018-02-27T21:15", "regime_upgrade", "stress", None, []),
        ("2018-02-28T14:30", "jump", "stress", None, []),
    ]
    with_ad, summary, entries = _classified(config, rising, tmp_path / "rising")
    # At the close the change is over 5 sessions (02-20 .. 02-27 closes); at the open the line
    # is the previous close's, so over 4 (nothing from later in the session).
    assert triggers(with_ad) == [
        ("2018-02-27T21:15", "regime_upgrade", "headline", 3000.0, ["cpi"]),
        ("2018-02-28T14:30", "jump", "headline", 2400.0, ["cpi"]),
    ]
    assert plain_entries[0] == "2018-02-27T21:15"  # stress: the hedge engages at once
    assert entries[0] > "2018-02-28T21:15"  # headline: it waits out the hold
    data = summary["data"]
    assert (data["ad_line"], data["formats"]["ad"], data["ad_sessions_missing"]) == (
        "file",
        "advances_declines",
        0,
    )
    assert data["rows_skipped_by_reason"]["ad"] == {}
    assert data["sessions"] == plain["data"]["sessions"]  # the file adds no join condition
    assert plain["data"]["ad_line"] == "none"

    down, _, _ = _classified(config, falling, tmp_path / "falling")
    assert [(e["kind"], e["ad_change"]) for e in down[1:3]] == [
        ("stress", -3000.0),
        ("stress", -2400.0),
    ]


def test_sessions_the_ad_file_lacks_run_with_the_line_unknown_and_are_counted(
    tmp_path: Path,
) -> None:
    config = load_config(None)
    inputs = write_inputs(tmp_path)
    (tmp_path / "cpi.csv").write_text("date,event\n2018-02-28,cpi\n", encoding="utf-8")
    # the line stops on 02-23: the 02-27 close and the 02-28 open have no A/D value
    ad = write_ad(tmp_path, 600, end=date(2018, 2, 23))
    inputs = dataclasses.replace(inputs, macro=tmp_path / "cpi.csv", ad=ad)
    events, summary, _ = _classified(config, inputs, tmp_path / "s")
    assert [(e["kind"], e["ad_change"]) for e in events[1:3]] == [
        ("stress", None),
        ("stress", None),
    ]
    data = summary["data"]
    assert data["sessions"] == len(trading_calendar().sessions_between(START, END))
    missing = len(trading_calendar().sessions_between(date(2018, 2, 26), END))
    assert data["ad_sessions_missing"] == events[0]["ad_sessions_missing"] == missing


# -- the command ----------------------------------------------------------------------------------


def _parser(report_writer: Callable[[Path, Path], object] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alvh")
    register(parser.add_subparsers(dest="command", required=True), report_writer=report_writer)
    return parser


def _args(inputs: HistoryInputs, *extra: str) -> list[str]:
    return ["history", "--vix", str(inputs.vix), "--spx", str(inputs.spx), *extra]


def test_register_adds_history_with_its_flags(tmp_path: Path) -> None:
    args = _parser().parse_args(
        [
            *_args(HistoryInputs(tmp_path / "v.csv", tmp_path / "s.csv")),
            "--vx",
            "x.csv",
            "--macro",
            "m.csv",
            "--rates",
            "r.csv",
            "--ad",
            "ad.csv",
            "--start",
            "2017-01-01",
            "--end",
            "2020-12-31",
            "--state-dir",
            "st",
            "--json",
            "--report",
            "out.html",
        ]
    )
    assert args.func is run
    assert (args.vx, args.macro, args.rates) == (Path("x.csv"), Path("m.csv"), Path("r.csv"))
    assert args.ad == Path("ad.csv")
    assert (args.start, args.end) == (date(2017, 1, 1), date(2020, 12, 31))
    assert (args.state_dir, args.json, args.report) == (Path("st"), True, Path("out.html"))
    assert (args.resume, args.new, args.report_writer) == (False, False, None)


def test_run_prints_the_json_summary_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path, end=date(2018, 2, 28))
    state = tmp_path / "state"
    args = _parser().parse_args([*_args(inputs), "--json", "--state-dir", str(state)])
    assert run(args) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["data"]["last_session"] == "2018-02-28"
    assert "history_data_loaded" in err
    assert "\x1b[K" not in err  # stderr is not a terminal: no progress bar
    # the state dir now holds a ledger: a fresh run there is refused, --new archives it
    with pytest.raises(StateDirError, match="already holds a ledger"):
        run(args)
    assert run(_parser().parse_args([*_args(inputs), "--state-dir", str(state), "--new"])) == 0


def test_run_exits_65_on_unusable_data_before_touching_a_state_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path)
    state = tmp_path / "state"
    missing = HistoryInputs(tmp_path / "absent.csv", inputs.spx)
    assert run(_parser().parse_args([*_args(missing), "--state-dir", str(state)])) == EX_DATAERR
    assert "--vix: " in capsys.readouterr().err
    (tmp_path / "ad.csv").write_text("date,close\n2018-01-02,1\n", encoding="utf-8")
    bad_ad = [*_args(inputs), "--ad", str(tmp_path / "ad.csv"), "--state-dir", str(state)]
    assert run(_parser().parse_args(bad_ad)) == EX_DATAERR
    assert "--ad: " in capsys.readouterr().err
    window = [*_args(inputs), "--start", "2019-01-01", "--state-dir", str(state)]
    assert run(_parser().parse_args(window)) == EX_DATAERR
    assert "share no exchange session" in capsys.readouterr().err
    assert not state.exists()


def test_run_exits_65_naming_the_file_when_vix_and_spx_are_swapped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path)
    state = tmp_path / "state"
    swapped = HistoryInputs(inputs.spx, inputs.vix)
    assert run(_parser().parse_args([*_args(swapped), "--state-dir", str(state)])) == EX_DATAERR
    err = capsys.readouterr().err
    assert f"--vix: {inputs.spx}: median close" in err
    assert "looks like an index level, not the VIX" in err
    assert "are --vix and --spx swapped?" in err
    both_vix = HistoryInputs(inputs.vix, inputs.vix)
    assert run(_parser().parse_args([*_args(both_vix), "--state-dir", str(state)])) == EX_DATAERR
    assert f"--spx: {inputs.vix}: median close" in capsys.readouterr().err
    assert not state.exists()


def test_an_implausible_vix_row_is_skipped_logged_and_counted_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    inputs = write_inputs(tmp_path)
    lines = inputs.vix.read_text(encoding="utf-8").splitlines()
    day = lines[10].split(",")[0]
    lines[10] = f"{day},1e300,1e300,1e300,1e300"  # overflowed the hedge layer before
    inputs.vix.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with capture_logs() as logs, StateDir(tmp_path / "s") as state:
        summary = run_history(load_config(None), inputs, state)
    assert summary["handler_errors"] == 0
    data = summary["data"]
    assert data["rows_skipped_by_reason"]["vix"] == {"out_of_range": 1}
    assert data["dates_dropped_by_join"] == {"no_vix": 1}
    assert data["spx_vix_correlation"] < -0.5
    skipped = [e for e in logs if e["event"] == "history_row_skipped" and e["input"] == "vix"]
    assert [(e["input"], e["line"], e["reason"]) for e in skipped] == [("vix", 11, "out_of_range")]
    loaded = next(e for e in logs if e["event"] == "history_data_loaded")
    assert loaded["rows_skipped_by_reason"]["vix"] == {"out_of_range": 1}
    assert loaded["spx_vix_correlation"] == data["spx_vix_correlation"]


def test_run_exits_64_on_a_backwards_window_or_a_report_it_cannot_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path, end=date(2018, 1, 31))
    backwards = [*_args(inputs), "--start", "2018-02-01", "--end", "2018-01-01"]
    assert run(_parser().parse_args(backwards)) == EX_USAGE
    assert "after --end" in capsys.readouterr().err
    report = [*_args(inputs), "--report", str(tmp_path / "r.html")]
    assert run(_parser().parse_args(report)) == EX_USAGE
    assert "--report" in capsys.readouterr().err


def test_run_writes_the_report_from_the_closed_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path, end=date(2018, 1, 31))
    calls: list[tuple[Path, Path, int]] = []

    def writer(ledger_path: Path, out: Path) -> None:
        with Ledger.open(ledger_path) as ledger:  # the run has closed it: it opens cleanly
            calls.append((ledger_path, out, len(ledger.daily_marks())))

    state, out = tmp_path / "state", tmp_path / "report.html"
    args = _parser(writer).parse_args(
        [*_args(inputs), "--state-dir", str(state), "--report", str(out)]
    )
    assert run(args) == 0
    assert calls == [(state / "ledger.sqlite", out, 21)]
    assert "final_equity" in capsys.readouterr().out


# -- real data ------------------------------------------------------------------------------------

needs_real_data = pytest.mark.skipif(
    not (SHARED_DATA / "vix_futures_term_structure.csv").exists(),
    reason=f"the real data set is not at {SHARED_DATA}",
)


def _real(tmp_path: Path, start: date, end: date) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    inputs = HistoryInputs(
        SHARED_DATA / "vix_daily.csv",
        SHARED_DATA / "spx_daily.csv",
        SHARED_DATA / "vix_futures_term_structure.csv",
        start=start,
        end=end,
    )
    summary = _run(load_config(None), inputs, tmp_path / "state")
    with Ledger.open(tmp_path / "state" / "ledger.sqlite") as ledger:
        return summary, ledger.fills()


@needs_real_data
def test_real_data_the_hedge_engages_in_february_2020(tmp_path: Path) -> None:
    summary, fills = _real(tmp_path, date(2019, 11, 1), date(2020, 3, 31))
    assert summary["handler_errors"] == 0
    assert summary["data"]["dates_dropped_by_join"] == {}
    hedge_opens = [
        f
        for f in fills
        if f["layer"] == "hedge" and f["intent"] == "open" and f["reason"] == "entry"
    ]
    assert any("2020-02-20" <= f["ts"][:10] <= "2020-02-29" for f in hedge_opens)
    assert any(f["layer"] == "press" and f["ts"][:7] in ("2020-02", "2020-03") for f in fills)


@needs_real_data
def test_real_data_the_press_sells_spreads_after_volmageddon(tmp_path: Path) -> None:
    """In February 2018 the press sells once STRESS is confirmed and an expiry is 14-35 days out
    (2018-03-21 from 02-14). The January melt-up stopped the only condor on 01-26 and no monthly
    expiry sits 45-60 days out from 01-31 to 02-18, so no condor is open when the VIX jumps; the
    hedge trades from its floor (tests/daemon/test_history_cycles.py)."""
    summary, fills = _real(tmp_path, date(2017, 11, 1), date(2018, 3, 31))
    assert summary["regimes"]["stress_days"] >= 5
    press = [f for f in fills if f["layer"] == "press" and f["intent"] == "open"]
    assert [f["ts"][:10] for f in press][:1] == ["2018-02-14"]
    assert press[0]["legs"][0]["symbol"].startswith("VIX 2018-03-21 C")


# -- the progress bar -------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_is_silent_when_stderr_is_not_a_terminal() -> None:
    stream = io.StringIO()
    with ProgressBar("history", 1000, stream=stream) as bar:
        for _ in range(1000):
            bar.advance()
        bar.write("a log line\n")
    assert stream.getvalue() == "a log line\n"
    assert bar.done == 1000


def test_progress_bar_redraws_at_most_a_few_hundred_times_and_ends_its_line() -> None:
    stream = _Terminal()
    ticks = iter(range(1_000_000))
    bar = ProgressBar("history", 100_000, stream=stream, clock=lambda: float(next(ticks)))
    for _ in range(100_000):
        bar.advance()
    bar.close()
    text = stream.getvalue()
    assert REDRAWS <= text.count("\r\x1b[K") <= REDRAWS + 2
    assert re.search(r"\[#{30}\] 100%  100,000/100,000 snapshots  [0-9.]+ s\n$", text)


def test_progress_bar_waits_min_interval_between_redraws() -> None:
    stream = _Terminal()
    now = [0.0]
    bar = ProgressBar("x", 1000, stream=stream, clock=lambda: now[0], min_interval_s=10.0)
    for _ in range(999):
        bar.advance()
    assert stream.getvalue().count("\r") == 1  # the first draw only: the clock stood still
    bar.advance()
    assert "100%" in stream.getvalue()  # the last unit always draws


def test_log_lines_through_the_bar_clear_it_and_bring_it_back_below() -> None:
    stream = _Terminal()
    bar = ProgressBar("history", 10, stream=stream, clock=lambda: 0.0, min_interval_s=0.0)
    bar.advance(5)
    bar.write('{"event": "x"}')
    bar.write("\n")
    text = stream.getvalue()
    line = "history [###############---------------]  50%  5/10 snapshots  0.0 s  eta 0.0 s"
    assert text == f"\r\x1b[K{line}\r\x1b[K" + '{"event": "x"}\n' + f"\r\x1b[K{line}"
    assert bar.as_stream().isatty()


def test_an_unwritable_report_path_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from daemon.cli import main

    data = Path(__file__).resolve().parents[1] / "market" / "history_data"
    vix, spx = sorted(data.glob("*vix*"))[0], sorted(data.glob("*spx*"))[0]
    code = main(
        [
            "history",
            "--vix",
            str(vix),
            "--spx",
            str(spx),
            "--state-dir",
            str(tmp_path / "s"),
            "--report",
            str(tmp_path / "missing" / "r.html"),
        ]  # fmt: skip
    )
    assert code == 64 and "--report" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()  # nothing ran
