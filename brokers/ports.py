"""The broker's edges: what it reads from a market snapshot and what it writes to the ledger.

Protocols, so ``brokers`` depends on neither ``market.snapshot`` nor the ledger's storage; tests
hand in fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from market.instruments import Contract, OptionContract

from .events import ContractSettled, OrderFilled
from .fills import QuoteLike
from .greeks import GreeksLike
from .ledger import ClosingVariation
from .orders import SubmitOrder


class CurvePoint(Protocol):
    @property
    def expiry(self) -> date: ...


class MarketView(Protocol):
    """What the broker reads from a market snapshot (``market.snapshot.MarketSnapshot``)."""

    @property
    def ts(self) -> datetime: ...

    @property
    def session(self) -> date: ...

    @property
    def spx(self) -> float: ...

    @property
    def vix(self) -> float: ...

    @property
    def soq(self) -> float | None: ...

    @property
    def vro(self) -> float | None: ...

    @property
    def rate(self) -> float: ...

    @property
    def spx_expiries(self) -> tuple[date, ...]: ...

    @property
    def vx_curve(self) -> tuple[CurvePoint, ...]: ...

    def quote(self, contract: Contract) -> QuoteLike | None: ...

    def option_greeks(self, contract: OptionContract) -> GreeksLike | None: ...


class BrokerLedger(Protocol):
    """The ledger writes the broker makes (``brokers.ledger.Ledger``)."""

    def record_order(self, cmd: SubmitOrder, ts: datetime) -> None: ...

    def record_order_status(
        self,
        client_order_id: str,
        status: str,
        ts: datetime,
        reason: str = "",
        order_id: str | None = None,
    ) -> None: ...

    def record_fill(
        self,
        fill: OrderFilled,
        cash_after: float,
        closing_variation: Sequence[ClosingVariation] = (),
    ) -> None: ...

    def record_settlement(self, settled: ContractSettled, cash_after: float) -> None: ...

    def record_cash_movement(
        self,
        ts: datetime,
        kind: str,
        amount: float,
        cash_after: float,
        layer: str | None = None,
        symbol: str | None = None,
        note: str = "",
    ) -> None: ...
