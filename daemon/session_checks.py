"""What a good value in a session-file line is (SPEC section 11), as the checks
:class:`~daemon.session_file.LineDecoder` runs on each field.

Here are :class:`LineRejected` and its :data:`REJECT_REASONS`; the check builders (``_bounded``,
``_positive``, ``_non_negative``); :data:`CONFIG_SOURCES` and :func:`config_range`, which tie the
values the simulator copies from the ``market`` config to that field's range; the bounds on model
levels no config value sets, with why each is where it is; and :data:`MODEL_FIELDS`, the check of
every field of each quote and surface model a snapshot carries.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import fields

from annotated_types import Ge, Gt, Le, Lt

from market.simulator import SimulatorConfig
from market.surface import SpreadModel, SpxSurface, VixSpreadModel, VixSurface

REJECT_REASONS = (
    "malformed",
    "non_finite",
    "negative",
    "crossed",
    "out_of_order",
    "unknown_contract",
    "torn_line",
)
"""Why a line is skipped; the summary's ``rejected_ticks_by_reason`` counts each."""


class LineRejected(Exception):
    """A line the replay skips: ``reason`` is one of :data:`REJECT_REASONS`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# -- checking values ----------------------------------------------------------------------------

_isfinite = math.isfinite
Check = Callable[[object, str], float]


def _number(value: object, name: str) -> float:
    kind = type(value)
    if kind is float:
        if not _isfinite(value):  # type: ignore[arg-type]
            raise LineRejected("non_finite", f"{name} is {value}")
        return value  # type: ignore[return-value]
    if kind is int:
        try:
            return float(value)  # type: ignore[arg-type]
        except OverflowError:
            raise LineRejected("non_finite", f"{name} overflows a float") from None
    raise LineRejected("malformed", f"{name} is not a number")


def _bounded(limit: float) -> Check:
    def check(value: object, name: str) -> float:
        number = _number(value, name)
        if abs(number) > limit:
            raise LineRejected("malformed", f"{name} {number} is out of range (|x| <= {limit})")
        return number

    return check


def _positive(limit: float) -> Check:
    def check(value: object, name: str) -> float:
        number = _number(value, name)
        if not number > 0.0:
            raise LineRejected("negative", f"{name} is {number}: must be > 0")
        if number > limit:
            raise LineRejected("malformed", f"{name} {number} is out of range (<= {limit})")
        return number

    return check


def _non_negative(reason: str) -> Check:
    def check(value: object, name: str) -> float:
        number = _number(value, name)
        if number < 0.0:
            raise LineRejected(reason, f"{name} is {number}: must be >= 0")
        return number

    return check


def _whole(value: object, name: str) -> float:
    if type(value) is not int:
        raise LineRejected("malformed", f"{name} is not an integer")
    if value < 0:
        raise LineRejected("crossed", f"{name} is {value}: a negative width")
    if value > 1000:
        raise LineRejected("malformed", f"{name} {value} is out of range (<= 1000)")
    return value


CONFIG_SOURCES: dict[str, str] = {
    "rate": "rate",
    "div_yield": "div_yield",
    "surface.put_slope": "skew_put_slope",
    "surface.call_slope": "skew_call_slope",
    "surface.kink": "skew_kink",
    "surface.smoothness": "skew_smoothness",
    "spreads.base_width": "spread_base_width",
    "spreads.price_fraction": "spread_price_fraction",
    "spreads.reference_vix": "spread_reference_vix",
    "spreads.vix_exponent": "spread_vix_exponent",
    "spreads.max_width": "spread_max_width",
    "vix_surface.atm_vol_at_reference": "vix_option_atm_vol",
    "vix_surface.reference_vix": "vix_option_reference_vix",
    "vix_surface.vix_elasticity": "vix_option_vol_elasticity",
    "vix_surface.term_exponent": "vix_option_term_exponent",
    "vix_surface.call_wing": "vix_option_call_wing",
    "vix_surface.put_wing": "vix_option_put_wing",
}
"""Snapshot values the simulator copies verbatim from a ``market`` config field (its ``rate``,
``div_yield``, ``spread_model``, ``surface`` and ``vix_surface``), by dotted snapshot path: each
is checked against that field's range as :class:`SimulatorConfig` validates it, so a recording
of any config that loads reads back, and the two cannot drift apart."""


def config_range(field: str) -> tuple[float, bool, float, bool]:
    """``(low, low_open, high, high_open)``: the interval ``market.<field>`` must lie in, read from
    :class:`SimulatorConfig`'s field metadata (an unbounded side is infinite)."""
    low, low_open, high, high_open = -math.inf, False, math.inf, False
    for rule in SimulatorConfig.model_fields[field].metadata:
        if isinstance(rule, Gt):
            low, low_open = float(rule.gt), True  # type: ignore[arg-type]
        elif isinstance(rule, Ge):
            low, low_open = float(rule.ge), False  # type: ignore[arg-type]
        elif isinstance(rule, Lt):
            high, high_open = float(rule.lt), True  # type: ignore[arg-type]
        elif isinstance(rule, Le):
            high, high_open = float(rule.le), False  # type: ignore[arg-type]
        else:  # a kind of constraint the reader would silently not check
            raise TypeError(f"market.{field}: the session reader cannot check {rule!r}")
    return low, low_open, high, high_open


