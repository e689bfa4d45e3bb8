"""``alvh calc``: option prices and greeks, implied vol and iron-condor metrics from the shell.

Usage errors print one line naming the argument to stderr and exit with :data:`EXIT_USAGE`;
argparse's own errors (missing or unknown arguments) keep its exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import numpy as np

from market.condor import condor_metrics
from market.implied_vol import implied_vol
from market.pricing import Greeks, black76_greeks, bs_greeks

EXIT_OK = 0
EXIT_USAGE = 64
"""EX_USAGE from sysexits.h."""
DAYS_PER_YEAR = 365.0
MAX_YEARS = 100.0
MAX_DTE = 36500.0
MAX_ABS_RATE = 1.0
"""Bound on ``|--rate|`` and ``|--div|`` (decimal, so 1.0 = 100%)."""
GREEK_FIELDS = ("price", "delta", "gamma", "vega", "theta", "rho")
CONDOR_FIELDS = ("breakeven_low", "breakeven_high", "max_profit", "max_loss", "margin")
CONDOR_STRIKES = ("long_put", "short_put", "short_call", "long_call", "credit")


class CalcUsageError(ValueError):
    """A bad argument value; the message names the flag."""


def add_calc_parser(subparsers: Any) -> None:
    """Add ``calc`` with its ``option``, ``iv`` and ``condor`` subcommands to ``subparsers``."""
    calc = subparsers.add_parser("calc", help="pricing, implied vol and condor calculators")
    calc.set_defaults(func=run_calc, calc_command=None)
    commands = calc.add_subparsers(dest="calc_command", metavar="{option,iv,condor}")

    option = commands.add_parser("option", help="price and greeks of a European option")
    _add_option_arguments(option)
    option.add_argument("--vol", required=True, help="volatility, decimal (0.2 = 20%%)")

    iv = commands.add_parser("iv", help="implied volatility from a price")
    _add_option_arguments(iv)
    iv.add_argument("--price", required=True, help="option price in index points")

    condor = commands.add_parser("condor", help="iron condor breakevens, max profit/loss, margin")
    for name in CONDOR_STRIKES[:4]:
        condor.add_argument(_flag(name), required=True, help=f"{name.replace('_', ' ')} strike")
    condor.add_argument("--credit", required=True, help="net credit in index points")
    condor.add_argument("--json", action="store_true", help="print JSON")


def _add_option_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        choices=("bs", "black76"),
        default="bs",
        help="bs: Black-Scholes-Merton on spot; black76: options on a future",
    )
    p.add_argument("--type", dest="right", choices=("call", "put"), required=True)
    p.add_argument("--underlying", required=True, help="spot (bs) or futures price (black76)")
    p.add_argument("--strike", required=True)
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--years", help="time to expiry in years (at most 100)")
    when.add_argument("--dte", help="calendar days to expiry (years = dte/365; at most 36500)")
    p.add_argument("--rate", required=True, help="continuously compounded rate, decimal")
    p.add_argument("--div", help="dividend yield, decimal (bs only; default 0)")
    p.add_argument("--json", action="store_true", help="print JSON")


def run_calc(args: argparse.Namespace) -> int:
    """Run the chosen calculator; return the process exit code."""
    handlers = {"option": _run_option, "iv": _run_iv, "condor": _run_condor}
    handler = handlers.get(args.calc_command)
    if handler is None:
        print("alvh calc: error: choose a calculator: option, iv or condor", file=sys.stderr)
        return EXIT_USAGE
    try:
        return handler(args)
    except CalcUsageError as e:
        print(f"alvh calc {args.calc_command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _number(
    name: str,
    raw: str,
    *,
    positive: bool = False,
    bound: float | None = None,
) -> float:
    """Parse ``raw`` as a finite float or raise naming ``--name``.

    ``positive`` requires ``0 < value`` (and ``value <= bound`` when given); otherwise
    ``bound`` requires ``-bound <= value <= bound``.
    """
    want = "a positive finite number" if positive else "a finite number"
    if bound is not None:
        want += f" at most {bound:g}" if positive else f" in [{-bound:g}, {bound:g}]"
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise CalcUsageError(f"{_flag(name)} must be {want}, got {raw!r}") from None
    ok = math.isfinite(value) and (not positive or value > 0.0)
    if ok and bound is not None:
        ok = value <= bound if positive else -bound <= value <= bound
    if not ok:
        raise CalcUsageError(f"{_flag(name)} must be {want}, got {raw!r}")
    return value


def _years(args: argparse.Namespace) -> float:
    if args.years is not None:
        return _number("years", args.years, positive=True, bound=MAX_YEARS)
    return _number("dte", args.dte, positive=True, bound=MAX_DTE) / DAYS_PER_YEAR


def _market(args: argparse.Namespace) -> dict[str, float]:
    if args.model == "black76" and args.div is not None:
        raise CalcUsageError(
            "--div is not accepted with --model black76 (options on futures have no dividend yield)"
        )
    return {
        "underlying": _number("underlying", args.underlying, positive=True),
        "strike": _number("strike", args.strike, positive=True),
        "years": _years(args),
        "rate": _number("rate", args.rate, bound=MAX_ABS_RATE),
        "div": 0.0 if args.div is None else _number("div", args.div, bound=MAX_ABS_RATE),
    }


def _run_option(args: argparse.Namespace) -> int:
    m = _market(args)
    vol = _number("vol", args.vol, positive=True)
    is_call = args.right == "call"
    g: Greeks
    with np.errstate(all="ignore"):
        if args.model == "black76":
            g = black76_greeks(is_call, m["underlying"], m["strike"], m["years"], m["rate"], vol)
        else:
            g = bs_greeks(
                is_call, m["underlying"], m["strike"], m["years"], m["rate"], m["div"], vol
            )
    out = {name: float(getattr(g, name)) for name in GREEK_FIELDS}
    _emit(out, args.json)
    return EXIT_OK


def _run_iv(args: argparse.Namespace) -> int:
    """Print the implied vol; outside the no-arbitrage bounds ``iv`` is null with a ``reason``
    (still exit 0: the inputs were well formed, the answer is "no such vol")."""
    m = _market(args)
    price = _number("price", args.price, positive=True)
    with np.errstate(all="ignore"):
        res = implied_vol(
            price,
            args.right == "call",
            m["underlying"],
            m["strike"],
            m["years"],
            m["rate"],
            m["div"],
            model=args.model,
        )
    reason = str(res.reason[()])
    out: dict[str, Any] = (
        {"iv": float(res.iv[()])} if reason == "" else {"iv": None, "reason": reason}
    )
    _emit(out, args.json)
    return EXIT_OK


def _run_condor(args: argparse.Namespace) -> int:
    legs = {name: _number(name, getattr(args, name)) for name in CONDOR_STRIKES}
    try:
        metrics = condor_metrics(**legs)
    except ValueError as e:
        message = str(e)
        for name in CONDOR_STRIKES:  # no leg name contains another
            message = message.replace(name, _flag(name))
        raise CalcUsageError(message) from None
    # A breakeven is None when the credit covers that whole wing: there is none on that side.
    _emit({name: getattr(metrics, name) for name in CONDOR_FIELDS}, args.json, missing="none")
    return EXIT_OK


def _emit(out: dict[str, Any], as_json: bool, *, missing: str = "n/a") -> None:
    """Print ``out`` as JSON (None as null) or as an aligned table (None as ``missing``).

    Raises CalcUsageError, before printing anything, if any number is not finite.
    """
    for value in out.values():
        if isinstance(value, float) and not math.isfinite(value):
            raise CalcUsageError("result is not finite for these inputs")
    if as_json:
        print(json.dumps(out, allow_nan=False))
        return
    width = max(map(len, out))
    for name, value in out.items():
        shown = missing if value is None else value if isinstance(value, str) else f"{value:.8g}"
        print(f"{name:<{width}}  {shown:>14}")
