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
reason). The per-value checks are :mod:`daemon.session_checks`'s. What the checks refuse:

- ``malformed``: not UTF-8, not JSON, not an object, an unknown kind, a missing, extra or
  mistyped field, a date that is none, a ``ts`` outside its session's hours or without a time
  zone, a session that is no exchange session, expiries out of order, an unknown macro event,
  a value the simulator copies from the ``market`` config outside the range the config accepts
  for it (:data:`~daemon.session_checks.CONFIG_SOURCES`), a model level beyond its bound (SPX or
  the SOQ above 10,000,000; the VIX, the VRO or a VX price above 1,000), a control that cannot be
  replayed or whose reload config is invalid or does not match its hash;
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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from daemon.config import format_validation_error, stored_config
from daemon.engine import Control, config_hash, recorded_config_hash
from daemon.session_checks import (
    AD_LINE,
    CONFIG_SOURCES,
    DIV_YIELD,
    MODEL_FIELDS,
    RATE,
    REJECT_REASONS,
    SPX_POINTS,
    VOL_POINTS,
    LineRejected,
    config_range,
)
from market.calendar import (
    CalendarRangeError,
    spx_monthly_expiry,
    trading_calendar,
    vx_expiry,
)
from market.macro import MACRO_EVENT_NAMES
from market.snapshot import FuturePoint, MarketSnapshot
from market.surface import SpxSurface, VixSurface

__all__ = [
    "CONFIG_SOURCES",
    "REJECT_REASONS",
    "REPLAYABLE_CONTROLS",
    "LineDecoder",
    "LineRejected",
    "config_range",
    "decode_control",
]
# CONFIG_SOURCES, REJECT_REASONS, LineRejected and config_range live in daemon.session_checks;
# they stay importable from here, where the replay and its tests import them.

REPLAYABLE_CONTROLS = ("pause", "resume", "flatten", "reload", "stop")
"""Control kinds a session file may carry (an adopted run is never recorded)."""
_LISTABLE_MONTHS = 36
"""How far ahead a snapshot may list an expiry (months)."""
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
        cls, keys, rules = MODEL_FIELDS[name]
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
        spx = SPX_POINTS(d["spx"], "spx")
        vix = VOL_POINTS(d["vix"], "vix")
        rate = RATE(d["rate"], "rate")
        div_yield = DIV_YIELD(d["div_yield"], "div_yield")
        curve = self._curve(d["vx_curve"], session)
        surface = self._model("surface", d["surface"])
        expiries = self._expiries(d["spx_expiries"], session)
        soq = None if d["soq"] is None else SPX_POINTS(d["soq"], "soq")
        vro = None if d["vro"] is None else VOL_POINTS(d["vro"], "vro")
        spreads = self._model("spreads", d["spreads"])
        vix_surface = self._model("vix_surface", d["vix_surface"])
        vix_spreads = self._model("vix_spreads", d["vix_spreads"])
        macro = d["macro_events"]
        if type(macro) is not list or not all(
            type(e) is str and e in MACRO_EVENT_NAMES for e in macro
        ):
            raise LineRejected("malformed", f"macro_events must list {sorted(MACRO_EVENT_NAMES)}")
        ad_line = None if d["ad_line"] is None else AD_LINE(d["ad_line"], "ad_line")
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
            points.append(FuturePoint(expiry, VOL_POINTS(price, "vx_curve price")))
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
