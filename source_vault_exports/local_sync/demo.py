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

from source_vault_exports.simulators.cli import start_simulator
from source_vault_exports.simulators.http import LoopbackServer
from source_vault_exports.simulators.zuora import DEFAULT_OBJECTS, ZuoraOptions, ZuoraSimulator


@dataclass(frozen=True)
class SimulatedData:
    """How much each simulator holds (see `start_simulator` for what a size means per vendor)."""

    zuora_rows: int  # per default object, spread over `zuora_days`
    zuora_days: int
    veeva: int
    batch: int
    tape: int


DEMO = SimulatedData(zuora_rows=2_000, zuora_days=180, veeva=150, batch=500, tape=200)
SMALL = SimulatedData(zuora_rows=40, zuora_days=60, veeva=40, batch=40, tape=30)


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
        for vendor, size in (("veeva", data.veeva), ("batch", data.batch), ("tape", data.tape)):
            started, key, section = start_simulator(vendor, size=size)
            servers.extend(started)
            config[key] = section
        # Batch refuses events older than its lookback: the demo's events start two days ago.
        config["batch"]["start_date"] = _rfc3339(today - timedelta(days=2))
        yield config
    finally:
        for server in servers:
            server.stop()


def demo_sources() -> contextlib.AbstractContextManager[Dict[str, Any]]:
    """The data set of the README's first local sync."""
    return simulated_sources(DEMO)
