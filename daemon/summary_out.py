"""How batch commands (`simulate`, `replay`, `history`) print their summary and pick their exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping

EX_SOFTWARE = 70


def print_summary(summary: Mapping[str, object], prefix: str = "") -> None:
    """One ``dotted.key  value`` line per leaf (an empty mapping prints as ``{}``)."""
    for key, value in summary.items():
        if isinstance(value, Mapping) and value:
            print_summary(value, f"{prefix}{key}.")
        else:
            print(f"{prefix + key:<40} {value}")


def report_summary(summary: Mapping[str, object], as_json: bool) -> int:
    """Print the summary (one JSON object with ``as_json``); exit 70 when handler errors were
    contained during the run, since its results are then not trustworthy."""
    if as_json:
        print(json.dumps(summary, sort_keys=True, allow_nan=False))
    else:
        print_summary(summary)
    errors = summary.get("handler_errors")
    if errors:
        print(
            f"alvh: error: {errors} handler errors were contained during the"
            " run (see the handler_failed log lines); its results are not trustworthy",
            file=sys.stderr,
        )
        return EX_SOFTWARE
    return 0
