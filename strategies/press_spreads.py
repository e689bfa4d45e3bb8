"""Layer 3's spread model: the VIX call credit spread, its cost to close, the STRESS episode's
budget and the planning of an entry (which calls, how many).

The actor (:mod:`strategies.press`) decides when to enter and exit and sends the orders; this
module says what a spread is worth, what an entry would sell and how many it may take. Decisions
the SPEC leaves open, taken as a trader would:

- A spread must also earn something at the touch (natural credit > 0), not only at mid.
- The layer's total max loss stays within the episode's budget: spreads still open from an
  earlier episode count against the new one, and no entry uses more buying power than is left.
- Spreads in one expiry never hold a strike on both sides (the broker nets positions per contract,
  so a closing order could not reduce it): a new short strike steps up a point at a time (further
  out of the money) until it clears the strikes held.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from brokers.orders import OrderLeg
from market.instruments import (
    OPTION_MULTIPLIER,
    VIX_STRIKE_STEP,
    Contract,
    OptionContract,
    Right,
    Root,
)

if TYPE_CHECKING:
    from brokers.portfolio import Position
    from market.snapshot import MarketSnapshot
    from strategies.config import PressConfig


class SpreadState(StrEnum):
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(slots=True)
class CallSpread:
    """One VIX call credit spread of the layer, from its entry order to its exit."""

    position_id: str
    short: OptionContract
    long: OptionContract
    quantity: int
    episode: int
    """The STRESS episode it was opened in (0 when adopted)."""
    credit: float
    """Net credit per unit in points: the natural price while opening, the fill once open."""
    state: SpreadState = SpreadState.OPENING
    close_order: str = ""
    exit_rule: str = ""
    close_attempts: int = 0
    retry_at_tick: int = 0
    """Snapshot count before which a rejected close is not sent again (backoff)."""
    last_cost: float | None = None
    """Cost to close at mid on the last snapshot that quoted both legs (points per unit)."""
    settled: set[OptionContract] = field(default_factory=set)

    @property
    def expiry(self) -> date:
        return self.short.expiry

    @property
    def width(self) -> float:
        return self.long.strike - self.short.strike

    @property
    def legs(self) -> tuple[OrderLeg, ...]:
        return (OrderLeg(self.short, -1), OrderLeg(self.long, 1))

    @property
    def closing_legs(self) -> tuple[OrderLeg, ...]:
        """The legs that buy the spread back (the entry's, reversed)."""
        return tuple(OrderLeg(leg.contract, -leg.ratio) for leg in self.legs)

    @property
    def max_loss_dollars(self) -> float:
        return (self.width - self.credit) * OPTION_MULTIPLIER * self.quantity

    def cost_to_close(self, snap: MarketSnapshot) -> float | None:
        """Points per unit to buy the spread back at mid, or None without both quotes."""
        short, long = snap.quote(self.short), snap.quote(self.long)
        if short is None or long is None:
            return None
        return short.mid - long.mid

    def settle(self, contract: OptionContract, settlement_price: float) -> float | None:
        """Book one leg's settlement at the VRO; once both legs have settled, the spread's
        value there (intrinsic short - long, points per unit), else None."""
        self.settled.add(contract)
        if len(self.settled) != 2:
            return None
        return self.short.intrinsic(settlement_price) - self.long.intrinsic(settlement_price)

    def flatten_price(self, prices: Mapping[Contract, float], fallback: float) -> float:
        """Points per unit a flatten combo closed the spread at, from its legs' fill prices; with
        a leg netted away in the combo the last mid is the best account of it (``fallback``
        without one)."""
        short, long = prices.get(self.short), prices.get(self.long)
        if short is not None and long is not None:
            return short - long
        return self.last_cost if self.last_cost is not None else fallback


@dataclass(slots=True)
class Episode:
    """The budget of one STRESS episode, fixed when it begins."""

    number: int
    equity: float
    budget: float
    """Dollars of max loss the layer may carry (``press_risk`` x equity)."""
    per_entry: float
    """Dollars of max loss one entry may take (budget / ``press_max_spreads``)."""
    entries: int = 0

    @classmethod
    def begin(cls, number: int, equity: float, press_risk: float, max_spreads: int) -> Episode:
        """The episode's budget from the equity at its start (no entries without spreads)."""
        budget = press_risk * equity
        per_entry = budget / max_spreads if max_spreads else 0.0
        return cls(number, equity, budget, per_entry)

    def entry_quantity(self, unit_max_loss: float, at_risk: float, buying_power: float) -> int:
        """Most spreads of ``unit_max_loss`` dollars one entry may take: within the entry's
        share, the budget left after ``at_risk`` dollars already carried, and the buying
        power."""
        room = min(self.per_entry, self.budget - at_risk, buying_power)
        return math.floor(room / unit_max_loss) if room > 0.0 else 0


@dataclass(frozen=True, slots=True)
class EntryQuote:
    """A candidate spread priced at one snapshot, points per unit."""

    short: OptionContract
    long: OptionContract
    credit: float
    """At mid: what the spread is worth."""
    natural: float
    """At the touch (short bid - long ask): what a market order is expected to get."""

    @classmethod
    def at(
        cls, snap: MarketSnapshot, short: OptionContract, long: OptionContract
    ) -> EntryQuote | None:
        """Price selling ``short`` and buying ``long`` at ``snap``; None without both quotes."""
        short_quote, long_quote = snap.quote(short), snap.quote(long)
        if short_quote is None or long_quote is None:
            return None
        return cls(short, long, short_quote.mid - long_quote.mid, short_quote.bid - long_quote.ask)

    def log_fields(self) -> dict[str, object]:
        """The numbers an entry decision logs about the candidate."""
        return {
            "expiry": str(self.short.expiry),
            "short_strike": self.short.strike,
            "long_strike": self.long.strike,
            "credit": round(self.credit, 4),
            "natural_credit": round(self.natural, 4),
        }


class AdoptedSpread(NamedTuple):
    """A short and a long VIX call of one expiry and size that form a spread."""

    short: OptionContract
    long: OptionContract
    quantity: int
    credit: float
    """Implied by the positions' average prices, points per unit."""


def pair_adopted(positions: Iterable[Position]) -> tuple[list[AdoptedSpread], list[str]]:
    """Pair the layer's positions into spreads: per expiry (in date order), short and long VIX
    calls are paired in strike order, and the pairs become spreads when each has one size and
    the long above the short. Returns the spreads and the symbols that do not form any."""
    by_expiry: dict[date, list[tuple[OptionContract, int, float]]] = {}
    unmapped: list[str] = []
    for pos in positions:
        c = pos.contract
        if isinstance(c, OptionContract) and c.root is Root.VIX and c.right is Right.CALL:
            by_expiry.setdefault(c.expiry, []).append((c, pos.quantity, pos.avg_price))
        else:
            unmapped.append(c.symbol)
    spreads: list[AdoptedSpread] = []
    for _, held in sorted(by_expiry.items()):
        shorts = sorted((h for h in held if h[1] < 0), key=lambda h: h[0].strike)
        longs = sorted((h for h in held if h[1] > 0), key=lambda h: h[0].strike)
        pairs = list(zip(shorts, longs, strict=False))
        if len(shorts) != len(longs) or any(
            -s[1] != lg[1] or lg[0].strike <= s[0].strike for s, lg in pairs
        ):
            unmapped += [h[0].symbol for h in held]
            continue
        for (short, _, short_price), (long, quantity, long_price) in pairs:
            spreads.append(AdoptedSpread(short, long, quantity, short_price - long_price))
    return spreads, unmapped


def clear_strike(
    spreads: Collection[CallSpread], expiry: date, strike: float, width: float
) -> float:
    """Step a short strike up until neither leg of a ``width``-point spread lands on a strike
    held the other way in ``expiry`` (the broker nets positions per contract)."""
    longs = {s.long.strike for s in spreads if s.expiry == expiry}
    shorts = {s.short.strike for s in spreads if s.expiry == expiry}
    while strike in longs or strike + width in shorts:
        strike += VIX_STRIKE_STEP
    return strike


@dataclass(frozen=True, slots=True)
class EntrySkipped:
    """Why an entry sells nothing, with the numbers that decided it."""

    reason: str
    numbers: dict[str, object]


def plan_entry(
    snap: MarketSnapshot,
    cfg: PressConfig,
    spreads: Collection[CallSpread],
    episode: Episode,
    buying_power: float,
    equity: float,
) -> tuple[EntryQuote, int] | EntrySkipped:
    """The spread an entry sells at ``snap`` and its size, or why there is none.

    The nearest VIX expiry ``min_dte`` to ``max_dte`` calendar days out; the short call nearest
    ``short_delta`` there, stepped clear of the strikes of the live ``spreads``; the long
    ``press_width`` points above. It must earn something at mid and at the touch, less than the
    width. The size is :meth:`Episode.entry_quantity` at the natural price's max loss, with the
    live spreads' max loss counted against the budget (``equity`` is only reported).
    """
    expiry = next(
        (e for e in snap.vix_expiries if cfg.min_dte <= (e - snap.session).days <= cfg.max_dte),
        None,
    )
    if expiry is None:
        return EntrySkipped(
            "no_expiry_in_window", {"expiries": [str(e) for e in snap.vix_expiries]}
        )
    chain = snap.vix_chain(expiry)
    short_strike = clear_strike(
        spreads, expiry, chain.strike_nearest_delta(Right.CALL, cfg.short_delta), cfg.press_width
    )
    short = OptionContract(Root.VIX, expiry, short_strike, Right.CALL)
    long = OptionContract(Root.VIX, expiry, short_strike + cfg.press_width, Right.CALL)
    quote = EntryQuote.at(snap, short, long)
    if quote is None:
        return EntrySkipped("unquoted", {"short": short.symbol, "long": long.symbol})
    numbers = quote.log_fields()
    if not (0.0 < quote.credit < cfg.press_width and quote.natural > 0.0):
        return EntrySkipped("credit_out_of_range", numbers)
    unit_max_loss = (cfg.press_width - quote.natural) * OPTION_MULTIPLIER
    at_risk = sum(s.max_loss_dollars for s in spreads)
    quantity = episode.entry_quantity(unit_max_loss, at_risk, buying_power)
    if quantity < 1:
        return EntrySkipped(
            "size_below_one_contract",
            {
                **numbers,
                "max_loss_per_spread": round(unit_max_loss, 2),
                "per_entry_budget": round(episode.per_entry, 2),
                "budget_left": round(episode.budget - at_risk, 2),
                "buying_power": round(buying_power, 2),
                "equity": round(equity, 2),
            },
        )
    return quote, quantity
