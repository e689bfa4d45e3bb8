"""``alvh calc``: JSON output of the calculators and one-line usage errors."""

from __future__ import annotations

import argparse
import json
import warnings

import pytest

from daemon.calc import EXIT_USAGE, add_calc_parser
from market.implied_vol import implied_vol
from market.pricing import black76_greeks, bs_greeks

HULL = ["--underlying", "42", "--strike", "40", "--years", "0.5", "--rate", "0.10"]


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="alvh")
    add_calc_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert _run([*argv, "--json"]) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_option_json_has_price_and_greeks(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(
        ["calc", "option", "--model", "bs", "--type", "call", *HULL, "--vol", "0.2"], capsys
    )
    assert list(out) == ["price", "delta", "gamma", "vega", "theta", "rho"]
    g = bs_greeks(True, 42, 40, 0.5, 0.10, 0.0, 0.2)
    for name, value in out.items():
        assert value == pytest.approx(float(getattr(g, name)), rel=1e-12)
    assert round(out["price"], 2) == 4.76  # type: ignore[call-overload]


def test_option_dte_means_calendar_days_over_365(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(
        [
            "calc",
            "option",
            "--model",
            "black76",
            "--type",
            "put",
            "--underlying",
            "18.5",
            "--strike",
            "20",
            "--dte",
            "35",
            "--rate",
            "0.04",
            "--vol",
            "0.9",
        ],
        capsys,
    )
    g = black76_greeks(False, 18.5, 20, 35 / 365, 0.04, 0.9)
    assert out["price"] == pytest.approx(float(g.price), rel=1e-12)
    assert out["rho"] == pytest.approx(float(g.rho), rel=1e-12)


def test_option_dividend_yield_is_used_by_bs(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(["calc", "option", "--type", "put", *HULL, "--div", "0.03", "--vol", "0.2"], capsys)
    assert out["price"] == pytest.approx(float(bs_greeks(False, 42, 40, 0.5, 0.1, 0.03, 0.2).price))


def test_iv_json_inverts_the_price(capsys: pytest.CaptureFixture[str]) -> None:
    price = float(bs_greeks(True, 42, 40, 0.5, 0.10, 0.0, 0.2).price)
    out = _json(["calc", "iv", "--type", "call", *HULL, "--price", repr(price)], capsys)
    assert out == {"iv": pytest.approx(0.2, rel=1e-10)}


def test_iv_outside_bounds_is_null_with_reason(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(["calc", "iv", "--type", "call", *HULL, "--price", "1.0"], capsys)
    assert out == {"iv": None, "reason": "below_intrinsic"}
    out = _json(["calc", "iv", "--type", "call", *HULL, "--price", "42"], capsys)
    assert out == {"iv": None, "reason": "above_upper_bound"}


def test_iv_black76_matches_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "calc",
        "iv",
        "--model",
        "black76",
        "--type",
        "call",
        "--underlying",
        "18.5",
        "--strike",
        "22",
        "--dte",
        "35",
        "--rate",
        "0.04",
        "--price",
        "0.95",
    ]
    out = _json(argv, capsys)
    expected = implied_vol(0.95, True, 18.5, 22, 35 / 365, 0.04, model="black76").iv
    assert out["iv"] == pytest.approx(float(expected), rel=1e-14)


def test_condor_json_has_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "calc",
        "condor",
        "--long-put",
        "5500",
        "--short-put",
        "5550",
        "--short-call",
        "6000",
        "--long-call",
        "6075",
        "--credit",
        "6.20",
    ]
    out = _json(argv, capsys)
    assert list(out) == ["breakeven_low", "breakeven_high", "max_profit", "max_loss", "margin"]
    assert out == {
        "breakeven_low": pytest.approx(5543.8),
        "breakeven_high": pytest.approx(6006.2),
        "max_profit": pytest.approx(620.0),
        "max_loss": pytest.approx(6880.0),
        "margin": pytest.approx(7500.0),
    }


def test_readable_table_without_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["calc", "option", "--type", "call", *HULL, "--vol", "0.2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [
        "price",
        "delta",
        "gamma",
        "vega",
        "theta",
        "rho",
    ]
    assert len({len(line) for line in lines}) == 1  # aligned columns


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["option", "--type", "call", *HULL, "--vol", "-0.2"], "--vol"),
        (["option", "--type", "call", *HULL, "--vol", "abc"], "--vol"),
        (
            ["option", "--type", "call", *HULL[:2], "--strike", "0", *HULL[4:], "--vol", "0.2"],
            "--strike",
        ),
        (
            ["option", "--type", "call", "--underlying", "nan", *HULL[2:], "--vol", "0.2"],
            "--underlying",
        ),
        (
            ["option", "--type", "call", *HULL[:4], "--years", "0", *HULL[6:], "--vol", "0.2"],
            "--years",
        ),
        (["iv", "--type", "put", *HULL[:4], "--dte", "-3", *HULL[6:], "--price", "1"], "--dte"),
        (["iv", "--type", "put", *HULL[:6], "--rate", "inf", "--price", "1"], "--rate"),
        (["iv", "--type", "put", *HULL, "--price", "0"], "--price"),
        (
            ["option", "--type", "call", *HULL[:4], "--years", "1e300", *HULL[6:], "--vol", "0.2"],
            "--years",
        ),
        (
            ["option", "--type", "call", *HULL[:4], "--years", "100.5", *HULL[6:], "--vol", "0.2"],
            "--years",
        ),
        (["iv", "--type", "put", *HULL[:4], "--dte", "36501", *HULL[6:], "--price", "1"], "--dte"),
        (["option", "--type", "call", *HULL[:6], "--rate", "1.5", "--vol", "0.2"], "--rate"),
        (["option", "--type", "call", *HULL[:6], "--rate", "-2", "--vol", "0.2"], "--rate"),
        (["option", "--type", "call", *HULL[:6], "--rate", "nan", "--vol", "0.2"], "--rate"),
        (["option", "--type", "call", *HULL, "--div", "1.01", "--vol", "0.2"], "--div"),
        (["iv", "--type", "call", *HULL, "--div", "-5", "--price", "3"], "--div"),
        (
            ["option", "--model", "black76", "--type", "call", *HULL, "--div", "0.03"]
            + ["--vol", "0.2"],
            "--div",
        ),
        (
            ["iv", "--model", "black76", "--type", "call", *HULL, "--div", "0", "--price", "3"],
            "--div",
        ),
        (
            [
                "condor",
                "--long-put",
                "5550",
                "--short-put",
                "5550",
                "--short-call",
                "6000",
                "--long-call",
                "6050",
                "--credit",
                "5",
            ],
            "--long-put",
        ),
        (
            [
                "condor",
                "--long-put",
                "5500",
                "--short-put",
                "5550",
                "--short-call",
                "6000",
                "--long-call",
                "6050",
                "--credit",
                "60",
            ],
            "--credit",
        ),
    ],
)
def test_bad_argument_gives_one_line_error_naming_it(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["calc", *argv]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert flag in lines[0]
    assert "Traceback" not in captured.err


def test_missing_required_argument_exits_through_argparse(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        _run(["calc", "option", "--type", "call", *HULL])  # no --vol
    assert exc.value.code == 2
    assert "--vol" in capsys.readouterr().err


def test_calc_without_a_calculator_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["calc"]) == EXIT_USAGE
    assert len(capsys.readouterr().err.splitlines()) == 1


@pytest.mark.parametrize("as_json", [True, False])
def test_condor_without_a_breakeven_on_one_side_shows_none(
    as_json: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    # 65 of credit covers the whole 60-point put wing: no low breakeven (it is not 5495).
    argv = ["calc", "condor", "--long-put", "5500", "--short-put", "5560"]
    argv += ["--short-call", "6130", "--long-call", "6200", "--credit", "65"]
    if as_json:
        assert _json(argv, capsys) == {
            "breakeven_low": None,
            "breakeven_high": pytest.approx(6195.0),
            "max_profit": pytest.approx(6500.0),
            "max_loss": pytest.approx(500.0),
            "margin": pytest.approx(7000.0),
        }
    else:
        assert _run(argv) == 0
        rows = dict(line.split() for line in capsys.readouterr().out.splitlines())
        assert rows["breakeven_low"] == "none"
        assert rows["breakeven_high"] == "6195"


def test_option_accepts_the_edges_of_the_allowed_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["calc", "option", "--type", "put", *HULL[:4], "--years", "100"]
    out = _json([*argv, "--rate", "-1", "--div", "1", "--vol", "0.2"], capsys)
    g = bs_greeks(False, 42, 40, 100.0, -1.0, 1.0, 0.2)
    assert out["price"] == pytest.approx(float(g.price), rel=1e-12)
    out = _json(
        ["calc", "option", "--type", "call", *HULL[:4], "--dte", "36500", *HULL[6:]]
        + ["--vol", "0.2"],
        capsys,
    )
    assert out["price"] == pytest.approx(float(bs_greeks(True, 42, 40, 100.0, 0.1, 0.0, 0.2).price))


@pytest.mark.parametrize("as_json", [True, False])
def test_option_with_a_non_finite_result_is_a_one_line_error(
    as_json: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every input is in range, but the forward 1e308 * e^100 overflows.
    argv = ["calc", "option", "--type", "call", "--underlying", "1e308", "--strike", "1e-300"]
    argv += ["--years", "100", "--rate", "1", "--vol", "5"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _run([*argv, "--json"] if as_json else argv) == EXIT_USAGE
    assert caught == []
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "alvh calc option: error: result is not finite for these inputs\n"


def test_option_calculation_raises_no_runtime_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    # A huge vol overflows numpy intermediates on the way to a finite answer.
    argv = ["calc", "option", "--type", "call", *HULL[:4], "--years", "100", *HULL[6:]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _json([*argv, "--vol", "1e300"], capsys)
    assert caught == []
    assert out["price"] == pytest.approx(42.0, rel=1e-3)
