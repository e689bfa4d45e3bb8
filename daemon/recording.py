"""Recording a run to a session file (SPEC section 11): the header, and the writer.

A session file is JSON lines, gzip-compressed when its name ends in ``.gz``. Line 1 is the
header (:class:`SessionHeader`): the format and its version, the alvh version, and what a
replay needs to reproduce the run (the full config and its hash, seed, scenario, start,
cadence). The snapshot and control lines after it are :mod:`daemon.session_file`'s.

:class:`Recorder` is attached to a pipeline (``Pipeline.record_to``): it writes every snapshot
the pipeline handles and every control event the engine applies, after the header. Lines are
buffered in memory and written out at least once a second (monotonic clock) and on close, so
the feed never waits on the disk for more than one ``write``; gzip when the name ends in
``.gz``. A crash loses at most the last second and may leave a torn last line, which the
reader tolerates. A write that fails is logged once (``recording_failed``) and ends the
recording; the run goes on.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import structlog
from pydantic import ValidationError

from daemon.config import AppConfig, format_validation_error, stored_config
from daemon.engine import Control, config_hash, recorded_config_hash
from market.calendar import CALENDAR_END, CALENDAR_START
from market.scenarios import scenario_names
from market.snapshot import MarketSnapshot
from market.surface import SpxSurface

log = structlog.get_logger("alvh.daemon.recording")

FORMAT = "alvh-session"
FORMAT_VERSION = 1
FLUSH_INTERVAL_S = 1.0
"""Buffered lines reach the operating system at least this often (wall seconds)."""
BUFFER_LIMIT_BYTES = 1 << 20
"""Buffered lines are written out early once they pass this size."""
GZIP_LEVEL = 1
"""Fastest compression: a tenth of the plain size, at a few microseconds a snapshot."""
_MAX_SEED = 2**63 - 1


class SessionFileError(Exception):
    """The session file cannot be replayed at all: it cannot be opened or read, or its header
    is bad (exit 65)."""


@dataclass(frozen=True, slots=True)
class SessionHeader:
    """What a replay needs to reproduce the recorded run: the config in force at its start, the
    run's seed, scenario and first session (the cadence is the config's), and its origin."""

    config: AppConfig
    seed: int
    scenario: str | None
    start: date
    alvh_version: str
    source: str
    """``simulate`` or ``run``."""
    recorded_at: str = ""
    """Wall clock (UTC, ISO-8601) when the recording started; informational."""

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)

    def to_line(self) -> bytes:
        record = {
            "kind": "header",
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "alvh_version": self.alvh_version,
            "config_hash": self.config_hash,
            "seed": self.seed,
            "scenario": self.scenario,
            "start": self.start.isoformat(),
            "cadence_minutes": self.config.market.cadence_minutes,
            "source": self.source,
            "recorded_at": self.recorded_at or datetime.now(UTC).isoformat(),
            "config": json.loads(self.config.model_dump_json()),
        }
        return (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode()


def _header_field(record: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in record:
        raise SessionFileError(f"the header has no {key!r}")
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise SessionFileError(f"the header's {key!r} has the wrong type")
    return value


def parse_header(line: bytes) -> SessionHeader:
    """Decode and check line 1 of a session file; every problem is a :class:`SessionFileError`."""
    try:
        record = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise SessionFileError("the header line is not JSON") from None
    if not isinstance(record, dict):
        raise SessionFileError("the header line is not a JSON object")
    if record.get("kind") != "header" or record.get("format") != FORMAT:
        raise SessionFileError(f"line 1 is not an {FORMAT} header")
    version = _header_field(record, "format_version", int)
    if version != FORMAT_VERSION:
        raise SessionFileError(
            f"unknown format version {version} (this alvh reads version {FORMAT_VERSION})"
        )
    alvh_version = _header_field(record, "alvh_version", str)
    recorded_hash = _header_field(record, "config_hash", str)
    seed = _header_field(record, "seed", int)
    if not 0 <= seed <= _MAX_SEED:
        raise SessionFileError(f"the header's seed {seed} is out of range")
    scenario = _header_field(record, "scenario", (str, type(None)))
    if scenario is not None and scenario not in scenario_names():
        raise SessionFileError(f"the header's scenario {scenario[:40]!r} is unknown")
    try:
        start = date.fromisoformat(_header_field(record, "start", str))
    except ValueError:
        raise SessionFileError("the header's start is not a date (YYYY-MM-DD)") from None
    if not CALENDAR_START <= start <= CALENDAR_END:
        raise SessionFileError(f"the header's start {start} is outside the exchange calendar")
    cadence = _header_field(record, "cadence_minutes", int)
    raw_config = _header_field(record, "config", dict)
    try:
        config = stored_config(raw_config)
    except ValidationError as exc:
        problems = format_validation_error(exc)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise SessionFileError(f"the header's config is invalid: {problems[0]}{more}") from None
    as_written = recorded_config_hash(json.dumps(raw_config, separators=(",", ":")))
    if recorded_hash not in (as_written, config_hash(config)):
        raise SessionFileError(
            f"the header's config_hash {recorded_hash[:40]} does not match its config"
            f" ({as_written})"
        )
    if config_hash(config) != recorded_hash:
        # Recorded by a build with fewer config fields: this build's defaults fill them in.
        log.warning(
            "replay_config_defaults_added",
            recorded_config_hash=recorded_hash,
            config_hash=config_hash(config),
        )
    if cadence != config.market.cadence_minutes:
        raise SessionFileError(
            f"the header's cadence_minutes {cadence} differs from its config's"
            f" ({config.market.cadence_minutes})"
        )
    source, recorded_at = record.get("source"), record.get("recorded_at")
    return SessionHeader(
        config,
        seed,
        scenario,
        start,
        alvh_version,
        source if isinstance(source, str) else "unknown",
        recorded_at if isinstance(recorded_at, str) else "",
    )


# -- the lines ----------------------------------------------------------------------------------

_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
_SNAPSHOT_LINE = (
    '{"kind":"snapshot","seq":%d,"ts":"%s","session":"%s","spx":%r,"vix":%r,"rate":%r,'
    '"div_yield":%r,"vx_curve":[%s],"surface":{"short_var":%r,%s,"spreads":%s,'
    '"spx_expiries":%s,"soq":%s,"vro":%s,"vix_surface":%s,"vix_spreads":%s,"macro_events":%s,'
    '"ad_line":%s}\n'
)


def _surface_after_short_var(surface: SpxSurface) -> str:
    """The surface's JSON after ``{"short_var":x,`` (its fixed parameters and the brace)."""
    return _ENCODE(surface.to_dict()).split(",", 1)[1]


