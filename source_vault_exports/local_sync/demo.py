"""The bundled simulators as a data source, for a first local sync without vendor credentials."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterator

from source_vault_exports.simulators.http import LoopbackServer
from source_vault_exports.simulators.zuora import DEFAULT_OBJECTS, ZuoraOptions, ZuoraSimulator

DEMO_ROWS_PER_OBJECT = 2_000
DEMO_DAYS = 180


@contextlib.contextmanager
def demo_sources() -> Iterator[Dict[str, Any]]:
    """Start every bundled simulator; yield a connector config pointing at them."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=DEMO_DAYS)
    zuora = ZuoraSimulator(
        {name: DEMO_ROWS_PER_OBJECT for name in DEFAULT_OBJECTS},
        ZuoraOptions(pending_seconds=0.2, processing_seconds=0.5),
        first_updated=first,
        span=timedelta(days=DEMO_DAYS),
    )
    with LoopbackServer(zuora) as server:
        yield {
            "start_date": first.isoformat().replace("+00:00", "Z"),
            "zuora": zuora.connector_config(server.url, window_days=30, poll_interval_seconds=0.2),
        }
