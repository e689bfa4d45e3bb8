"""The per-snapshot flow shared by every mode, and recovery's completion.

``process(snap)`` dispatches one snapshot (and everything it causes) on the bus, then applies
the control events that belong after it: the ledger's own (re-applied while recovering, never
recorded twice) and any planned ones. While recovering, logs of re-derived history are
suppressed; once the re-derived run has matched every recorded fill, settlement and cash
movement and passed the last recorded feed position, recovery completes with one
``recovery_completed`` line and the run goes on, writing again.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from brokers.ledger import Ledger
from brokers.recovery import Divergence, LedgerReplay
from daemon.config import AppConfig
from daemon.engine import Control, Engine, config_hash
from daemon.logging import REPLAYING
from market.snapshot import MarketSnapshot

if TYPE_CHECKING:
    from daemon.recording import Recorder

log = structlog.get_logger("alvh.daemon.pipeline")


def recorded_controls(ledger: Ledger) -> dict[int, list[Control]]:
    """The ledger's control events by the feed position they followed."""
    out: dict[int, list[Control]] = defaultdict(list)
    for row in ledger.control_events():
        payload = json.loads(row["payload"]) if row["payload"] else {}
        out[int(row["position"])].append(Control(row["kind"], payload))
    return out


class Pipeline:
    def __init__(
        self,
        engine: Engine,
        replay: LedgerReplay | None = None,
        recorded: Mapping[int, list[Control]] | None = None,
        planned: Mapping[int, Iterable[Control]] | None = None,
        wanted_config: AppConfig | None = None,
        skip_through: int = -1,
        on_caught_up: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.on_caught_up = on_caught_up
        """Called once when a recovery completes (the daemon then tells systemd it is ready)."""
        self._skip_through = skip_through
        """Snapshots up to this feed position were handled before an adopt: not again."""
        self.replay = replay
        self._recorded = {k: list(v) for k, v in (recorded or {}).items()}
        self._planned = {k: list(v) for k, v in (planned or {}).items()}
        self._wanted = wanted_config
        self._started = time.monotonic()
        self._recovering = replay is not None
        self.recorder: Recorder | None = None
        """Writes each snapshot handled to a session file (:meth:`record_to`)."""
        self._before_feed = self._recorded.pop(-1, []) if skip_through < 0 else []
        """Recorded controls that came before the first snapshot: re-applied before it, now."""
        if self._before_feed:
            REPLAYING.active = True
            for control in self._before_feed:
                engine.control(control, record=False)
            REPLAYING.active = False

    @property
    def adopted_through(self) -> int:
        """The feed position up to which the books were adopted, not derived (-1: none)."""
        return self._skip_through

    def record_to(self, recorder: Recorder) -> None:
        """Record every snapshot from here on and every control event the engine applies."""
        self.recorder = recorder
        self.engine.on_control = recorder.control
        for control in self._before_feed:
            recorder.control(control, -1)

    def plan(self, position: int, controls: Iterable[Control]) -> None:
        """Apply ``controls`` after the snapshot at ``position`` (if it comes after recovery)."""
        self._planned.setdefault(position, []).extend(controls)

    @property
    def recovering(self) -> bool:
        return self._recovering

    def process(self, snap: MarketSnapshot) -> None:
        if snap.seq <= self._skip_through:
            if snap.seq == self._skip_through:
                self.engine.prime(snap)
                if self.recovering and self.replay is not None and self.replay.caught_up(snap.seq):
                    self._complete_recovery(snap)
            return
        if self.recorder is not None:
            self.recorder.snapshot(snap)
        engine = self.engine
        if self._recovering:
            REPLAYING.active = True
        engine.bus.dispatch(snap)
        for control in self._recorded.pop(snap.seq, ()):
            engine.control(control, record=False)
        if self.recovering:
            assert self.replay is not None
            if not self.replay.caught_up(snap.seq):
                return
            self._complete_recovery(snap)
        for control in self._planned.pop(snap.seq, ()):
            engine.control(control)

    def finish(self) -> None:
        """The feed has ended; a recovery still under way means the ledger holds more."""
        if self.recovering:
            assert self.replay is not None
            self._end_replaying()
            raise Divergence(
                "the feed ended before the re-derived run reproduced the ledger: it holds "
                + self.replay.unmatched()
            )
        self.engine.finish()

    def close(self) -> None:
        """Leave the process logging normally whatever happened (a divergence mid-replay)."""
        self._end_replaying()

    def _end_replaying(self) -> None:
        self._recovering = False
        REPLAYING.active = False

    def _complete_recovery(self, snap: MarketSnapshot) -> None:
        assert self.replay is not None
        self._end_replaying()
        verified = dict(self.replay.verified)
        seconds = time.monotonic() - self._started
        self.replay.ledger.record_recovery(
            datetime.now(UTC), "resume", self.engine.ticks, verified["fills"]
        )
        log.info(
            "recovery_completed",
            position=snap.seq,
            market_ts=snap.ts.isoformat(),
            snapshots=self.engine.ticks,
            seconds=round(seconds, 3),
            **{f"{k}_verified": v for k, v in verified.items()},
        )
        wanted = self._wanted
        if wanted is not None and config_hash(wanted) != config_hash(self.engine.config):
            log.warning(
                "config_changed",
                position=snap.seq,
                ledger_config_hash=config_hash(self.engine.config),
                new_config_hash=config_hash(wanted),
            )
            self.engine.control(Control("reload", {"config": wanted.model_dump_json()}))
        if self.on_caught_up is not None:
            self.on_caught_up()
