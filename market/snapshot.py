"""Market snapshots — the tick — and quote materialization (SPEC section 4).

A :class:`MarketSnapshot` holds a few numbers (SPX, VIX, rates, the VX curve, the surface and the
spread model). Every quote is a pure function of a snapshot and a contract: an :class:`OptionChain`
is materialized lazily per expiry, vectorized with numpy, and cached on the snapshot; a single
contract is priced with plain float math so stop checks on a few legs stay cheap.

Quote rules: theo is Black-Scholes-Merton at the surface vol; the bid is rounded down and the ask up
to the tick grid (0.05 below 3.00, 0.10 from 3.00, decided by each side's own price), the bid is at
least 0 and the ask at least a tick above the bid. So ``bid <= theo <= ask``, and since the theos
satisfy put-call parity exactly, quotes never break the parity bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from market.calendar import (
    NEW_YORK,
    spx_expiries_after,
    spx_settlement_time,
    vx_expiries_after,
    years_between,
)
from market.instruments import SPX_STRIKE_STEP, OptionContract, Right, Root
from market.pricing import Greeks, bs_greeks
from market.surface import SpreadModel, SpxSurface

FloatArray = NDArray[np.float64]

DEFAULT_RATE = 0.04
DEFAULT_DIV_YIELD = 0.013
SPX_EXPIRIES_LISTED = 4
"""How many SPX monthly expiries a snapshot lists."""
CHAIN_MIN_HALF_WIDTH = 0.10
"""A chain spans at least +-10% of spot ..."""
CHAIN_SD_HALF_WIDTH = 5.0
"""... or +-5 ATM standard deviations to expiry, whichever is wider ..."""
CHAIN_MAX_HALF_WIDTH = 0.5
"""... but never more than +-50% of spot."""
_EPS = 1e-9
"""Slack (in ticks) when rounding to the grid, so 0.15 / 0.05 = 2.9999999999999996 still counts
as 3 ticks."""
_SQRT_HALF = math.sqrt(0.5)


@dataclass(frozen=True, slots=True)
class Quote:
    """Bid and ask of one contract, in index points per unit."""

    bid: float
    ask: float

    @property
    def mid(self) -> float:
        return 0.5 * (self.bid + self.ask)

    @property
    def half_spread(self) -> float:
        return 0.5 * (self.ask - self.bid)


@dataclass(frozen=True, slots=True)
class FuturePoint:
    """One listed VX future: its expiry (final settlement date) and its price (VIX points)."""

    expiry: date
    price: float


# -- quoting rules, scalar and vectorized (both must follow the same rules) ---------------------


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x * _SQRT_HALF)


def _bsm_scalar(
    is_call: bool, forward: float, strike: float, years: float, discount: float, vol: float
) -> float:
    """BSM price from the forward (the same formula as ``market.pricing``, in float math)."""
    sd = vol * math.sqrt(years)
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    if is_call:
        return discount * (forward * _norm_cdf(d1) - strike * _norm_cdf(d2))
    return discount * (strike * _norm_cdf(-d2) - forward * _norm_cdf(-d1))


def _quote_scalar(theo: float, half: float) -> Quote:
    lo = theo - half
    hi = theo + half
    # Work in whole cents so n / 100 is the double nearest the decimal price.
    bid_cents = math.floor(lo * 10.0 + _EPS) * 10 if lo >= 3.0 else math.floor(lo * 20.0 + _EPS) * 5
    bid_cents = max(bid_cents, 0)
    ask_cents = math.ceil(hi * 10.0 - _EPS) * 10 if hi > 3.0 else math.ceil(hi * 20.0 - _EPS) * 5
    min_ask = bid_cents + (10 if bid_cents >= 300 else 5)
    return Quote(bid_cents / 100.0, max(ask_cents, min_ask) / 100.0)


def _quote_arrays(theo: FloatArray, half: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Vectorized :func:`_quote_scalar`: (bid, ask) arrays."""
    lo = theo - half
    hi = theo + half
    bid_cents = np.where(lo >= 3.0, np.floor(lo * 10.0 + _EPS) * 10, np.floor(lo * 20.0 + _EPS) * 5)
    bid_cents = np.maximum(bid_cents, 0.0)
    ask_cents = np.where(hi > 3.0, np.ceil(hi * 10.0 - _EPS) * 10, np.ceil(hi * 20.0 - _EPS) * 5)
    min_ask = bid_cents + np.where(bid_cents >= 300.0, 10.0, 5.0)
    return bid_cents / 100.0, np.maximum(ask_cents, min_ask) / 100.0


