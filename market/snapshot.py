"""Market snapshots — the tick — and the quotes they carry (SPEC section 4).

A :class:`MarketSnapshot` holds a few numbers (SPX, VIX, rates, the VX curve, the SPX and VIX
surfaces, the spread models and the macro state: the session's scheduled releases and the
advance-decline line). Every quote is a pure function of a snapshot and a contract: an
:class:`~market.chain.OptionChain` is materialized lazily per expiry, vectorized with numpy, and
cached on the snapshot; a single contract is priced with plain float math so stop checks on a few
legs stay cheap.

Products: SPX options (Black-Scholes-Merton on spot at the SPX surface vol), VIX options
(Black-76 on the VX future of the same expiry at the VIX surface vol, to the 09:30 ET VRO
settlement), and VX / VXM futures (quoted around the curve price on the 0.05 grid). The pricing
lives in :mod:`market.chain`, the quote rules in :mod:`market.quote`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from market.calendar import (
    NEW_YORK,
    spx_expiries_after,
    spx_settlement_time,
    vx_expiries_after,
    years_between,
)
from market.chain import (
    ExpiryTerms,
    OptionChain,
    OptionModel,
    black_price,
    scalar_greeks,
    spx_option_chain,
)
from market.instruments import (
    SPX_STRIKE_STEP,
    Contract,
    FutureContract,
    OptionContract,
    Right,
    Root,
)
from market.macro import MACRO_EVENT_NAMES
from market.pricing import Greeks
from market.quote import Quote, option_quote_on_grid
from market.surface import SPX_OPTION_SIZES, SpreadModel, SpxSurface, VixSpreadModel, VixSurface
from market.vix_products import VixProducts

__all__ = [
    "DEFAULT_DIV_YIELD",
    "DEFAULT_RATE",
    "SPX_EXPIRIES_LISTED",
    "FuturePoint",
    "MarketSnapshot",
    "OptionChain",
    "OptionModel",
    "Quote",
]

DEFAULT_RATE = 0.04
DEFAULT_DIV_YIELD = 0.013
SPX_EXPIRIES_LISTED = 4
"""How many SPX monthly expiries a snapshot lists."""
_DEFAULT_VIX_SURFACE = VixSurface()
_DEFAULT_VIX_SPREADS = VixSpreadModel()


@dataclass(frozen=True, slots=True)
class FuturePoint:
    """One listed VX future: its expiry (final settlement date) and its price (VIX points)."""

    expiry: date
    price: float


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
    "macro_events",
    "ad_line",
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
    the VIX on the next eight VX expiries; ``spreads`` to the default :class:`SpreadModel`;
    ``vix_surface`` to the default :class:`VixSurface`; ``vix_spreads`` to the default
    :class:`VixSpreadModel`. VX / VXM futures and VIX options are listed for the curve's expiries
    after the session.

    Macro state: ``macro_events`` are the scheduled releases on the session (``"cpi"``, ``"ppi"``,
    ``"fomc"``; stored sorted and unique, empty on ordinary days; the feed supplies them, see
    :mod:`market.macro`), ``ad_line`` the cumulative advance-decline line (net advancing issues
    summed over sessions; None when the feed does not know it).
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
    macro_events: tuple[str, ...]
    ad_line: float | None
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
        macro_events: tuple[str, ...] = (),
        ad_line: float | None = None,
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
        if macro_events:  # a few sessions a month: normalize and check only then
            macro_events = tuple(sorted(set(macro_events)))
            unknown = set(macro_events) - MACRO_EVENT_NAMES
            if unknown:
                raise ValueError(
                    f"unknown macro events {sorted(unknown)} (known: {sorted(MACRO_EVENT_NAMES)})"
                )
        if ad_line is not None and not math.isfinite(ad_line):
            raise ValueError(f"ad_line must be finite, got {ad_line!r}")
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
        setter(self, "macro_events", macro_events)
        setter(self, "ad_line", ad_line)
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
            quote = self._vix_products().future_quote(contract)
        elif contract.root is Root.SPX:
            quote = self._spx_quote(contract)
        else:
            quote = self._vix_products().option_quote(contract)
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
        terms = self._spx_listed(contract) if spx else self._vix_products().option_terms(contract)
        if terms is None:
            return None
        log_moneyness = math.log(contract.strike / terms.forward)
        if spx:
            model, underlying = OptionModel.BSM, self.spx
            vol = self.surface.vol(log_moneyness, terms.years)
        else:
            model, underlying = OptionModel.BLACK76, terms.forward
            vol = self.vix_surface.vol(log_moneyness, terms.years, self.vix)
        greeks = scalar_greeks(
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

    def _terms(self, expiry: date) -> ExpiryTerms | None:
        key = ("terms", expiry)
        terms: ExpiryTerms | None = self._cache.get(key)
        if terms is None:
            if expiry not in self.spx_expiries:
                return None
            years = years_between(self.ts, spx_settlement_time(expiry))
            terms = ExpiryTerms(
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
            chain = spx_option_chain(
                expiry,
                self.spx,
                terms,
                self.rate,
                self.div_yield,
                self.surface,
                self.spreads,
                self.vix,
            )
            self._cache[key] = chain
        return chain

    def _spx_listed(self, contract: OptionContract) -> ExpiryTerms | None:
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
        theo = black_price(
            contract.right is Right.CALL, terms.forward, strike, terms.years, terms.discount, vol
        )
        theo = max(theo, 0.0)
        # size by standard deviations from the money
        size = SPX_OPTION_SIZES.size(abs(log_moneyness) / (vol * terms.sqrt_years), self.vix)
        return option_quote_on_grid(theo, self.spreads.half_width(theo, self.vix), size)

    # -- VX / VXM futures and VIX options -------------------------------------------------------

    def _vix_products(self) -> VixProducts:
        products: VixProducts | None = self._cache.get("vix_products")
        if products is None:
            products = VixProducts(self)
            self._cache["vix_products"] = products
        return products

    @property
    def vix_expiries(self) -> tuple[date, ...]:
        """Expiries of the listed VX / VXM futures and VIX options, nearest first."""
        return tuple(self._vix_products().listed)

    def vx_price(self, expiry: date) -> float | None:
        """Price of the listed VX future of ``expiry``, or None if it is not listed."""
        for point in self.vx_curve:
            if point.expiry == expiry:
                return point.price
        return None

    def vix_chain(self, expiry: date) -> OptionChain:
        """The VIX option chain of one listed VX expiry (materialized on first use, then cached).

        Black-76 on the VX future of ``expiry``: ``forward`` and ``underlying`` are that future,
        deltas are per point of it.
        """
        return self._vix_products().chain(expiry)

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
            "macro_events": list(self.macro_events),
            "ad_line": self.ad_line,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MarketSnapshot:
        """Inverse of :meth:`to_dict`; a record without the VIX surface, spreads, macro events or
        A/D line (written before they existed) gets the defaults."""
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
            macro_events=tuple(str(e) for e in d.get("macro_events", ())),
            ad_line=None if d.get("ad_line") is None else float(d["ad_line"]),
        )
