"""Fuzz: random and mutated lines among good ones never crash the session reader, are never
yielded, and each is counted once under the reason it deserves and logged with its line number.

Seeded (``random.Random``), so a failure reproduces. The default suite throws 12,000 bad lines
(about two seconds); ``-m slow`` throws 300,000 more.
"""

from __future__ import annotations

import json
import math
import random
import string
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from daemon.config import load_config
from daemon.engine import Control
from daemon.recording import LineEncoder, SessionHeader
from daemon.replay import ControlLine, SessionReader, SnapshotLine, replay
from daemon.runner import RunSpec, simulate
from daemon.session_file import REJECT_REASONS
from daemon.statedir import StateDir
from market.simulator import Simulator

FAST = load_config(None, {"market": {"cadence_minutes": 30}})
START = date(2025, 1, 2)
HEADER = SessionHeader(FAST, 4, "crash-2020", START, "0.1.0", "simulate")

# Every numeric field of a snapshot record, by dotted path (curve prices are added per line).
_MODELS = {
    "surface": ["short_var", "long_var", "kappa", "put_slope", "call_slope", "kink"]
    + ["smoothness", "vol_floor", "vol_cap"],
    "spreads": ["base_width", "price_fraction", "reference_vix", "vix_exponent", "max_width"],
    "vix_surface": ["atm_vol_at_reference", "reference_vix", "vix_elasticity", "term_exponent"]
    + ["call_wing", "put_wing", "smoothness", "min_years", "vol_floor", "vol_cap"],
    "vix_spreads": ["option_base_width", "option_price_fraction", "option_max_width"]
    + ["future_ticks", "future_ticks_per_month", "mini_extra_ticks", "max_future_ticks"]
    + ["reference_vix", "vix_exponent"],
}
MODEL_PATHS = [f"{m}.{f}" for m, fs in _MODELS.items() for f in fs]
WHOLE = {"vix_spreads.mini_extra_ticks", "vix_spreads.max_future_ticks"}
TOP_NUMBERS = ["spx", "vix", "rate", "div_yield", "soq", "vro", "ad_line"]
POSITIVE = ["spx", "vix", "soq", "vro"] + [
    f"surface.{f}" for f in ("short_var", "long_var", "kappa", "put_slope", "vol_floor", "vol_cap")
]
POSITIVE += ["spreads.reference_vix", "vix_spreads.reference_vix"] + [
    f"vix_surface.{f}"
    for f in ("atm_vol_at_reference", "reference_vix", "min_years", "vol_floor", "vol_cap")
]
NON_NEGATIVE = ["surface.call_slope", "surface.smoothness"] + [
    f"vix_surface.{f}" for f in ("call_wing", "put_wing", "smoothness")
]
WIDTHS = ["spreads.base_width", "spreads.price_fraction", "spreads.max_width"] + [
    f"vix_spreads.{f}"
    for f in (
        "option_base_width",
        "option_price_fraction",
        "option_max_width",
        "future_ticks",
        "future_ticks_per_month",
    )
]
TOP_KEYS = [
    "kind",
    "seq",
    "ts",
    "session",
    "spx",
    "vix",
    "rate",
    "div_yield",
    "vx_curve",
    "surface",
    "spreads",
    "spx_expiries",
    "soq",
    "vro",
    "vix_surface",
    "vix_spreads",
    "macro_events",
    "ad_line",
]


