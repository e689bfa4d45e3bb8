"""Paper-broker configuration: one frozen, documented model validated once at load."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BrokerConfig(BaseModel):
    """Account size, fill model and fees of the paper broker (SPEC sections 10 and 14)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    starting_equity: float = Field(
        default=1_000_000.0,
        gt=0,
        description="Cash the account starts with, in dollars.",
    )
    slippage: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description=(
            "Fraction of the half-spread paid away from mid on every leg: 0 fills at mid, "
            "1 at the touch (buy legs at the ask, sell legs at the bid)."
        ),
    )
    commission_per_contract: float = Field(
        default=0.65,
        ge=0.0,
        description="Broker commission in dollars per option contract, each leg counted.",
    )
    exchange_fee_per_contract: float = Field(
        default=0.60,
        ge=0.0,
        description=(
            "Exchange and regulatory fees in dollars per option contract: the SPX index "
            "surcharge (about 0.50) plus regulatory and clearing fees (about 0.10)."
        ),
    )

    @property
    def fee_per_contract(self) -> float:
        """All-in fees in dollars per contract."""
        return self.commission_per_contract + self.exchange_fee_per_contract
