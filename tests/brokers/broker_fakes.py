"""Test doubles shared by the broker tests: a snapshot that quotes from a dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from market.instruments import OptionContract, Right, Root

EXPIRY = date(2025, 3, 21)
TS = datetime(2025, 2, 3, 15, 0, tzinfo=UTC)


def put(strike: float, expiry: date = EXPIRY) -> OptionContract:
    return OptionContract(Root.SPX, expiry, strike, Right.PUT)


def call(strike: float, expiry: date = EXPIRY) -> OptionContract:
    return OptionContract(Root.SPX, expiry, strike, Right.CALL)


@dataclass(frozen=True)
class FakeQuote:
    bid: float
    ask: float


@dataclass
class FakeSnapshot:
    """The broker's view of a snapshot: time, session, spot, SOQ and a quote per contract."""

    ts: datetime
    session: date
    spx: float = 5000.0
    soq: float | None = None
    seq: int = 0
    quotes: dict[OptionContract, FakeQuote] = field(default_factory=dict)

    def quote(self, contract: OptionContract) -> FakeQuote | None:
        return self.quotes.get(contract)
