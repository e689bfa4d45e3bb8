"""The reference condor (the hedge floor's base) is the condor layer's own entry, by its rules."""

from __future__ import annotations

from datetime import date

import pytest
from test_condor_management import EXPIRY, S0, make_actor, orders, snap_on, step

from brokers.orders import OrderIntent
from market.instruments import OPTION_MULTIPLIER, OptionContract
from strategies.config import CondorConfig
from strategies.reference_condor import reference_condor, reference_expiry


def test_the_reference_is_the_condor_the_layer_opens_at_the_same_snapshot() -> None:
    actor, state, out = make_actor()
    snap = snap_on(S0)
    entry = orders(step(actor, state, out, snap))
    assert len(entry) == 1 and entry[0].intent is OrderIntent.OPEN
    ref = reference_condor(snap, CondorConfig(), 1_000_000.0)
    assert ref is not None
    assert ref.expiry == EXPIRY
    assert ref.quantity == entry[0].quantity
    # the greeks, summed here leg by leg from the snapshot's own option greeks
    vega = theta = 0.0
    for leg in entry[0].legs:
        assert isinstance(leg.contract, OptionContract)
        g = snap.option_greeks(leg.contract)
        assert g is not None
        vega += leg.ratio * float(g.vega) * ref.quantity * OPTION_MULTIPLIER
        theta += leg.ratio * float(g.theta) * ref.quantity * OPTION_MULTIPLIER
    assert ref.greeks.vega_dollars == pytest.approx(vega, rel=1e-12)
    assert ref.greeks.theta_per_day == pytest.approx(theta, rel=1e-12)
    assert ref.greeks.vega_dollars < 0.0 < ref.greeks.theta_per_day  # short premium
    # the actor's cached accessor gives the same, at the equity of its last mark
    assert actor.reference(snap) == ref


def test_the_reference_scales_with_equity_and_the_risk_budget() -> None:
    snap = snap_on(S0)
    full = reference_condor(snap, CondorConfig(), 1_000_000.0)
    half = reference_condor(snap, CondorConfig(risk_per_condor=0.025), 1_000_000.0)
    assert full is not None and half is not None
    assert half.quantity == full.quantity // 2  # floor(x / 2) == floor(floor(x) / 2)
    assert reference_condor(snap, CondorConfig(), 0.0) is None
    assert reference_condor(snap, CondorConfig(), 1_000.0) is None  # less than one contract


def test_between_two_cycles_the_reference_takes_the_next_monthly_beyond_max_dte() -> None:
    expiries = (date(2025, 2, 21), date(2025, 3, 21), date(2025, 4, 17))
    # 2025-01-10: February is 42 days out (inside min_dte), March 70 (beyond max_dte 60)
    assert reference_expiry(expiries, date(2025, 1, 10), 45) == date(2025, 3, 21)
    assert reference_expiry(expiries, date(2025, 1, 7), 45) == date(2025, 2, 21)  # 45 days
    assert reference_expiry(expiries, date(2025, 3, 10), 45) is None
    ref = reference_condor(snap_on(date(2025, 1, 10)), CondorConfig(), 1_000_000.0)
    assert ref is not None and ref.expiry == date(2025, 3, 21)