# -- chains -------------------------------------------------------------------------------------


class OptionChain:
    """All listed strikes of one SPX monthly expiry within a window around spot, as arrays."""

    __slots__ = (
        "expiry",
        "years",
        "forward",
        "strikes",
        "vols",
        "call_theo",
        "put_theo",
        "call_bid",
        "call_ask",
        "put_bid",
        "put_ask",
        "call_delta",
        "put_delta",
        "_spot",
        "_rate",
        "_div_yield",
        "_first",
        "_count",
    )

    def __init__(
        self,
        expiry: date,
        years: float,
        spot: float,
        rate: float,
        div_yield: float,
        surface: SpxSurface,
        spreads: SpreadModel,
        vix: float,
    ) -> None:
        self.expiry = expiry
        self.years = years
        self.forward = spot * math.exp((rate - div_yield) * years)
        self._spot, self._rate, self._div_yield = spot, rate, div_yield
        half_width = min(
            CHAIN_MAX_HALF_WIDTH,
            max(
                CHAIN_MIN_HALF_WIDTH,
                CHAIN_SD_HALF_WIDTH * surface.atm_vol(years) * math.sqrt(years),
            ),
        )
        first = max(1, math.floor(spot * (1.0 - half_width) / SPX_STRIKE_STEP))
        last = math.ceil(spot * (1.0 + half_width) / SPX_STRIKE_STEP)
        self._first, self._count = first, last - first + 1
        self.strikes: FloatArray = np.arange(first, last + 1, dtype=np.float64) * SPX_STRIKE_STEP
        self.vols: FloatArray = surface.vols(np.log(self.strikes / self.forward), years)
        n = self._count
        g = bs_greeks(
            np.repeat([True, False], n),
            spot,
            np.tile(self.strikes, 2),
            years,
            rate,
            div_yield,
            np.tile(self.vols, 2),
        )
        theo = np.maximum(g.price, 0.0)
        self.call_theo: FloatArray = theo[:n]
        self.put_theo: FloatArray = theo[n:]
        self.call_delta: FloatArray = g.delta[:n]
        self.put_delta: FloatArray = g.delta[n:]
        self.call_bid, self.call_ask = _quote_arrays(
            self.call_theo, spreads.half_widths(self.call_theo, vix)
        )
        self.put_bid, self.put_ask = _quote_arrays(
            self.put_theo, spreads.half_widths(self.put_theo, vix)
        )

    def _index(self, strike: float) -> int | None:
        steps = strike / SPX_STRIKE_STEP
        i = round(steps)
        if abs(steps - i) > 1e-9:
            return None
        i -= self._first
        return i if 0 <= i < self._count else None

    def __contains__(self, strike: float) -> bool:
        return self._index(strike) is not None

    def quote(self, strike: float, right: Right) -> Quote | None:
        """The quote of one strike, or None if the strike is not in this chain."""
        i = self._index(strike)
        if i is None:
            return None
        if right is Right.CALL:
            return Quote(float(self.call_bid[i]), float(self.call_ask[i]))
        return Quote(float(self.put_bid[i]), float(self.put_ask[i]))

    def strike_nearest_delta(self, right: Right, abs_delta: float) -> float:
        """The listed strike whose |delta| is closest to ``abs_delta`` (lower strike on a tie)."""
        deltas = self.call_delta if right is Right.CALL else self.put_delta
        return float(self.strikes[int(np.argmin(np.abs(np.abs(deltas) - abs_delta)))])

    def greeks(self, strike: float, right: Right) -> Greeks | None:
        """BSM price and greeks (``market.pricing`` units) at the surface vol; None if unlisted."""
        i = self._index(strike)
        if i is None:
            return None
        return bs_greeks(
            right is Right.CALL,
            self._spot,
            float(self.strikes[i]),
            self.years,
            self._rate,
            self._div_yield,
            float(self.vols[i]),
        )

    def __repr__(self) -> str:
        return (
            f"OptionChain({self.expiry.isoformat()}, {self._count} strikes"
            f" {self.strikes[0]:.0f}..{self.strikes[-1]:.0f}, T={self.years:.4f}y)"
        )


