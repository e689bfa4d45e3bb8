"""Positions, cash, P&L and margin of the paper account (SPEC sections 10 and 14).

Money is in dollars, prices in index points per contract. Realized P&L is kept gross per position
and reported net of fees per layer and in total. Margin is exact for defined-risk structures: each
(layer, root, expiry) group must cover its worst payoff at expiry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from types import MappingProxyType

from market.instruments import OptionContract, Right, Root

from .events import ContractSettled, LegFill, OrderFilled, premium_cash

PositionKey = tuple[str, OptionContract]
"""(layer, contract): each layer owns its own positions, even in the same contract."""

GroupKey = tuple[str, Root, date]
"""(layer, root, expiry): the structures margin is computed on."""


@dataclass(frozen=True, slots=True)
class Position:
    """A layer's holding in one contract: signed quantity, average price in points, gross realized
    P&L in dollars over the position's life."""

    layer: str
    contract: OptionContract
    quantity: int
    avg_price: float
    realized_pnl: float = 0.0

    def trade(self, quantity: int, price: float) -> Position:
        """The position after trading ``quantity`` (signed) at ``price``.

        Adding averages in; reducing realizes (price - avg) x closed x 100 with the position's sign;
        going through zero realizes the whole position and opens the rest at ``price``.
        """
        held = self.quantity
        if held == 0 or (held > 0) == (quantity > 0):
            new_qty = held + quantity
            avg = (self.avg_price * abs(held) + price * abs(quantity)) / abs(new_qty)
            return replace(self, quantity=new_qty, avg_price=avg)
        closed = min(abs(quantity), abs(held))
        sign = 1 if held > 0 else -1
        realized = (price - self.avg_price) * closed * sign * self.contract.multiplier
        new_qty = held + quantity
        if new_qty == 0:
            avg = 0.0
        elif (new_qty > 0) == (held > 0):
            avg = self.avg_price
        else:
            avg = price
        return replace(
            self, quantity=new_qty, avg_price=avg, realized_pnl=self.realized_pnl + realized
        )


@dataclass(frozen=True, slots=True)
class GroupRisk:
    """Worst loss at expiry of a group of holdings (dollars, >= 0) and whether a short option is
    uncovered: net short calls lose without bound as the index rises; net short puts are treated
    as naked too, since only the index reaching zero bounds them."""

    requirement: float
    naked: bool


def group_risk(holdings: Mapping[OptionContract, int]) -> GroupRisk:
    """Requirement = -min over settlement prices S of sum(qty x intrinsic(S) x multiplier).

    The payoff is piecewise linear with kinks at the strikes, so its minimum on [0, max strike] is
    at S = 0 or a strike; beyond the highest strike its slope is the net call quantity.
    """
    live = {c: q for c, q in holdings.items() if q != 0}
    if not live:
        return GroupRisk(0.0, False)
    points = {0.0, *(c.strike for c in live)}
    worst = min(sum(q * c.intrinsic(s) * c.multiplier for c, q in live.items()) for s in points)
    net_calls = sum(q for c, q in live.items() if c.right is Right.CALL)
    net_puts = sum(q for c, q in live.items() if c.right is Right.PUT)
    return GroupRisk(max(0.0, -worst), net_calls < 0 or net_puts < 0)


@dataclass(frozen=True, slots=True)
class BuyingPowerEffect:
    """What a trade does to buying power, in dollars: the change in requirement of the groups it
    touches, less the credit received (a debit is a negative credit), plus fees."""

    requirement_change: float
    credit: float
    fees: float
    naked: bool
    """True when the trade leaves a group with an uncovered short that was covered before."""

    @property
    def total(self) -> float:
        """Buying power consumed (positive) or released (negative)."""
        return self.requirement_change - self.credit + self.fees