def _set(record: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node: Any = record
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value


def _delete(record: dict[str, Any], path: str) -> None:
    *parents, leaf = path.split(".")
    node: Any = record
    for part in parents:
        node = node[part]
    del node[leaf]


class Fuzzer:
    """Builds a session file: good lines in order with bad ones among them, and what the reader
    must make of it (the good items, and the reason and line number of every bad line)."""

    def __init__(self, rng: random.Random, good_lines: list[bytes]) -> None:
        self.rng = rng
        self.good = good_lines
        self.lines: list[bytes] = [HEADER.to_line().rstrip(b"\n")]
        self.bad_at: dict[int, str] = {}
        self.accepted: list[dict[str, Any]] = []  # good snapshot records read so far

    # -- the file

    def emit_good(self, line: bytes) -> None:
        self.lines.append(line)
        record = json.loads(line)
        if record["kind"] == "snapshot":
            self.accepted.append(record)

    def emit_bad(self, line: bytes, reason: str) -> None:
        assert b"\n" not in line
        self.lines.append(line)
        self.bad_at[len(self.lines)] = reason

    def build(self, bad_count: int) -> bytes:
        slots = sorted(self.rng.randrange(len(self.good) + 1) for _ in range(bad_count - 1))
        it = iter(slots)
        next_slot = next(it, None)
        for i, line in enumerate(self.good):
            while next_slot == i:
                self.emit_bad(*self.bad_line(line))
                next_slot = next(it, None)
            self.emit_good(line)
        while next_slot is not None:
            self.emit_bad(*self.bad_line(self.good[-1]))
            next_slot = next(it, None)
        # and a torn last line: a good line cut short, without its newline
        torn = self.good[self.rng.randrange(len(self.good))]
        self.lines.append(torn[: self.rng.randrange(1, len(torn))])
        self.bad_at[len(self.lines)] = "torn_line"
        return b"\n".join(self.lines)

    # -- bad lines

    def bad_line(self, upcoming: bytes) -> tuple[bytes, str]:
        """A line that must be rejected, and why; ``upcoming`` is the next good line."""
        kind = self.rng.choice(
            ["bytes", "truncated", "json", "non_finite", "negative", "crossed", "string"]
            + ["missing", "wrong_type", "seq_behind", "ts_repeated", "duplicate"]
            + ["unknown_contract", "control"]
        )
        if not self.accepted and kind in ("seq_behind", "ts_repeated", "duplicate"):
            kind = "bytes"
        if kind == "bytes":
            raw = self.rng.randbytes(self.rng.randrange(0, 300)).replace(b"\n", b"")
            return raw, "malformed"
        if kind == "truncated":
            return upcoming[: self.rng.randrange(1, len(upcoming))], "malformed"
        if kind == "json":
            return json.dumps(self.random_json(3)).encode(), "malformed"
        if kind == "control":
            return self.bad_control()
        record = json.loads(upcoming if b'"kind":"snapshot"' in upcoming else self.good[0])
        if record["kind"] != "snapshot":  # pragma: no cover - the first good line is a snapshot
            raise AssertionError(record)
        reason = getattr(self, f"mutate_{kind}")(record)
        return json.dumps(record).encode(), reason

    def random_json(self, depth: int) -> Any:
        rng = self.rng
        pick = rng.randrange(7 if depth > 0 else 5)
        if pick == 0:
            return rng.choice([None, True, False])
        if pick == 1:
            return rng.uniform(-1e300, 1e300)
        if pick == 2:
            return rng.randrange(-(10**30), 10**30)
        if pick == 3:
            return "".join(rng.choices(string.printable, k=rng.randrange(20)))
        if pick == 4:
            return rng.choice([math.nan, math.inf, -math.inf])
        if pick == 5:
            return [self.random_json(depth - 1) for _ in range(rng.randrange(4))]
        keys = rng.choices(["seq", "spx", "payload", "ts", "x", "position"], k=rng.randrange(5))
        return {k: self.random_json(depth - 1) for k in keys}

    def numeric_paths(self, record: dict[str, Any]) -> list[str]:
        curve = [f"vx_curve.{i}.1" for i in range(len(record["vx_curve"]))]
        return TOP_NUMBERS + curve + MODEL_PATHS

    def mutate_non_finite(self, record: dict[str, Any]) -> str:
        path = self.rng.choice(self.numeric_paths(record))
        _set(record, path, self.rng.choice([math.nan, math.inf, -math.inf, 10**400]))
        if path in WHOLE:  # must be an integer: a float or a huge one is malformed
            return "malformed"
        return "non_finite"

    def mutate_negative(self, record: dict[str, Any]) -> str:
        curve = [f"vx_curve.{i}.1" for i in range(len(record["vx_curve"]))]
        path = self.rng.choice(["seq", *POSITIVE, *NON_NEGATIVE, *curve])
        if path == "seq":
            _set(record, path, -self.rng.randrange(1, 10**6))
            return "negative"
        zero_ok = path in NON_NEGATIVE
        value = -self.rng.uniform(1e-9, 100.0) if zero_ok else -self.rng.uniform(0.0, 100.0)
        _set(record, path, value)
        return "negative"

    def mutate_crossed(self, record: dict[str, Any]) -> str:
        choice = self.rng.randrange(4)
        if choice == 0:
            surface = self.rng.choice(["surface", "vix_surface"])
            record[surface]["vol_floor"] = record[surface]["vol_cap"] * self.rng.uniform(1.01, 3)
        elif choice == 1:
            path = self.rng.choice(sorted(WHOLE))
            _set(record, path, -self.rng.randrange(1, 50))
        else:
            _set(record, self.rng.choice(WIDTHS), -self.rng.uniform(1e-9, 50.0))
        return "crossed"

    def mutate_string(self, record: dict[str, Any]) -> str:
        paths = self.numeric_paths(record) + ["seq", "ts", "session", "vx_curve", "surface"]
        paths += ["spx_expiries.0", "vx_curve.0.0", "macro_events", "kind", "vix_spreads"]
        word = "".join(self.rng.choices(string.ascii_letters, k=self.rng.randrange(0, 12)))
        _set(record, self.rng.choice(paths), word)
        return "malformed"

    def mutate_missing(self, record: dict[str, Any]) -> str:
        if self.rng.random() < 0.5:
            _delete(record, self.rng.choice(TOP_KEYS))
        else:
            _delete(record, self.rng.choice(MODEL_PATHS))
        return "malformed"

    def mutate_wrong_type(self, record: dict[str, Any]) -> str:
        required = ["spx", "vix", "rate", "div_yield", "seq", "vx_curve.0.1", *MODEL_PATHS]
        path = self.rng.choice(required)
        _set(record, path, self.rng.choice([None, True, False, [], {}, [1.0], {"x": 1}]))
        return "malformed"

    def mutate_seq_behind(self, record: dict[str, Any]) -> str:
        record["seq"] = self.rng.randrange(0, self.accepted[-1]["seq"] + 1)
        return "out_of_order"

    def mutate_ts_repeated(self, record: dict[str, Any]) -> str:
        last = self.accepted[-1]
        record.clear()
        record.update(json.loads(json.dumps(last)))
        record["seq"] = last["seq"] + self.rng.randrange(1, 5)  # ahead, but not later in time
        return "out_of_order"

    def mutate_duplicate(self, record: dict[str, Any]) -> str:
        record.clear()
        record.update(self.rng.choice(self.accepted))
        return "out_of_order"

    def mutate_unknown_contract(self, record: dict[str, Any]) -> str:
        shift = timedelta(days=self.rng.choice([-5, -3, -1, 1, 2, 4]))
        if self.rng.random() < 0.5:
            i = self.rng.randrange(len(record["vx_curve"]))
            point = record["vx_curve"][i]
            point[0] = (date.fromisoformat(point[0]) + shift).isoformat()
        else:
            i = self.rng.randrange(len(record["spx_expiries"]))
            day = date.fromisoformat(record["spx_expiries"][i]) + shift
            record["spx_expiries"][i] = day.isoformat()
        return "unknown_contract"

    def bad_control(self) -> tuple[bytes, str]:
        last = self.accepted[-1]["seq"] if self.accepted else -1
        record: dict[str, Any] = {
            "kind": "control",
            "position": last,
            "control": "pause",
            "payload": {"reason": "fuzz"},
        }
        choice = self.rng.randrange(4)
        if choice == 0:
            position = self.rng.choice([p for p in range(last - 5, last + 6) if p != last])
            record["position"] = position
            reason = "negative" if position < -1 else "out_of_order"
        elif choice == 1:
            record["control"] = self.rng.choice(["adopt", "halt", "", "PAUSE", None, 3])
            reason = "malformed"
        elif choice == 2:
            record["payload"] = self.rng.choice([None, [], "x", {"reason": 1}, {"other": "x"}])
            reason = "malformed"
        else:
            record["control"] = "reload"
            record["payload"] = {"config": self.rng.choice(["{}", "nope", '{"market": 1}'])}
            record["config_hash"] = "0" * 16
            reason = "malformed"
        return json.dumps(record).encode(), reason


def good_lines(days: int) -> list[bytes]:
    """A recording's lines: snapshots of a volatile scenario, with pause/resume controls."""
    sim = Simulator(FAST.market, seed=4, start=START, scenario="crash-2020")
    encoder = LineEncoder()
    out = []
    for snap in sim.snapshots(days):
        out.append(encoder.encode_snapshot(snap).rstrip(b"\n"))
        if snap.seq % 40 == 7:
            kind = "pause" if snap.seq % 80 == 7 else "resume"
            out.append(encoder.encode_control(snap.seq, Control(kind, {"reason": "t"})).rstrip())
    return out


def fuzz_reader(tmp_path: Path, seed: int, bad_count: int, days: int) -> None:
    rng = random.Random(seed)
    good = good_lines(days)
    fuzzer = Fuzzer(rng, good)
    data = fuzzer.build(bad_count)
    path = tmp_path / f"fuzz-{seed}.jsonl"
    path.write_bytes(data)
    with capture_logs() as logs, SessionReader(path) as reader:
        items = list(reader)
    # nothing bad came through, and everything good did, in order
    expected = [json.loads(line) for line in good]
    got: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, SnapshotLine):
            got.append({"kind": "snapshot", **item.snapshot.to_dict()})
        else:
            assert isinstance(item, ControlLine)
            got.append(
                {
                    "kind": "control",
                    "position": item.position,
                    "control": item.control.kind,
                    "payload": item.control.payload,
                }
            )
    assert got == expected
    # each bad line counted once, under its reason, and logged with its line number
    assert len(fuzzer.bad_at) >= bad_count
    assert reader.rejected_total == len(fuzzer.bad_at)
    want = Counter(fuzzer.bad_at.values())
    assert reader.rejected == {r: want.get(r, 0) for r in REJECT_REASONS}
    logged = {e["line"]: e["reason"] for e in logs if e["event"] == "snapshot_rejected"}
    assert logged == fuzzer.bad_at
    assert set(want) == set(REJECT_REASONS)  # every reason was exercised


