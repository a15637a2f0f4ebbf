"""The bundled simulators as a data source, for a first local sync without vendor credentials."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterator, List

from source_vault_exports.simulators.cli import start_simulator
from source_vault_exports.simulators.http import LoopbackServer
from source_vault_exports.simulators.zuora import DEFAULT_OBJECTS, ZuoraOptions, ZuoraSimulator

DEMO_ZUORA_ROWS = 2_000
DEMO_DAYS = 180
DEMO_SIZES = {"veeva": 150, "batch": 500, "tape": 200}


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@contextlib.contextmanager
def demo_sources() -> Iterator[Dict[str, Any]]:
    """Start every bundled simulator; yield a connector config pointing at all four."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=DEMO_DAYS)
    zuora = ZuoraSimulator(
        {name: DEMO_ZUORA_ROWS for name in DEFAULT_OBJECTS},
        ZuoraOptions(pending_seconds=0.2, processing_seconds=0.5),
        first_updated=first,
        span=timedelta(days=DEMO_DAYS),
    )
    servers: List[LoopbackServer] = [LoopbackServer(zuora).start()]
    config: Dict[str, Any] = {
        "zuora": zuora.connector_config(servers[0].url, window_days=30, poll_interval_seconds=0.2, start_date=_rfc3339(first)),
    }
    try:
        for vendor, size in DEMO_SIZES.items():
            started, key, section = start_simulator(vendor, size=size)
            servers.extend(started)
            config[key] = section
        # Batch refuses events older than its lookback: the demo's events start two days ago.
        config["batch"]["start_date"] = _rfc3339(today - timedelta(days=2))
        yield config
    finally:
        for server in servers:
            server.stop()