class Portfolio:
    """Cash, positions, fees and P&L of the account, updated by fills and settlements."""

    __slots__ = ("_cash", "_fees_by_layer", "_positions", "_realized_by_layer", "starting_cash")

    def __init__(self, starting_cash: float) -> None:
        self.starting_cash = starting_cash
        self._cash = starting_cash
        self._positions: dict[PositionKey, Position] = {}
        self._realized_by_layer: dict[str, float] = {}
        self._fees_by_layer: dict[str, float] = {}

    # --- state -----------------------------------------------------------------------------
    @property
    def cash(self) -> float:
        return self._cash

    @property
    def positions(self) -> Mapping[PositionKey, Position]:
        """Open positions keyed by (layer, contract); read-only."""
        return MappingProxyType(self._positions)

    def position(self, layer: str, contract: OptionContract) -> Position | None:
        return self._positions.get((layer, contract))

    def quantity(self, layer: str, contract: OptionContract) -> int:
        pos = self._positions.get((layer, contract))
        return pos.quantity if pos is not None else 0

    def open_positions(self, layer: str | None = None) -> list[Position]:
        """Open positions sorted by layer then contract."""
        return [p for _, p in sorted(self._positions.items()) if layer is None or p.layer == layer]

    @property
    def fees_paid(self) -> float:
        """Total fees paid, dollars."""
        return sum(self._fees_by_layer.values())

    @property
    def fees_by_layer(self) -> dict[str, float]:
        return dict(self._fees_by_layer)

    def layers(self) -> list[str]:
        """Every layer that has traded, sorted."""
        return sorted(
            {*self._realized_by_layer, *self._fees_by_layer, *(k[0] for k in self._positions)}
        )

    # --- updates ---------------------------------------------------------------------------
    def apply_fill(self, fill: OrderFilled) -> None:
        """Book a fill: premium and fees into cash, each leg into its position."""
        self._cash += premium_cash(fill.legs) - fill.fees
        self._fees_by_layer[fill.layer] = self._fees_by_layer.get(fill.layer, 0.0) + fill.fees
        for leg in fill.legs:
            self._trade(fill.layer, leg.contract, leg.quantity, leg.price)

    def apply_settlement(self, settled: ContractSettled) -> None:
        """Close a position at its settlement value; the intrinsic cash moves into cash."""
        key = (settled.layer, settled.contract)
        pos = self._positions.get(key)
        held = pos.quantity if pos is not None else 0
        if held != settled.quantity:
            raise ValueError(
                f"settling {settled.quantity} {settled.contract.symbol} for {settled.layer!r} "
                f"but the position is {held}"
            )
        self._cash += settled.cash
        self._trade(
            settled.layer,
            settled.contract,
            -held,
            settled.contract.intrinsic(settled.settlement_price),
        )

    def _trade(self, layer: str, contract: OptionContract, quantity: int, price: float) -> None:
        if quantity == 0:
            return
        key = (layer, contract)
        before = self._positions.get(key) or Position(layer, contract, 0, 0.0)
        after = before.trade(quantity, price)
        gained = after.realized_pnl - before.realized_pnl
        if gained:
            self._realized_by_layer[layer] = self._realized_by_layer.get(layer, 0.0) + gained
        if after.quantity == 0:
            self._positions.pop(key, None)
        else:
            self._positions[key] = after

    # --- P&L -------------------------------------------------------------------------------
    def gross_realized_pnl(self, layer: str | None = None) -> float:
        """Closed P&L including settlements, before fees, dollars."""
        if layer is None:
            return sum(self._realized_by_layer.values())
        return self._realized_by_layer.get(layer, 0.0)

    def realized_pnl(self, layer: str | None = None) -> float:
        """Closed P&L including settlements, net of fees, dollars (SPEC section 14)."""
        fees = self.fees_paid if layer is None else self._fees_by_layer.get(layer, 0.0)
        return self.gross_realized_pnl(layer) - fees

    def unrealized_pnl(
        self, marks: Mapping[OptionContract, float], layer: str | None = None
    ) -> float:
        """Open P&L at ``marks`` (mid prices in points; a missing mark counts at cost)."""
        return sum(
            (marks.get(p.contract, p.avg_price) - p.avg_price) * p.quantity * p.contract.multiplier
            for p in self._select(layer)
        )

    def position_value(
        self, marks: Mapping[OptionContract, float], layer: str | None = None
    ) -> float:
        """Dollar value of open positions at ``marks`` (a missing mark counts at cost)."""
        return sum(
            marks.get(p.contract, p.avg_price) * p.quantity * p.contract.multiplier
            for p in self._select(layer)
        )

    def equity(self, marks: Mapping[OptionContract, float]) -> float:
        """Cash plus every position marked at ``marks``."""
        return self._cash + self.position_value(marks)

    def _select(self, layer: str | None) -> Iterable[Position]:
        return (p for p in self._positions.values() if layer is None or p.layer == layer)

    # --- margin ----------------------------------------------------------------------------
    def _group_holdings(
        self, extra: Mapping[PositionKey, int] | None = None
    ) -> dict[GroupKey, dict[OptionContract, int]]:
        groups: dict[GroupKey, dict[OptionContract, int]] = {}
        for (layer, contract), pos in self._positions.items():
            group = groups.setdefault((layer, contract.root, contract.expiry), {})
            group[contract] = pos.quantity
        for (layer, contract), qty in (extra or {}).items():
            group = groups.setdefault((layer, contract.root, contract.expiry), {})
            group[contract] = group.get(contract, 0) + qty
        return groups

    def requirements(self) -> dict[GroupKey, float]:
        """Margin requirement in dollars per (layer, root, expiry) group with open positions."""
        return {k: group_risk(h).requirement for k, h in sorted(self._group_holdings().items())}

    def requirement(self, layer: str | None = None) -> float:
        """Total margin requirement in dollars, for one layer or all."""
        return sum(r for k, r in self.requirements().items() if layer is None or k[0] == layer)

    def buying_power(self) -> float:
        """Cash less every group's requirement, dollars.

        Cash, not equity: long options are paid in full and lend nothing, and a short spread's
        worst case is already reserved by its requirement, so its mark does not count twice.
        """
        return self._cash - self.requirement()

    def buying_power_effect(
        self, layer: str, legs: Sequence[LegFill], fees: float = 0.0
    ) -> BuyingPowerEffect:
        """What filling ``legs`` for ``layer`` would do to buying power (positions unchanged)."""
        delta: dict[PositionKey, int] = {}
        for leg in legs:
            pos_key = (layer, leg.contract)
            delta[pos_key] = delta.get(pos_key, 0) + leg.quantity
        touched = {(layer, c.root, c.expiry) for _, c in delta}
        before = self._group_holdings()
        after = self._group_holdings(delta)
        change = 0.0
        naked = False
        for group in touched:
            risk_before = group_risk(before.get(group, {}))
            risk_after = group_risk(after.get(group, {}))
            change += risk_after.requirement - risk_before.requirement
            naked = naked or (risk_after.naked and not risk_before.naked)
        return BuyingPowerEffect(change, premium_cash(tuple(legs)), fees, naked)
