"""The session reader accepts every value a valid config can put in a snapshot: a recording of
any config that loads replays, line for line.

The values the simulator copies from the ``market`` config are checked against that config
field's own range (``daemon.session_file.CONFIG_SOURCES``); these tests hold the two together.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from test_replay import NO_REJECTS, ledger_dump, run_replay, without_rejects

from daemon.config import load_config
from daemon.recording import LineEncoder
from daemon.runner import RunSpec, simulate
from daemon.session_file import CONFIG_SOURCES, LineDecoder, LineRejected, config_range
from daemon.statedir import StateDir
from market.simulator import Simulator, SimulatorConfig

START = date(2025, 1, 2)


def _value(record: dict[str, Any], path: str) -> Any:
    node: Any = record
    for part in path.split("."):
        node = node[part]
    return node


def _set(record: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node: Any = record
    for part in parents:
        node = node[part]
    node[leaf] = value


def _first_record(market: SimulatorConfig) -> dict[str, Any]:
    """The first snapshot the simulator makes under ``market``, as its session file line."""
    snap = next(Simulator(market, seed=1, start=START).snapshots(1))
    record: dict[str, Any] = json.loads(LineEncoder().encode_snapshot(snap))
    return record


@pytest.mark.parametrize("path", sorted(CONFIG_SOURCES))
def test_each_value_the_reader_checks_against_a_config_field_is_copied_from_that_field(
    path: str,
) -> None:
    field = CONFIG_SOURCES[path]
    default = SimulatorConfig.model_fields[field].default
    distinct = default + 0.125  # every such field accepts it
    changed = _first_record(SimulatorConfig.model_validate({field: distinct}))
    assert _value(changed, path) == distinct
    assert _value(_first_record(SimulatorConfig()), path) != distinct


_PROBES = [-1e300, -12.0, -1.5, -1.0, -1e-300, -0.0, 0.0, 5e-324, 1e-9, 0.5, 1.0, 1.5, 10.0]
_PROBES += [12.0, 1000.0, 1500.0, 1e6, 2e6, 1e12, 2e12, 1e300, math.nan, math.inf, -math.inf]


def _edges(field: str) -> list[float]:
    """The config's bounds for ``field`` and the floats on either side of each."""
    low, _, high, _ = config_range(field)
    out = []
    for bound in (low, high):
        if math.isfinite(bound):
            out += [math.nextafter(bound, -math.inf), bound, math.nextafter(bound, math.inf)]
    return out


def _config_accepts(field: str, value: float) -> bool:
    try:
        SimulatorConfig.model_validate({field: value})
    except ValidationError:
        return False
    return True


def _reader_accepts(record: dict[str, Any], path: str, value: float) -> bool:
    line = json.loads(json.dumps(record))
    _set(line, path, value)
    try:
        LineDecoder().decode(json.dumps(line).encode())
    except LineRejected:
        return False
    return True


@pytest.mark.parametrize("path", sorted(CONFIG_SOURCES))
def test_the_reader_accepts_a_copied_value_exactly_when_the_config_accepts_it(path: str) -> None:
    field = CONFIG_SOURCES[path]
    record = _first_record(SimulatorConfig())
    for value in _PROBES + _edges(field):
        config, reader = _config_accepts(field, value), _reader_accepts(record, path, value)
        assert reader == config, f"{path} = {value!r}: config accepts {config}, reader {reader}"


def _upper_edge(field: str, beyond: float) -> float:
    """The largest value the config accepts for ``field``, or ``beyond`` where it sets none."""
    _, _, high, high_open = config_range(field)
    if math.isinf(high):
        return beyond
    return math.nextafter(high, -math.inf) if high_open else high


def _lower_edge(field: str, beyond: float | None = None) -> float:
    """The smallest value the config accepts for ``field``, or ``beyond`` where it sets none."""
    low, low_open, _, _ = config_range(field)
    if math.isinf(low):
        assert beyond is not None, field
        return beyond
    return math.nextafter(low, math.inf) if low_open else low


