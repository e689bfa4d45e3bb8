"""Test doubles shared by the broker tests: a snapshot that quotes from a dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from market.calendar import spx_expiries_after, vx_expiries_after
from market.instruments import Contract, FutureContract, FutureRoot, OptionContract, Right, Root

EXPIRY = date(2025, 3, 21)
TS = datetime(2025, 2, 3, 15, 0, tzinfo=UTC)
VX_EXPIRY = date(2025, 3, 18)
"""The VX (and VIX options) expiry of March 2025: 30 days before the 3rd Friday of April."""


def put(strike: float, expiry: date = EXPIRY) -> OptionContract:
    return OptionContract(Root.SPX, expiry, strike, Right.PUT)


def call(strike: float, expiry: date = EXPIRY) -> OptionContract:
    return OptionContract(Root.SPX, expiry, strike, Right.CALL)


def vix_call(strike: float, expiry: date = VX_EXPIRY) -> OptionContract:
    return OptionContract(Root.VIX, expiry, strike, Right.CALL)


def vix_put(strike: float, expiry: date = VX_EXPIRY) -> OptionContract:
    return OptionContract(Root.VIX, expiry, strike, Right.PUT)


def vx(expiry: date = VX_EXPIRY) -> FutureContract:
    return FutureContract(FutureRoot.VX, expiry)


def vxm(expiry: date = VX_EXPIRY) -> FutureContract:
    return FutureContract(FutureRoot.VXM, expiry)


@dataclass(frozen=True)
class FakeQuote:
    bid: float
    ask: float
    bid_size: int = 0
    ask_size: int = 0


@dataclass(frozen=True)
class FakeGreeks:
    delta: float
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0


@dataclass(frozen=True)
class FakeCurvePoint:
    expiry: date
    price: float = 18.0


@dataclass
class FakeSnapshot:
    """The broker's view of a snapshot: time, session, spot, prints, listings, quotes, greeks.

    Listings default to what the real snapshot lists: the next four SPX monthlies and eight VX
    expiries after the session.
    """

    ts: datetime
    session: date
    spx: float = 5000.0
    soq: float | None = None
    seq: int = 0
    quotes: dict[Contract, FakeQuote] = field(default_factory=dict)
    vix: float = 18.0
    vro: float | None = None
    rate: float = 0.0
    greeks: dict[OptionContract, FakeGreeks] = field(default_factory=dict)
    spx_expiries: tuple[date, ...] = ()
    vx_curve: tuple[FakeCurvePoint, ...] = ()

    def __post_init__(self) -> None:
        if not self.spx_expiries:
            self.spx_expiries = tuple(spx_expiries_after(self.session, 4))
        if not self.vx_curve:
            self.vx_curve = tuple(FakeCurvePoint(e) for e in vx_expiries_after(self.session, 8))

    def quote(self, contract: Contract) -> FakeQuote | None:
        return self.quotes.get(contract)

    def option_greeks(self, contract: OptionContract) -> FakeGreeks | None:
        return self.greeks.get(contract)


def ts_on(session: date, minutes: int = 0) -> datetime:
    """A timestamp on ``session``: 15:00 UTC (10:00 New York in winter) plus ``minutes``."""
    return datetime(session.year, session.month, session.day, 15, tzinfo=UTC) + timedelta(
        minutes=minutes
    )


def snap_on(
    session: date,
    quotes: dict[Contract, FakeQuote] | None = None,
    minutes: int = 0,
    **fields: object,
) -> FakeSnapshot:
    """A snapshot on ``session`` with ``quotes`` and any other fields given by name."""
    return FakeSnapshot(ts_on(session, minutes), session, quotes=dict(quotes or {}), **fields)  # type: ignore[arg-type]
