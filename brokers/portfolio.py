"""Positions, cash, P&L and margin of the paper account (SPEC sections 10 and 14).

Money is in dollars, prices in index points per contract. Realized P&L is kept gross per position
and reported net of fees per layer and in total. Margin is exact for defined-risk option
structures (each (layer, root, expiry) group must cover its worst payoff at expiry); VX and VXM
futures hold a fixed initial margin per contract, long or short.

Futures carry no premium: a future's ``avg_price`` is its *reference price* — its fill price, then
the last daily settlement. Variation, (price - reference) x multiplier x quantity, moves into cash
at each session change, on a closing fill and at final settlement, and is realized P&L; what is
still open is marked as (mid - reference) x multiplier x quantity, so nothing counts twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from types import MappingProxyType

from market.instruments import Contract, FutureContract, FutureRoot, OptionContract, Right

from .events import ContractSettled, LegFill, OrderFilled, premium_cash

# Re-exported: the greeks lived here before they had their own module.
from .greeks import BookGreeks as BookGreeks
from .greeks import GreeksLike as GreeksLike
from .greeks import GreeksSource as GreeksSource
from .greeks import LayerGreeks as LayerGreeks
from .greeks import book_greeks as book_greeks
from .greeks import position_greeks as position_greeks

PositionKey = tuple[str, Contract]
"""(layer, contract): each layer owns its own positions, even in the same contract."""

GroupKey = tuple[str, str, date]
"""(layer, root, expiry): the structures margin is computed on. ``root`` is a ``Root`` for
options and a ``FutureRoot`` for futures (both string enums), so futures never net against
options."""

DEFAULT_INITIAL_MARGIN: Mapping[FutureRoot, float] = MappingProxyType(
    {FutureRoot.VX: 12_000.0, FutureRoot.VXM: 1_200.0}
)
"""Dollars per future when a portfolio is built without a config (tests, tools)."""


def contract_key(contract: Contract) -> tuple[int, str, date, float, str]:
    """A total order over options and futures: options first, then by root, expiry, strike."""
    if isinstance(contract, OptionContract):
        return (0, contract.root.value, contract.expiry, contract.strike, contract.right.value)
    return (1, contract.root.value, contract.expiry, 0.0, "")


def group_key(layer: str, contract: Contract) -> GroupKey:
    return (layer, contract.root.value, contract.expiry)


@dataclass(frozen=True, slots=True)
class Position:
    """A layer's holding in one contract: signed quantity, average price in points (a future's
    reference price), gross realized P&L in dollars over the position's life."""

    layer: str
    contract: Contract
    quantity: int
    avg_price: float
    realized_pnl: float = 0.0

    @property
    def is_future(self) -> bool:
        return isinstance(self.contract, FutureContract)

    def trade(self, quantity: int, price: float) -> Position:
        """The position after trading ``quantity`` (signed) at ``price``.

        Adding averages in; reducing realizes (price - avg) x closed x multiplier with the
        position's sign; going through zero realizes the whole position and opens the rest at
        ``price``.
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

    def value(self, mark: float) -> float:
        """Dollars this position adds to equity at ``mark``: an option's market value, a future's
        open variation (mark - reference) x multiplier x quantity."""
        price = mark - self.avg_price if self.is_future else mark
        return price * self.quantity * self.contract.multiplier


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
    """Cash, positions, fees and P&L of the account, updated by fills, variation, interest and
    settlements."""

    __slots__ = (
        "_cash",
        "_fees_by_layer",
        "_initial_margin",
        "_interest",
        "_positions",
        "_realized_by_layer",
        "starting_cash",
    )

    def __init__(
        self, starting_cash: float, initial_margin: Mapping[FutureRoot, float] | None = None
    ) -> None:
        self.starting_cash = starting_cash
        self._cash = starting_cash
        self._initial_margin = dict(initial_margin or DEFAULT_INITIAL_MARGIN)
        self._positions: dict[PositionKey, Position] = {}
        self._realized_by_layer: dict[str, float] = {}
        self._fees_by_layer: dict[str, float] = {}
        self._interest = 0.0

    # --- state -----------------------------------------------------------------------------
    @property
    def cash(self) -> float:
        return self._cash

    @property
    def positions(self) -> Mapping[PositionKey, Position]:
        """Open positions keyed by (layer, contract); read-only."""
        return MappingProxyType(self._positions)

    def position(self, layer: str, contract: Contract) -> Position | None:
        return self._positions.get((layer, contract))

    def quantity(self, layer: str, contract: Contract) -> int:
        pos = self._positions.get((layer, contract))
        return pos.quantity if pos is not None else 0

    def open_positions(self, layer: str | None = None) -> list[Position]:
        """Open positions sorted by layer, then options before futures, then contract."""
        return sorted(
            (p for p in self._positions.values() if layer is None or p.layer == layer),
            key=lambda p: (p.layer, contract_key(p.contract)),
        )

    @property
    def fees_paid(self) -> float:
        """Total fees paid, dollars."""
        return sum(self._fees_by_layer.values())

    @property
    def fees_by_layer(self) -> dict[str, float]:
        return dict(self._fees_by_layer)

    @property
    def interest(self) -> float:
        """Interest credited (+) or charged (-) on cash so far, dollars."""
        return self._interest

    def layers(self) -> list[str]:
        """Every layer that has traded, sorted."""
        return sorted(
            {*self._realized_by_layer, *self._fees_by_layer, *(k[0] for k in self._positions)}
        )

    # --- updates ---------------------------------------------------------------------------
    def closing_variation(self, layer: str, legs: Sequence[LegFill]) -> list[tuple[LegFill, float]]:
        """The variation in dollars each futures leg of a fill would realize (and move into
        cash) by reducing its position: (price - reference) x closed x multiplier x sign."""
        out: list[tuple[LegFill, float]] = []
        for leg in legs:
            if not isinstance(leg.contract, FutureContract):
                continue
            before = self._positions.get((layer, leg.contract)) or Position(
                layer, leg.contract, 0, 0.0
            )
            gained = before.trade(leg.quantity, leg.price).realized_pnl - before.realized_pnl
            if gained:
                out.append((leg, gained))
        return out

    def apply_fill(self, fill: OrderFilled) -> None:
        """Book a fill: option premium, fees and the variation of closed futures into cash, each
        leg into its position."""
        self._cash += premium_cash(fill.legs) - fill.fees
        self._fees_by_layer[fill.layer] = self._fees_by_layer.get(fill.layer, 0.0) + fill.fees
        for leg in fill.legs:
            gained = self._trade(fill.layer, leg.contract, leg.quantity, leg.price)
            if isinstance(leg.contract, FutureContract):
                self._cash += gained

    def apply_variation(self, layer: str, contract: FutureContract, settlement: float) -> float:
        """Settle a future's daily variation at ``settlement`` into cash and make it the new
        reference price; returns the dollars moved."""
        key = (layer, contract)
        pos = self._positions[key]
        amount = (settlement - pos.avg_price) * pos.quantity * contract.multiplier
        self._positions[key] = replace(
            pos, avg_price=settlement, realized_pnl=pos.realized_pnl + amount
        )
        self._cash += amount
        self._realized_by_layer[layer] = self._realized_by_layer.get(layer, 0.0) + amount
        return amount

    def apply_interest(self, amount: float) -> None:
        """Credit (or charge, when negative) interest on cash, dollars."""
        self._cash += amount
        self._interest += amount

    def apply_settlement(self, settled: ContractSettled) -> None:
        """Close a position at expiry: an option at its intrinsic value, a future at its last
        variation; ``settled.cash`` moves into cash."""
        key = (settled.layer, settled.contract)
        pos = self._positions.get(key)
        held = pos.quantity if pos is not None else 0
        if held != settled.quantity:
            raise ValueError(
                f"settling {settled.quantity} {settled.contract.symbol} for {settled.layer!r} "
                f"but the position is {held}"
            )
        self._cash += settled.cash
        contract = settled.contract
        if isinstance(contract, OptionContract):
            self._trade(
                settled.layer, contract, -held, contract.intrinsic(settled.settlement_price)
            )
        else:
            self._trade(settled.layer, contract, -held, settled.settlement_price)

    def _trade(self, layer: str, contract: Contract, quantity: int, price: float) -> float:
        """Trade into a position; returns the gross P&L realized."""
        if quantity == 0:
            return 0.0
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
        return gained

    # --- P&L -------------------------------------------------------------------------------
    def gross_realized_pnl(self, layer: str | None = None) -> float:
        """Closed P&L including settlements and futures variation, before fees, dollars."""
        if layer is None:
            return sum(self._realized_by_layer.values())
        return self._realized_by_layer.get(layer, 0.0)

    def realized_pnl(self, layer: str | None = None) -> float:
        """Closed P&L including settlements and futures variation, net of fees, dollars (SPEC
        section 14). The account total (``layer=None``) also includes interest on cash, which
        belongs to no layer."""
        if layer is None:
            return self.gross_realized_pnl() - self.fees_paid + self._interest
        return self.gross_realized_pnl(layer) - self._fees_by_layer.get(layer, 0.0)

    def unrealized_pnl(self, marks: Mapping[Contract, float], layer: str | None = None) -> float:
        """Open P&L at ``marks`` (mid prices in points; a missing mark counts at cost).

        Options: (mark - average price) x multiplier x quantity; futures: (mark - reference
        price) x multiplier x quantity.
        """
        return sum(
            (marks.get(p.contract, p.avg_price) - p.avg_price) * p.quantity * p.contract.multiplier
            for p in self._select(layer)
        )

    def position_value(self, marks: Mapping[Contract, float], layer: str | None = None) -> float:
        """Dollars open positions add to equity at ``marks`` (a missing mark counts at cost; see
        :meth:`Position.value`)."""
        return sum(p.value(marks.get(p.contract, p.avg_price)) for p in self._select(layer))

    def equity(self, marks: Mapping[Contract, float]) -> float:
        """Cash plus every position marked at ``marks``."""
        return self._cash + self.position_value(marks)

    def _select(self, layer: str | None) -> Iterable[Position]:
        return (p for p in self._positions.values() if layer is None or p.layer == layer)

    # --- margin ----------------------------------------------------------------------------
    def _group_holdings(
        self, extra: Mapping[PositionKey, int] | None = None
    ) -> dict[GroupKey, dict[Contract, int]]:
        groups: dict[GroupKey, dict[Contract, int]] = {}
        for (layer, contract), pos in self._positions.items():
            group = groups.setdefault(group_key(layer, contract), {})
            group[contract] = pos.quantity
        for (layer, contract), qty in (extra or {}).items():
            group = groups.setdefault(group_key(layer, contract), {})
            group[contract] = group.get(contract, 0) + qty
        return groups

    def _risk(self, holdings: Mapping[Contract, int]) -> GroupRisk:
        options = {c: q for c, q in holdings.items() if isinstance(c, OptionContract)}
        futures = sum(
            abs(q) * self._initial_margin[c.root]
            for c, q in holdings.items()
            if isinstance(c, FutureContract)
        )
        risk = group_risk(options)
        return GroupRisk(risk.requirement + futures, risk.naked)

    def requirements(self) -> dict[GroupKey, float]:
        """Margin requirement in dollars per (layer, root, expiry) group with open positions."""
        return {k: self._risk(h).requirement for k, h in sorted(self._group_holdings().items())}

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
        touched = {group_key(layer, c) for _, c in delta}
        before = self._group_holdings()
        after = self._group_holdings(delta)
        change = 0.0
        naked = False
        for group in touched:
            risk_before = self._risk(before.get(group, {}))
            risk_after = self._risk(after.get(group, {}))
            change += risk_after.requirement - risk_before.requirement
            naked = naked or (risk_after.naked and not risk_before.naked)
        return BuyingPowerEffect(change, premium_cash(tuple(legs)), fees, naked)
