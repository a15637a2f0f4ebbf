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


@pytest.fixture
def start_tape() -> Iterator[Callable[..., tuple]]:
    """`start_tape(apps={101: 40}, **options)` -> (simulator, api_url), with its file host running."""
    from source_vault_exports.simulators.tape import TapeOptions, TapeSimulator, TapeStorageApp

    servers: List[LoopbackServer] = []

    def start(apps: Optional[dict] = None, **options: Any) -> tuple:
        simulator = TapeSimulator(TapeOptions(**options), apps or {101: 40, 102: 12})
        simulator.storage_app = TapeStorageApp(simulator)  # tests switch the file host's faults here
        storage = LoopbackServer(simulator.storage_app).start()
        simulator.set_storage_url(storage.url)
        server = LoopbackServer(simulator).start()
        servers.extend([storage, server])
        return simulator, server.url

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def staging_dir(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """Airbyte file transfer writes under this folder instead of /staging/files."""
    from airbyte_cdk.sources.utils import files_directory

    folder = tmp_path / "staging"
    folder.mkdir()
    monkeypatch.setattr(files_directory, "AIRBYTE_STAGING_DIRECTORY", str(folder))
    return folder


@pytest.fixture
def start_batch() -> Iterator[Callable[..., tuple]]:
    """`start_batch(profiles=50, events_per_hour=3, **options)` -> (simulator, api_url), storage running."""
    from source_vault_exports.simulators.batch import BatchOptions, BatchSimulator

    servers: List[LoopbackServer] = []

    def start(profiles: int = 50, events_per_hour: int = 3, **options: Any) -> tuple:
        simulator = BatchSimulator(BatchOptions(**options), profiles=profiles, events_per_hour=events_per_hour)
        storage = LoopbackServer(simulator.storage).start()
        simulator.set_storage_url(storage.url)
        server = LoopbackServer(simulator).start()
        servers.extend([storage, server])
        return simulator, f"{server.url}/{simulator.options.version}"

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def start_vault() -> Iterator[Callable[..., tuple]]:
    """`start_vault(documents=10, objects={"product__v": 30}, **options)` -> (simulator, vault_url).

    Jobs advance in fractions of a second and may be polled every 0.1 s, scaled from Vault's 10 s.
    """
    from source_vault_exports.simulators.veeva import VaultOptions, VaultSimulator

    servers: List[LoopbackServer] = []

    def start(documents: int = 10, objects: Optional[dict] = None, files_per_field: int = 1, **options: Any) -> tuple:
        settings = {"job_queued_seconds": 0.1, "job_running_seconds": 0.2, "job_poll_min_seconds": 0.1, **options}
        simulator = VaultSimulator(
            VaultOptions(**settings), documents=documents, objects=objects or {"product__v": 30, "site__c": 12}, files_per_field=files_per_field
        )
        server = LoopbackServer(simulator).start()
        servers.append(server)
        return simulator, server.url

    yield start
    for server in servers:
        server.stop()
