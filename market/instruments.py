"""Contracts alvh trades and their exchange conventions (SPEC section 3)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Right(StrEnum):
    CALL = "C"
    PUT = "P"


class Root(StrEnum):
    """Option roots: SPX index options and VIX options (on the VX future of the same expiry)."""

    SPX = "SPX"
    VIX = "VIX"


class FutureRoot(StrEnum):
    """Cboe futures on the VIX: VX ($1000 per point) and mini VXM ($100 per point)."""

    VX = "VX"
    VXM = "VXM"


FUTURE_MULTIPLIER = {FutureRoot.VX: 1000, FutureRoot.VXM: 100}
FUTURE_TICK = 0.05
"""VX and VXM futures trade in 0.05 points."""
VIX_STRIKE_STEP = 1.0
"""VIX option strikes listed every point."""

OPTION_MULTIPLIER = 100
SPX_STRIKE_STEP = 5.0
"""SPX strikes are listed every 5 points near the money."""


def option_tick(premium: float) -> float:
    """Minimum price increment for SPX and VIX options: 0.05 below 3.00, 0.10 from 3.00."""
    return 0.05 if premium < 3.0 else 0.10


@dataclass(frozen=True, slots=True, order=True)
class OptionContract:
    """One listed option series: root, expiry, strike (index points) and right."""

    root: Root
    expiry: date
    strike: float
    right: Right

    @property
    def multiplier(self) -> int:
        return OPTION_MULTIPLIER

    @property
    def symbol(self) -> str:
        """Stable human-readable id, e.g. ``SPX 2025-03-21 P 5650``."""
        k = int(self.strike) if self.strike == math.floor(self.strike) else self.strike
        return f"{self.root.value} {self.expiry.isoformat()} {self.right.value} {k}"

    @classmethod
    def parse(cls, symbol: str) -> OptionContract:
        """Inverse of :attr:`symbol`; raises ValueError on a malformed symbol."""
        parts = symbol.split()
        if len(parts) != 4:
            raise ValueError(f"malformed option symbol {symbol!r}")
        root, expiry, right, strike = parts
        return cls(Root(root), date.fromisoformat(expiry), float(strike), Right(right))

    def intrinsic(self, settlement: float) -> float:
        """Exercise value at a settlement print, in index points."""
        if self.right is Right.CALL:
            return max(0.0, settlement - self.strike)
        return max(0.0, self.strike - settlement)


@dataclass(frozen=True, slots=True, order=True)
class FutureContract:
    """One VX or VXM futures contract, named by its final settlement (expiry) date."""

    root: FutureRoot
    expiry: date

    @property
    def multiplier(self) -> int:
        return FUTURE_MULTIPLIER[self.root]

    @property
    def symbol(self) -> str:
        """Stable human-readable id, e.g. ``VXM 2025-02-19``."""
        return f"{self.root.value} {self.expiry.isoformat()}"

    @classmethod
    def parse(cls, symbol: str) -> FutureContract:
        parts = symbol.split()
        if len(parts) != 2:
            raise ValueError(f"malformed futures symbol {symbol!r}")
        return cls(FutureRoot(parts[0]), date.fromisoformat(parts[1]))


Contract = OptionContract | FutureContract


def parse_contract(symbol: str) -> Contract:
    """Parse an option (``SPX 2025-03-21 P 5650``) or futures (``VX 2025-02-19``) symbol."""
    try:
        if len(symbol.split()) == 2:
            return FutureContract.parse(symbol)
        return OptionContract.parse(symbol)
    except ValueError as exc:
        raise ValueError(f"malformed contract symbol {symbol!r}: {exc}") from None
