"""Strategy configuration: one frozen model per component, every threshold a documented field.

Defaults are SPEC section 14's and sections 5-9's. Field names that the SPEC or the issues spell
out (``press_confirm``, ``press_width``, ``press_risk``, ``press_max_spreads``, ``h``,
``iv_beta``, ``vrp_scale``, ``rsi.method`` ...) are the public names.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ExitRuleName = Literal["credit_stop", "take_profit", "profit_target", "rsi", "dte", "unwind"]
"""Exit rules a layer can be configured with (``flatten`` and ``risk_halt`` always apply)."""

LAYER_RULES: dict[str, frozenset[str]] = {
    "condor": frozenset({"credit_stop", "profit_target", "dte", "rsi"}),
    "hedge": frozenset({"take_profit", "rsi", "unwind"}),
    "press": frozenset({"credit_stop", "profit_target", "rsi", "unwind", "dte"}),
}
"""Which exit rules make sense for which layer (validated in :class:`ExitRulesConfig`)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class RegimeConfig(_Frozen):
    """VIX regimes with hysteresis (SPEC section 5)."""

    elevated_vix: float = Field(
        16.0, gt=0, description="VIX level (points) at or above which the regime is ELEVATED."
    )
    hysteresis: float = Field(
        0.5, ge=0, description="Points below a threshold VIX must fall to leave its regime."
    )
    press_threshold: float = Field(
        25.0,
        ge=25.0,
        le=28.0,
        description="VIX close (points) that counts towards STRESS; allowed 25-28.",
    )
    press_confirm: int = Field(
        3,
        ge=1,
        description="Session closes in a row at or above press_threshold before STRESS begins.",
    )


class RsiConfig(_Frozen):
    """The RSI exit's indicator (SPEC section 9): daily closes of the 30-day constant-maturity VX."""

    method: Literal["cutler", "wilder"] = Field(
        "cutler",
        description="`cutler` (simple means of gains and losses, the default) or `wilder`"
        " (Wilder's smoothing; on real VX data it almost never falls below 30).",
    )
    periods: int = Field(21, ge=2, description="Daily closes the RSI averages over.")
    exit_below: float = Field(
        30.0, gt=0, lt=100, description="RSI below this unwinds the hedge and closes the press."
    )
    rebuild_above: float = Field(
        35.0,
        gt=0,
        lt=100,
        description="After an RSI exit the hedge is rebuilt only once RSI is back above this"
        " (or the regime re-enters ELEVATED from CALM).",
    )
    maturity_days: int = Field(
        30, ge=1, description="Calendar days of the constant-maturity VX price the RSI is on."
    )

    @model_validator(mode="after")
    def _band(self) -> RsiConfig:
        if self.rebuild_above < self.exit_below:
            raise ValueError(
                f"rebuild_above ({self.rebuild_above}) must not be below exit_below"
                f" ({self.exit_below})"
            )
        return self


