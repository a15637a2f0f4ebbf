"""The bundled simulators as a data source: a first local sync without vendor credentials.

`simulated_sources(DEMO)` backs `source-vault-exports-local` when no config is given;
`simulated_sources(SMALL)` backs the standard connector tests and the CI image smoke test, which
need every stream to have rows but not many.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterator, List

from source_vault_exports.simulators.batch import BatchSimulator
from source_vault_exports.simulators.cli import start_simulator
from source_vault_exports.simulators.http import LoopbackServer
from source_vault_exports.simulators.zuora import DEFAULT_OBJECTS, ZuoraOptions, ZuoraSimulator


@dataclass(frozen=True)
class SimulatedData:
    """How much each simulator holds (see `start_simulator` for what a size means per vendor)."""

    zuora_rows: int  # per default object, spread over `zuora_days`
    zuora_days: int
    veeva: int
    batch_profiles: int
    batch_events_per_hour: int  # over Batch's whole 30-day event lookback
    tape: int


DEMO = SimulatedData(zuora_rows=2_000, zuora_days=180, veeva=150, batch_profiles=500, batch_events_per_hour=12, tape=200)
SMALL = SimulatedData(zuora_rows=40, zuora_days=60, veeva=40, batch_profiles=40, batch_events_per_hour=1, tape=30)
# Batch events are exported in windows of this many hours: a few jobs cover the whole lookback.
BATCH_EVENT_WINDOW_HOURS = 24 * 7


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@contextlib.contextmanager
def simulated_sources(data: SimulatedData = DEMO) -> Iterator[Dict[str, Any]]:
    """Start every bundled simulator; yield a connector config pointing at all four."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=data.zuora_days)
    zuora = ZuoraSimulator(
        {name: data.zuora_rows for name in DEFAULT_OBJECTS},
        ZuoraOptions(pending_seconds=0.2, processing_seconds=0.5),
        first_updated=first,
        span=timedelta(days=data.zuora_days),
    )
    servers: List[LoopbackServer] = [LoopbackServer(zuora).start()]
    config: Dict[str, Any] = {
        "zuora": zuora.connector_config(servers[0].url, window_days=30, poll_interval_seconds=0.2, start_date=_rfc3339(first)),
    }
    try:
        for vendor, size in (("veeva", data.veeva), ("tape", data.tape)):
            started, key, section = start_simulator(vendor, size=size)
            servers.extend(started)
            config[key] = section
        # No Batch start date: events start at the lookback's edge and the export request list
        # is read as far back as Batch keeps it, so every Batch stream has rows.
        batch = BatchSimulator(profiles=data.batch_profiles, events_per_hour=data.batch_events_per_hour)
        storage = LoopbackServer(batch.storage).start()
        batch.set_storage_url(storage.url)
        server = LoopbackServer(batch).start()
        servers.extend([server, storage])
        config["batch"] = batch.connector_config(
            f"{server.url}/{batch.options.version}", poll_interval_seconds=0.2, event_window_hours=BATCH_EVENT_WINDOW_HOURS
        )
        yield config
    finally:
        for server in servers:
            server.stop()


def demo_sources() -> contextlib.AbstractContextManager[Dict[str, Any]]:
    """The data set of the README's first local sync."""
    return simulated_sources(DEMO)
