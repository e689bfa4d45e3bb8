"""`alvh replay FILE`: a recorded session through the same pipeline, on the simulated clock.

The header gives the run's config, seed, scenario and start, so :func:`daemon.runner.prepare`
builds the pipeline exactly as the recorded run's; each snapshot line goes through
``Pipeline.process`` and each control line is planned at the feed position it followed, so the
replay makes the recorded run's orders and fills (ids, prices, quantities) and its summary. Bad
lines are skipped and counted (:class:`SessionReader`); the summary adds
``rejected_ticks`` and ``rejected_ticks_by_reason``.

A replay keeps its own ledger in a state directory and resumes like ``simulate --resume``: it
re-derives what the ledger holds from the file, then goes on.
"""

from __future__ import annotations

import gzip
import io
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from daemon.engine import Control, config_hash
from daemon.pipeline import recorded_controls
from daemon.recording import SessionFileError, parse_header
from daemon.runner import ALVH_VERSION, Prepared, ResumeError, RunSpec, prepare
from daemon.session_file import REJECT_REASONS, LineDecoder, LineRejected
from daemon.statedir import StateDir
from market.snapshot import MarketSnapshot

log = structlog.get_logger("alvh.daemon.replay")

MAX_LINE_BYTES = 1 << 20
"""A longer line is rejected as malformed without being held in memory (a snapshot is ~1.3 kB)."""
_CHUNK = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"


MAX_SEQ_GAP = 1_000
"""Snapshots a good line may skip past the last good one (lines lost to damage in between)."""
MAX_TS_GAP_S = 10 * 86_400.0
"""Market time a good line may skip: beyond the longest exchange closure (about a week)."""


@dataclass(frozen=True, slots=True)
class SnapshotLine:
    line: int
    snapshot: MarketSnapshot


@dataclass(frozen=True, slots=True)
class ControlLine:
    line: int
    position: int
    """Feed position (snapshot ``seq``) the control followed; -1: before the first snapshot."""
    control: Control