class ExitRulesConfig(_Frozen):
    """Which exit rules apply to which layer (SPEC section 9: "which rules apply ... is config")."""

    condor: tuple[ExitRuleName, ...] = Field(
        ("credit_stop", "profit_target", "dte"),
        description="Exit rules of layer 1 (profit_target acts only when condor.profit_target > 0).",
    )
    hedge: tuple[ExitRuleName, ...] = Field(
        ("take_profit", "rsi", "unwind"), description="Exit rules of layer 2 (the VIX hedge)."
    )
    press: tuple[ExitRuleName, ...] = Field(
        ("credit_stop", "rsi"), description="Exit rules of layer 3 (the cash press)."
    )

    @model_validator(mode="after")
    def _allowed(self) -> ExitRulesConfig:
        problems = [
            f"{layer}: {rule!r} does not apply (allowed: {', '.join(sorted(LAYER_RULES[layer]))})"
            for layer in LAYER_RULES
            for rule in getattr(self, layer)
            if rule not in LAYER_RULES[layer]
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def applies(self, layer: str, rule: str) -> bool:
        rules: tuple[str, ...] = getattr(self, layer)
        return rule in rules


class ExitConfig(_Frozen):
    """Exit rules checked on every snapshot (SPEC section 9)."""

    stop_multiple: float = Field(
        2.0,
        gt=1.0,
        description="Close a credit position when its cost to close at mid reaches this multiple of the credit received.",
    )
    take_profit_multiple: float = Field(
        2.0,
        gt=1.0,
        description="Close a long VIX call hedge when its value at mid reaches this multiple of its cost.",
    )
    rules: ExitRulesConfig = ExitRulesConfig()


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
    be_move_mult: float = Field(
        0.75,
        ge=0,
        description="Break-evens must sit outside +- this multiple of the expected move"
        " S x IV x sqrt(T); shorts step outward until they do (0 turns the check off).",
    )
    post_fomc_sessions: int = Field(
        3,
        ge=0,
        description="Sessions after an FOMC day during which new shorts use post_fomc_delta.",
    )
    post_fomc_delta: float = Field(
        0.12, gt=0, lt=0.5, description="Target |delta| of new shorts just after an FOMC day."
    )
    delta_band: float = Field(
        0.10,
        gt=0,
        description="Net delta per condor contract (0.10 = 10 SPX deltas) beyond which the"
        " untested side is rolled toward the target delta.",
    )
    profit_target: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Close a condor once this fraction of its credit is captured (0 = off).",
    )
    inversion_ratio: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Theta inversion: efficiency (net theta / short theta) below this multiple of"
        " its value at entry.",
    )
    roll_cooldown: int = Field(
        5, ge=0, description="Sessions between two time-shift rolls of the same condor."
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


class HedgeConfig(_Frozen):
    """Layer 2: the long-VIX hedge (SPEC section 7)."""

    instrument: Literal["mini_future", "future", "call"] = Field(
        "mini_future",
        description="`mini_future` (VXM, n x 10 contracts), `future` (VX, n) or `call`"
        " (VIX calls near call_delta, n x 1000 / (delta x 100)).",
    )
    h: float = Field(0.5, ge=0, le=2, description="Hedge ratio before the carry cut.")
    iv_beta: float = Field(
        1.0,
        gt=0,
        description="Points the condors' 45-60-day SPX implied vol moves per VIX point.",
    )
    vrp_scale: float = Field(
        0.2,
        gt=0,
        description="Contango at which the hedge ratio halves: h_eff = h / (1 + c / vrp_scale).",
    )
    beta_window: int = Field(
        60, ge=2, description="Sessions of daily changes the hedge future's beta on VIX uses."
    )
    beta_min_observations: int = Field(
        20, ge=2, description="Fewer daily changes than this and the beta is beta_default."
    )
    beta_default: float = Field(0.5, gt=0, description="Beta with too few observations.")
    beta_min: float = Field(0.2, gt=0, description="Lowest beta used (clip).")
    beta_max: float = Field(1.0, gt=0, description="Highest beta used (clip).")
    call_delta: float = Field(
        0.30, gt=0, lt=1, description="Delta of the VIX calls bought when instrument = call."
    )
    roll_days: int = Field(
        7,
        ge=0,
        description="Calendar days before the front future settles from which the hedge uses"
        " (and rolls into) the second month.",
    )
    max_carry_fraction: float = Field(
        0.5,
        ge=0,
        description="The hedge's expected daily carry may not exceed this fraction of the condor"
        " book's daily theta income; above it the hedge is capped.",
    )
    rebalance_interval: int = Field(
        1, ge=0, description="Sessions between rebalances (0: whenever the target moves)."
    )
    floor_fraction: float = Field(
        0.5,
        ge=0,
        le=2,
        description="In ELEVATED and STRESS the hedge is sized from at least this fraction of the"
        " reference condor's vega and theta (the condor layer's standard condor at its risk"
        " budget, in the first monthly at least min_dte out) when the open condors carry less;"
        " 0 sizes from the open condors alone.",
    )
    floor_sessions: int = Field(
        21,
        ge=0,
        description="The floor applies up to this many sessions after the condor layer's last"
        " condor (held, opened, rolled or closed), and past them to a hedge held in STRESS: it"
        " covers the re-entry cooldown and the gap between monthly cycles, not months with no"
        " condor at all.",
    )

    @model_validator(mode="after")
    def _beta_clip(self) -> HedgeConfig:
        if self.beta_min > self.beta_max:
            raise ValueError(
                f"beta_min ({self.beta_min}) must not exceed beta_max ({self.beta_max})"
            )
        return self


class PressConfig(_Frozen):
    """Layer 3: the cash press, VIX call credit spreads in STRESS (SPEC section 8)."""

    short_delta: float = Field(
        0.35, gt=0, lt=1, description="Delta of the short VIX call (against its future)."
    )
    press_width: float = Field(
        5.0, gt=0, description="Points between the short call and the long call above it."
    )
    min_dte: int = Field(14, ge=1, description="Shortest calendar days to the VIX expiry used.")
    max_dte: int = Field(35, ge=1, description="Longest calendar days to the VIX expiry used.")
    press_risk: float = Field(
        0.02,
        gt=0,
        le=1,
        description="The layer's total max loss as a fraction of equity, fixed when STRESS begins.",
    )
    press_max_spreads: int = Field(
        3,
        ge=0,
        description="Entries per STRESS episode; each is sized at press_risk / press_max_spreads"
        " of the episode's equity, at most one per session.",
    )

    close_at_dte: int = Field(
        2,
        ge=0,
        description="With the `dte` rule in exits.rules.press: close a spread at this many"
        " calendar days to its VIX expiry.",
    )
    profit_target: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="With the `profit_target` rule in exits.rules.press: close a spread once this"
        " fraction of its credit is captured.",
    )

    @model_validator(mode="after")
    def _dte_window(self) -> PressConfig:
        if self.min_dte > self.max_dte:
            raise ValueError(f"min_dte ({self.min_dte}) must not exceed max_dte ({self.max_dte})")
        return self


