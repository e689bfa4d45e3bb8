"""Market snapshots — the tick — and quote materialization (SPEC section 4).

A :class:`MarketSnapshot` holds a few numbers (SPX, VIX, rates, the VX curve, the SPX and VIX
surfaces and the spread models). Every quote is a pure function of a snapshot and a contract: an
:class:`OptionChain` is materialized lazily per expiry, vectorized with numpy, and cached on the
snapshot; a single contract is priced with plain float math so stop checks on a few legs stay cheap.

Products: SPX options (Black-Scholes-Merton on spot at the SPX surface vol), VIX options
(Black-76 on the VX future of the same expiry at the VIX surface vol, to the 09:30 ET VRO
settlement), and VX / VXM futures (quoted around the curve price on the 0.05 grid).

Option quote rules: the bid is rounded down and the ask up to the tick grid (0.05 below 3.00, 0.10
from 3.00, decided by each side's own price), the bid is at least 0 and the ask at least a tick
above the bid. So ``bid <= theo <= ask``, and since the theos satisfy put-call parity exactly,
quotes never break the parity bounds. Quote sizes come from the deterministic
:class:`~market.surface.SizeModel` conventions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from market.calendar import (
    NEW_YORK,
    SPX_AM_SETTLEMENT,
    spx_expiries_after,
    spx_settlement_time,
    vx_expiries_after,
    years_between,
)
from market.instruments import (
    FUTURE_TICK,
    SPX_STRIKE_STEP,
    VIX_STRIKE_STEP,
    Contract,
    FutureContract,
    FutureRoot,
    OptionContract,
    Right,
    Root,
)
from market.pricing import Greeks, black76_greeks, bs_greeks
from market.surface import (
    SPX_OPTION_SIZES,
    VIX_OPTION_SIZES,
    VX_SIZES,
    VXM_SIZES,
    SizeModel,
    SpreadModel,
    SpxSurface,
    VixSpreadModel,
    VixSurface,
)

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
VIX_CHAIN_SD_DOWN = 2.5
"""A VIX option chain spans 2.5 ATM standard deviations below the future ..."""
VIX_CHAIN_SD_UP = 5.0
"""... and 5 above (the call wing is where the trading is) ..."""
VIX_CHAIN_LOG_BOUNDS = (0.2, math.log(3.0), math.log(5.0))
"""... in log-moneyness at least 0.2 either way, at most down to F / 3 and up to 5 F."""
_DEFAULT_VIX_SURFACE = VixSurface()
_DEFAULT_VIX_SPREADS = VixSpreadModel()
_EPS = 1e-9
"""Slack (in ticks) when rounding to the grid, so 0.15 / 0.05 = 2.9999999999999996 still counts
as 3 ticks."""
_SQRT_HALF = math.sqrt(0.5)
_MIN_YEARS = 1e-12
"""Guard for the size model's standard deviations at expiry."""


@dataclass(frozen=True, slots=True)
class Quote:
    """Bid and ask of one contract, in index points per unit, and the size shown on each side."""

    bid: float
    ask: float
    bid_size: int = 0
    """Contracts shown at the bid; 0 means unknown (no cap)."""
    ask_size: int = 0
    """Contracts shown at the ask; 0 means unknown (no cap)."""

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


def _black_scalar(
    is_call: bool, forward: float, strike: float, years: float, discount: float, vol: float
) -> float:
    """Black price from the forward: BSM for SPX (forward ``S e^{(r-q)T}``) and Black-76 for VIX
    options (forward = the VX future). The same formula as ``market.pricing``, in float math."""
    sd = vol * math.sqrt(years)
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    if is_call:
        return discount * (forward * _norm_cdf(d1) - strike * _norm_cdf(d2))
    return discount * (strike * _norm_cdf(-d2) - forward * _norm_cdf(-d1))


def _quote_scalar(theo: float, half: float, size: int) -> Quote:
    lo = theo - half
    hi = theo + half
    # Work in whole cents so n / 100 is the double nearest the decimal price.
    bid_cents = math.floor(lo * 10.0 + _EPS) * 10 if lo >= 3.0 else math.floor(lo * 20.0 + _EPS) * 5
    bid_cents = max(bid_cents, 0)
    ask_cents = math.ceil(hi * 10.0 - _EPS) * 10 if hi > 3.0 else math.ceil(hi * 20.0 - _EPS) * 5
    min_ask = bid_cents + (10 if bid_cents >= 300 else 5)
    return Quote(bid_cents / 100.0, max(ask_cents, min_ask) / 100.0, size, size)


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


