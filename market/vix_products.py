"""The VIX products listed on one snapshot: VX / VXM futures and VIX options (SPEC section 4).

They are listed for the VX curve's expiries after the session. Futures are quoted around the curve
price on the 0.05 grid; VIX options are priced by Black-76 on the VX future of the same expiry at
the VIX surface vol, to the 09:30 ET VRO settlement (:func:`~market.calendar.vx_settlement_time`).
"""

from __future__ import annotations

import math
from datetime import date
from typing import TYPE_CHECKING

from market.calendar import vx_settlement_time, years_between
from market.chain import ExpiryTerms, OptionChain, black_price, vix_option_chain
from market.instruments import VIX_STRIKE_STEP, FutureContract, OptionContract, Right, Root
from market.quote import Quote, future_quote, option_quote_on_grid
from market.surface import VIX_OPTION_SIZES, SpreadModel

if TYPE_CHECKING:
    from market.snapshot import MarketSnapshot


def _on_grid(strike: float, step: float) -> bool:
    steps = strike / step
    return strike > 0.0 and abs(steps - round(steps)) <= 1e-9


class VixProducts:
    """Quotes of the VX / VXM futures and VIX options of one snapshot, priced lazily and cached.

    A :class:`~market.snapshot.MarketSnapshot` builds one on first use and holds on to it; this
    reads the snapshot's public fields once, at construction (the snapshot is immutable).
    """

    __slots__ = (
        "listed",
        "_ts",
        "_session",
        "_vix",
        "_rate",
        "_div_yield",
        "_surface",
        "_spreads",
        "_option_spreads",
        "_terms",
        "_chains",
    )

    def __init__(self, snapshot: MarketSnapshot) -> None:
        self._ts, self._session, self._vix = snapshot.ts, snapshot.session, snapshot.vix
        self._rate, self._div_yield = snapshot.rate, snapshot.div_yield
        self._surface, self._spreads = snapshot.vix_surface, snapshot.vix_spreads
        session = snapshot.session
        points = [p for p in snapshot.vx_curve if p.expiry > session]
        self.listed: dict[date, tuple[int, float]] = {
            p.expiry: (i, p.price) for i, p in enumerate(points)
        }
        """Listed VX expiries, nearest first -> (position on the curve, 0 = front month; price)."""
        self._option_spreads: SpreadModel | None = None
        self._terms: dict[date, ExpiryTerms] = {}
        self._chains: dict[date, OptionChain] = {}

    def future_quote(self, contract: FutureContract) -> Quote | None:
        """The quote of a VX / VXM future, or None if its expiry is not listed."""
        listed = self.listed.get(contract.expiry)
        if listed is None:
            return None
        month, price = listed
        return future_quote(contract.root, price, month, self._spreads, self._vix)

    def terms(self, expiry: date) -> ExpiryTerms | None:
        """Time to the VRO, the VX future of ``expiry`` and the discount; None if not listed."""
        terms = self._terms.get(expiry)
        if terms is None:
            listed = self.listed.get(expiry)
            if listed is None:
                return None
            years = years_between(self._ts, vx_settlement_time(expiry))
            terms = ExpiryTerms(years, listed[1], math.exp(-self._rate * years))
            self._terms[expiry] = terms
        return terms

    def option_spreads(self) -> SpreadModel:
        spreads = self._option_spreads
        if spreads is None:
            spreads = self._option_spreads = self._spreads.options()
        return spreads

    def chain(self, expiry: date) -> OptionChain:
        """The VIX option chain of a listed VX expiry (materialized on first use, then cached)."""
        chain = self._chains.get(expiry)
        if chain is None:
            terms = self.terms(expiry)
            if terms is None:
                listed = ", ".join(e.isoformat() for e in self.listed)
                raise KeyError(
                    f"VIX expiry {expiry.isoformat()} is not listed on {self._session.isoformat()}"
                    f" (listed: {listed})"
                )
            chain = vix_option_chain(
                expiry,
                terms,
                self._rate,
                self._div_yield,
                self._surface,
                self.option_spreads(),
                self._vix,
            )
            self._chains[expiry] = chain
        return chain

    def option_terms(self, contract: OptionContract) -> ExpiryTerms | None:
        """The expiry terms of a listed VIX option; None if the option is not listed."""
        if contract.root is not Root.VIX or not _on_grid(contract.strike, VIX_STRIKE_STEP):
            return None
        return self.terms(contract.expiry)

    def option_quote(self, contract: OptionContract) -> Quote | None:
        """The quote of a VIX option (from its chain when materialized), or None if unlisted."""
        terms = self.option_terms(contract)
        if terms is None:
            return None
        chain = self._chains.get(contract.expiry)
        if chain is not None:
            quote = chain.quote(contract.strike, contract.right)
            if quote is not None:
                return quote
        strike = contract.strike
        vix = self._vix
        log_moneyness = math.log(strike / terms.forward)
        vol = self._surface.vol(log_moneyness, terms.years, vix)
        theo = black_price(
            contract.right is Right.CALL, terms.forward, strike, terms.years, terms.discount, vol
        )
        theo = max(theo, 0.0)
        size = VIX_OPTION_SIZES.size(abs(log_moneyness) / (vol * terms.sqrt_years), vix)
        return option_quote_on_grid(theo, self.option_spreads().half_width(theo, vix), size)
