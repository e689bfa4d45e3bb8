"""The recorder writes what a replay needs; the reader takes back only the good lines."""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from daemon.cli import main
from daemon.config import AppConfig, load_config
from daemon.engine import Control, config_hash
from daemon.recording import FORMAT_VERSION, LineEncoder, Recorder, SessionHeader
from daemon.replay import ControlLine, SessionReader, SnapshotLine
from daemon.runner import RunSpec, simulate
from daemon.session_file import REJECT_REASONS
from daemon.statedir import StateDir
from market.simulator import Simulator
from market.snapshot import MarketSnapshot

FAST = load_config(None, {"market": {"cadence_minutes": 30}})
SPEC = RunSpec("spike-and-revert", 2, date(2025, 1, 2))
HEADER = SessionHeader(FAST, 2, "spike-and-revert", date(2025, 1, 2), "0.1.0", "simulate")
_FIELDS = (
    "seq ts session spx vix rate div_yield vx_curve surface spx_expiries soq vro spreads"
    " vix_surface vix_spreads macro_events ad_line"
).split()


def record_simulate(
    tmp_path: Path,
    days: int = 15,
    name: str = "session.jsonl",
    planned: dict[int, list[Control]] | None = None,
) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / name
    with StateDir(tmp_path / f"state-{name}") as state:
        summary = simulate(FAST, SPEC, days, state, planned=planned, record=path)
    return path, summary


def text_lines(path: Path) -> list[str]:
    opener: Callable[..., Any] = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        text: str = f.read()
    return text.splitlines()


def read(path: Path) -> tuple[SessionReader, list[SnapshotLine | ControlLine]]:
    with SessionReader(path) as reader:
        return reader, list(reader)


def snapshots(days: int = 15) -> list[MarketSnapshot]:
    sim = Simulator(FAST.market, seed=2, start=date(2025, 1, 2), scenario="spike-and-revert")
    return list(sim.snapshots(days))


# -- writing --------------------------------------------------------------------------------------


def test_the_header_holds_the_format_version_config_hash_seed_and_what_replay_needs(
    tmp_path: Path,
) -> None:
    path, _ = record_simulate(tmp_path, days=2)
    header = json.loads(text_lines(path)[0])
    assert header["kind"] == "header"
    assert header["format"] == "alvh-session"
    assert header["format_version"] == FORMAT_VERSION == 1
    assert header["alvh_version"] == "0.1.0"
    assert header["config_hash"] == config_hash(FAST)
    assert AppConfig.model_validate(header["config"]) == FAST
    assert (header["seed"], header["scenario"], header["start"]) == (
        2,
        "spike-and-revert",
        "2025-01-02",
    )
    assert header["cadence_minutes"] == 30
    assert header["source"] == "simulate"
    with SessionReader(path) as reader:
        assert reader.header.config == FAST
        assert reader.header.start == date(2025, 1, 2)


def test_every_snapshot_is_written_as_its_to_dict_and_reads_back_equal(tmp_path: Path) -> None:
    path, summary = record_simulate(tmp_path)
    expected = snapshots()
    lines = [json.loads(line) for line in text_lines(path)[1:]]
    assert [line.pop("kind") for line in lines] == ["snapshot"] * len(expected)
    assert lines == [snap.to_dict() for snap in expected]
    reader, items = read(path)
    assert [item.snapshot for item in items if isinstance(item, SnapshotLine)] == expected
    assert [item.line for item in items] == list(range(2, len(expected) + 2))
    assert reader.rejected == dict.fromkeys(REJECT_REASONS, 0)
    assert summary["ticks"] == len(expected)
    # the span covers settlement prints and macro days, which must survive the trip too
    assert any(s.soq for s in expected) and any(s.vro for s in expected)
    assert any(s.macro_events for s in expected)


def test_a_non_finite_number_is_written_as_json_would_and_read_back_as_non_finite(
    tmp_path: Path,
) -> None:
    snap = snapshots(1)[3]
    bad = MarketSnapshot(*(getattr(snap, f) for f in _FIELDS))
    object.__setattr__(bad, "ad_line", math.nan)  # a value the constructor would refuse
    line = LineEncoder().encode_snapshot(bad)
    assert b'"ad_line":NaN' in line
    path = tmp_path / "nan.jsonl"
    path.write_bytes(HEADER.to_line() + line)
    reader, items = read(path)
    assert items == []
    assert reader.rejected["non_finite"] == 1


