"""Layer 2's position book: the hedge's lots, what fills do to them and what they are worth.

The hedge is held in lots, one per contract, oldest first. Futures hedges hold one lot; calls
are held in lots per strike: additions buy the strike nearest ``call_delta`` (a new lot, or
averaged into the lot of that strike), reductions sell the oldest lots first (what remains is the
part closest to the target delta), each lot's contracts counted at its own delta
(:meth:`HedgeBook.reduce_vx_legs`), and a roll sells every lot and buys as many target-delta calls
in the new expiry. Take-profit compares the lots' mid value with what they cost.

Bookkeeping only: the actor (:mod:`strategies.hedge`) decides what to trade and when; this module
keeps the lots and builds the legs of the orders it sends, as ``(contract, signed contracts)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from market.instruments import Contract, FutureContract, OptionContract, Right, Root
from strategies.hedge_sizing import INSTRUMENT_ROOTS, VX_MULTIPLIER, instrument_terms

if TYPE_CHECKING:
    from brokers.events import LegFill
    from brokers.portfolio import Position
    from market.snapshot import MarketSnapshot

Leg = tuple[Contract, int]
"""One leg of an order the hedge sends: the contract and signed contracts (+ buy, - sell)."""


@dataclass(slots=True)
class Lot:
    """Contracts held in one contract and their average price (points)."""

    quantity: int
    avg_price: float


def instrument_kind(contract: Contract) -> str | None:
    """``mini_future`` / ``future`` / ``call`` (the instrument names), None for anything else."""
    if isinstance(contract, FutureContract):
        return next((name for name, root in INSTRUMENT_ROOTS.items() if root is contract.root))
    if isinstance(contract, OptionContract) and contract.root is Root.VIX:
        return "call" if contract.right is Right.CALL else None
    return None


def _vx_per_contract(contract: Contract, snap: MarketSnapshot | None) -> float | None:
    """VX equivalents of one contract: VXM 0.1, VX 1, a call its delta x 100 / 1000 at ``snap``
    (None without greeks there or without a snapshot)."""
    if isinstance(contract, FutureContract):
        return contract.multiplier / VX_MULTIPLIER
    if snap is None:
        return None
    greeks = snap.option_greeks(contract)
    if greeks is None:
        return None
    return float(greeks.delta) * contract.multiplier / VX_MULTIPLIER


class HedgeBook:
    """The lots of the hedge, oldest first; true while anything is held."""

    def __init__(self) -> None:
        self._lots: dict[Contract, Lot] = {}

    def __bool__(self) -> bool:
        return bool(self._lots)

    def __contains__(self, contract: object) -> bool:
        return contract in self._lots

    # -- queries --------------------------------------------------------------------------------

    @property
    def oldest(self) -> Contract:
        """The contract held longest (the book must not be empty): its kind and expiry are the
        hedge's."""
        return next(iter(self._lots))

    def symbols(self) -> tuple[str, ...]:
        return tuple(c.symbol for c in self._lots)

    def held(self) -> int:
        """Contracts held (calls of every strike count one each)."""
        return sum(lot.quantity for lot in self._lots.values())

    def days_to_expiry(self, session: date) -> int:
        """Calendar days from ``session`` to the nearest expiry held (the book must not be
        empty)."""
        return min((c.expiry - session).days for c in self._lots)

    def holds_other_than(self, contract: Contract) -> bool:
        """Whether a lot is of another instrument or expiry than ``contract``."""
        return any(
            instrument_kind(c) != instrument_kind(contract) or c.expiry != contract.expiry
            for c in self._lots
        )

    def vx_equivalents(self, snap: MarketSnapshot | None) -> float:
        """The hedge in VX equivalents at ``snap``: VXM / 10, VX, calls x delta x 100 / 1000 (a
        call without greeks there, or without a snapshot, counts 0)."""
        total = 0.0
        for contract, lot in self._lots.items():
            per = _vx_per_contract(contract, snap)
            if per is not None:
                total += lot.quantity * per
        return total

    def value(self, snap: MarketSnapshot) -> tuple[float | None, float]:
        """(mid value per contract, cost per contract) of the lots, points; value None without
        a full set of quotes. The book must not be empty."""
        held = self.held()
        cost = sum(lot.avg_price * lot.quantity for lot in self._lots.values()) / held
        value = 0.0
        for contract, lot in self._lots.items():
            quote = snap.quote(contract)
            if quote is None:
                return None, cost
            value += quote.mid * lot.quantity
        return value / held, cost

    # -- order legs -----------------------------------------------------------------------------

    def close_legs(self) -> list[Leg]:
        """Sell every lot."""
        return [(c, -lot.quantity) for c, lot in self._lots.items()]

    def reduce_legs(self, quantity: int) -> list[Leg]:
        """Sell ``quantity`` contracts, oldest lots first."""
        legs: list[Leg] = []
        left = quantity
        for c, lot in self._lots.items():
            take = min(left, lot.quantity)
            legs.append((c, -take))
            left -= take
            if left == 0:
                break
        return legs

    def reduce_vx_legs(self, snap: MarketSnapshot, vx: float) -> list[Leg]:
        """Sell about ``vx`` VX equivalents, oldest lots first, each lot's contracts counted at
        its own VX equivalents per contract at ``snap`` (to the nearest whole contract; a lot
        that covers the rest ends the order). A call without greeks there is skipped (kept)."""
        legs: list[Leg] = []
        left = vx
        for c, lot in self._lots.items():
            per = _vx_per_contract(c, snap)
            if per is None:
                continue
            take = lot.quantity if per <= 0.0 else min(lot.quantity, math.floor(left / per + 0.5))
            if take > 0:
                legs.append((c, -take))
                left -= take * per
            if take < lot.quantity:
                break
        return legs

    def roll_legs(
        self, snap: MarketSnapshot, expiry: date | None, call_delta: float
    ) -> list[Leg] | None:
        """One combo selling every lot and buying as many contracts in ``expiry``: futures of the
        same root, calls at the strike nearest ``call_delta``. None when there is nothing quoted
        to roll into (no expiry, the one held, or no quote there)."""
        held = self.oldest
        new: Contract | None = None
        if expiry is not None and expiry != held.expiry:
            if isinstance(held, FutureContract):
                new = FutureContract(held.root, expiry)
            else:
                terms = instrument_terms(snap, "call", expiry, call_delta)
                new = terms.contract if terms is not None else None
        if new is None or snap.quote(new) is None:
            return None
        return [*self.close_legs(), (new, self.held())]

    # -- changes --------------------------------------------------------------------------------

    def adopt(self, positions: Iterable[Position]) -> list[str]:
        """Take over the layer's positions: long VX/VXM futures of one root and expiry, or long
        VIX calls of one expiry. Returns the symbols left alone (short, mixed or of another
        expiry than the first held)."""
        unmapped: list[str] = []
        kind: tuple[str | None, date] | None = None
        for pos in positions:
            contract = pos.contract
            key = (instrument_kind(contract), contract.expiry)
            if pos.quantity <= 0 or key[0] is None or kind not in (None, key):
                unmapped.append(contract.symbol)
                continue
            kind = key
            self._lots[contract] = Lot(pos.quantity, pos.avg_price)
        return unmapped

    def apply(self, legs: Iterable[LegFill]) -> None:
        """Book a fill's legs into the lots (buys average in, sells reduce, zero drops a lot)."""
        for leg in legs:
            lot = self._lots.get(leg.contract)
            if leg.quantity > 0:
                if lot is None:
                    self._lots[leg.contract] = Lot(leg.quantity, leg.price)
                else:
                    total = lot.quantity + leg.quantity
                    lot.avg_price = (
                        lot.avg_price * lot.quantity + leg.price * leg.quantity
                    ) / total
                    lot.quantity = total
            elif lot is not None:
                lot.quantity += leg.quantity
                if lot.quantity <= 0:
                    del self._lots[leg.contract]

    def settle(self, contract: Contract) -> None:
        """Drop the lot of a settled contract."""
        del self._lots[contract]
