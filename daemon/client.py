"""``alvh status | positions | pause | resume | flatten``: thin clients of the daemon's HTTP API.

They call the running daemon (``--url``, default ``$ALVH_API_URL`` or ``http://127.0.0.1:8765``)
and print what it answers: ``--json`` prints the API's JSON as is, otherwise aligned tables.
Control calls send ``Authorization: Bearer <token>`` (``--token``, default the daemon's own
source: ``ALVH_API_TOKEN`` or the systemd credential ``alvh-api-token``).

Exit codes: 0 ok; 64 a ``--url`` that is not http(s); 69 (EX_UNAVAILABLE) the daemon cannot be
reached; 77 (EX_NOPERM) the token is missing or wrong (401); 70 any other HTTP error or an
unreadable answer. Each failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

EXIT_OK = 0
EXIT_USAGE = 64
"""EX_USAGE: a ``--url`` that is not an http(s) URL."""
EXIT_SOFTWARE = 70
"""EX_SOFTWARE: an HTTP error other than 401, or an answer that is not the expected JSON."""
EXIT_UNAVAILABLE = 69
"""EX_UNAVAILABLE: the daemon cannot be reached."""
EXIT_NOPERM = 77
"""EX_NOPERM: the API refused the bearer token (401)."""

API_URL_ENV = "ALVH_API_URL"
DEFAULT_URL = "http://127.0.0.1:8765"
DEFAULT_TIMEOUT_S = 5.0
CONTROL_KINDS = ("pause", "resume", "flatten")
GREEK_COLUMNS = (
    ("spx_delta", "spx_delta"),
    ("spx_gamma", "spx_gamma"),
    ("vix_delta", "vix_delta"),
    ("vix_gamma", "vix_gamma"),
    ("vega_dollars", "vega$"),
    ("theta_per_day", "theta/day"),
)


class ClientError(Exception):
    """A failed call: the exit code and the one line to print."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def add_client_parsers(subparsers: Any) -> None:
    """Add ``status``, ``positions``, ``pause``, ``resume`` and ``flatten`` to ``subparsers``."""
    status = subparsers.add_parser("status", help="the running daemon's status")
    _add_common_arguments(status)
    status.set_defaults(func=run_status)

    positions = subparsers.add_parser(
        "positions", help="the running daemon's open positions and greeks"
    )
    _add_common_arguments(positions)
    positions.set_defaults(func=run_positions)

    helps = {
        "pause": "pause new entries in the running daemon",
        "resume": "resume trading in the running daemon",
        "flatten": "close every open position in the running daemon",
    }
    for kind in CONTROL_KINDS:
        control = subparsers.add_parser(kind, help=helps[kind])
        _add_common_arguments(control)
        control.add_argument(
            "--reason", help="why, recorded with the control event (default: operator)"
        )
        control.set_defaults(func=run_control, control_kind=kind)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def _add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--url",
        default=None,
        help=f"the daemon's API (default: ${API_URL_ENV}, else {DEFAULT_URL})",
    )
    p.add_argument(
        "--token",
        default=None,
        help="bearer token for control calls (default: $ALVH_API_TOKEN, else the systemd "
        "credential alvh-api-token in $CREDENTIALS_DIRECTORY)",
    )
    p.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds to wait for the daemon (default: {DEFAULT_TIMEOUT_S:g})",
    )
    p.add_argument("--json", action="store_true", help="print the API's JSON as is")


# -- handlers ----------------------------------------------------------------------------------


def run_status(args: argparse.Namespace) -> int:
    """``GET /status``; return the process exit code."""
    return _run(args, "GET", "/status", None, _print_status)


def run_positions(args: argparse.Namespace) -> int:
    """``GET /positions``; return the process exit code."""
    return _run(args, "GET", "/positions", None, _print_positions)


def run_control(args: argparse.Namespace) -> int:
    """``POST /pause``, ``/resume`` or ``/flatten``; return the process exit code."""
    body = {"reason": args.reason} if args.reason is not None else None
    return _run(args, "POST", f"/{args.control_kind}", body, _print_control)


def _run(
    args: argparse.Namespace,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    render: Callable[[dict[str, Any]], None],
) -> int:
    try:
        base = _base_url(args.url)
        token = _token(args.token) if method == "POST" else None
        text = _call(base, method, path, body, token, args.timeout)
        if args.json:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            return EXIT_OK
        render(_parse(text, path))
    except ClientError as exc:
        print(f"alvh: error: {exc.message}", file=sys.stderr)
        return exc.code
    return EXIT_OK