def _open_stream(path: Path) -> tuple[io.BufferedReader, io.BufferedIOBase]:
    """The file and what to read it through (a gzip stream when it starts with gzip's magic)."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise SessionFileError(f"cannot open it: {exc.strerror}") from None
    try:
        magic = raw.peek(2)[:2]
    except OSError as exc:
        raw.close()
        raise SessionFileError(f"cannot read it: {exc.strerror}") from None
    return raw, gzip.GzipFile(fileobj=raw, mode="rb") if magic == _GZIP_MAGIC else raw


class SessionReader:
    """Reads a session file: the header at once (:class:`SessionFileError` if it is bad), then,
    iterated, the good lines in order.

    Every other line is skipped, counted in ``rejected`` by reason (all reasons present, zeros
    included) and logged as ``snapshot_rejected`` with its line number: bad lines are never
    yielded. Snapshots must advance (``seq`` and ``ts`` both increase) and a control must follow
    the last good snapshot (its position is that snapshot's ``seq``), else ``out_of_order``. A
    final line without its newline is torn (``torn_line``): the recorder was cut off there, so
    the replay ends at the last whole line; a gzip stream that ends early or corrupt ends the
    same way.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rejected: dict[str, int] = dict.fromkeys(REJECT_REASONS, 0)
        self.lines = 0
        """Lines read so far, the header and a torn last line included."""
        self.snapshots = 0
        self.controls = 0
        self._cut = "the last line has no newline: the recorder was cut off mid-write"
        self._raw, self._stream = _open_stream(path)
        self._raw_lines = self._split()
        try:
            first = next(self._raw_lines, None)
            if first is None:
                raise SessionFileError("it is empty: no header line")
            text, complete = first
            if not complete or text is None:
                raise SessionFileError("the header line is incomplete")
            self.header = parse_header(text)
        except BaseException:
            self.close()
            raise

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def __iter__(self) -> Iterator[SnapshotLine | ControlLine]:
        decoder = LineDecoder()
        last_seq = -1
        last_ts: datetime | None = None
        for text, complete in self._raw_lines:
            line_no = self.lines
            try:
                if not complete:
                    raise LineRejected("torn_line", self._cut)
                if text is None:
                    raise LineRejected("malformed", f"longer than {MAX_LINE_BYTES} bytes")
                item = decoder.decode(text)
                if isinstance(item, MarketSnapshot):
                    if item.seq <= last_seq or (last_ts is not None and item.ts <= last_ts):
                        raise LineRejected(
                            "out_of_order",
                            f"snapshot seq {item.seq} at {item.ts.isoformat()} does not come"
                            f" after seq {last_seq}",
                        )
                    # A recording is contiguous: a line far ahead of the last one is damage,
                    # and taking it would reject every good line after it as out of order.
                    if last_ts is not None and (
                        item.seq - last_seq > MAX_SEQ_GAP
                        or (item.ts - last_ts).total_seconds() > MAX_TS_GAP_S
                    ):
                        raise LineRejected(
                            "out_of_order",
                            f"snapshot seq {item.seq} at {item.ts.isoformat()} jumps too far"
                            f" past seq {last_seq} at {last_ts.isoformat()}",
                        )
                    last_seq, last_ts = item.seq, item.ts
                    self.snapshots += 1
                    yield SnapshotLine(line_no, item)
                    continue
                position, control = item
                if position != last_seq:
                    raise LineRejected(
                        "out_of_order",
                        f"{control.kind} at position {position} does not follow the last"
                        f" snapshot (seq {last_seq})",
                    )
                self.controls += 1
                yield ControlLine(line_no, position, control)
            except LineRejected as exc:
                self._reject(line_no, exc.reason, exc.detail)
            except Exception as exc:  # containment: no line stops the replay
                self._reject(line_no, "malformed", f"{type(exc).__name__}: {exc}")

    def _reject(self, line_no: int, reason: str, detail: str) -> None:
        self.rejected[reason] += 1
        log.warning("snapshot_rejected", line=line_no, reason=reason, detail=detail[:300])

    def _split(self) -> Iterator[tuple[bytes | None, bool]]:
        """The file's lines without newlines, each with whether it ended in one; None stands
        for a line longer than ``MAX_LINE_BYTES`` (dropped as it streams past)."""
        stream = self._stream
        pending = b""
        overlong = False
        while True:
            try:
                chunk = stream.read1(_CHUNK)
            except (EOFError, OSError, zlib.error) as exc:
                # A truncated or corrupt gzip stream: what decoded so far is all there is.
                self._cut = f"the compressed stream breaks off ({exc})"
                self.lines += 1
                yield pending, False
                return
            if not chunk:
                break
            parts = (pending + chunk).split(b"\n")
            pending = parts.pop()
            for part in parts:
                self.lines += 1
                yield (None if overlong else part), True
                overlong = False
            if len(pending) > MAX_LINE_BYTES:
                overlong, pending = True, b""
        if pending or overlong:
            self.lines += 1
            yield pending, False

    def close(self) -> None:
        self._stream.close()
        self._raw.close()

    def __enter__(self) -> SessionReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Pacer:
    """Sleeps before each snapshot so market time runs ``speed`` times the wall clock.

    The market-time gap between two snapshots is capped at one cadence step, so nights,
    weekends and holidays take one step (as in `alvh run`). Nothing waits while recovering.
    """

    def __init__(
        self,
        speed: float,
        cadence_s: float,
        sleep: Callable[[float], None],
        monotonic: Callable[[], float],
    ) -> None:
        self.speed = speed
        self.cadence_s = cadence_s
        self.sleep = sleep
        self.monotonic = monotonic
        self._prev: MarketSnapshot | None = None
        self._next_wall = 0.0

    def wait_for(self, snap: MarketSnapshot, recovering: bool) -> None:
        prev, self._prev = self._prev, snap
        if prev is None or recovering:
            self._next_wall = self.monotonic()
            return
        gap = min((snap.ts - prev.ts).total_seconds(), self.cadence_s)
        self._next_wall += gap / self.speed
        delay = self._next_wall - self.monotonic()
        if delay > 0:
            self.sleep(delay)


def _check_resumed_run(prepared: Prepared, reader: SessionReader) -> None:
    header = reader.header
    spec = RunSpec(header.scenario, header.seed, header.start)
    theirs = (
        f"scenario={prepared.spec.scenario} seed={prepared.spec.seed} start={prepared.spec.start}"
    )
    ours = f"scenario={spec.scenario} seed={spec.seed} start={spec.start}"
    if prepared.spec != spec or config_hash(prepared.config) != header.config_hash:
        raise ResumeError(
            f"--resume: the state directory holds another run ({theirs}, config"
            f" {config_hash(prepared.config)}) than {reader.path} records ({ours}, config"
            f" {header.config_hash}); use --new to replay it afresh"
        )


def replay(
    reader: SessionReader,
    state: StateDir,
    *,
    resume: bool = False,
    speed: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Replay the session ``reader`` opened into ``state``; return the run's summary.

    ``speed``: None as fast as possible, else market time at ``speed`` times the wall clock.
    ``resume``: go on with the replay whose ledger ``state`` holds (it must be of the same
    recording: same seed, scenario, start and initial config, else :class:`ResumeError`).
    """
    header = reader.header
    if header.alvh_version != ALVH_VERSION:
        log.warning("replay_version_differs", recorded=header.alvh_version, running=ALVH_VERSION)
    spec = RunSpec(header.scenario, header.seed, header.start)
    wall_start = time.monotonic()
    prepared = prepare(header.config, spec, state, resume=resume, follow_config=False)
    try:
        if prepared.pipeline.recovering:
            _check_resumed_run(prepared, reader)
        log.info(
            "replay_started",
            path=str(reader.path),
            source=header.source,
            alvh_version=header.alvh_version,
            config_hash=header.config_hash,
            scenario=header.scenario,
            seed=header.seed,
            start=header.start.isoformat(),
            speed="max" if speed is None else speed,
            mode="resume" if prepared.pipeline.recovering else "new",
        )
        pacer = (
            None
            if speed is None
            else _Pacer(speed, header.config.market.cadence_minutes * 60.0, sleep, monotonic)
        )
        _drive(reader, prepared, pacer)
        prepared.pipeline.finish()
        summary = prepared.engine.summary()
    finally:
        prepared.pipeline.close()
        prepared.ledger.close()
    summary["rejected_ticks"] = reader.rejected_total
    summary["rejected_ticks_by_reason"] = dict(sorted(reader.rejected.items()))
    seconds = time.monotonic() - wall_start
    log.info(
        "replay_finished",
        lines=reader.lines,
        snapshots=reader.snapshots,
        controls=reader.controls,
        rejected_ticks=summary["rejected_ticks"],
        rejected_ticks_by_reason={k: v for k, v in reader.rejected.items() if v},
        seconds=round(seconds, 3),
    )
    return summary


def _drive(reader: SessionReader, prepared: Prepared, pacer: _Pacer | None) -> None:
    """Feed the good lines: each snapshot with the controls that follow it planned at its seq.

    On a resume the ledger's own controls are re-applied by the pipeline where they happened,
    so the file's first ones at each position (as many as the ledger holds there) are skipped.
    """
    pipeline, engine = prepared.pipeline, prepared.engine
    process = pipeline.process
    skip: Counter[int] = Counter()
    if pipeline.recovering:
        skip.update({pos: len(c) for pos, c in recorded_controls(prepared.ledger).items()})

    def feed(snap: MarketSnapshot, controls: list[Control]) -> None:
        if controls:
            pipeline.plan(snap.seq, controls)
        if pacer is not None:
            pacer.wait_for(snap, pipeline.recovering)
        process(snap)

    pending: MarketSnapshot | None = None  # held until the controls that follow it are read
    following: list[Control] = []
    for item in reader:
        if type(item) is SnapshotLine:
            if pending is not None:
                feed(pending, following)
                following = []
            pending = item.snapshot
            continue
        assert isinstance(item, ControlLine)
        if skip[item.position] > 0:
            skip[item.position] -= 1
        elif pending is None:
            if not pipeline.recovering:  # before the first snapshot
                engine.control(item.control)
        else:
            following.append(item.control)
    if pending is not None:
        feed(pending, following)