def test_twelve_thousand_bad_lines_are_each_rejected_counted_and_logged(tmp_path: Path) -> None:
    fuzz_reader(tmp_path, seed=20240205, bad_count=12_000, days=40)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_hundred_thousand_bad_lines_per_seed_are_each_rejected_counted_and_logged(
    tmp_path: Path, seed: int
) -> None:
    fuzz_reader(tmp_path, seed=seed, bad_count=100_000, days=200)


def test_a_fuzzed_recording_replays_to_the_clean_recordings_fills(tmp_path: Path) -> None:
    """End to end: bad lines among a real recording never trade; the replay equals the run."""
    planned = {150: [Control("pause", {"reason": "t"})], 200: [Control("flatten", {"reason": "t"})]}
    planned[260] = [Control("resume", {"reason": "t"})]
    clean = tmp_path / "clean.jsonl"
    with StateDir(tmp_path / "run") as state:
        recorded = simulate(
            FAST, RunSpec("crash-2020", 4, START), 40, state, planned=planned, record=clean
        )
    lines = clean.read_bytes().splitlines()
    fuzzer = Fuzzer(random.Random(7), lines[1:])
    fuzzer.lines = [lines[0]]
    path = tmp_path / "fuzzed.jsonl"
    path.write_bytes(fuzzer.build(3_000))
    with SessionReader(path) as reader, StateDir(tmp_path / "replay") as state:
        replayed = replay(reader, state)
    assert replayed["rejected_ticks"] == len(fuzzer.bad_at)
    want = Counter(fuzzer.bad_at.values())
    assert replayed["rejected_ticks_by_reason"] == {r: want.get(r, 0) for r in REJECT_REASONS}
    assert {k: v for k, v in replayed.items() if not k.startswith("rejected_ticks")} == recorded
    assert recorded["fills"] >= 5
