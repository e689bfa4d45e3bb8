"""`alvh replay`: a recording replays to the recorded run's orders, fills and summary."""

from __future__ import annotations

import gzip
import json
import sqlite3
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from daemon_process import RunningDaemon
from structlog.testing import capture_logs
from test_recovery import ledger_dump as recovery_dump

from brokers.ledger import Ledger
from daemon.cli import main
from daemon.config import load_config
from daemon.engine import Control, Engine
from daemon.replay import SessionReader, replay
from daemon.runner import ResumeError, RunSpec, prepare, simulate
from daemon.session_file import REJECT_REASONS
from daemon.statedir import StateDir

FAST = load_config(None, {"market": {"cadence_minutes": 30}})
SPEC = RunSpec("spike-and-revert", 2, date(2025, 1, 2))
NO_REJECTS = dict.fromkeys(REJECT_REASONS, 0)


def ledger_dump(path: Path) -> dict[str, list[Any]]:
    """What a run leaves in its ledger that a replay must reproduce (not wall-clock stamps): what
    a resume must (test_recovery's), the control events and the config versions."""
    with sqlite3.connect(path / "ledger.sqlite") as db:
        extra = {
            "controls": db.execute(
                "SELECT position, ts, kind, payload FROM control_events ORDER BY event_id"
            ).fetchall(),
            "configs": db.execute(
                "SELECT position, config_hash FROM config_versions ORDER BY version_id"
            ).fetchall(),
        }
    return {**recovery_dump(path / "ledger.sqlite"), **extra}


def without_rejects(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if not k.startswith("rejected_ticks")}


def record(
    tmp_path: Path,
    days: int = 80,
    name: str = "session.jsonl",
    planned: dict[int, list[Control]] | None = None,
) -> tuple[Path, Path, dict[str, Any]]:
    """A simulate run recorded to ``name``: the file, its state dir and its summary."""
    state_dir = tmp_path / f"recorded-{name}"
    with StateDir(state_dir) as state:
        summary = simulate(FAST, SPEC, days, state, planned=planned, record=tmp_path / name)
    return tmp_path / name, state_dir, summary


def run_replay(path: Path, state_dir: Path, **kwargs: Any) -> dict[str, Any]:
    with SessionReader(path) as reader, StateDir(state_dir) as state:
        return replay(reader, state, **kwargs)


def test_replaying_a_simulate_recording_gives_its_orders_fills_and_summary(
    tmp_path: Path,
) -> None:
    path, recorded_dir, recorded = record(tmp_path)
    replayed = run_replay(path, tmp_path / "replayed")
    assert recorded["fills"] >= 10 and recorded["settlements"] + recorded["rolls"]["total"] > 0
    assert without_rejects(replayed) == recorded
    assert replayed["rejected_ticks"] == 0
    assert replayed["rejected_ticks_by_reason"] == NO_REJECTS
    assert ledger_dump(tmp_path / "replayed") == ledger_dump(recorded_dir)


def test_a_recording_with_pause_flatten_and_reload_replays_them_in_place(tmp_path: Path) -> None:
    reloaded = load_config(
        None, {"market": {"cadence_minutes": 30}, "strategy": {"condor": {"risk_per_condor": 0.02}}}
    )
    planned = {
        300: [Control("pause", {"reason": "test"})],
        310: [Control("flatten", {"reason": "test"})],
        400: [Control("resume", {"reason": "test"})],
        600: [Control("reload", {"config": reloaded.model_dump_json()})],
    }
    path, recorded_dir, recorded = record(tmp_path, planned=planned)
    assert recorded["exits"]["flatten"] >= 1 and recorded["rejected_orders"] >= 1
    replayed = run_replay(path, tmp_path / "replayed")
    assert without_rejects(replayed) == recorded
    dump = ledger_dump(tmp_path / "replayed")
    assert dump == ledger_dump(recorded_dir)
    assert [row[:3:2] for row in dump["controls"]] == [
        (300, "pause"),
        (310, "flatten"),
        (400, "resume"),
        (600, "reload"),
    ]


