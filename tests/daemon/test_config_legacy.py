"""Configs stored by an earlier build keep that build's behaviour (``daemon.config.stored_config``):
a field added later with a behaviour-changing default takes its legacy value when absent, so a
ledger written before the hedge floor resumes to the fills it holds instead of diverging."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from daemon.config import LEGACY_DEFAULTS, AppConfig, load_config, stored_config
from daemon.engine import Control
from daemon.runner import RunSpec, simulate
from daemon.statedir import StateDir

SPEC = RunSpec("crash-2020", 1, date(2025, 1, 2))
DAYS = 45


def _without_floor(text: str) -> str:
    data = json.loads(text)
    del data["strategy"]["hedge"]["floor_fraction"]
    return json.dumps(data)


def test_a_stored_config_without_a_legacy_field_takes_its_legacy_value() -> None:
    current = AppConfig()
    assert current.strategy.hedge.floor_fraction == 0.5
    old = stored_config(_without_floor(current.model_dump_json()))
    assert old.strategy.hedge.floor_fraction == 0.0
    assert old.model_dump(exclude={"strategy"}) == current.model_dump(exclude={"strategy"})
    assert stored_config(current.model_dump_json()) == current  # present: kept as stored
    assert stored_config(json.loads(current.model_dump_json())) == current
    assert stored_config({}).strategy.hedge.floor_fraction == 0.0
    assert stored_config({}).strategy.macro.look_ahead is False
    assert current.strategy.macro.look_ahead is True
    with pytest.raises(ValidationError):
        stored_config("{not json")  # invalid JSON is a validation error, as model_validate_json's
    for path in LEGACY_DEFAULTS:  # every entry names a real field
        node: Any = current
        for part in path:
            node = getattr(node, part)


def _fills(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path / "ledger.sqlite") as db:
        return db.execute(
            "SELECT fill_id, client_order_id, ts, quantity, net_price FROM fills ORDER BY fill_id"
        ).fetchall()


def _run(path: Path, config: AppConfig, days: int, resume: bool = False) -> dict[str, Any]:
    with StateDir(path) as state:
        return simulate(config, SPEC, days, state, resume=resume)


def test_a_ledger_from_before_the_floor_resumes_to_its_own_fills(tmp_path: Path) -> None:
    coarse = {"market": {"cadence_minutes": 30}}
    floor_on = load_config(None, coarse)
    floor_off = load_config(None, {**coarse, "strategy": {"hedge": {"floor_fraction": 0.0}}})
    _run(tmp_path / "on", floor_on, DAYS)
    old = tmp_path / "old"
    _run(old, floor_off, DAYS)
    before = _fills(old)
    assert before != _fills(tmp_path / "on")  # the floor trades in this run: the test can fail
    with sqlite3.connect(old / "ledger.sqlite") as db:  # what the build before the floor stored
        for table in ("runs", "config_versions"):
            rows = db.execute(f"SELECT rowid, config_text FROM {table}").fetchall()
            for rowid, text in rows:
                db.execute(
                    f"UPDATE {table} SET config_text = ? WHERE rowid = ?",
                    (_without_floor(text), rowid),
                )
    _run(old, floor_on, DAYS + 5, resume=True)  # no divergence (exit 76) on the way
    assert _fills(old)[: len(before)] == before


@pytest.mark.parametrize("value", [0.25, 1.0])
def test_a_stored_floor_is_kept_whatever_the_legacy_value(value: float) -> None:
    config = load_config(None, {"strategy": {"hedge": {"floor_fraction": value}}})
    assert stored_config(config.model_dump_json()).strategy.hedge.floor_fraction == value


def test_a_recorded_reload_without_the_floor_applies_it_off(tmp_path: Path) -> None:
    """A reload control stored by the build before the floor (its config lacks floor_fraction)
    is applied as that build meant it: the engine's reload path goes through stored_config."""
    coarse = {"market": {"cadence_minutes": 30}}
    config = load_config(None, coarse)
    text = _without_floor(
        load_config(None, {**coarse, "strategy": {"hedge": {"h": 0.9}}}).model_dump_json()
    )
    planned = {100: [Control("reload", {"config": text})]}
    with StateDir(tmp_path / "s") as state:
        simulate(config, SPEC, 10, state, planned=planned)
    with sqlite3.connect(tmp_path / "s" / "ledger.sqlite") as db:
        versions = db.execute("SELECT position, config_text FROM config_versions").fetchall()
    assert [p for p, _ in versions] == [-1, 100]
    stored = [json.loads(t)["strategy"]["hedge"] for _, t in versions]
    assert [(h["h"], h["floor_fraction"]) for h in stored] == [(0.5, 0.5), (0.9, 0.0)]
