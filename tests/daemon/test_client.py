"""``alvh status | positions | pause``: the thin API clients against a real API in-process."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from daemon.api import build_app, positions_of, status_of
from daemon.client import EXIT_NOPERM, EXIT_SOFTWARE, EXIT_UNAVAILABLE, add_client_parsers
from daemon.config import load_config
from daemon.runner import Prepared, RunSpec, prepare
from daemon.statedir import StateDir
from market.simulator import Simulator

TOKEN = "t"


@pytest.fixture
def prepared(tmp_path: Path) -> Iterator[Prepared]:
    """An engine that has traded 20 calm sessions and holds condors."""
    config = load_config(None, {"market": {"cadence_minutes": 30}})
    spec = RunSpec("calm", 1, date(2025, 1, 2))
    state = StateDir(tmp_path / "s")
    p = prepare(config, spec, state, resume=False)
    for snap in Simulator(config.market, seed=1, start=spec.start, scenario="calm").snapshots(20):
        p.pipeline.process(snap)
    yield p
    p.ledger.close()
    state.close()


@pytest.fixture
async def url(prepared: Prepared) -> AsyncIterator[str]:
    server = TestServer(build_app(prepared.engine, token=TOKEN), host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


@pytest.fixture(autouse=True)
def _no_ambient_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALVH_API_TOKEN", "ALVH_API_URL", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)


async def _run(argv: list[str]) -> int:
    """Parse as ``alvh`` would and run the blocking client off the event loop serving the API."""
    parser = argparse.ArgumentParser(prog="alvh")
    add_client_parsers(parser.add_subparsers())
    args = parser.parse_args(argv)
    with capture_logs():  # the in-process daemon's own log lines stay out of stdout
        code: int = await asyncio.to_thread(args.func, args)
    return code


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_status_json_is_the_api_answer(
    url: str, prepared: Prepared, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _run(["status", "--url", url, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = json.loads(status_of(prepared.engine).model_dump_json())
    out.pop("last_snapshot_age_s"), expected.pop("last_snapshot_age_s")
    assert out == expected


async def test_status_table_shows_the_equity(
    url: str, prepared: Prepared, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _run(["status", "--url", url]) == 0
    out = capsys.readouterr()
    status = status_of(prepared.engine)
    lines = {line.split("  ")[0]: line.split()[-1] for line in out.out.splitlines()}
    assert lines["equity"] == f"{status.equity:,.2f}"
    assert lines["regime"] == status.regime
    assert lines["trading paused"] == "no"
    assert lines["open positions"] == str(len(status.open_positions))
    assert out.err == ""


async def test_positions_table_lists_every_contract_and_the_book(
    url: str, prepared: Prepared, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _run(["positions", "--url", url]) == 0
    out = capsys.readouterr().out
    view = positions_of(prepared.engine)
    assert len(view.positions) >= 4
    header = next(line for line in out.splitlines() if line.startswith("layer "))
    assert header.split() == [
        "layer",
        "contract",
        "qty",
        "avg",
        "mark",
        "spx_delta",
        "vega$",
        "theta/day",
    ]
    for p in view.positions:
        row = next(line for line in out.splitlines() if f"  {p.contract}  " in line)
        assert row.split()[0] == p.layer
        cells = row.split(p.contract)[1].split()
        assert cells[0] == str(p.quantity)
        assert p.greeks is not None
        assert cells[-1] == f"{p.greeks.theta_per_day:,.2f}"
    book = next(line for line in out.splitlines() if line.startswith("book "))
    assert book.split()[-1] == f"{view.book.theta_per_day:,.2f}"
    assert any(line.startswith("condor ") for line in out.splitlines())


async def test_pause_with_the_token_pauses_the_broker(
    url: str, prepared: Prepared, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await _run(["pause", "--url", url, "--token", TOKEN, "--reason", "fomc"])
    assert code == 0
    assert prepared.engine.broker.trading_paused is True
    assert "pause applied" in capsys.readouterr().out
    assert await _run(["resume", "--url", url, "--token", TOKEN, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["applied"] == "resume"
    assert prepared.engine.broker.trading_paused is False


async def test_the_token_defaults_to_alvh_api_token(
    url: str, prepared: Prepared, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALVH_API_TOKEN", TOKEN)
    monkeypatch.setenv("ALVH_API_URL", url)
    assert await _run(["pause"]) == 0
    assert prepared.engine.broker.trading_paused is True


@pytest.mark.parametrize("token", [["--token", "wrong"], []])
async def test_a_wrong_or_missing_token_is_77_with_one_line(
    url: str, prepared: Prepared, capsys: pytest.CaptureFixture[str], token: list[str]
) -> None:
    assert await _run(["pause", "--url", url, *token]) == EXIT_NOPERM
    out = capsys.readouterr()
    assert out.out == ""
    assert len(out.err.splitlines()) == 1
    assert out.err.startswith("alvh: error:") and "ALVH_API_TOKEN" in out.err
    assert prepared.engine.broker.trading_paused is False


async def test_an_api_error_is_70_with_its_message(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await _run(["pause", "--url", url, "--token", TOKEN, "--reason", "x" * 201])
    assert code == EXIT_SOFTWARE
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert err.startswith("alvh: error: HTTP 400: invalid body: reason:")


async def test_an_unreachable_daemon_is_69_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    assert await _run(["status", "--url", url, "--timeout", "2"]) == EXIT_UNAVAILABLE
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith(f"alvh: error: cannot reach the daemon at {url}: ")
    assert len(out.err.splitlines()) == 1


@pytest.mark.parametrize("bad", ["ftp://127.0.0.1:8765", "http://127.0.0.1:port", "localhost"])
async def test_a_url_that_is_not_http_is_64_with_one_line(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _run(["status", "--url", bad]) == 64
    err = capsys.readouterr().err
    assert err == f"alvh: error: --url: not an http(s) URL: {bad!r}\n"
