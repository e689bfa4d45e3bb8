"""Session file lines (SPEC section 11): what a good line is, checked as it is decoded.

After the header (:mod:`daemon.recording`), every line of a session file is either

- ``{"kind": "snapshot", ...}``: a :class:`MarketSnapshot` as :meth:`~MarketSnapshot.to_dict`
  writes it, or
- ``{"kind": "control", "position": P, "control": K, "payload": {...}}``: an operator's control
  event (``pause``, ``resume``, ``flatten``, ``reload``, ``stop``) that took effect after the
  snapshot with ``seq`` P (-1: before the first); a ``reload`` carries the new config in its
  payload and that config's ``config_hash``.

:class:`~daemon.recording.LineEncoder` writes them; :class:`LineDecoder` reads them back and never
trusts one: it is decoded and checked in one pass, and anything wrong raises
:class:`LineRejected` with one of :data:`REJECT_REASONS` (the first problem found decides the
reason). What the checks refuse:

- ``malformed``: not UTF-8, not JSON, not an object, an unknown kind, a missing, extra or
  mistyped field, a date that is none, a ``ts`` outside its session's hours or without a time
  zone, a session that is no exchange session, expiries out of order, an unknown macro event,
  a value the simulator copies from the ``market`` config outside the range the config accepts
  for it (:data:`CONFIG_SOURCES`), a model level beyond its bound (SPX or the SOQ above
  10,000,000; the VIX, the VRO or a VX price above 1,000), a control that cannot be replayed or
  whose reload config is invalid or does not match its hash;
- ``non_finite``: NaN or an infinity anywhere (or an integer too big for a float);
- ``negative``: a price, level or variance at or below zero (SPX, VIX, a VX price, SOQ, VRO, a
  surface's variances, slopes and vol bounds, a spread model's reference VIX), a negative
  ``seq`` or control position;
- ``crossed``: a quote model that would put the bid above the ask: a negative width in the SPX
  or VIX spread model (base, per-premium, maximum; VX ticks), or a surface whose vol floor is
  above its cap;
- ``unknown_contract``: a VX or SPX expiry that is not listed on that session (not a real
  expiry date, already expired, or more than three years out).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic import ValidationError

from daemon.config import format_validation_error, stored_config
from daemon.engine import Control, config_hash, recorded_config_hash
from market.calendar import (
    CalendarRangeError,
    spx_monthly_expiry,
    trading_calendar,
    vx_expiry,
)
from market.macro import MACRO_EVENT_NAMES
from market.simulator import SimulatorConfig
from market.snapshot import FuturePoint, MarketSnapshot
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
REPLAYABLE_CONTROLS = ("pause", "resume", "flatten", "reload", "stop")
"""Control kinds a session file may carry (an adopted run is never recorded)."""
_LISTABLE_MONTHS = 36
"""How far ahead a snapshot may list an expiry (months)."""


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
_SPX_POINTS = _positive(1e7)
"""SPX and its SOQ: model levels, on a path from ``market.spx_start``. An SPX chain lists a strike
every 5 points over up to +-50% of spot, so at 1e7 one chain holds 2,000,000 strikes: the ceiling
keeps a damaged line from sizing arrays without limit. It is about 1,700 times the default start
and 100 times the highest ``market.spx_start`` the config accepts (100,000)."""
_VOL_POINTS = _positive(1000.0)
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
        "reference_vix": _VOL_POINTS,
        "vix_exponent": _FIXED_EXPONENT,
    },
}
_RATE = _from_config("rate")
_DIV_YIELD = _from_config("div_yield")
_AD_LINE = _number
"""The advance-decline line: a running sum of net advancers, each session's at most
``market.ad_issues`` (not capped by the config), so any finite value can be recorded; the
strategy only compares its changes with thresholds."""
for _cls, _rules in _MODEL_RULES.items():  # the rules cover each model exactly
    assert list(_rules) == [f.name for f in fields(_cls)], _cls
_MODEL_FIELDS: dict[str, tuple[type, frozenset[str], list[tuple[str, Check, str]]]] = {
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
_SNAPSHOT_KEYS = frozenset(
    {"kind", "seq", "ts", "session", "spx", "vix", "rate", "div_yield", "vx_curve", "surface"}
    | {"spreads", "spx_expiries", "soq", "vro", "vix_surface", "vix_spreads", "macro_events"}
    | {"ad_line"}
)
_CONTROL_KEYS = frozenset({"kind", "position", "control", "payload"})


def _exact_keys(record: dict[str, Any], expected: frozenset[str] | Any, name: str) -> None:
    if record.keys() != expected:
        missing = sorted(set(expected) - record.keys())
        extra = sorted(str(k)[:40] for k in record.keys() - set(expected))
        raise LineRejected("malformed", f"{name}: missing {missing}, unexpected {extra}")


@dataclass(frozen=True, slots=True)
class _Session:
    day: date
    open_ts: datetime
    close_ts: datetime
    vx_expiries: frozenset[date]
    spx_expiries: frozenset[date]


def _expiries_after(day: date, expiry: Callable[[int, int], date]) -> frozenset[date]:
    out: set[date] = set()
    year, month = day.year, day.month
    for _ in range(_LISTABLE_MONTHS):
        try:
            e = expiry(year, month)
        except CalendarRangeError:
            break
        if e > day:
            out.add(e)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return frozenset(out)


@lru_cache(maxsize=256)
def _session(text: str) -> _Session | None:
    """The exchange session named ``text`` and what may be listed on it; None if it is none."""
    try:
        day = date.fromisoformat(text)
        cal = trading_calendar()
        if not cal.is_session(day):
            return None
    except ValueError:  # not a date, or outside the calendar
        return None
    open_ts, close_ts = cal.session_hours(day)
    return _Session(
        day,
        open_ts,
        close_ts,
        _expiries_after(day, vx_expiry),
        _expiries_after(day, spx_monthly_expiry),
    )


# -- the decoder --------------------------------------------------------------------------------


class LineDecoder:
    """Decodes snapshot and control lines, checking every field on the way.

    What repeats from line to line (dates, the spread and VIX-surface models a run shares) is
    checked once and cached, so replay stays fast.
    """

    _CACHE_LIMIT = 4096

    def __init__(self) -> None:
        self._dates: dict[str, date] = {}
        self._models: dict[tuple[Any, ...], Any] = {}

    def decode(self, text: bytes) -> MarketSnapshot | tuple[int, Control]:
        """A snapshot, or a control and its position; :class:`LineRejected` if the line is bad."""
        try:
            record = json.loads(text.decode("utf-8"))
        except UnicodeDecodeError:
            raise LineRejected("malformed", "not UTF-8 text") from None
        except (ValueError, RecursionError) as exc:
            raise LineRejected("malformed", f"not JSON: {exc}") from None
        if type(record) is not dict:
            raise LineRejected("malformed", "not a JSON object")
        kind = record.get("kind")
        if kind == "snapshot":
            return self.decode_snapshot(record)
        if kind == "control":
            return decode_control(record)
        raise LineRejected("malformed", f"unknown line kind {str(kind)[:40]!r}")

    def _date(self, value: object, name: str) -> date:
        if type(value) is not str:
            raise LineRejected("malformed", f"{name} is not a date string")
        day = self._dates.get(value)
        if day is None:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise LineRejected("malformed", f"{name} is not a date (YYYY-MM-DD)") from None
            if len(self._dates) > self._CACHE_LIMIT:
                self._dates.clear()
            self._dates[value] = day
        return day

    def _model(self, name: str, value: object) -> Any:
        """The model a snapshot field describes; those a run shares are checked once."""
        if type(value) is not dict:
            raise LineRejected("malformed", f"{name} is not a JSON object")
        cls, keys, rules = _MODEL_FIELDS[name]
        shared = cls is not SpxSurface
        if shared:
            # Types are part of the key: 1 == 1.0 == True, but only a number may pass.
            key = (name, tuple(value.items()), tuple(map(type, value.values())))
            try:
                model = self._models.get(key)
            except TypeError:  # a list or an object among the values: checked below
                model = None
            if model is not None:
                return model
        _exact_keys(value, keys, name)
        args = [check(value[field], label) for field, check, label in rules]
        if args[-1] < args[-2] and (cls is SpxSurface or cls is VixSurface):
            raise LineRejected("crossed", f"{name}: vol_floor above vol_cap")
        model = cls(*args)
        if shared:  # every value passed its check, so the key is hashable
            if len(self._models) > self._CACHE_LIMIT:
                self._models.clear()
            self._models[key] = model
        return model

    def decode_snapshot(self, d: dict[str, Any]) -> MarketSnapshot:
        """Check every field of a snapshot record and build it (equal to ``from_dict``'s)."""
        _exact_keys(d, _SNAPSHOT_KEYS, "snapshot")
        seq = d["seq"]
        if type(seq) is not int:
            raise LineRejected("malformed", "seq is not an integer")
        if seq < 0:
            raise LineRejected("negative", f"seq is {seq}")
        ts_text, session_text = d["ts"], d["session"]
        if type(ts_text) is not str or type(session_text) is not str:
            raise LineRejected("malformed", "ts or session is not a string")
        try:
            ts = datetime.fromisoformat(ts_text)
        except ValueError:
            raise LineRejected("malformed", "ts is not an ISO-8601 time") from None
        if ts.tzinfo is None:
            raise LineRejected("malformed", "ts has no time zone")
        session = _session(session_text)
        if session is None:
            raise LineRejected("malformed", f"session {session_text[:20]!r} is no exchange session")
        if not session.open_ts <= ts <= session.close_ts:
            raise LineRejected("malformed", f"ts {ts_text} is outside session {session.day}")
        spx = _SPX_POINTS(d["spx"], "spx")
        vix = _VOL_POINTS(d["vix"], "vix")
        rate = _RATE(d["rate"], "rate")
        div_yield = _DIV_YIELD(d["div_yield"], "div_yield")
        curve = self._curve(d["vx_curve"], session)
        surface = self._model("surface", d["surface"])
        expiries = self._expiries(d["spx_expiries"], session)
        soq = None if d["soq"] is None else _SPX_POINTS(d["soq"], "soq")
        vro = None if d["vro"] is None else _VOL_POINTS(d["vro"], "vro")
        spreads = self._model("spreads", d["spreads"])
        vix_surface = self._model("vix_surface", d["vix_surface"])
        vix_spreads = self._model("vix_spreads", d["vix_spreads"])
        macro = d["macro_events"]
        if type(macro) is not list or not all(
            type(e) is str and e in MACRO_EVENT_NAMES for e in macro
        ):
            raise LineRejected("malformed", f"macro_events must list {sorted(MACRO_EVENT_NAMES)}")
        ad_line = None if d["ad_line"] is None else _AD_LINE(d["ad_line"], "ad_line")
        return MarketSnapshot(
            seq,
            ts,
            session.day,
            spx,
            vix,
            rate,
            div_yield,
            curve,
            surface,
            expiries,
            soq,
            vro,
            spreads,
            vix_surface,
            vix_spreads,
            tuple(macro),
            ad_line,
        )

    def _curve(self, value: object, session: _Session) -> tuple[FuturePoint, ...]:
        if type(value) is not list:
            raise LineRejected("malformed", "vx_curve is not a list")
        dates = self._dates
        points = []
        previous: date | None = None
        for i, item in enumerate(value):
            if type(item) is not list or len(item) != 2:
                raise LineRejected("malformed", f"vx_curve[{i}] is not [expiry, price]")
            text, price = item
            expiry = dates.get(text) if type(text) is str else None
            if expiry is None:
                expiry = self._date(text, f"vx_curve[{i}] expiry")
            if previous is not None and expiry <= previous:
                raise LineRejected("malformed", "vx_curve expiries are not increasing")
            if expiry not in session.vx_expiries:
                raise LineRejected(
                    "unknown_contract", f"VX {expiry} is no listed expiry on {session.day}"
                )
            points.append(FuturePoint(expiry, _VOL_POINTS(price, "vx_curve price")))
            previous = expiry
        return tuple(points)

    def _expiries(self, value: object, session: _Session) -> tuple[date, ...]:
        if type(value) is not list:
            raise LineRejected("malformed", "spx_expiries is not a list")
        dates = self._dates
        out: list[date] = []
        for i, text in enumerate(value):
            expiry = dates.get(text) if type(text) is str else None
            if expiry is None:
                expiry = self._date(text, f"spx_expiries[{i}]")
            if out and expiry <= out[-1]:
                raise LineRejected("malformed", "spx_expiries are not increasing")
            if expiry not in session.spx_expiries:
                raise LineRejected(
                    "unknown_contract", f"SPX {expiry} is no listed monthly on {session.day}"
                )
            out.append(expiry)
        return tuple(out)


def decode_control(d: dict[str, Any]) -> tuple[int, Control]:
    """Check a control record; return its feed position and the control event."""
    kind = d.get("control")
    _exact_keys(d, _CONTROL_KEYS | ({"config_hash"} if kind == "reload" else set()), "control")
    position = d["position"]
    if type(position) is not int:
        raise LineRejected("malformed", "control position is not an integer")
    if position < -1:
        raise LineRejected("negative", f"control position is {position}")
    if kind not in REPLAYABLE_CONTROLS:
        raise LineRejected("malformed", f"control {str(kind)[:20]!r} cannot be replayed")
    payload = d["payload"]
    if type(payload) is not dict:
        raise LineRejected("malformed", "control payload is not a JSON object")
    if kind == "reload":
        _exact_keys(payload, frozenset({"config"}), "reload payload")
        text = payload["config"]
        if type(text) is not str:
            raise LineRejected("malformed", "reload config is not a JSON string")
        try:
            new = stored_config(text)
        except ValidationError as exc:
            problem = format_validation_error(exc)[0]
            raise LineRejected("malformed", f"reload config is invalid: {problem}") from None
        if d["config_hash"] not in (recorded_config_hash(text), config_hash(new)):
            raise LineRejected("malformed", "reload config does not match its config_hash")
    elif payload.keys() - {"reason"} or type(payload.get("reason", "")) is not str:
        raise LineRejected("malformed", f"{kind} payload may hold only a reason string")
    return position, Control(kind, payload)
