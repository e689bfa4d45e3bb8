"""Strategy configuration: one frozen model per component, every threshold a documented field."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class RegimeConfig(_Frozen):
    """VIX regimes with hysteresis (SPEC section 5)."""

    elevated_vix: float = Field(
        16.0, gt=0, description="VIX level (points) at or above which the regime is ELEVATED."
    )
    hysteresis: float = Field(
        0.5, ge=0, description="Points below the threshold VIX must fall to leave a regime."
    )


class ExitConfig(_Frozen):
    """Exit rules checked on every snapshot (SPEC section 9)."""

    stop_multiple: float = Field(
        2.0,
        gt=1.0,
        description="Close a credit position when its cost to close at mid reaches this multiple of the credit received.",
    )


class CondorConfig(_Frozen):
    """Layer 1: short SPX iron condors (SPEC section 6)."""

    min_dte: int = Field(45, ge=1, description="Shortest calendar days to expiry for a new condor.")
    max_dte: int = Field(60, ge=1, description="Longest calendar days to expiry for a new condor.")
    short_delta: float = Field(
        0.16, gt=0, lt=0.5, description="Target |delta| of the short strikes."
    )
    wing_width_pct: float = Field(
        0.01,
        gt=0,
        lt=0.5,
        description="Wing width beyond each short strike as a fraction of spot (at least one strike step).",
    )
    risk_per_condor: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Max loss of one condor as a fraction of equity; sets the contract count.",
    )
    max_condors: int = Field(2, ge=0, description="Most condors open at once (one per expiry).")
    close_at_dte: int = Field(
        7,
        ge=0,
        description="Close a condor at this many calendar days to expiry (0 holds to settlement).",
    )
    reentry_cooldown: int = Field(
        5, ge=0, description="Sessions without a new condor after a credit stop."
    )

    @model_validator(mode="after")
    def _dte_window(self) -> CondorConfig:
        if self.min_dte > self.max_dte:
            raise ValueError(f"min_dte ({self.min_dte}) must not exceed max_dte ({self.max_dte})")
        if self.close_at_dte >= self.min_dte:
            raise ValueError(
                f"close_at_dte ({self.close_at_dte}) must be below min_dte ({self.min_dte})"
            )
        return self


class StrategyConfig(_Frozen):
    regime: RegimeConfig = RegimeConfig()
    exits: ExitConfig = ExitConfig()
    condor: CondorConfig = CondorConfig()
