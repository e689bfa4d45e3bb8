"""Shared test setup: logging that never outlives the test that configured it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

import daemon.logging


@pytest.fixture(autouse=True)
def _reset_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(daemon.logging, "CACHE_LOGGERS", False)
    yield
    daemon.logging.LEVEL.numeric = logging.INFO
    daemon.logging.FLOODS._windows.clear()
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()
