"""Session-change accounting: what moves into cash when a new session starts.

On the first snapshot of a new session the broker settles the futures' daily variation at the
previous session's last mid, credits interest on cash, then cash-settles expired series. Each
amount is recorded in the ledger before the portfolio books it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime

import structlog

from market.instruments import Contract, FutureContract, OptionContract, Root

from .events import ContractSettled
from .portfolio import Portfolio
from .ports import BrokerLedger, MarketView

log = structlog.get_logger(__name__)

DAYS_PER_YEAR = 365.0
"""Interest accrues per calendar day, on a 365-day year."""


def settle_variation(
    portfolio: Portfolio, ledger: BrokerLedger, marks: Mapping[Contract, float], ts: datetime
) -> None:
    """Move every open future's daily variation into cash at its last mid of the previous
    session (from ``marks``), which becomes its reference price."""
    for pos in portfolio.open_positions():
        contract = pos.contract
        if not isinstance(contract, FutureContract):
            continue
        settlement = marks.get(contract)
        if settlement is None:
            log.warning("variation_without_mark", contract=contract.symbol, layer=pos.layer)
            continue
        amount = portfolio.apply_variation(pos.layer, contract, settlement)
        if amount:
            ledger.record_cash_movement(
                ts,
                "variation",
                amount,
                portfolio.cash,
                layer=pos.layer,
                symbol=contract.symbol,
                note=f"daily settlement at {settlement}",
            )


def credit_interest(
    portfolio: Portfolio, ledger: BrokerLedger, snap: MarketView, previous: date
) -> None:
    """Credit (or charge) cash x rate x calendar days since the previous session / 365."""
    days = (snap.session - previous).days
    amount = portfolio.cash * snap.rate * days / DAYS_PER_YEAR
    if not amount:
        return
    portfolio.apply_interest(amount)
    ledger.record_cash_movement(
        snap.ts,
        "interest",
        amount,
        portfolio.cash,
        note=f"{days} days at {snap.rate}",
    )


def settle_expired(
    portfolio: Portfolio,
    ledger: BrokerLedger,
    snap: MarketView,
    on_settled: Callable[[ContractSettled], None],
) -> None:
    """Cash-settle every position whose series has expired, each underlying against the one
    print of this snapshot: SPX options at the SOQ, VIX options and VX/VXM futures at the VRO.

    Each settlement is recorded, booked, then handed to ``on_settled`` before the next one.
    """
    for pos in portfolio.open_positions():
        contract = pos.contract
        if contract.expiry > snap.session:
            continue
        value, proxy = settlement_print(contract, snap)
        if isinstance(contract, OptionContract):
            cash = contract.intrinsic(value) * contract.multiplier * pos.quantity
        else:
            cash = (value - pos.avg_price) * contract.multiplier * pos.quantity
        settled = ContractSettled(snap.ts, pos.layer, contract, pos.quantity, value, cash, proxy)
        ledger.record_settlement(settled, portfolio.cash + settled.cash)
        portfolio.apply_settlement(settled)
        if proxy:
            log.warning(
                "settlement_proxy_used",
                contract=contract.symbol,
                layer=pos.layer,
                settlement_price=value,
            )
        on_settled(settled)


def settlement_print(contract: Contract, snap: MarketView) -> tuple[float, bool]:
    """The value ``contract`` settles at in ``snap`` and whether it is a proxy.

    SPX options settle at the SOQ; VIX options and VX/VXM futures at the VRO. Without the print
    the index level of the snapshot (SPX or VIX) stands in, flagged as a proxy and logged.
    """
    if isinstance(contract, OptionContract) and contract.root is Root.SPX:
        return (snap.soq, False) if snap.soq is not None else (snap.spx, True)
    return (snap.vro, False) if snap.vro is not None else (snap.vix, True)
