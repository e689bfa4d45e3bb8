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
    SPX = "SPX"
    VIX = "VIX"


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