class LineEncoder:
    """Encodes snapshot and control lines (:mod:`daemon.session_file` reads them back).

    What repeats from snapshot to snapshot (dates, the surface's fixed parameters, the models a
    whole run shares) is encoded once and cached, so recording costs little.
    """

    _CACHE_LIMIT = 4096

    def __init__(self) -> None:
        self._fragments: dict[int, tuple[object, str]] = {}
        self._iso_dates: dict[date, str] = {}
        self._texts: dict[Any, str] = {}

    def _fragment(self, model: Any) -> str:
        hit = self._fragments.get(id(model))
        if hit is not None and hit[0] is model:
            return hit[1]
        text = _ENCODE(model.to_dict())
        if len(self._fragments) > 64:
            self._fragments.clear()
        self._fragments[id(model)] = (model, text)
        return text

    def _iso(self, day: date) -> str:
        text = self._iso_dates.get(day)
        if text is None:
            if len(self._iso_dates) > self._CACHE_LIMIT:
                self._iso_dates.clear()
            text = self._iso_dates[day] = day.isoformat()
        return text

    def _cached(self, key: Any, make: Callable[[], str]) -> str:
        text = self._texts.get(key)
        if text is None:
            if len(self._texts) > self._CACHE_LIMIT:
                self._texts.clear()
            text = self._texts[key] = make()
        return text

    def encode_snapshot(self, snap: MarketSnapshot) -> bytes:
        """One snapshot line (with its newline): ``json.loads`` of it is ``to_dict()`` plus
        ``"kind"``, in the same key order.

        Only what changes from snapshot to snapshot is formatted each time (float ``repr`` is
        JSON's number syntax); the rest (dates, rates, the surface's fixed parameters, shared
        models) comes from caches. A non-finite number takes the plain ``json`` path, which
        writes it as ``NaN``/``Infinity`` for the reader to reject.
        """
        sf = snap.surface
        curve = snap.vx_curve
        soq, vro, ad_line = snap.soq, snap.vro, snap.ad_line
        total = snap.spx + snap.vix + sf.short_var + sum([p.price for p in curve])
        total += (soq or 0.0) + (vro or 0.0) + (ad_line or 0.0)
        if not math.isfinite(total):
            return (_ENCODE({"kind": "snapshot", **snap.to_dict()}) + "\n").encode()
        iso = self._iso
        cached = self._cached
        fixed: tuple[float, ...] = (sf.long_var, sf.kappa, sf.put_slope, sf.call_slope)
        fixed += (sf.kink, sf.smoothness, sf.vol_floor, sf.vol_cap)
        return (
            _SNAPSHOT_LINE
            % (
                snap.seq,
                snap.ts.isoformat(),
                iso(snap.session),
                snap.spx,
                snap.vix,
                snap.rate,
                snap.div_yield,
                ",".join([f'["{iso(p.expiry)}",{p.price!r}]' for p in curve]),
                sf.short_var,
                cached(fixed, lambda: _surface_after_short_var(sf)),
                self._fragment(snap.spreads),
                cached(snap.spx_expiries, lambda: _ENCODE([iso(e) for e in snap.spx_expiries])),
                "null" if soq is None else repr(soq),
                "null" if vro is None else repr(vro),
                self._fragment(snap.vix_surface),
                self._fragment(snap.vix_spreads),
                cached(snap.macro_events, lambda: _ENCODE(list(snap.macro_events))),
                "null" if ad_line is None else repr(ad_line),
            )
        ).encode()

    @staticmethod
    def encode_control(position: int, control: Control) -> bytes:
        record: dict[str, Any] = {
            "kind": "control",
            "position": position,
            "control": control.kind,
            "payload": control.payload,
        }
        if control.kind == "reload":
            new = stored_config(control.payload["config"])
            record["config_hash"] = config_hash(new)
        return (json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n").encode()


class RecordingError(Exception):
    """The session file could not be written (exit 74)."""


class RecordingCreateError(RecordingError):
    """The session file could not be created (exit 73)."""


def _keep_previous(path: Path) -> Path | None:
    """Move an existing session file aside to ``FILE.1`` (replacing an older one) before a new
    recording replaces it: a restart re-derives the run from its start, and until that succeeds
    the previous recording is the only whole copy."""
    if not path.is_file():  # nothing to keep (or a device such as /dev/null)
        return None
    kept = path.with_name(path.name + ".1")
    try:
        path.replace(kept)
    except OSError as exc:
        raise RecordingCreateError(
            f"cannot keep the previous session file {path} as {kept}: {exc.strerror}"
        ) from None
    return kept


class Recorder:
    """Writes a session file: the header at once, then snapshot and control lines."""

    def __init__(
        self,
        path: Path,
        header: SessionHeader,
        *,
        clock: Callable[[], float] = time.monotonic,
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        self.path = path
        self.error: str | None = None
        """Why recording stopped early (a write failed); None while all is well."""
        self.lines = 0
        self._clock = clock
        self._interval = flush_interval_s
        self._codec = LineEncoder()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        previous = _keep_previous(path)
        try:
            raw = path.open("wb")
        except OSError as exc:
            raise RecordingCreateError(
                f"cannot create session file {path}: {exc.strerror}"
            ) from None
        self._raw = raw
        self._out: io.BufferedIOBase = (
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)
            if path.name.endswith(".gz")
            else raw
        )
        self._append(header.to_line())
        self.flush()
        if self.error is not None:
            self._close_files()
            raise RecordingCreateError(f"cannot write session file {path}: {self.error}")
        log.info(
            "recording_started",
            path=str(path),
            previous_kept_as=str(previous) if previous is not None else None,
            format_version=FORMAT_VERSION,
            config_hash=header.config_hash,
            source=header.source,
        )

    def _append(self, line: bytes) -> None:
        self._pending.append(line)
        self._pending_bytes += len(line)
        self.lines += 1

    def snapshot(self, snap: MarketSnapshot) -> None:
        """Buffer one snapshot line; write the buffer out if a second has passed (or it is big)."""
        if self.error is not None:
            return
        line = self._codec.encode_snapshot(snap)
        self._pending.append(line)
        self._pending_bytes += len(line)
        self.lines += 1
        if self._pending_bytes >= BUFFER_LIMIT_BYTES or self._clock() >= self._due:
            self.flush()

    def control(self, control: Control, position: int) -> None:
        """Buffer a control event that takes effect after feed position ``position``."""
        if self.error is None:
            self._append(self._codec.encode_control(position, control))

    def flush(self) -> None:
        """Hand every buffered line to the operating system (gzip: a sync flush, so the data
        decompresses up to here even if nothing more is ever written)."""
        self._due = self._clock() + self._interval
        if self.error is not None or not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        try:
            self._out.write(data)
            self._out.flush()  # gzip: a sync flush, then the file's own
        except (OSError, ValueError) as exc:
            self.error = str(exc)
            log.error("recording_failed", path=str(self.path), error=self.error)

    def close(self) -> None:
        """Flush and close; idempotent."""
        if self._raw.closed:
            return
        self.flush()
        self._close_files()
        log.info("recording_closed", path=str(self.path), lines=self.lines, error=self.error)

    def _close_files(self) -> None:
        try:
            self._out.close()
            if self._out is not self._raw:
                self._raw.close()
        except OSError as exc:
            if self.error is None:
                self.error = str(exc)
                log.error("recording_failed", path=str(self.path), error=self.error)
            self._raw.close()