class MacroConfig(_Frozen):
    """The macro overlay: headline vs stress VIX jumps (SPEC section 9)."""

    jump_pct: float = Field(
        0.15, gt=0, description="A VIX rise of this fraction session over session is a jump."
    )
    headline_confirm: int = Field(
        1, ge=0, description="Extra sessions the hedge waits after a headline jump."
    )
    ad_sessions: int = Field(
        5, ge=1, description="Sessions over which the advance-decline line's change is read."
    )
    window_sessions: int = Field(
        1,
        ge=0,
        description="A jump within this many sessions of a CPI, PPI or FOMC day can be headline.",
    )
    look_ahead: bool = Field(
        True,
        description="Count the releases the macro calendar schedules in the window_sessions"
        " sessions ahead, not only those behind (release dates are public in advance).",
    )


class RiskConfig(_Frozen):
    """The steward's limits (SPEC section 9)."""

    daily_loss_limit: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Halt when equity falls this fraction below the session's start.",
    )
    margin_use_limit: float = Field(
        0.60, gt=0, description="Halt when the margin requirement exceeds this fraction of equity."
    )
    flatten: bool = Field(True, description="Flatten every position on a risk halt.")
    auto_resume: bool = Field(
        True,
        description="Resume trading at the next session after a risk halt (batch runs); `alvh run`"
        " sets it false, so the live daemon waits for an operator. Stored with the config, so a"
        " ledger or recording continued or replayed by another command re-derives under the"
        " policy it was written with.",
    )


class StrategyConfig(_Frozen):
    regime: RegimeConfig = RegimeConfig()
    rsi: RsiConfig = RsiConfig()
    exits: ExitConfig = ExitConfig()
    condor: CondorConfig = CondorConfig()
    hedge: HedgeConfig = HedgeConfig()
    press: PressConfig = PressConfig()
    macro: MacroConfig = MacroConfig()
    risk: RiskConfig = RiskConfig()
