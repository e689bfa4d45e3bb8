"""Paper-broker configuration: frozen, documented models validated once at load."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from market.instruments import Contract, FutureContract, FutureRoot, OptionContract, Root

_FROZEN = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ProductFees(BaseModel):
    """Fees of one product in dollars per contract, each leg and each contract counted."""

    model_config = _FROZEN

    commission: float = Field(ge=0.0, description="Broker commission, dollars per contract.")
    exchange: float = Field(
        ge=0.0,
        description="Exchange, regulatory and clearing fees, dollars per contract.",
    )

    @property
    def per_contract(self) -> float:
        """All-in fees in dollars per contract."""
        return self.commission + self.exchange


class FeeSchedule(BaseModel):
    """Fees per product. The defaults are typical retail-broker figures (per contract, per side),
    not any one broker's price list."""

    model_config = _FROZEN

    spx_option: ProductFees = Field(
        default=ProductFees(commission=0.65, exchange=0.60),
        description=(
            "SPX options: commission 0.65; exchange 0.60 = the Cboe SPX index surcharge "
            "(about 0.50) plus regulatory and clearing fees (about 0.10)."
        ),
    )
    vix_option: ProductFees = Field(
        default=ProductFees(commission=0.65, exchange=0.50),
        description="VIX options: commission 0.65; exchange, regulatory and clearing fees 0.50.",
    )
    vx_future: ProductFees = Field(
        default=ProductFees(commission=1.50, exchange=1.70),
        description="VX futures ($1000 per point): commission 1.50; exchange and NFA fees 1.70.",
    )
    vxm_future: ProductFees = Field(
        default=ProductFees(commission=0.85, exchange=0.35),
        description="Mini VXM futures ($100 per point): commission 0.85; exchange fees 0.35.",
    )

    def for_contract(self, contract: Contract) -> ProductFees:
        """The fees that apply to ``contract``."""
        if isinstance(contract, OptionContract):
            return self.spx_option if contract.root is Root.SPX else self.vix_option
        assert isinstance(contract, FutureContract)
        return self.vx_future if contract.root is FutureRoot.VX else self.vxm_future


class BrokerConfig(BaseModel):
    """Account size, fill model, fees and margin of the paper broker (SPEC sections 10 and 14)."""

    model_config = _FROZEN

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
    fees: FeeSchedule = Field(
        default=FeeSchedule(),
        description="Commission and exchange fees per contract, per product.",
    )
    max_quote_age: float = Field(
        default=300.0,
        gt=0.0,
        description=(
            "Seconds of market time (clock now minus the snapshot's timestamp) after which the "
            "current snapshot is too old to fill a new order against (reject STALE_QUOTE)."
        ),
    )
    cap_at_quoted_size: bool = Field(
        default=False,
        description=(
            "Reject (SIZE_EXCEEDS_QUOTE) an order that needs more contracts on a leg than the "
            "size quoted on the side it takes (ask for buys, bid for sells). A size of 0 means "
            "unknown and caps nothing. Orders still fill all or nothing, never partially."
        ),
    )
    vx_initial_margin: float = Field(
        default=12_000.0,
        ge=0.0,
        description="Initial margin held per VX future, long or short, in dollars.",
    )
    vxm_initial_margin: float = Field(
        default=1_200.0,
        ge=0.0,
        description="Initial margin held per mini VXM future, long or short, in dollars.",
    )

    def initial_margin(self, root: FutureRoot) -> float:
        """Initial margin in dollars per contract of a futures root."""
        return self.vx_initial_margin if root is FutureRoot.VX else self.vxm_initial_margin