def test_control_events_are_written_right_after_the_snapshot_they_follow(tmp_path: Path) -> None:
    reloaded = load_config(
        None, {"market": {"cadence_minutes": 30}, "strategy": {"condor": {"risk_per_condor": 0.02}}}
    )
    planned = {
        30: [Control("pause", {"reason": "test"})],
        31: [Control("flatten", {"reason": "test"})],
        40: [Control("resume", {"reason": "test"})],
        60: [Control("reload", {"config": reloaded.model_dump_json()})],
    }
    path, _ = record_simulate(tmp_path, planned=planned)
    lines = [json.loads(line) for line in text_lines(path)[1:]]
    controls = [(i, line) for i, line in enumerate(lines) if line["kind"] == "control"]
    assert [(line["position"], line["control"]) for _, line in controls] == [
        (30, "pause"),
        (31, "flatten"),
        (40, "resume"),
        (60, "reload"),
    ]
    for i, line in controls:
        assert lines[i - 1] == {**lines[i - 1], "kind": "snapshot", "seq": line["position"]}
    reload = controls[-1][1]
    assert reload["config_hash"] == config_hash(reloaded)
    assert reload["payload"] == {"config": reloaded.model_dump_json()}
    _, items = read(path)
    assert [(c.position, c.control) for c in items if isinstance(c, ControlLine)] == [
        (p, c) for p, cs in planned.items() for c in cs
    ]


def test_a_gz_name_writes_gzip_that_reads_back_the_same(tmp_path: Path) -> None:
    plain, _ = record_simulate(tmp_path, days=3)
    packed, _ = record_simulate(tmp_path, days=3, name="session.jsonl.gz")
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    assert packed.stat().st_size < plain.stat().st_size / 4
    assert text_lines(packed)[1:] == text_lines(plain)[1:]
    assert [i.snapshot for i in read(packed)[1]] == snapshots(3)  # type: ignore[union-attr]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("name", ["session.jsonl", "session.jsonl.gz"])
