"""``alvh config check|show``: exit codes, error lines without values, env overrides, masking."""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path

import pytest

from daemon.config import AppConfig
from daemon.config_cli import add_config_parser, mask_secrets, to_toml


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for var in list(os.environ):
        if var.upper().startswith("ALVH_") or var == "CONFIGURATION_DIRECTORY":
            monkeypatch.delenv(var)


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="alvh")
    add_config_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_check_good_file_prints_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[strategy.condor]\nmax_condors = 1\n")
    assert _run(["config", "check", str(cfg)]) == 0
    assert capsys.readouterr().out == "config OK\n"
    assert _run(["config", "check"]) == 0


def test_check_bad_file_names_every_field_without_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[account]\nslippage = 7.25\n\n[api]\nhost = 17\nport = "hunter2"\n\n'
        "[strategy.condor]\nbogus = 1\n"
    )
    assert _run(["config", "check", str(cfg)]) == 78
    out = capsys.readouterr()
    assert out.out == ""
    lines = out.err.splitlines()
    for path in ("account.slippage", "api.host", "api.port", "strategy.condor.bogus"):
        assert any(line.startswith(f"alvh: config: {path}: ") for line in lines), path
    assert len(lines) == 4
    assert "hunter2" not in out.err and "7.25" not in out.err


def test_check_reports_bad_env_vars(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALVH_STRATEGY__NOPE", "1")
    assert _run(["config", "check"]) == 78
    assert "ALVH_STRATEGY__NOPE" in capsys.readouterr().err


def test_check_uses_configuration_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "alvh.toml").write_text("[runtime]\ntime_scale = -1\n")
    monkeypatch.setenv("CONFIGURATION_DIRECTORY", str(tmp_path))
    assert _run(["config", "check"]) == 78
    assert "runtime.time_scale" in capsys.readouterr().err


def test_show_json_reflects_file_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[strategy.condor]\nmax_condors = 3\nclose_at_dte = 0\n")
    monkeypatch.setenv("ALVH_STRATEGY__CONDOR__MAX_CONDORS", "1")
    monkeypatch.setenv("ALVH_API_TOKEN", "s3cret")
    assert _run(["config", "show", str(cfg), "--json"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert shown["strategy"]["condor"]["max_condors"] == 1
    assert shown["strategy"]["condor"]["close_at_dte"] == 0
    assert shown["api"] == {"host": "127.0.0.1", "port": 8765}
    assert "s3cret" not in out


def test_show_toml_round_trips_to_the_effective_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALVH_RUNTIME__LOG_LEVEL", "debug")
    assert _run(["config", "show"]) == 0
    shown = tomllib.loads(capsys.readouterr().out)
    assert AppConfig.model_validate(shown).runtime.log_level == "debug"
    assert "[strategy.condor]" in to_toml(AppConfig().model_dump(mode="json"))


def test_show_bad_config_exits_78(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALVH_API__PORT", "99999")
    assert _run(["config", "show", "--json"]) == 78
    err = capsys.readouterr().err
    assert "api.port" in err and "99999" not in err


def test_mask_secrets_masks_token_secret_password_fields_at_any_depth() -> None:
    data = {
        "api": {"host": "h", "api_token": "t", "Client_Secret": "s", "port": 1},
        "db": {"password": "p", "users": [{"name": "n", "password_hash": "x"}]},
        "tokens": {"a": "b"},
        "plain": "v",
    }
    assert mask_secrets(data) == {
        "api": {"host": "h", "api_token": "***", "Client_Secret": "***", "port": 1},
        "db": {"password": "***", "users": [{"name": "n", "password_hash": "***"}]},
        "tokens": "***",
        "plain": "v",
    }
    assert data["api"]["api_token"] == "t"  # type: ignore[index]  # the input is not mutated


def test_show_masks_a_secret_field_of_the_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pydantic import BaseModel

    import daemon.config_cli as config_cli

    class _WithSecret(BaseModel):
        api_token: str = "t0ken-value"
        host: str = "h"

        def model_dump(self, **kwargs: object) -> dict[str, object]:
            return {"api": {"api_token": self.api_token, "host": self.host}}

    monkeypatch.setattr(config_cli, "load_config", lambda path: _WithSecret())
    assert _run(["config", "show", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == {"api": {"api_token": "***", "host": "h"}}
    assert _run(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert 'api_token = "***"' in out and "t0ken-value" not in out