def _base_url(given: str | None) -> str:
    url = given or os.environ.get(API_URL_ENV, "").strip() or DEFAULT_URL
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise ClientError(EXIT_USAGE, f"--url: not an http(s) URL: {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientError(EXIT_USAGE, f"--url: not an http(s) URL: {url!r}")
    return url.rstrip("/")


def _token(given: str | None) -> str | None:
    if given is not None:
        return given.strip() or None
    from daemon.service import api_token

    try:
        return api_token()
    except (OSError, ValueError) as exc:
        # an unreadable credential file: carry on without a token, the API then says 401
        print(f"alvh: warning: cannot read the API token: {exc}", file=sys.stderr)
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""No proxies: the daemon is local, and the bearer token must not go through a proxy."""


def _call(
    base: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    token: str | None,
    timeout: float,
) -> str:
    """The response text of a 2xx answer; any failure is a :class:`ClientError`."""
    url = base + path
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            raw: bytes = resp.read()
    except urllib.error.HTTPError as exc:
        raise _http_error(exc, base) from None
    except urllib.error.URLError as exc:
        raise ClientError(
            EXIT_UNAVAILABLE, f"cannot reach the daemon at {base}: {_reason(exc.reason)}"
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise ClientError(
            EXIT_UNAVAILABLE, f"cannot reach the daemon at {base}: {_reason(exc)}"
        ) from None
    except ValueError as exc:
        raise ClientError(EXIT_USAGE, f"--url: {exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ClientError(EXIT_SOFTWARE, f"{method} {path}: the answer is not UTF-8") from None


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _http_error(exc: urllib.error.HTTPError, base: str) -> ClientError:
    try:
        raw = exc.read()
    except (OSError, http.client.HTTPException):
        raw = b""
    finally:
        exc.close()
    error, detail = _error_message(raw)
    if exc.code == 401:
        why = f" ({detail})" if detail else ""
        return ClientError(
            EXIT_NOPERM,
            f"the daemon at {base} refused the API token: it is missing or wrong{why}; "
            "set ALVH_API_TOKEN (or pass --token) to the daemon's token",
        )
    message = error or exc.reason or "HTTP error"
    return ClientError(
        EXIT_SOFTWARE, f"HTTP {exc.code}: {message}" + (f": {detail}" if detail else "")
    )


def _error_message(raw: bytes) -> tuple[str, str]:
    """The API's ``error`` and its detail (``detail`` or the invalid ``fields``), on one line."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    error = _one_line(body.get("error") or "")
    parts = []
    if body.get("detail"):
        parts.append(_one_line(body["detail"]))
    for field in body.get("fields") or []:
        if isinstance(field, dict):
            loc = ".".join(str(x) for x in field.get("loc") or [])
            parts.append(_one_line(f"{loc}: {field.get('msg', '')}" if loc else field.get("msg")))
    return error, "; ".join(parts)


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _parse(text: str, path: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        raise ClientError(EXIT_SOFTWARE, f"{path}: the answer is not JSON") from None
    if not isinstance(body, dict):
        raise ClientError(EXIT_SOFTWARE, f"{path}: the answer is not a JSON object")
    return body


# -- rendering ---------------------------------------------------------------------------------


def _num(value: Any, fmt: str = ",.2f") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return format(value, fmt)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Columns padded to their widest cell: the first ``left`` left-aligned, the rest right."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def _print_status(body: dict[str, Any]) -> None:
    try:
        age = body.get("last_snapshot_age_s")
        paused = body.get("trading_paused")
        pairs = [
            ("market time", body.get("market_time") or "no snapshot yet"),
            ("VIX", _num(body.get("vix"))),
            ("SPX", _num(body.get("spx"))),
            ("regime", str(body.get("regime", "n/a"))),
            ("equity", _num(body.get("equity"))),
            ("cash", _num(body.get("cash"))),
            ("margin requirement", _num(body.get("margin_requirement"))),
            ("buying power", _num(body.get("buying_power"))),
            ("trading paused", "n/a" if paused is None else ("yes" if paused else "no")),
            ("snapshots", _num(body.get("snapshots"), "d")),
            ("handler errors", _num(body.get("handler_errors"), "d")),
            ("last snapshot age", "n/a" if age is None else f"{_num(age, '.1f')} s"),
            ("open positions", str(len(body.get("open_positions") or []))),
        ]
    except (TypeError, ValueError) as exc:
        raise ClientError(EXIT_SOFTWARE, f"/status: unexpected answer: {exc}") from None
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        print(f"{key.ljust(width)}  {value}")


def _greek_cells(greeks: Any) -> list[str]:
    if not isinstance(greeks, dict):
        return ["n/a"] * len(GREEK_COLUMNS)
    return [_num(greeks.get(key)) for key, _ in GREEK_COLUMNS]


def _print_positions(body: dict[str, Any]) -> None:
    try:
        lines = _positions_lines(body)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ClientError(EXIT_SOFTWARE, f"/positions: unexpected answer: {exc}") from None
    print("\n".join(lines))


def _positions_lines(body: dict[str, Any]) -> list[str]:
    lines = [f"market time  {body.get('market_time') or 'no snapshot yet'}", ""]
    positions = body.get("positions") or []
    if positions:
        rows = []
        for p in positions:
            greeks = p.get("greeks")
            g = greeks if isinstance(greeks, dict) else {}
            rows.append(
                [
                    str(p.get("layer", "")),
                    str(p.get("contract", "")),
                    _num(p.get("quantity"), "d"),
                    _num(p.get("avg_price")),
                    _num(p.get("mark")),
                    _num(g.get("spx_delta")),
                    _num(g.get("vega_dollars")),
                    _num(g.get("theta_per_day")),
                ]
            )
        headers = ("layer", "contract", "qty", "avg", "mark", "spx_delta", "vega$", "theta/day")
        lines += _table(headers, rows, left=2)
    else:
        lines.append("no open positions")
    lines.append("")
    greek_rows = [[str(layer), *_greek_cells(g)] for layer, g in (body.get("layers") or {}).items()]
    greek_rows.append(["book", *_greek_cells(body.get("book"))])
    lines += _table(("greeks", *(label for _, label in GREEK_COLUMNS)), greek_rows)
    unpriced = body.get("unpriced") or []
    if unpriced:
        lines += ["", "unpriced (no greeks in the snapshot): " + ", ".join(map(str, unpriced))]
    return lines


def _print_control(body: dict[str, Any]) -> None:
    print(f"{body.get('applied', '?')} applied at feed position {body.get('position', '?')}")