class _ExpiryTerms:
    """Per-expiry scalars shared by every contract of that expiry in one snapshot."""

    __slots__ = ("years", "forward", "discount")

    def __init__(self, years: float, forward: float, discount: float) -> None:
        self.years = years
        self.forward = forward
        self.discount = discount


# -- the snapshot -------------------------------------------------------------------------------

_FIELDS = (
    "seq",
    "ts",
    "session",
    "spx",
    "vix",
    "rate",
    "div_yield",
    "vx_curve",
    "surface",
    "spx_expiries",
    "soq",
    "vro",
    "spreads",
)


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


class MarketSnapshot:
    """One timestamped state of the whole market. Immutable; quotes are cached per snapshot.

    ``session`` defaults to the New York date of ``ts``; ``surface`` to ``SpxSurface.from_vix``;
    ``spx_expiries`` to the next four monthlies after the session; ``vx_curve`` to a flat curve at
    the VIX on the next eight VX expiries; ``spreads`` to the default :class:`SpreadModel`.
    """

    __slots__ = (*_FIELDS, "_cache")

    seq: int
    ts: datetime
    session: date
    spx: float
    vix: float
    rate: float
    div_yield: float
    vx_curve: tuple[FuturePoint, ...]
    surface: SpxSurface
    spx_expiries: tuple[date, ...]
    soq: float | None
    vro: float | None
    spreads: SpreadModel
    _cache: dict[Any, Any]

    def __init__(
        self,
        seq: int,
        ts: datetime,
        session: date | None,
        spx: float,
        vix: float,
        rate: float = DEFAULT_RATE,
        div_yield: float = DEFAULT_DIV_YIELD,
        vx_curve: tuple[FuturePoint, ...] | None = None,
        surface: SpxSurface | None = None,
        spx_expiries: tuple[date, ...] | None = None,
        soq: float | None = None,
        vro: float | None = None,
        spreads: SpreadModel | None = None,
    ) -> None:
        if ts.tzinfo is None:
            raise ValueError("snapshot ts must be timezone-aware")
        if session is None:
            session = ts.astimezone(NEW_YORK).date()
        spx = _positive("spx", spx)
        vix = _positive("vix", vix)
        if not (math.isfinite(rate) and math.isfinite(div_yield)):
            raise ValueError("rate and div_yield must be finite")
        if vx_curve is None:
            vx_curve = tuple(FuturePoint(e, vix) for e in vx_expiries_after(session, 8))
        if spx_expiries is None:
            spx_expiries = tuple(spx_expiries_after(session, SPX_EXPIRIES_LISTED))
        setter = object.__setattr__
        setter(self, "seq", seq)
        setter(self, "ts", ts)
        setter(self, "session", session)
        setter(self, "spx", spx)
        setter(self, "vix", vix)
        setter(self, "rate", rate)
        setter(self, "div_yield", div_yield)
        setter(self, "vx_curve", vx_curve)
        setter(self, "surface", surface if surface is not None else SpxSurface.from_vix(vix))
        setter(self, "spx_expiries", spx_expiries)
        setter(self, "soq", soq)
        setter(self, "vro", vro)
        setter(self, "spreads", spreads if spreads is not None else SpreadModel())
        setter(self, "_cache", {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"MarketSnapshot is immutable (tried to set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"MarketSnapshot is immutable (tried to delete {name!r})")

    def __reduce__(self) -> tuple[type[MarketSnapshot], tuple[Any, ...]]:
        return (MarketSnapshot, tuple(getattr(self, f) for f in _FIELDS))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MarketSnapshot):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _FIELDS)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"MarketSnapshot(seq={self.seq}, ts={self.ts.isoformat()}, spx={self.spx:.2f},"
            f" vix={self.vix:.2f})"
        )

    # -- chains and quotes ----------------------------------------------------------------------

    def _terms(self, expiry: date) -> _ExpiryTerms | None:
        key = ("terms", expiry)
        terms: _ExpiryTerms | None = self._cache.get(key)
        if terms is None:
            if expiry not in self.spx_expiries:
                return None
            years = years_between(self.ts, spx_settlement_time(expiry))
            terms = _ExpiryTerms(
                years,
                self.spx * math.exp((self.rate - self.div_yield) * years),
                math.exp(-self.rate * years),
            )
            self._cache[key] = terms
        return terms

    def chain(self, expiry: date) -> OptionChain:
        """The chain of one listed expiry (materialized on first use, then cached)."""
        key = ("chain", expiry)
        chain: OptionChain | None = self._cache.get(key)
        if chain is None:
            terms = self._terms(expiry)
            if terms is None:
                listed = ", ".join(e.isoformat() for e in self.spx_expiries)
                raise KeyError(
                    f"SPX expiry {expiry.isoformat()} is not listed on {self.session.isoformat()}"
                    f" (listed: {listed})"
                )
            chain = OptionChain(
                expiry,
                terms.years,
                self.spx,
                self.rate,
                self.div_yield,
                self.surface,
                self.spreads,
                self.vix,
            )
            self._cache[key] = chain
        return chain

    def _listed(self, contract: OptionContract) -> _ExpiryTerms | None:
        if contract.root is not Root.SPX or not contract.strike > 0.0:
            return None
        steps = contract.strike / SPX_STRIKE_STEP
        if abs(steps - round(steps)) > 1e-9:
            return None
        return self._terms(contract.expiry)

    def quote(self, contract: OptionContract) -> Quote | None:
        """Bid and ask of a listed SPX option; None when the contract is not listed here.

        Uses the chain when it is already materialized and holds the strike; otherwise prices
        the one contract directly with the same rules.
        """
        cache = self._cache
        quote: Quote | None = cache.get(contract)
        if quote is not None:
            return quote
        terms = self._listed(contract)
        if terms is None:
            return None
        chain: OptionChain | None = cache.get(("chain", contract.expiry))
        if chain is not None:
            quote = chain.quote(contract.strike, contract.right)
        if quote is None:
            strike = contract.strike
            vol = self.surface.vol(math.log(strike / terms.forward), terms.years)
            theo = _bsm_scalar(
                contract.right is Right.CALL,
                terms.forward,
                strike,
                terms.years,
                terms.discount,
                vol,
            )
            theo = max(theo, 0.0)
            quote = _quote_scalar(theo, self.spreads.half_width(theo, self.vix))
        cache[contract] = quote
        return quote

    def option_greeks(self, contract: OptionContract) -> Greeks | None:
        """BSM price and greeks at the surface vol (``market.pricing`` units); None if unlisted."""
        terms = self._listed(contract)
        if terms is None:
            return None
        key = ("greeks", contract)
        greeks: Greeks | None = self._cache.get(key)
        if greeks is None:
            vol = self.surface.vol(math.log(contract.strike / terms.forward), terms.years)
            greeks = bs_greeks(
                contract.right is Right.CALL,
                self.spx,
                contract.strike,
                terms.years,
                self.rate,
                self.div_yield,
                vol,
            )
            self._cache[key] = greeks
        return greeks

    def vx_price(self, expiry: date) -> float | None:
        """Price of the listed VX future of ``expiry``, or None if it is not listed."""
        for point in self.vx_curve:
            if point.expiry == expiry:
                return point.price
        return None

    # -- recording ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (ISO dates); :meth:`from_dict` restores an identical snapshot."""
        return {
            "seq": self.seq,
            "ts": self.ts.isoformat(),
            "session": self.session.isoformat(),
            "spx": self.spx,
            "vix": self.vix,
            "rate": self.rate,
            "div_yield": self.div_yield,
            "vx_curve": [[p.expiry.isoformat(), p.price] for p in self.vx_curve],
            "surface": self.surface.to_dict(),
            "spreads": self.spreads.to_dict(),
            "spx_expiries": [e.isoformat() for e in self.spx_expiries],
            "soq": self.soq,
            "vro": self.vro,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MarketSnapshot:
        ts = datetime.fromisoformat(d["ts"])
        return cls(
            seq=int(d["seq"]),
            ts=ts,
            session=date.fromisoformat(d["session"]),
            spx=float(d["spx"]),
            vix=float(d["vix"]),
            rate=float(d["rate"]),
            div_yield=float(d["div_yield"]),
            vx_curve=tuple(FuturePoint(date.fromisoformat(e), float(p)) for e, p in d["vx_curve"]),
            surface=SpxSurface.from_dict(d["surface"]),
            spx_expiries=tuple(date.fromisoformat(e) for e in d["spx_expiries"]),
            soq=None if d.get("soq") is None else float(d["soq"]),
            vro=None if d.get("vro") is None else float(d["vro"]),
            spreads=SpreadModel.from_dict(d["spreads"]) if "spreads" in d else None,
        )
