"""Fixtures for end-to-end tests: simulators on loopback ports and fast retries."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, List, Optional

import pytest

from source_vault_exports.core import downloads as core_downloads
from source_vault_exports.core import http as core_http
from source_vault_exports.simulators.http import LoopbackServer
from source_vault_exports.simulators.zuora import ZuoraOptions, ZuoraSimulator

# Tests must not wait minutes on backoff; the behaviour (what is retried, how often) stays the same.
FAST_RETRIES = dataclasses.replace(
    core_http.DEFAULT_RETRY_POLICY,
    backoff_base_seconds=0.05,
    backoff_cap_seconds=0.2,
    max_advised_wait_seconds=1.0,
    max_time_seconds=60.0,
)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core_http, "DEFAULT_RETRY_POLICY", FAST_RETRIES)
    monkeypatch.setattr(core_downloads, "RETRY_WAIT_BASE_SECONDS", 0.01)


@pytest.fixture
def start_zuora() -> Iterator[Callable[..., tuple]]:
    """`start_zuora(rows={"Account": 50}, **options)` -> (simulator, base_url).

    By default one row per day from 2024-01-01, so rows sit exactly on window boundaries.
    """
    servers: List[LoopbackServer] = []

    def start(
        rows: Optional[dict] = None,
        extra_objects: Optional[dict] = None,
        first_updated: datetime = datetime(2024, 1, 1, tzinfo=timezone.utc),
        **options: Any,
    ) -> tuple:
        rows = rows or {"Account": 40, "Invoice": 30}
        span = timedelta(days=max(rows.values()))
        simulator = ZuoraSimulator(rows, ZuoraOptions(**options), first_updated, span, extra_objects)
        server = LoopbackServer(simulator).start()
        servers.append(server)
        return simulator, server.url

    yield start
    for server in servers:
        server.stop()