# Where the config sets no bound, each value lies past the one the reader used to apply itself: 10
# in size for an exponent, 1 for the rate and the dividend yield, 1000 for a reference VIX, 1e6 for
# a slope, an ATM vol, a variance or a speed, 1e12 for the kink and the advance-decline line. The
# floors are the config's own lower bounds.
EDGE_CONFIGS: dict[str, dict[str, float]] = {
    "exponents": {
        field: _upper_edge(field, 12.0)
        for field in (
            "spread_vix_exponent",
            "vix_option_vol_elasticity",
            "vix_option_term_exponent",
        )
    },
    "carry_up": {"rate": _upper_edge("rate", 1.5), "div_yield": _upper_edge("div_yield", 1.5)},
    "carry_down": {"rate": _lower_edge("rate", -1.5), "div_yield": _lower_edge("div_yield", -1.5)},
    "scales": {
        "spread_reference_vix": _upper_edge("spread_reference_vix", 1500.0),
        "vix_option_reference_vix": _upper_edge("vix_option_reference_vix", 1500.0),
        "vix_option_atm_vol": _upper_edge("vix_option_atm_vol", 2e6),
        "skew_put_slope": _upper_edge("skew_put_slope", 2e6),
        "skew_kink": _upper_edge("skew_kink", 2e12),
    },
    "derived": {  # values the snapshot derives from config fields the config does not cap
        "atm_var_half_life_years": 1e-7,  # the surface's kappa: 6.9e6 per year
        "long_run_atm_vol": 1001.0,  # its long_var: 1.002e6
        "ad_issues": 1e13,  # with ad_net_per_sd, an advance-decline line past 1e12
        "ad_net_per_sd": 1e13,
    },
    "floors": {
        field: _lower_edge(field)
        for field in (
            "spread_vix_exponent",
            "spread_price_fraction",
            "skew_call_slope",
            "vix_option_vol_elasticity",
            "vix_option_term_exponent",
            "vix_option_call_wing",
            "vix_option_put_wing",
        )
    },
}


@pytest.mark.parametrize("name", list(EDGE_CONFIGS))
def test_a_run_at_the_edge_of_the_configs_ranges_replays_with_no_line_rejected(
    tmp_path: Path, name: str
) -> None:
    config = load_config(None, {"market": {"cadence_minutes": 30, **EDGE_CONFIGS[name]}})
    path = tmp_path / "edge.jsonl"
    with StateDir(tmp_path / "recorded") as state:
        recorded = simulate(config, RunSpec("spike-and-revert", 2, START), 10, state, record=path)
    assert recorded["fills"] >= 1
    replayed = run_replay(path, tmp_path / "replayed")
    assert replayed["rejected_ticks_by_reason"] == NO_REJECTS
    assert without_rejects(replayed) == recorded
    assert ledger_dump(tmp_path / "replayed") == ledger_dump(tmp_path / "recorded")


def test_a_run_at_the_configs_level_caps_replays_with_no_line_rejected(tmp_path: Path) -> None:
    """The config caps the VIX levels (``vix_start``, ``vix_cap``, ``vx_curve_level``) inside the
    reader's bounds on VIX and VX levels: the base model started at those caps, and at an SPX of
    100,000, replays untouched (with the VIX at 500 nothing trades; the levels are the point)."""
    caps = {f: _upper_edge(f, math.inf) for f in ("vix_start", "vix_cap", "vx_curve_level")}
    assert all(math.isfinite(v) for v in caps.values())
    caps["spx_start"] = 100_000.0  # not capped (long chained runs need any level): 17x the default
    config = load_config(
        None,
        {"market": {"cadence_minutes": 30, **caps}},
    )
    path = tmp_path / "levels.jsonl"
    with StateDir(tmp_path / "recorded") as state:
        recorded = simulate(config, RunSpec(None, 2, START), 10, state, record=path)
    snaps = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    snaps = [s for s in snaps if s.get("kind") == "snapshot"]
    assert len(snaps) == recorded["ticks"] > 0
    assert max(s["vix"] for s in snaps) > 150.0  # beyond the default cap: the levels are exercised
    assert max(s["spx"] for s in snaps) > 50_000.0
    replayed = run_replay(path, tmp_path / "replayed")
    assert replayed["rejected_ticks_by_reason"] == NO_REJECTS
    assert without_rejects(replayed) == recorded
    assert ledger_dump(tmp_path / "replayed") == ledger_dump(tmp_path / "recorded")