def test_buffered_lines_reach_the_file_within_a_second_without_a_close(
    tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    clock = FakeClock()
    recorder = Recorder(path, HEADER, clock=clock)
    snaps = snapshots(2)
    for snap in snaps[:10]:
        recorder.snapshot(snap)
    # the header is written at once; the snapshots wait in memory for less than a second
    assert len(read(path)[1]) == 0
    clock.now = 0.99
    recorder.snapshot(snaps[10])
    assert len(read(path)[1]) == 0
    clock.now = 1.0
    recorder.snapshot(snaps[11])
    reader, items = read(path)
    assert [i.snapshot for i in items] == snaps[:12]  # type: ignore[union-attr]
    # an unclosed gzip stream has no trailer: readable up to the flush, counted as cut
    assert reader.rejected["torn_line"] == (1 if name.endswith(".gz") else 0)
    recorder.control(Control("pause", {"reason": "test"}), 11)
    recorder.flush()  # what the daemon's once-a-second task does
    assert len(read(path)[1]) == 13
    recorder.close()
    reader, items = read(path)
    assert len(items) == 13 and reader.rejected_total == 0


class _Broken:
    """A file whose writes fail as on a full disk."""

    def write(self, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_failed_write_is_logged_once_and_ends_the_recording_without_raising(
    tmp_path: Path,
) -> None:
    recorder = Recorder(tmp_path / "s.jsonl", HEADER)
    recorder._out = _Broken()  # type: ignore[assignment]
    with capture_logs() as logs:
        for snap in snapshots(1):
            recorder.snapshot(snap)
            recorder.flush()
        recorder.close()
    failed = [e for e in logs if e["event"] == "recording_failed"]
    assert len(failed) == 1 and "No space left" in failed[0]["error"]
    assert recorder.error is not None


def test_simulate_exits_74_when_the_session_file_cannot_be_written_and_its_ledger_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import daemon.runner

    class FullDisk(Recorder):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._out = _Broken()  # type: ignore[assignment]

    monkeypatch.setattr(daemon.runner, "Recorder", FullDisk)
    args = ["simulate", "--days", "2", "--state-dir", str(tmp_path / "st")]
    code = main([*args, "--record", str(tmp_path / "s.jsonl")])
    err = capsys.readouterr().err.splitlines()
    assert code == 74
    assert err[-1].startswith("alvh: error: recording failed: ") and "No space" in err[-1]
    assert main(["ledger", "verify", "--state-dir", str(tmp_path / "st")]) == 0


@pytest.mark.parametrize("target", ["missing-dir/s.jsonl", "/dev/full"])
def test_a_session_file_that_cannot_be_created_exits_73(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if target == "/dev/full" and not Path(target).exists():
        pytest.skip("no /dev/full here")
    path = target if target.startswith("/") else str(tmp_path / target)
    args = ["simulate", "--days", "1", "--state-dir", str(tmp_path / "st"), "--record", path]
    assert main(args) == 73
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("{")]
    assert len(err) == 1 and err[0].startswith("alvh: error: cannot ")


def test_record_with_adopt_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["simulate", "--days", "1", "--state-dir", str(tmp_path / "st"), "--adopt"]
    assert main([*args, "--record", str(tmp_path / "s.jsonl")]) == 64
    assert "--record cannot go with --adopt" in capsys.readouterr().err
    assert not (tmp_path / "s.jsonl").exists()


def test_a_resumed_simulate_records_the_whole_run_from_its_start(tmp_path: Path) -> None:
    whole, _ = record_simulate(tmp_path, days=6, name="whole.jsonl")
    state = tmp_path / "parts"
    with StateDir(state) as st:
        simulate(FAST, SPEC, 3, st)
    with StateDir(state) as st:
        simulate(FAST, SPEC, 6, st, resume=True, record=tmp_path / "resumed.jsonl")
    assert text_lines(tmp_path / "resumed.jsonl")[1:] == text_lines(whole)[1:]


# -- reading: one hand-made bad line per reason ---------------------------------------------------


def _good_lines() -> list[dict[str, Any]]:
    snaps = snapshots(2)
    return [json.loads(LineEncoder().encode_snapshot(s)) for s in snaps[:6]]


def _mutate(record: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(record))
    *parents, leaf = path.split(".")
    node: Any = out
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DELETE:
        del node[leaf]
    elif isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value
    return out


_DELETE = object()
_NEXT_DAY = (date(2025, 1, 22) + timedelta(days=1)).isoformat()

# (reason, replacement for the 4th of 6 snapshot lines: a mutation or raw bytes)
BAD_LINES: list[tuple[str, Any]] = [
    ("malformed", b"not json at all"),
    ("malformed", b'{"kind": "snapshot", "seq": 3'),
    ("malformed", b"[1, 2, 3]"),
    ("malformed", b"\xff\xfe\x00garbage"),
    ("malformed", b""),
    ("malformed", ("spx", "5900.0")),
    ("malformed", ("seq", True)),
    ("malformed", ("vix", _DELETE)),
    ("malformed", ("extra", 1)),
    ("malformed", ("kind", "quote")),
    ("malformed", ("ts", "2025-01-02T14:30:00")),  # no time zone
    ("malformed", ("ts", "2025-01-02T03:00:00+00:00")),  # outside the session
    ("malformed", ("session", "2025-01-04")),  # a Saturday
    ("malformed", ("macro_events", ["earnings"])),
    ("malformed", ("surface.extra", 0.1)),
    ("malformed", ("vix_spreads.max_future_ticks", 2.5)),
    ("malformed", ("vix", 5000.0)),
    ("malformed", ("spreads.vix_exponent", -1.0)),  # market.spread_vix_exponent is >= 0
    ("malformed", ("spreads.base_width", 0.0)),  # market.spread_base_width is > 0
    ("non_finite", ("spx", math.nan)),
    ("non_finite", ("vix", math.inf)),
    ("non_finite", ("vx_curve.0.1", -math.inf)),
    ("non_finite", ("surface.kappa", math.nan)),
    ("non_finite", ("ad_line", 10**400)),
    ("negative", ("spx", -5900.0)),
    ("negative", ("vix", 0.0)),
    ("negative", ("vx_curve.2.1", -17.0)),
    ("negative", ("surface.short_var", -0.01)),
    ("negative", ("seq", -4)),
    ("negative", ("soq", -1.0)),
    ("crossed", ("spreads.base_width", -0.1)),
    ("crossed", ("spreads.max_width", -1.0)),
    ("crossed", ("vix_spreads.option_price_fraction", -0.04)),
    ("crossed", ("vix_spreads.mini_extra_ticks", -1)),
    ("crossed", ("surface.vol_floor", 3.0)),
    ("out_of_order", ("seq", 1)),
    ("out_of_order", ("ts", "2025-01-02T14:30:00+00:00")),
    ("unknown_contract", ("vx_curve.0.0", _NEXT_DAY)),
    ("unknown_contract", ("spx_expiries.0", "2025-01-10")),
    ("unknown_contract", ("spx_expiries.0", "2024-12-20")),
]


def _bad_bytes(spec: Any, good: dict[str, Any]) -> bytes:
    if isinstance(spec, bytes):
        return spec
    path, value = spec
    return json.dumps(_mutate(good, path, value)).encode()


@pytest.mark.parametrize(("reason", "spec"), BAD_LINES, ids=lambda v: str(v)[:40])
def test_a_bad_line_is_skipped_counted_under_its_reason_and_logged_with_its_line_number(
    tmp_path: Path, reason: str, spec: Any
) -> None:
    good = _good_lines()
    lines = [json.dumps(g).encode() for g in good]
    lines.insert(4, _bad_bytes(spec, good[4]))  # after snapshots 0-3: line 6 of the file
    path = tmp_path / "s.jsonl"
    path.write_bytes(HEADER.to_line() + b"\n".join(lines) + b"\n")
    with capture_logs() as logs:
        reader, items = read(path)
    assert [i.snapshot.seq for i in items] == [0, 1, 2, 3, 4, 5]  # type: ignore[union-attr]
    assert reader.rejected == {**dict.fromkeys(REJECT_REASONS, 0), reason: 1}
    rejected = [e for e in logs if e["event"] == "snapshot_rejected"]
    assert [(e["line"], e["reason"]) for e in rejected] == [(6, reason)]
    assert rejected[0]["log_level"] == "warning"


def test_a_control_line_is_checked_like_a_snapshot(tmp_path: Path) -> None:
    good = [json.dumps(g).encode() for g in _good_lines()]
    reload_cfg = FAST.model_dump_json()

    def control(position: Any, kind: str, payload: Any, **extra: Any) -> bytes:
        record = {"kind": "control", "position": position, "control": kind, "payload": payload}
        return json.dumps({**record, **extra}).encode()

    lines = [
        good[0],
        control(0, "pause", {"reason": "ok"}),  # good
        control(1, "pause", {"reason": "ahead"}),  # out_of_order: snapshot 1 not yet seen
        good[1],
        control(0, "resume", {}),  # out_of_order: behind
        control(1, "adopt", {"reason": "x"}),  # malformed: cannot be replayed
        control(1, "pause", {"reason": 3}),  # malformed payload
        control(1, "pause", {"reason": "x", "kind": "y"}),  # malformed payload
        control(-7, "pause", {}),  # negative position
        control(1, "reload", {"config": reload_cfg}, config_hash="0" * 16),  # hash mismatch
        control(1, "reload", {"config": "{}"}, config_hash=config_hash(FAST)),  # config differs
        control(1, "reload", {"config": '{"market": {"cadence_minutes": -1}}'}, config_hash="x"),
        control(1, "reload", {"config": reload_cfg}, config_hash=config_hash(FAST)),  # good
        good[2],
    ]
    path = tmp_path / "s.jsonl"
    path.write_bytes(HEADER.to_line() + b"\n".join(lines) + b"\n")
    reader, items = read(path)
    kinds = [(i.position, i.control.kind) for i in items if isinstance(i, ControlLine)]
    assert kinds == [(0, "pause"), (1, "reload")]
    assert reader.rejected == {
        **dict.fromkeys(REJECT_REASONS, 0),
        "out_of_order": 2,
        "malformed": 6,
        "negative": 1,
    }


def test_a_line_longer_than_the_limit_is_malformed_and_never_held_whole(tmp_path: Path) -> None:
    good = [json.dumps(g).encode() for g in _good_lines()]
    huge = b'{"kind": "snapshot", "pad": "' + b"x" * (3 << 20) + b'"}'
    path = tmp_path / "s.jsonl"
    path.write_bytes(HEADER.to_line() + b"\n".join([good[0], huge, good[1]]) + b"\n")
    reader, items = read(path)
    assert len(items) == 2 and reader.rejected["malformed"] == 1


@pytest.mark.parametrize("name", ["s.jsonl", "s.jsonl.gz"])
def test_a_torn_last_line_ends_the_read_at_the_last_whole_line(tmp_path: Path, name: str) -> None:
    path, _ = record_simulate(tmp_path, days=6, name=name)
    whole = text_lines(path)
    if name.endswith(".gz"):
        data = gzip.decompress(path.read_bytes())
        cut = len("\n".join(whole[:50])) + 1 + 300  # 300 bytes into line 51
        path.write_bytes(gzip.compress(data[:cut]))
    else:
        data = path.read_bytes()
        cut = len("\n".join(whole[:50])) + 1 + 300
        path.write_bytes(data[:cut])
    reader, items = read(path)
    assert [i.snapshot for i in items] == snapshots(6)[:49]  # type: ignore[union-attr]
    assert reader.rejected == {**dict.fromkeys(REJECT_REASONS, 0), "torn_line": 1}


def test_a_gzip_stream_cut_anywhere_reads_a_prefix_and_counts_one_torn_line(
    tmp_path: Path,
) -> None:
    path, _ = record_simulate(tmp_path, days=6, name="s.jsonl.gz")
    data = path.read_bytes()
    expected = snapshots(6)
    for cut in (len(data) // 3, len(data) // 2, len(data) - 5):
        path.write_bytes(data[:cut])
        reader, items = read(path)
        got = [i.snapshot for i in items]  # type: ignore[union-attr]
        assert got == expected[: len(got)]
        assert reader.rejected == {**dict.fromkeys(REJECT_REASONS, 0), "torn_line": 1}