class OptionModel(StrEnum):
    """How a chain is priced."""

    BSM = "bsm"
    """Black-Scholes-Merton on the index spot with a dividend yield (SPX)."""
    BLACK76 = "black76"
    """Black-76 on the futures price of the same expiry (VIX options on VX)."""


def _model_greeks(
    model: OptionModel,
    is_call: bool | NDArray[np.bool_],
    underlying: float,
    strike: float | FloatArray,
    years: float,
    rate: float,
    div_yield: float,
    vol: float | FloatArray,
) -> Greeks:
    if model is OptionModel.BSM:
        return bs_greeks(is_call, underlying, strike, years, rate, div_yield, vol)
    return black76_greeks(is_call, underlying, strike, years, rate, vol)


class OptionChain:
    """All listed strikes of one expiry within a window around the money, as arrays.

    ``model`` says how it is priced (SPX: BSM on spot; VIX: Black-76 on the VX future of the
    expiry); ``underlying`` is that spot or future and deltas are per point of it; ``forward`` is
    the forward the surface's moneyness is measured against (the future itself for VIX options).
    """

    __slots__ = (
        "expiry",
        "model",
        "underlying",
        "years",
        "forward",
        "strike_step",
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
        "quote_sizes",
        "_rate",
        "_div_yield",
        "_first",
        "_count",
    )

    def __init__(
        self,
        expiry: date,
        model: OptionModel,
        underlying: float,
        forward: float,
        years: float,
        rate: float,
        div_yield: float,
        strike_range: tuple[int, int],
        strike_step: float,
        smile: Callable[[FloatArray], FloatArray],
        spreads: SpreadModel,
        sizes: SizeModel,
        vix: float,
    ) -> None:
        """``strike_range``: first and last listed strike, in strike steps; ``smile``: implied
        vols at log-moneyness ``ln(K / forward)`` for this expiry."""
        self.expiry = expiry
        self.model = model
        self.underlying = underlying
        self.years = years
        self.forward = forward
        self.strike_step = strike_step
        self._rate, self._div_yield = rate, div_yield
        first, last = strike_range
        self._first, self._count = first, last - first + 1
        self.strikes: FloatArray = np.arange(first, last + 1, dtype=np.float64) * strike_step
        log_moneyness = np.log(self.strikes / self.forward)
        self.vols: FloatArray = smile(log_moneyness)
        n = self._count
        g = _model_greeks(
            model,
            np.repeat([True, False], n),
            underlying,
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
        distance = np.abs(log_moneyness) / (self.vols * math.sqrt(max(years, _MIN_YEARS)))
        self.quote_sizes: NDArray[np.int64] = sizes.sizes(distance, vix)
        """Contracts shown on each side of the call and the put of each strike."""

    def _index(self, strike: float) -> int | None:
        steps = strike / self.strike_step
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
        size = int(self.quote_sizes[i])
        if right is Right.CALL:
            return Quote(float(self.call_bid[i]), float(self.call_ask[i]), size, size)
        return Quote(float(self.put_bid[i]), float(self.put_ask[i]), size, size)

    def strike_nearest_delta(self, right: Right, abs_delta: float) -> float:
        """The listed strike whose |delta| is closest to ``abs_delta`` (lower strike on a tie)."""
        deltas = self.call_delta if right is Right.CALL else self.put_delta
        return float(self.strikes[int(np.argmin(np.abs(np.abs(deltas) - abs_delta)))])

    def greeks(self, strike: float, right: Right) -> Greeks | None:
        """Price and greeks (``market.pricing`` units) at the surface vol; None if unlisted."""
        i = self._index(strike)
        if i is None:
            return None
        return _model_greeks(
            self.model,
            right is Right.CALL,
            self.underlying,
            float(self.strikes[i]),
            self.years,
            self._rate,
            self._div_yield,
            float(self.vols[i]),
        )

    def __repr__(self) -> str:
        return (
            f"OptionChain({self.model.value} {self.expiry.isoformat()}, {self._count} strikes"
            f" {self.strikes[0]:g}..{self.strikes[-1]:g}, T={self.years:.4f}y)"
        )


def _spx_strike_range(spot: float, years: float, surface: SpxSurface) -> tuple[int, int]:
    half_width = min(
        CHAIN_MAX_HALF_WIDTH,
        max(CHAIN_MIN_HALF_WIDTH, CHAIN_SD_HALF_WIDTH * surface.atm_vol(years) * math.sqrt(years)),
    )
    first = max(1, math.floor(spot * (1.0 - half_width) / SPX_STRIKE_STEP))
    return first, math.ceil(spot * (1.0 + half_width) / SPX_STRIKE_STEP)


def _vix_strike_range(future: float, years: float, atm_vol: float) -> tuple[int, int]:
    sd = atm_vol * math.sqrt(years)
    least, most_down, most_up = VIX_CHAIN_LOG_BOUNDS
    down = min(most_down, max(least, VIX_CHAIN_SD_DOWN * sd))
    up = min(most_up, max(least, VIX_CHAIN_SD_UP * sd))
    first = max(1, math.floor(future * math.exp(-down) / VIX_STRIKE_STEP))
    return first, math.ceil(future * math.exp(up) / VIX_STRIKE_STEP)


def _vro_settlement_time(expiry: date) -> datetime:
    """VX futures and VIX options settle on the VRO, the VIX's opening print at 09:30 ET."""
    return datetime.combine(expiry, SPX_AM_SETTLEMENT, tzinfo=NEW_YORK)


class _ExpiryTerms:
    """Per-expiry scalars shared by every option of that expiry in one snapshot."""

    __slots__ = ("years", "sqrt_years", "forward", "discount")

    def __init__(self, years: float, forward: float, discount: float) -> None:
        self.years = years
        self.sqrt_years = math.sqrt(max(years, _MIN_YEARS))
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
    "vix_surface",
    "vix_spreads",
)


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def _on_grid(strike: float, step: float) -> bool:
    steps = strike / step
    return strike > 0.0 and abs(steps - round(steps)) <= 1e-9