def test_a_gzip_recording_replays_through_the_cli_to_the_same_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "fast.toml"
    cfg.write_text("[market]\ncadence_minutes = 30\n")
    session = tmp_path / "s.jsonl.gz"
    base = ["--scenario", "volmageddon", "--seed", "3", "--days", "60", "--json"]
    args = ["simulate", "--config", str(cfg), *base, "--state-dir", str(tmp_path / "a")]
    assert main([*args, "--record", str(session)]) == 0
    simulated = json.loads(capsys.readouterr().out)
    assert session.read_bytes()[:2] == b"\x1f\x8b"
    assert main(["replay", str(session), "--state-dir", str(tmp_path / "b"), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert without_rejects(replayed) == simulated
    assert replayed["rejected_ticks_by_reason"] == NO_REJECTS
    assert ledger_dump(tmp_path / "b")["fills"] == ledger_dump(tmp_path / "a")["fills"]


def test_a_truncated_recording_replays_up_to_its_last_whole_line(tmp_path: Path) -> None:
    path, recorded_dir, _ = record(tmp_path)
    data = path.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 200  # 200 bytes into a snapshot line
    path.write_bytes(data[:cut])
    whole = data[:cut].splitlines()[1:-1]
    last_seq = json.loads(whole[-1])["seq"]
    replayed = run_replay(path, tmp_path / "replayed")
    assert replayed["ticks"] == len(whole) == last_seq + 1
    assert replayed["rejected_ticks"] == 1
    assert replayed["rejected_ticks_by_reason"] == {**NO_REJECTS, "torn_line": 1}
    recorded_fills = ledger_dump(recorded_dir)["fills"]
    fills = ledger_dump(tmp_path / "replayed")["fills"]
    assert fills == [f for f in recorded_fills if f[-1] <= last_seq]
    assert 0 < len(fills) < len(recorded_fills)


def test_bad_lines_among_good_ones_change_nothing_and_are_counted_and_logged_by_line(
    tmp_path: Path,
) -> None:
    path, recorded_dir, recorded = record(tmp_path)
    lines = path.read_bytes().splitlines()
    snap = json.loads(lines[100])
    bad = {
        "malformed": b'{"kind": "snapshot", "seq": ',
        "non_finite": json.dumps({**snap, "vix": float("nan")}).encode(),
        "negative": json.dumps({**snap, "spx": -1.0}).encode(),
        "crossed": json.dumps({**snap, "spreads": {**snap["spreads"], "base_width": -1}}).encode(),
        "out_of_order": lines[50],  # a good line again, out of its place
        "unknown_contract": json.dumps(
            {**snap, "spx_expiries": ["2025-01-10", *snap["spx_expiries"][1:]]}
        ).encode(),
    }
    inserted_at = {}
    out = lines[:]
    for i, (reason, line) in enumerate(bad.items()):
        at = 150 + 97 * i
        out.insert(at, line)
        inserted_at[at + 1] = reason  # 1-based line number
    torn = json.dumps(snap).encode()[:300]
    path.write_bytes(b"\n".join(out) + b"\n" + torn)
    inserted_at[len(out) + 1] = "torn_line"
    with capture_logs() as logs:
        replayed = run_replay(path, tmp_path / "replayed")
    assert without_rejects(replayed) == recorded
    assert replayed["rejected_ticks"] == len(REJECT_REASONS) == 7
    assert replayed["rejected_ticks_by_reason"] == dict.fromkeys(REJECT_REASONS, 1)
    assert ledger_dump(tmp_path / "replayed") == ledger_dump(recorded_dir)
    logged = {e["line"]: e["reason"] for e in logs if e["event"] == "snapshot_rejected"}
    assert logged == inserted_at


def test_a_crashed_replay_resumes_to_the_uninterrupted_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned = {200: [Control("pause", {"reason": "t"})], 260: [Control("resume", {"reason": "t"})]}
    path, _, _ = record(tmp_path, planned=planned)
    whole = run_replay(path, tmp_path / "whole")

    class Killed(BaseException):
        pass

    original = Engine._on_market_snapshot

    def dying(self: Engine, snap: Any) -> None:
        if snap.seq == 230:  # between the pause and the resume
            raise Killed
        original(self, snap)

    with monkeypatch.context() as m:
        m.setattr(Engine, "_on_market_snapshot", dying)
        m.setattr(Ledger, "close", lambda self: self._conn.close())  # no final commit
        with pytest.raises(Killed):
            run_replay(path, tmp_path / "crashed")
    with capture_logs() as logs:
        resumed = run_replay(path, tmp_path / "crashed", resume=True)
    assert resumed == whole
    assert ledger_dump(tmp_path / "crashed") == ledger_dump(tmp_path / "whole")
    assert any(e["event"] == "recovery_completed" for e in logs)


def daily_marks(state_dir: Path) -> list[tuple[Any, ...]]:
    """The ledger's daily marks, every column, one row per session in session order."""
    with sqlite3.connect(state_dir / "ledger.sqlite") as db:
        return db.execute("SELECT * FROM daily_marks ORDER BY session").fetchall()


@pytest.mark.parametrize("end", ["torn", "whole_line"])
def test_a_replay_cut_mid_session_then_resumed_on_the_whole_file_marks_as_one_replay(
    tmp_path: Path, end: str
) -> None:
    """A torn file (or one still being written) replays to a mid-session end; resumed on the
    complete file, the replay's ledger is the uninterrupted replay's, daily marks row for row."""
    path, _, _ = record(tmp_path, days=6)
    whole = run_replay(path, tmp_path / "whole")
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    cut_seq = 40  # session 3 (seqs 30-44 at this cadence) is two-thirds through
    at = next(i for i, line in enumerate(lines[1:], 1) if json.loads(line)["seq"] == cut_seq)
    head = b"".join(lines[: at + 1])
    growing = tmp_path / "growing.jsonl"
    growing.write_bytes(head + (lines[at + 1][:100] if end == "torn" else b""))
    cut = run_replay(growing, tmp_path / "resumed")
    assert cut["ticks"] == cut_seq + 1
    assert cut["rejected_ticks"] == (1 if end == "torn" else 0)
    growing.write_bytes(data)  # the recording is whole now
    resumed = run_replay(growing, tmp_path / "resumed", resume=True)
    assert without_rejects(resumed) == without_rejects(whole)
    marks = daily_marks(tmp_path / "resumed")
    assert len(marks) == 6
    assert marks == daily_marks(tmp_path / "whole")
    assert ledger_dump(tmp_path / "resumed") == ledger_dump(tmp_path / "whole")


def test_replay_treats_its_state_dir_as_simulate_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _, _ = record(tmp_path, days=5)
    capsys.readouterr()
    state = str(tmp_path / "st")
    assert main(["replay", str(path), "--state-dir", state, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["replay", str(path), "--state-dir", state]) == 73
    assert "pass --resume" in capsys.readouterr().err
    assert main(["replay", str(path), "--state-dir", state, "--resume", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert main(["replay", str(path), "--state-dir", state, "--new", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert len(list((tmp_path / "st" / "archive").iterdir())) == 1
    # without --state-dir: a new temporary directory, named on stderr
    assert main(["replay", str(path), "--json"]) == 0
    assert "alvh: state directory: " in capsys.readouterr().err


def test_resuming_the_replay_of_another_recording_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _, _ = record(tmp_path, days=3, name="a.jsonl")
    with StateDir(tmp_path / "other") as other:
        simulate(FAST, RunSpec("calm", 9, date(2025, 1, 2)), 3, other, record=tmp_path / "b.jsonl")
    state = str(tmp_path / "st")
    assert main(["replay", str(first), "--state-dir", state]) == 0
    capsys.readouterr()
    assert main(["replay", str(tmp_path / "b.jsonl"), "--state-dir", state, "--resume"]) == 64
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("alvh: error: --resume: the state directory holds another run")


_HEADER_LINE = json.dumps(
    {
        "kind": "header",
        "format": "alvh-session",
        "format_version": 1,
        "alvh_version": "0.1.0",
        "config_hash": "",
        "seed": 1,
        "scenario": None,
        "start": "2025-01-02",
        "cadence_minutes": 30,
        "source": "simulate",
        "config": json.loads(FAST.model_dump_json()),
    }
)


def _good_header() -> dict[str, Any]:
    from daemon.engine import config_hash

    return {**json.loads(_HEADER_LINE), "config_hash": config_hash(FAST)}


BAD_HEADERS: dict[str, bytes] = {
    "empty file": b"",
    "not JSON": b"hello\n",
    "a JSON array": b"[1]\n",
    "a snapshot first": b'{"kind": "snapshot", "seq": 0}\n',
    "another format": json.dumps({**_good_header(), "format": "csv"}).encode() + b"\n",
    "unknown format version": json.dumps({**_good_header(), "format_version": 2}).encode() + b"\n",
    "format version a string": json.dumps({**_good_header(), "format_version": "1"}).encode()
    + b"\n",
    "missing seed": json.dumps({k: v for k, v in _good_header().items() if k != "seed"}).encode()
    + b"\n",
    "missing config": json.dumps(
        {k: v for k, v in _good_header().items() if k != "config"}
    ).encode()
    + b"\n",
    "config hash mismatch": json.dumps({**_good_header(), "config_hash": "0" * 16}).encode()
    + b"\n",
    "invalid config": json.dumps(
        {**_good_header(), "config": {"market": {"cadence_minutes": 0}}}
    ).encode()
    + b"\n",
    "unknown scenario": json.dumps({**_good_header(), "scenario": "nope"}).encode() + b"\n",
    "start not a date": json.dumps({**_good_header(), "start": "soon"}).encode() + b"\n",
    "cadence disagrees": json.dumps({**_good_header(), "cadence_minutes": 5}).encode() + b"\n",
    "torn header": json.dumps(_good_header()).encode()[:200],
}


@pytest.mark.parametrize("case", list(BAD_HEADERS))
def test_a_bad_header_exits_65_with_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(BAD_HEADERS[case])
    assert main(["replay", str(path), "--state-dir", str(tmp_path / "st")]) == 65
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(f"alvh: error: session file {path}: ")
    assert not (tmp_path / "st").exists()  # nothing was set up


def test_the_good_header_of_the_bad_header_cases_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "ok.jsonl"
    path.write_bytes(json.dumps(_good_header()).encode() + b"\n")
    summary = run_replay(path, tmp_path / "st")
    assert summary["ticks"] == 0 and summary["rejected_ticks"] == 0


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_a_session_file_that_cannot_be_opened_exits_65(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: str
) -> None:
    path = tmp_path / "s.jsonl"
    if make == "directory":
        path.mkdir()
    assert main(["replay", str(path)]) == 65
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"alvh: error: session file {path}: cannot ")


@pytest.mark.parametrize("speed", ["0", "-2", "fast", "inf", "nan"])
def test_a_bad_speed_is_a_usage_error(tmp_path: Path, speed: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["replay", str(tmp_path / "s.jsonl"), "--speed", speed])
    assert exc.value.code == 64


class FakeWall:
    """A monotonic clock that only moves when slept on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_speed_n_sleeps_each_market_gap_over_n_with_nights_capped_at_one_cadence(
    tmp_path: Path,
) -> None:
    path, _, recorded = record(tmp_path, days=3)
    wall = FakeWall()
    replayed = run_replay(
        path, tmp_path / "st", speed=60.0, sleep=wall.sleep, monotonic=wall.monotonic
    )
    assert without_rejects(replayed) == recorded
    with SessionReader(path) as reader:
        ts = [item.snapshot.ts for item in reader]  # type: ignore[union-attr]
    gaps = [min((b - a).total_seconds(), 1800.0) / 60.0 for a, b in zip(ts, ts[1:], strict=False)]
    assert len(wall.sleeps) == len(gaps) == recorded["ticks"] - 1
    assert wall.sleeps == pytest.approx(gaps)
    # 30 market minutes at 60x, the 15 before each close, and each night capped at one step
    assert set(gaps) == {30.0, 15.0}


def test_a_run_recording_replays_to_the_runs_fills_and_controls(tmp_path: Path) -> None:
    """`alvh run --record` with an operator's pause, flatten and resume through the API."""
    cfg = tmp_path / "run.toml"
    cfg.write_text("[market]\ncadence_minutes = 30\n[runtime]\ntime_scale = 60000\n")
    session = tmp_path / "run.jsonl"
    token = "t0ken"
    with RunningDaemon(
        tmp_path / "run", cfg, "--record", str(session), env={"ALVH_API_TOKEN": token}
    ) as daemon:
        daemon.wait_for_snapshots(1)
        deadline = time.monotonic() + 30
        while not daemon.get("/positions")["positions"]:  # the condor is open: flatten it
            assert time.monotonic() < deadline, "no position within 30 s"
            time.sleep(0.02)
        for kind in ("pause", "flatten", "resume"):
            request = urllib.request.Request(
                f"http://127.0.0.1:{daemon.port}/{kind}",
                data=json.dumps({"reason": "test"}).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=5) as resp:
                assert resp.status == 200
        daemon.wait_for_snapshots(daemon.get("/status")["snapshots"] + 30)
        done = daemon.stop()
    assert done.returncode == 0, done.stderr[-2000:]
    header = json.loads(session.read_text().splitlines()[0])
    assert header["source"] == "run"
    summary = run_replay(session, tmp_path / "replayed")
    run_dump = ledger_dump(tmp_path / "run")
    replay_dump = ledger_dump(tmp_path / "replayed")
    assert [row[2] for row in run_dump["controls"]] == ["pause", "flatten", "resume", "stop"]
    assert len(run_dump["fills"]) >= 2  # the condor opened and was flattened
    for key in ("fills", "legs", "orders", "settlements", "cash", "controls", "configs"):
        assert replay_dump[key] == run_dump[key], key
    assert summary["exits"]["flatten"] >= 1
    assert summary["rejected_ticks"] == 0


def test_the_replay_logs_its_start_and_end(tmp_path: Path) -> None:
    path, _, _ = record(tmp_path, days=2)
    with capture_logs() as logs:
        run_replay(path, tmp_path / "st")
    started = next(e for e in logs if e["event"] == "replay_started")
    finished = next(e for e in logs if e["event"] == "replay_finished")
    assert started["source"] == "simulate" and started["speed"] == "max"
    assert started["mode"] == "new"
    assert finished["snapshots"] == 30 and finished["lines"] == 31
    assert finished["rejected_ticks"] == 0


def test_replay_of_a_session_started_on_another_day_uses_its_start(tmp_path: Path) -> None:
    start = date(2025, 1, 2) + timedelta(days=40)
    with StateDir(tmp_path / "a") as state:
        recorded = simulate(
            FAST, RunSpec(None, 5, start), 5, state, record=tmp_path / "late.jsonl.gz"
        )
    replayed = run_replay(tmp_path / "late.jsonl.gz", tmp_path / "b")
    assert without_rejects(replayed) == recorded
    with gzip.open(tmp_path / "late.jsonl.gz", "rt") as f:
        assert json.loads(f.readline())["start"] == start.isoformat()


@pytest.mark.parametrize("field", ["seq", "ts"])
def test_a_line_that_jumps_far_ahead_is_rejected_and_the_good_lines_after_it_still_replay(
    tmp_path: Path, field: str
) -> None:
    path, recorded_dir, recorded = record(tmp_path, days=30)
    lines = path.read_bytes().splitlines()
    snap = json.loads(lines[200])
    jumped = (
        {**snap, "seq": snap["seq"] + 10**9}
        if field == "seq"
        else {**snap, "ts": "2039-01-03T15:00:00+00:00", "session": "2039-01-03"}
    )
    lines.insert(150, json.dumps(jumped).encode())
    path.write_bytes(b"\n".join(lines) + b"\n")
    replayed = run_replay(path, tmp_path / "replayed")
    assert replayed["rejected_ticks"] == 1  # that line alone (out of order or unlisted expiries)
    assert without_rejects(replayed) == recorded  # nothing traded on it, nothing lost after it
    assert ledger_dump(tmp_path / "replayed") == ledger_dump(recorded_dir)


def test_recording_again_to_the_same_file_keeps_the_previous_one_aside(tmp_path: Path) -> None:
    path, _, _ = record(tmp_path, days=3)
    first = path.read_bytes()
    with StateDir(tmp_path / "another") as state:  # a new run (or a restart) to the same name
        simulate(FAST, SPEC, 2, state, record=path)
    assert (tmp_path / "session.jsonl.1").read_bytes() == first
    assert path.read_bytes() != first


def test_a_history_state_dir_is_not_continued_from_the_simulator(tmp_path: Path) -> None:
    history_spec = RunSpec("history", 0, date(2025, 1, 2))  # what a history run records
    with StateDir(tmp_path / "h") as state:
        prepare(FAST, history_spec, state, resume=False).ledger.close()
        with pytest.raises(ResumeError, match="alvh history --resume"):
            simulate(FAST, history_spec, 2, state, resume=True)


def test_a_recording_from_a_build_with_fewer_config_fields_still_replays(tmp_path: Path) -> None:
    from daemon.engine import recorded_config_hash

    path, _, recorded = record(tmp_path, days=3)
    lines = path.read_bytes().splitlines()
    header = json.loads(lines[0])
    del header["config"]["strategy"]["risk"]  # as written by a build before the risk limits
    text = json.dumps(header["config"], separators=(",", ":"))
    header["config_hash"] = recorded_config_hash(text)
    lines[0] = json.dumps(header).encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    with capture_logs() as logs:
        replayed = run_replay(path, tmp_path / "replayed")
    assert without_rejects(replayed) == recorded  # the defaults stand in for the missing section
    assert [e["event"] for e in logs if e["event"] == "replay_config_defaults_added"]