def _from_config(path: str, sign: Check = _number) -> Check:
    """The check of the snapshot value at ``path``, copied from ``market.<CONFIG_SOURCES[path]>``:
    ``sign`` first (it names the reason for a value below zero: ``negative`` or ``crossed``), then
    the config's range for the field; a value outside it is ``malformed``."""
    field = CONFIG_SOURCES[path]
    low, low_open, high, high_open = config_range(field)
    shown = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"

    def check(value: object, name: str) -> float:
        number = sign(value, name)
        if (
            number < low
            or number > high
            or (low_open and number == low)
            or (high_open and number == high)
        ):
            raise LineRejected(
                "malformed", f"{name} {number} is outside market.{field}'s range {shown}"
            )
        return number

    return check


_POSITIVE = _positive(math.inf)
_SIZE = _non_negative("negative")
_WIDTH = _non_negative("crossed")
"""A negative width would quote the bid above the ask: the quote is crossed."""
# Bounds on values that are no config value, and why:
SPX_POINTS = _positive(1e7)
"""SPX and its SOQ: model levels, on a path from ``market.spx_start``. An SPX chain lists a strike
every 5 points over up to +-50% of spot, so at 1e7 one chain holds 2,000,000 strikes: the ceiling
keeps a damaged line from sizing arrays without limit. It is about 1,700 times the default start;
``market.spx_start`` is not capped (a chained long simulation needs any level), so a run started
above about 1e6 may print levels this bound rejects on replay."""
VOL_POINTS = _positive(1000.0)
"""The VIX, the VRO and VX prices: model levels, the VIX within ``[market.vix_floor,
market.vix_cap]`` and VX prices between it and ``market.vx_curve_level``. A VIX option chain lists
a strike every point from F / 3 to 5 F, so the ceiling bounds it to about 4,700 strikes; it is 6.7
times the default cap (150) and 11 times the highest VIX ever printed. The config caps ``vix_cap``,
``vix_start`` and ``vx_curve_level`` at 500, so every configured run stays inside it."""
_FIXED = _positive(1e6)
"""Model parameters no config sets (the surfaces' vol floors and caps, the VIX surface's shortest
maturity): every recording carries the class default, so the ceiling only screens damage."""
_FIXED_EXPONENT = _bounded(10.0)
"""The VIX spread model's exponent: no config sets it (every recording carries 1.0), so the bound
only screens damage."""
_MODEL_RULES: dict[type, dict[str, Check]] = {
    SpxSurface: {
        # Derived from config fields the config does not cap (long_var = long_run_atm_vol^2,
        # kappa = ln 2 / atm_var_half_life_years): positive, with no ceiling. None is needed:
        # every vol is soft-capped at vol_cap whatever the variances and speed.
        "short_var": _POSITIVE,
        "long_var": _POSITIVE,
        "kappa": _POSITIVE,
        "put_slope": _from_config("surface.put_slope", _POSITIVE),
        "call_slope": _from_config("surface.call_slope", _SIZE),
        "kink": _from_config("surface.kink"),
        "smoothness": _from_config("surface.smoothness", _SIZE),
        "vol_floor": _FIXED,
        "vol_cap": _FIXED,
    },
    SpreadModel: {
        "base_width": _from_config("spreads.base_width", _WIDTH),
        "price_fraction": _from_config("spreads.price_fraction", _WIDTH),
        "reference_vix": _from_config("spreads.reference_vix", _POSITIVE),
        "vix_exponent": _from_config("spreads.vix_exponent"),
        "max_width": _from_config("spreads.max_width", _WIDTH),
    },
    VixSurface: {
        "atm_vol_at_reference": _from_config("vix_surface.atm_vol_at_reference", _POSITIVE),
        "reference_vix": _from_config("vix_surface.reference_vix", _POSITIVE),
        "vix_elasticity": _from_config("vix_surface.vix_elasticity"),
        "term_exponent": _from_config("vix_surface.term_exponent"),
        "call_wing": _from_config("vix_surface.call_wing", _SIZE),
        "put_wing": _from_config("vix_surface.put_wing", _SIZE),
        "smoothness": _SIZE,  # no config field: the class default
        "min_years": _FIXED,
        "vol_floor": _FIXED,
        "vol_cap": _FIXED,
    },
    # No config field: every recording carries the class defaults.
    VixSpreadModel: {
        "option_base_width": _WIDTH,
        "option_price_fraction": _WIDTH,
        "option_max_width": _WIDTH,
        "future_ticks": _WIDTH,
        "future_ticks_per_month": _WIDTH,
        "mini_extra_ticks": _whole,
        "max_future_ticks": _whole,
        "reference_vix": VOL_POINTS,
        "vix_exponent": _FIXED_EXPONENT,
    },
}
RATE = _from_config("rate")
DIV_YIELD = _from_config("div_yield")
AD_LINE = _number
"""The advance-decline line: a running sum of net advancers, each session's at most
``market.ad_issues`` (not capped by the config), so any finite value can be recorded; the
strategy only compares its changes with thresholds."""
for _cls, _rules in _MODEL_RULES.items():  # the rules cover each model exactly
    assert list(_rules) == [f.name for f in fields(_cls)], _cls
MODEL_FIELDS: dict[str, tuple[type, frozenset[str], list[tuple[str, Check, str]]]] = {
    name: (
        cls,
        frozenset(_MODEL_RULES[cls]),
        [(key, check, f"{name}.{key}") for key, check in _MODEL_RULES[cls].items()],
    )
    for name, cls in (
        ("surface", SpxSurface),
        ("spreads", SpreadModel),
        ("vix_surface", VixSurface),
        ("vix_spreads", VixSpreadModel),
    )
}
"""For each snapshot field that holds a model: its class, its exact keys, and each of its fields
in constructor order with the check and the name a rejection reports."""