class MarketSnapshot:
    """One timestamped state of the whole market. Immutable; quotes are cached per snapshot.

    ``session`` defaults to the New York date of ``ts``; ``surface`` to ``SpxSurface.from_vix``;
    ``spx_expiries`` to the next four monthlies after the session; ``vx_curve`` to a flat curve at
    the VIX on the next eight VX expiries; ``spreads`` to the default :class:`SpreadModel`;
    ``vix_surface`` to the default :class:`VixSurface`; ``vix_spreads`` to the default
    :class:`VixSpreadModel`. VX / VXM futures and VIX options are listed for the curve's expiries
    after the session.
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
    vix_surface: VixSurface
    vix_spreads: VixSpreadModel
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
        vix_surface: VixSurface | None = None,
        vix_spreads: VixSpreadModel | None = None,
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
        setter(
            self, "vix_surface", vix_surface if vix_surface is not None else _DEFAULT_VIX_SURFACE
        )
        setter(
            self, "vix_spreads", vix_spreads if vix_spreads is not None else _DEFAULT_VIX_SPREADS
        )
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

    # -- quotes ---------------------------------------------------------------------------------

    def quote(self, contract: Contract) -> Quote | None:
        """Bid, ask and sizes of a listed SPX option, VIX option or VX / VXM future; None when
        the contract is not listed here.

        Options use their chain when it is already materialized and holds the strike; otherwise
        the one contract is priced directly with the same rules.
        """
        cache = self._cache
        quote: Quote | None = cache.get(contract)
        if quote is not None:
            return quote
        if isinstance(contract, FutureContract):
            quote = self._future_quote(contract)
        elif contract.root is Root.SPX:
            quote = self._spx_quote(contract)
        else:
            quote = self._vix_option_quote(contract)
        if quote is not None:
            cache[contract] = quote
        return quote

    def option_greeks(self, contract: OptionContract) -> Greeks | None:
        """Price and greeks at the surface vol (``market.pricing`` units); None if unlisted.

        SPX options: BSM against spot. VIX options: Black-76 against the VX future of the expiry
        (delta per point of the future, vega per vol point, theta per calendar day).
        """
        key = ("greeks", contract)
        greeks: Greeks | None = self._cache.get(key)
        if greeks is not None:
            return greeks
        spx = contract.root is Root.SPX
        terms = self._spx_listed(contract) if spx else self._vix_listed(contract)
        if terms is None:
            return None
        log_moneyness = math.log(contract.strike / terms.forward)
        if spx:
            model, underlying = OptionModel.BSM, self.spx
            vol = self.surface.vol(log_moneyness, terms.years)
        else:
            model, underlying = OptionModel.BLACK76, terms.forward
            vol = self.vix_surface.vol(log_moneyness, terms.years, self.vix)
        greeks = _model_greeks(
            model,
            contract.right is Right.CALL,
            underlying,
            contract.strike,
            terms.years,
            self.rate,
            self.div_yield,
            vol,
        )
        self._cache[key] = greeks
        return greeks

    # -- SPX options ----------------------------------------------------------------------------

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
        """The SPX chain of one listed expiry (materialized on first use, then cached)."""
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
                OptionModel.BSM,
                self.spx,
                terms.forward,
                terms.years,
                self.rate,
                self.div_yield,
                _spx_strike_range(self.spx, terms.years, self.surface),
                SPX_STRIKE_STEP,
                lambda k: self.surface.vols(k, terms.years),
                self.spreads,
                SPX_OPTION_SIZES,
                self.vix,
            )
            self._cache[key] = chain
        return chain

    def _spx_listed(self, contract: OptionContract) -> _ExpiryTerms | None:
        strike = contract.strike
        if contract.root is not Root.SPX or not strike > 0.0:
            return None
        steps = strike / SPX_STRIKE_STEP  # inline grid check: the exit rules' hot path
        if abs(steps - round(steps)) > 1e-9:
            return None
        return self._terms(contract.expiry)

    def _spx_quote(self, contract: OptionContract) -> Quote | None:
        terms = self._spx_listed(contract)
        if terms is None:
            return None
        chain: OptionChain | None = self._cache.get(("chain", contract.expiry))
        if chain is not None:
            quote = chain.quote(contract.strike, contract.right)
            if quote is not None:
                return quote
        strike = contract.strike
        log_moneyness = math.log(strike / terms.forward)
        vol = self.surface.vol(log_moneyness, terms.years)
        theo = _black_scalar(
            contract.right is Right.CALL, terms.forward, strike, terms.years, terms.discount, vol
        )
        theo = max(theo, 0.0)
        # size by standard deviations from the money
        size = SPX_OPTION_SIZES.size(abs(log_moneyness) / (vol * terms.sqrt_years), self.vix)
        return _quote_scalar(theo, self.spreads.half_width(theo, self.vix), size)

    # -- VX / VXM futures and VIX options -------------------------------------------------------

    def _vx_listed(self) -> dict[date, tuple[int, float]]:
        """Listed VX expiries -> (position on the curve, 0 = front month; price)."""
        listed: dict[date, tuple[int, float]] | None = self._cache.get("vx_listed")
        if listed is None:
            points = [p for p in self.vx_curve if p.expiry > self.session]
            listed = {p.expiry: (i, p.price) for i, p in enumerate(points)}
            self._cache["vx_listed"] = listed
        return listed

    @property
    def vix_expiries(self) -> tuple[date, ...]:
        """Expiries of the listed VX / VXM futures and VIX options, nearest first."""
        return tuple(self._vx_listed())

    def vx_price(self, expiry: date) -> float | None:
        """Price of the listed VX future of ``expiry``, or None if it is not listed."""
        for point in self.vx_curve:
            if point.expiry == expiry:
                return point.price
        return None

    def _future_quote(self, contract: FutureContract) -> Quote | None:
        """The quote straddles the curve price with the model's width in whole ticks; VXM is VX
        widened on both sides, so both have the same mid."""
        listed = self._vx_listed().get(contract.expiry)
        if listed is None:
            return None
        month, price = listed
        spreads = self.vix_spreads
        width = spreads.future_width_ticks(month, self.vix)
        lowest = math.floor(price / FUTURE_TICK - 0.5 * width + 0.5)  # <= price / tick
        if contract.root is FutureRoot.VXM:
            extra, sizes = spreads.mini_extra_ticks, VXM_SIZES
        else:
            extra, sizes = 0, VX_SIZES
        cents = round(FUTURE_TICK * 100.0)
        bid_cents = max(lowest - extra, 0) * cents
        ask_cents = (lowest + width + extra) * cents
        size = sizes.size(float(month), self.vix)
        return Quote(bid_cents / 100.0, ask_cents / 100.0, size, size)

    def _vix_terms(self, expiry: date) -> _ExpiryTerms | None:
        key = ("vix_terms", expiry)
        terms: _ExpiryTerms | None = self._cache.get(key)
        if terms is None:
            listed = self._vx_listed().get(expiry)
            if listed is None:
                return None
            years = years_between(self.ts, _vro_settlement_time(expiry))
            terms = _ExpiryTerms(years, listed[1], math.exp(-self.rate * years))
            self._cache[key] = terms
        return terms

    def _vix_option_spreads(self) -> SpreadModel:
        spreads: SpreadModel | None = self._cache.get("vix_option_spreads")
        if spreads is None:
            spreads = self.vix_spreads.options()
            self._cache["vix_option_spreads"] = spreads
        return spreads

    def vix_chain(self, expiry: date) -> OptionChain:
        """The VIX option chain of one listed VX expiry (materialized on first use, then cached).

        Black-76 on the VX future of ``expiry``: ``forward`` and ``underlying`` are that future,
        deltas are per point of it.
        """
        key = ("vix_chain", expiry)
        chain: OptionChain | None = self._cache.get(key)
        if chain is None:
            terms = self._vix_terms(expiry)
            if terms is None:
                listed = ", ".join(e.isoformat() for e in self.vix_expiries)
                raise KeyError(
                    f"VIX expiry {expiry.isoformat()} is not listed on {self.session.isoformat()}"
                    f" (listed: {listed})"
                )
            chain = OptionChain(
                expiry,
                OptionModel.BLACK76,
                terms.forward,
                terms.forward,
                terms.years,
                self.rate,
                self.div_yield,
                _vix_strike_range(
                    terms.forward, terms.years, self.vix_surface.atm_vol(terms.years, self.vix)
                ),
                VIX_STRIKE_STEP,
                lambda k: self.vix_surface.vols(k, terms.years, self.vix),
                self._vix_option_spreads(),
                VIX_OPTION_SIZES,
                self.vix,
            )
            self._cache[key] = chain
        return chain

    def _vix_listed(self, contract: OptionContract) -> _ExpiryTerms | None:
        if contract.root is not Root.VIX or not _on_grid(contract.strike, VIX_STRIKE_STEP):
            return None
        return self._vix_terms(contract.expiry)

    def _vix_option_quote(self, contract: OptionContract) -> Quote | None:
        terms = self._vix_listed(contract)
        if terms is None:
            return None
        chain: OptionChain | None = self._cache.get(("vix_chain", contract.expiry))
        if chain is not None:
            quote = chain.quote(contract.strike, contract.right)
            if quote is not None:
                return quote
        strike = contract.strike
        log_moneyness = math.log(strike / terms.forward)
        vol = self.vix_surface.vol(log_moneyness, terms.years, self.vix)
        theo = _black_scalar(
            contract.right is Right.CALL, terms.forward, strike, terms.years, terms.discount, vol
        )
        theo = max(theo, 0.0)
        size = VIX_OPTION_SIZES.size(abs(log_moneyness) / (vol * terms.sqrt_years), self.vix)
        return _quote_scalar(theo, self._vix_option_spreads().half_width(theo, self.vix), size)

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
            "vix_surface": self.vix_surface.to_dict(),
            "vix_spreads": self.vix_spreads.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MarketSnapshot:
        """Inverse of :meth:`to_dict`; a record without the VIX surface or spreads (written before
        they existed) gets the defaults."""
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
            vix_surface=VixSurface.from_dict(d["vix_surface"]) if "vix_surface" in d else None,
            vix_spreads=VixSpreadModel.from_dict(d["vix_spreads"]) if "vix_spreads" in d else None,
        )
