"""Fixtures for end-to-end tests: simulators on loopback ports, fast retries, and a leak guard.

`no_secret_leaks` runs around every test: every secret the test's configs carry and every secret
its simulators hold or issued (OAuth tokens, Vault sessions) is searched for in everything the
connector printed in-process (messages, logs, traces) and on stdout/stderr. One hit fails the test.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, List, Optional, Set

import pytest
from airbyte_cdk.test import entrypoint_wrapper
from airbyte_cdk.utils.airbyte_secrets_utils import get_secrets

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


# Every simulator a fixture starts, so the leak guard knows the secrets it holds.
SIMULATORS: List[Any] = []


def simulator_secrets(simulator: Any) -> Set[str]:
    options = simulator.options
    found = {getattr(options, name, None) for name in ("client_secret", "password", "rest_api_key")}
    found.update(getattr(options, "api_keys", ()))
    found.update(getattr(simulator, "tokens", {}))  # Zuora OAuth tokens
    found.update(getattr(simulator, "issued_sessions", ()))  # Vault sessions
    return {secret for secret in found if isinstance(secret, str) and len(secret) >= 6}


@pytest.fixture(autouse=True)
def no_secret_leaks(capfd: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from source_vault_exports.spec import connection_specification

    printed: List[str] = []
    config_secrets: Set[str] = set()
    run_command = entrypoint_wrapper._run_command

    def recording(source: Any, args: List[str], *more: Any, **options: Any):
        if "--config" in args:
            with open(args[args.index("--config") + 1]) as handle:
                config = json.load(handle)
            try:
                config_secrets.update(s for s in get_secrets(connection_specification(), config) if isinstance(s, str) and len(s) >= 6)
            except Exception:  # a deliberately malformed config has no secrets to find
                pass
        output = run_command(source, args, *more, **options)
        printed.extend(str(message) for message in output.get_message_iterator())
        return output

    monkeypatch.setattr(entrypoint_wrapper, "_run_command", recording)
    first = len(SIMULATORS)
    yield
    out, err = capfd.readouterr()
    sys.stdout.write(out)
    sys.stderr.write(err)
    secrets = config_secrets | {secret for simulator in SIMULATORS[first:] for secret in simulator_secrets(simulator)}
    everything = "\n".join(printed) + out + err
    leaked = sorted(secret for secret in secrets if secret in everything)
    assert not leaked, f"secret values were printed: {[s[:4] + '...' for s in leaked]}"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core_http, "DEFAULT_RETRY_POLICY", FAST_RETRIES)
    monkeypatch.setattr(core_downloads, "RETRY_WAIT_BASE_SECONDS", 0.01)


@pytest.fixture
def serve() -> Iterator[Callable[[Any], LoopbackServer]]:
    """`serve(app)` starts a loopback server for a simulator app, stopped when the test ends."""
    servers: List[LoopbackServer] = []

    def start(app: Any) -> LoopbackServer:
        server = LoopbackServer(app).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def start_zuora(serve: Callable[[Any], LoopbackServer]) -> Callable[..., tuple]:
    """`start_zuora(rows={"Account": 50}, **options)` -> (simulator, base_url).

    By default one row per day from 2024-01-01, so rows sit exactly on window boundaries.
    """
    def start(
        rows: Optional[dict] = None,
        extra_objects: Optional[dict] = None,
        first_updated: datetime = datetime(2024, 1, 1, tzinfo=timezone.utc),
        **options: Any,
    ) -> tuple:
        rows = rows or {"Account": 40, "Invoice": 30}
        span = timedelta(days=max(rows.values()))
        simulator = ZuoraSimulator(rows, ZuoraOptions(**options), first_updated, span, extra_objects)
        SIMULATORS.append(simulator)
        return simulator, serve(simulator).url

    return start


@pytest.fixture
def start_tape(serve: Callable[[Any], LoopbackServer]) -> Callable[..., tuple]:
    """`start_tape(apps={101: 40}, **options)` -> (simulator, api_url), with its file host running."""
    from source_vault_exports.simulators.tape import TapeOptions, TapeSimulator, TapeStorageApp

    def start(apps: Optional[dict] = None, **options: Any) -> tuple:
        simulator = TapeSimulator(TapeOptions(**options), apps or {101: 40, 102: 12})
        SIMULATORS.append(simulator)
        simulator.storage_app = TapeStorageApp(simulator)  # tests switch the file host's faults here
        storage = serve(simulator.storage_app)
        simulator.set_storage_url(storage.url)
        server = serve(simulator)
        return simulator, server.url

    return start


@pytest.fixture
def staging_dir(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """Airbyte file transfer writes under this folder instead of /staging/files."""
    from airbyte_cdk.sources.utils import files_directory

    folder = tmp_path / "staging"
    folder.mkdir()
    monkeypatch.setattr(files_directory, "AIRBYTE_STAGING_DIRECTORY", str(folder))
    return folder


@pytest.fixture
def start_batch(serve: Callable[[Any], LoopbackServer]) -> Callable[..., tuple]:
    """`start_batch(profiles=50, events_per_hour=3, **options)` -> (simulator, api_url), storage running."""
    from source_vault_exports.simulators.batch import BatchOptions, BatchSimulator

    def start(profiles: int = 50, events_per_hour: int = 3, **options: Any) -> tuple:
        simulator = BatchSimulator(BatchOptions(**options), profiles=profiles, events_per_hour=events_per_hour)
        SIMULATORS.append(simulator)
        storage = serve(simulator.storage)
        simulator.set_storage_url(storage.url)
        server = serve(simulator)
        return simulator, f"{server.url}/{simulator.options.version}"

    return start


@pytest.fixture
def start_vault(serve: Callable[[Any], LoopbackServer]) -> Callable[..., tuple]:
    """`start_vault(documents=10, objects={"product__v": 30}, **options)` -> (simulator, vault_url).

    Jobs advance in fractions of a second and may be polled every 0.1 s, scaled from Vault's 10 s.
    """
    from source_vault_exports.simulators.veeva import VaultOptions, VaultSimulator

    def start(documents: int = 10, objects: Optional[dict] = None, files_per_field: int = 1, **options: Any) -> tuple:
        settings = {"job_queued_seconds": 0.1, "job_running_seconds": 0.2, "job_poll_min_seconds": 0.1, **options}
        simulator = VaultSimulator(
            VaultOptions(**settings), documents=documents, objects=objects or {"product__v": 30, "site__c": 12}, files_per_field=files_per_field
        )
        SIMULATORS.append(simulator)
        return simulator, serve(simulator).url

    return start


# -- Airbyte's standard tests (integration_tests/test_standard_suite.py) ---------------------------


def pytest_configure(config: pytest.Config) -> None:
    # Marks that airbyte_cdk.test.standard_tests puts on its tests.
    config.addinivalue_line("markers", "image_tests: runs the connector's docker image (needs a docker daemon)")
    config.addinivalue_line("markers", "requires_creds: the scenario's config holds real credentials (under secrets/)")


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    """Skip the standard suite's docker image tests where no docker daemon answers.

    The suite skips them itself only when there is no `docker` CLI; with a CLI but no daemon they
    would fail. `.ci/image_check.py` builds and runs the image with buildah instead.
    """
    image_tests = [item for item in items if item.get_closest_marker("image_tests")]
    if not image_tests:
        return
    import shutil
    import subprocess

    docker = shutil.which("docker")
    answers = False
    if docker:
        try:
            answers = subprocess.run([docker, "info"], capture_output=True, timeout=20).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            answers = False
    if not answers:
        skip = pytest.mark.skip(reason="no docker daemon: the image is built and run by .ci/image_check.py (buildah)")
        for item in image_tests:
            item.add_marker(skip)
