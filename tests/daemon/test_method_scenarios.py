"""The whole ALVH method on its scripted scenarios (issue 5's "Done when"), run in-process through
the real pipeline at a 15-minute cadence, deterministic: seed 1 throughout, plus seed 9 for the
one risk-halt ordering it exposes.

Each scenario runs once for the module (:class:`method_runs.MethodRuns`); the tests read its
structured log lines and recompute every decision from the inputs the lines carry and the VIX
path the simulator printed, never from constants copied out of a run.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from method_runs import (
    CADENCE_MINUTES,
    MethodRun,
    MethodRuns,
    MethodSpec,
    is_monthly_expiry,
    round_half_up,
    run_method,
    ts,
)

from daemon.cli import main

SPECS = {
    "calm": MethodSpec("calm", seed=1, days=120),
    "grind-up": MethodSpec("grind-up", seed=1, days=160),
    "spike-and-revert": MethodSpec("spike-and-revert", seed=1, days=120),
    "volmageddon": MethodSpec("volmageddon", seed=1, days=40),
    "risk-halt": MethodSpec(
        "volmageddon",
        seed=1,
        days=40,
        overrides={"strategy": {"risk": {"daily_loss_limit": 0.002}}},
    ),
    "risk-halt-seed-9": MethodSpec(
        "volmageddon",
        seed=9,
        days=30,
        overrides={"strategy": {"risk": {"daily_loss_limit": 0.002}}},
    ),
}
SPEC_EXIT_RULES = (
    "credit_stop",
    "take_profit",
    "profit_target",
    "rsi",
    "dte",
    "unwind",
    "flatten",
    "risk_halt",
)
"""The exit rules SPEC section 14 says `exits` counts."""
VXM_PER_VX = 10
"""SPEC section 7: the default ``mini_future`` hedge holds n x 10 VXM contracts."""
CONDOR_GREEKS = ("delta", "vega", "theta", "short_theta", "wing_theta")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> MethodRuns:
    return MethodRuns(SPECS, tmp_path_factory.mktemp("method-runs"))


def net_contracts(fills: list[dict[str, Any]]) -> int:
    """Signed contracts the logged fills leave held (a roll's legs cancel out)."""
    return sum(leg["quantity"] for fill in fills for leg in fill["legs"])


def closing_streaks(closes: list[float], threshold: float) -> list[int]:
    """For each session, how many closes in a row up to it were at or above ``threshold``."""
    streaks, run = [], 0
    for close in closes:
        run = run + 1 if close >= threshold else 0
        streaks.append(run)
    return streaks


# -- calm: layer 1 only ------------------------------------------------------------------------


def test_calm_trades_the_condor_layer_only(runs: MethodRuns) -> None:
    run = runs["calm"]
    assert max(run.vix_at.values()) < run.config.strategy.regime.elevated_vix
    layers = run.summary["layers"]
    assert layers["condor"]["opened"] == len(run.events("condor_opened")) > 0
    assert layers["hedge"]["opened"] == layers["press"]["opened"] == 0
    for layer in ("hedge", "press"):
        assert run.events("order_submitted", layer=layer) == []
        assert run.events("fill_recorded", layer=layer) == []
    assert {f["layer"] for f in run.fills} == {"condor"}
    assert run.events("hedge_rebalanced") == []
    assert run.events("regime_changed") == []
    assert run.summary["regimes"] == {
        "calm_days": run.spec.days,
        "elevated_days": 0,
        "stress_days": 0,
    }


def test_no_condor_opens_within_the_reentry_cooldown_after_a_credit_stop(
    runs: MethodRuns,
) -> None:
    run = runs["calm"]
    cooldown = run.config.strategy.condor.reentry_cooldown
    stops = run.events("exit_triggered", layer="condor", rule="credit_stop")
    assert stops
    for stop in stops:
        reopened = [
            run.session(e)
            for e in run.events("condor_opened")
            if run.position(e) > run.position(stop)
        ]
        assert all(session > run.session(stop) + cooldown for session in reopened)


# -- grind-up: the hedge engages when VIX crosses 16, sized by the formula ---------------------


def test_grind_up_engages_the_hedge_when_vix_crosses_16(runs: MethodRuns) -> None:
    run = runs["grind-up"]
    first_at_16 = next(
        key for key, vix in run.vix_at.items() if vix >= run.config.strategy.regime.elevated_vix
    )
    elevated = run.events("regime_changed", current="elevated")[0]
    assert elevated["previous"] == "calm" and elevated["market_ts"] == first_at_16

    first_rebalance = run.events("hedge_rebalanced")[0]
    first_order = run.events("order_submitted", layer="hedge")[0]
    assert run.position(first_rebalance) > run.position(elevated)
    assert run.position(first_order) > run.position(first_rebalance)
    assert ts(first_rebalance) >= ts(elevated)
    back_to_calm = [
        e
        for e in run.events("regime_changed", current="calm")
        if run.position(e) > run.position(elevated)
    ]
    if back_to_calm:  # engaged within that ELEVATED episode, not a later one
        assert ts(first_rebalance) < ts(back_to_calm[0])
    assert run.summary["layers"]["hedge"]["opened"] == len(
        run.events("position_opened", layer="hedge")
    )
    assert run.summary["layers"]["hedge"]["opened"] >= 1


def test_grind_up_hedge_targets_follow_the_sizing_formula_from_their_logged_inputs(
    runs: MethodRuns,
) -> None:
    run = runs["grind-up"]
    hedge = run.config.strategy.hedge
    assert hedge.instrument == "mini_future"
    capped = {e["market_ts"]: e for e in run.events("hedge_carry_capped")}
    held = 0  # VXM contracts the hedge's fills so far leave held
    checked = 0
    for e in run.logs:
        if e["event"] == "fill_recorded" and e["layer"] == "hedge":
            held += net_contracts([e])
        if e["event"] != "hedge_rebalanced":
            continue
        checked += 1
        assert e["contract"].startswith("VXM ")
        assert hedge.beta_min <= e["beta"] <= hedge.beta_max
        assert e["iv_beta"] == hedge.iv_beta and e["carry"] >= 0.0
        h_eff = hedge.h / (1.0 + e["carry"] / hedge.vrp_scale)
        assert e["h_eff"] == pytest.approx(h_eff, rel=1e-12)
        # Only a short-vega book is hedged; short condors never carry long vega.
        assert e["vega_dollars"] <= 0.0
        n = h_eff * e["iv_beta"] * abs(e["vega_dollars"]) / (1000.0 * e["beta"])
        assert e["n_vx"] == pytest.approx(n, rel=1e-12, abs=1e-15)
        rounded = round_half_up(n * VXM_PER_VX)
        cap = capped.get(e["market_ts"])
        if cap is None:
            assert e["target"] == rounded
            max_carry = hedge.max_carry_fraction * e["theta_income_per_day"]
            assert e["carry_per_day"] <= 0.0 or e["carry_per_day"] <= max_carry + 1e-9
        else:
            assert cap["uncapped"] == rounded and e["target"] == cap["capped"] < rounded
        assert e["held"] == held != e["target"]
    assert checked >= 3


# -- spike-and-revert: the press after the confirmation, its exits, the unwind in CALM ---------


def test_spike_and_revert_enters_stress_only_after_three_closes_at_or_above_25(
    runs: MethodRuns,
) -> None:
    run = runs["spike-and-revert"]
    regime = run.config.strategy.regime
    streaks = closing_streaks(run.closes, regime.press_threshold)
    stress = run.events("regime_changed", current="stress")
    assert stress
    first = run.session(stress[0])
    assert first == next(i for i, n in enumerate(streaks) if n >= regime.press_confirm)
    for change in stress:
        session = run.session(change)
        assert change["market_ts"] == run.last_ts[session]  # decided at a session close
        assert change["vix"] == run.closes[session]
        assert streaks[session] >= regime.press_confirm
    # Spot printed above the threshold sessions before the closes confirmed it: ELEVATED till then.
    spot_above = next(k for k, v in run.vix_at.items() if v >= regime.press_threshold)
    assert run.session_of[spot_above] < first and stress[0]["previous"] == "elevated"


def test_spike_and_revert_presses_only_in_stress_at_most_max_spreads_per_episode(
    runs: MethodRuns,
) -> None:
    run = runs["spike-and-revert"]
    press = run.config.strategy.press
    stress = run.events("regime_changed", current="stress")
    entries = run.events("position_opened", layer="press")
    assert entries
    assert run.position(run.events("order_submitted", layer="press")[0]) > run.position(stress[0])
    assert ts(entries[0]) > ts(stress[0])
    assert all(run.regime_before(e) == "stress" for e in entries)
    episodes = Counter(
        max(i for i, change in enumerate(stress) if run.position(change) < run.position(e))
        for e in entries
    )
    assert max(episodes.values()) <= press.press_max_spreads
    assert run.summary["layers"]["press"]["opened"] == len(entries)


def test_spike_and_revert_closes_every_press_spread_on_the_credit_stop_or_the_rsi(
    runs: MethodRuns,
) -> None:
    run = runs["spike-and-revert"]
    exits_cfg, rsi_cfg = run.config.strategy.exits, run.config.strategy.rsi
    opened = {e["position_id"] for e in run.events("position_opened", layer="press")}
    exits = run.events("exit_triggered", layer="press")
    assert exits and {e["rule"] for e in exits} <= {"credit_stop", "rsi"}
    for e in exits:
        if e["rule"] == "credit_stop":
            assert e["cost_to_close"] >= exits_cfg.stop_multiple * e["credit"]
        else:
            assert e["rsi"] < rsi_cfg.exit_below
    assert sorted(e["position_id"] for e in exits) == sorted(opened)  # each fired once
    closed = {e["position_id"]: e["rule"] for e in run.events("position_closed", layer="press")}
    assert closed == {e["position_id"]: e["rule"] for e in exits}
    layer = run.summary["layers"]["press"]
    assert layer["open"] == 0 and layer["closed"] == layer["opened"] == len(opened)
    assert net_contracts(run.events("fill_recorded", layer="press")) == 0


def test_spike_and_revert_unwinds_the_hedge_back_in_calm(runs: MethodRuns) -> None:
    run = runs["spike-and-revert"]
    unwinds = run.events("exit_triggered", layer="hedge", rule="unwind")
    assert unwinds
    first_calm = run.events("regime_changed", current="calm")[0]
    assert run.position(first_calm) < run.position(unwinds[0])
    assert all(run.regime_before(e) == "calm" for e in unwinds)
    closed_by_unwind = run.events("position_closed", layer="hedge", rule="unwind")
    assert [e["position_id"] for e in closed_by_unwind] == [e["position_id"] for e in unwinds]
    hedge = run.summary["layers"]["hedge"]
    assert hedge["exits"]["unwind"] == len(unwinds)
    # The hedge is bought only in ELEVATED or STRESS, and the run ends in CALM holding none.
    hedge_fills = run.events("fill_recorded", layer="hedge")
    assert all(run.regime_before(f) != "calm" for f in hedge_fills if f["intent"] == "open")
    assert run.events("regime_changed")[-1]["current"] == "calm"
    assert hedge["open"] == 0 and net_contracts(hedge_fills) == 0


# -- volmageddon: the condor's credit stop on the doubling ------------------------------------


def test_volmageddon_fires_the_condor_credit_stop_on_the_doubling(runs: MethodRuns) -> None:
    run = runs["volmageddon"]
    stop_multiple = run.config.strategy.exits.stop_multiple
    doubling = next(
        i for i in range(1, len(run.closes)) if run.closes[i] / run.closes[i - 1] >= 1.8
    )
    stops = run.events("exit_triggered", layer="condor", rule="credit_stop")
    on_doubling = [e for e in stops if run.session(e) in (doubling, doubling + 1)]
    assert on_doubling
    for e in stops:
        assert e["cost_to_close"] >= stop_multiple * e["credit"] > 0.0
    stopped = on_doubling[0]["position_id"]
    assert [e["rule"] for e in run.events("condor_closed", position_id=stopped)] == ["credit_stop"]
    assert len(run.events("exit_triggered", position_id=stopped)) == 1


# -- theta inversion and the time-shift --------------------------------------------------------


def test_an_inverted_condor_is_rolled_whole_into_the_next_free_monthly_once_per_cooldown(
    runs: MethodRuns,
) -> None:
    run = runs["grind-up"]
    cfg = run.config.strategy
    rolls = run.events("condor_rolled", kind="time_shift")
    assert rolls
    expiry_of: dict[str, str] = {}  # open condors: position id -> expiry
    for e in run.logs:
        pid = str(e.get("position_id", ""))
        if e["event"] == "condor_opened":
            expiry_of[pid] = e["expiry"]
        elif e["event"] == "condor_closed":
            del expiry_of[pid]
        elif e["event"] == "condor_rolled":
            if e["kind"] == "time_shift":
                old, new = date.fromisoformat(e["old_expiry"]), date.fromisoformat(e["new_expiry"])
                others = {date.fromisoformat(x) for p, x in expiry_of.items() if p != pid}
                listed = run.spx_expiries_at[e["market_ts"]]
                assert expiry_of[pid] == e["old_expiry"]
                assert new > old and is_monthly_expiry(new) and new not in others
                assert new == min(x for x in listed if x > old and x not in others)
            expiry_of[pid] = e["new_expiry"]

    # One combo order each: the four legs closed and the four opened, filled together.
    orders = run.events("order_submitted", layer="condor", reason="time_shift")
    fills = run.events("fill_recorded", layer="condor", reason="time_shift")
    assert len(orders) == len(fills) == len(rolls)
    for roll, order, fill in zip(rolls, orders, fills, strict=True):
        assert (
            fill["market_ts"] == roll["market_ts"]
            and fill["client_order_id"] == (order["client_order_id"])
        )
        assert len(order["legs"]) == len(fill["legs"]) == 8
        expiries = Counter(leg["contract"].split()[1] for leg in fill["legs"])
        assert expiries == {roll["old_expiry"]: 4, roll["new_expiry"]: 4}
        # The stop now measures against the new condor's own credit, at its fill prices.
        new_legs = [leg for leg in fill["legs"] if roll["new_expiry"] in leg["contract"]]
        credit = -sum(leg["quantity"] * leg["price"] for leg in new_legs) / roll["quantity"]
        assert roll["credit"] == pytest.approx(credit, abs=1e-9)

    # Inverted when rolled (SPEC section 6), with greeks before and after.
    for roll in rolls:
        decided = [
            e
            for e in run.logs[: run.position(roll)]
            if e["event"] == "condor_roll_decided"
            and e["position_id"] == roll["position_id"]
            and e["kind"] == "time_shift"
        ][-1]
        assert decided["vix"] > cfg.regime.elevated_vix
        before, after = roll["before"], roll["after"]
        for greeks in (before, after):
            assert all(math.isfinite(greeks[k]) for k in CONDOR_GREEKS)
            assert greeks["theta"] == pytest.approx(greeks["short_theta"] - greeks["wing_theta"])
        assert (
            before["short_theta"] <= 0.0
            or before["theta"] <= 0.0
            or before["theta"] / before["short_theta"]
            < cfg.condor.inversion_ratio * decided["entry_efficiency"]
        )

    # At most one time-shift per condor per cooldown, and the cooldown was put to the test.
    sessions_by_condor: dict[str, list[int]] = defaultdict(list)
    for roll in rolls:
        sessions_by_condor[roll["position_id"]].append(run.session(roll))
    assert max(len(s) for s in sessions_by_condor.values()) >= 2
    for sessions in sessions_by_condor.values():
        assert all(
            b - a >= cfg.condor.roll_cooldown for a, b in zip(sessions, sessions[1:], strict=False)
        )
    assert run.summary["rolls"]["time_shift"] == len(rolls)


def test_after_any_roll_the_credit_stop_measures_against_the_rolled_condors_credit(
    runs: MethodRuns,
) -> None:
    for name in ("grind-up", "volmageddon"):
        run = runs[name]
        credit: dict[str, float] = {}
        exits = 0
        for e in run.logs:
            if e["event"] in ("condor_opened", "condor_rolled"):
                credit[e["position_id"]] = e["credit"]
            elif e["event"] == "exit_triggered" and e["layer"] == "condor":
                exits += 1
                assert e["credit"] == pytest.approx(credit[e["position_id"]])
        assert exits


# -- the summary -------------------------------------------------------------------------------


def test_simulate_json_reports_layers_regimes_every_exit_rule_and_rolls(
    runs: MethodRuns, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = runs["volmageddon"]
    config = tmp_path / "alvh.toml"
    config.write_text(f"[market]\ncadence_minutes = {CADENCE_MINUTES}\n")
    spec = run.spec
    code = main(
        [
            "simulate",
            "--config",
            str(config),
            "--scenario",
            spec.scenario,
            "--seed",
            str(spec.seed),
            "--days",
            str(spec.days),
            "--json",
            "--state-dir",
            str(tmp_path / "state"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    summary = json.loads(out)
    for layer in ("hedge", "press"):
        assert {"opened", "closed", "realized_pnl"} <= summary["layers"][layer].keys()
    assert summary["regimes"].keys() == {"calm_days", "elevated_days", "stress_days"}
    assert sum(summary["regimes"].values()) == spec.days
    assert set(SPEC_EXIT_RULES) <= summary["exits"].keys()
    assert summary["rolls"]["time_shift"] == len(run.events("condor_rolled", kind="time_shift"))
    assert summary == json.loads(json.dumps(run.summary))  # the same run, in-process


@pytest.mark.parametrize("name", list(SPECS))
def test_days_per_regime_add_up_to_the_sessions_run(runs: MethodRuns, name: str) -> None:
    run = runs[name]
    assert len(run.sessions) == run.spec.days
    assert sum(run.summary["regimes"].values()) == run.spec.days


# -- determinism -------------------------------------------------------------------------------


def test_the_same_scenario_run_twice_gives_identical_summaries_fills_and_events(
    runs: MethodRuns, tmp_path: Path
) -> None:
    first = runs["spike-and-revert"]
    second = run_method(first.spec, tmp_path)
    assert {f["layer"] for f in first.fills} == {"condor", "hedge", "press"}
    assert second.summary == first.summary
    assert second.fills == first.fills
    assert second.logs == first.logs


# -- risk halt ---------------------------------------------------------------------------------


def halted_windows(run: MethodRun) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each ``risk_halt`` line with the log lines from it up to the ``trading_resumed`` that
    lifts it (a batch run resumes at the first snapshot of the next session)."""
    windows = []
    for halt in run.events("risk_halt"):
        later = run.logs[run.position(halt) :]
        resumed = next(e for e in later if e["event"] == "trading_resumed")
        assert resumed["reason"] == "risk_halt"
        assert resumed["market_ts"] == run.first_ts[run.session(halt) + 1]
        windows.append((halt, later[: later.index(resumed)]))
    return windows


def test_a_risk_halt_flattens_and_a_batch_run_resumes_at_the_next_session(
    runs: MethodRuns,
) -> None:
    run = runs["risk-halt"]
    risk = run.config.strategy.risk
    windows = halted_windows(run)
    assert windows and run.summary["risk_halts"] == len(windows)
    for halt, halted in windows:
        assert halt["limit"] == "daily_loss" and halt["flatten"] is True
        loss = 1.0 - halt["equity"] / halt["start_equity"]
        assert loss >= risk.daily_loss_limit and halt["value"] == pytest.approx(loss, abs=1e-5)
        paused = next(e for e in halted if e["event"] == "trading_paused")
        flatten = next(e for e in halted if e["event"] == "flatten_started")
        for e in (paused, flatten):
            assert e["reason"] == "risk_halt" and e["market_ts"] == halt["market_ts"]
        fills = [e for e in halted if e["event"] == "fill_recorded"]
        assert fills and all(f["reason"] == "risk_halt" and f["intent"] == "close" for f in fills)
        rejected = [e for e in halted if e["event"] == "order_rejected"]
        assert all(e["reason"] == "trading_paused" for e in rejected)

    closed_by_halt = run.events("condor_closed", rule="risk_halt") + run.events(
        "position_closed", rule="risk_halt"
    )
    assert run.summary["exits"]["risk_halt"] == len(closed_by_halt) > 0
    flatten_fills = run.events("fill_recorded", reason="risk_halt")
    assert len(flatten_fills) == len([f for f in run.fills if f["reason"] == "risk_halt"])
    # Trading goes on after the resume: opening orders fill again.
    first_resume = run.position(run.events("trading_resumed")[0])
    assert any(
        e["event"] == "fill_recorded" and e["intent"] == "open" for e in run.logs[first_resume:]
    )


def test_no_opening_order_fills_once_a_risk_halt_is_raised(runs: MethodRuns) -> None:
    run = runs["risk-halt-seed-9"]
    windows = halted_windows(run)
    assert len(windows) >= 2
    for _, halted in windows:
        opening = [e for e in halted if e["event"] == "fill_recorded" and e["intent"] == "open"]
        assert opening == []
