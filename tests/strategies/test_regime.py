from strategies.config import RegimeConfig
from strategies.events import Regime, RegimeChanged
from strategies.regime import RegimeDetector
from strategies.state import MarketState


def test_elevated_entered_at_threshold_and_left_below_hysteresis_band() -> None:
    det = RegimeDetector(RegimeConfig())
    assert det.update(14.0) is Regime.CALM
    assert det.update(15.99) is None
    assert det.update(16.0) is Regime.ELEVATED
    assert det.update(15.6) is None  # inside the 0.5 band: still elevated
    assert det.update(15.5) is None  # not below 15.5 yet
    assert det.update(15.49) is Regime.CALM


def test_first_print_above_threshold_starts_elevated() -> None:
    assert RegimeDetector(RegimeConfig()).update(22.0) is Regime.ELEVATED


class _Snap:
    def __init__(self, session: object, vix: float) -> None:
        self.session, self.vix, self.ts = session, vix, session


def test_market_state_publishes_changes_and_counts_regime_days_by_session_close() -> None:
    from datetime import date

    out: list[object] = []
    state = MarketState(RegimeConfig(), out.append)
    d1, d2, d3 = date(2025, 1, 2), date(2025, 1, 3), date(2025, 1, 6)
    for session, vix in ((d1, 14.0), (d1, 17.0), (d1, 15.6), (d2, 15.0), (d2, 15.2), (d3, 14.0)):
        state.on_market_snapshot(_Snap(session, vix))  # type: ignore[arg-type]
    state.finish()
    changes = [e for e in out if isinstance(e, RegimeChanged)]
    assert [(c.previous, c.current) for c in changes] == [
        (Regime.CALM, Regime.ELEVATED),
        (Regime.ELEVATED, Regime.CALM),
    ]
    # d1 closes at 15.6 (elevated, inside the band), d2 and d3 close calm
    assert state.regime_days == {Regime.ELEVATED: 1, Regime.CALM: 2}
    assert state.session_index == 2
