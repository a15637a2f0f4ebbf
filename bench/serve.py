"""Serve one benchmark simulator in its own process: `python bench/serve.py '<json spec>'`.

The simulator runs apart from the connector so its CPU is not the connector's. It renders its big
bodies into the cache first (see `sims.py`), then prints one JSON line - the connector's config
section and what the floor needs - and serves until its standard input closes.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sims  # noqa: E402  (bench folder on the path above)

from source_vault_exports.simulators.http import LoopbackServer  # noqa: E402


def serve_zuora(spec: Dict[str, Any], cache: Path) -> tuple:
    objects = [f"{spec.get('prefix', 'Bench')}{n}" for n in range(1, spec["objects"] + 1)]
    options = {"processing_seconds": spec.get("processing_seconds", 0.1), "content_length_max_rows": 50_000}
    first = datetime.fromisoformat(spec.get("first_updated", "2024-01-01T00:00:00+00:00"))
    simulator = sims.zuora_simulator(cache, spec["rows"], objects, first, **options)
    files = {name: simulator.prepare(name) for name in objects}
    server = LoopbackServer(simulator).start()
    section = simulator.connector_config(server.url, window_days=3650, start_date=first.isoformat().replace("+00:00", "Z"), tenant_timezone="America/Los_Angeles")
    info = {"bytes": sum(size for _, size in files.values()), "rows": spec["rows"] * len(objects), "objects": objects}
    return [server], {"zuora": section}, info


def serve_veeva(spec: Dict[str, Any], cache: Path) -> tuple:
    simulator = sims.veeva_simulator(cache, spec["records"], spec["file_bytes"], spec["part_bytes"])
    # Render the one archive the connector's single export job will ask for (records in id order).
    data = simulator.data.objects["product__v"]
    from source_vault_exports.simulators.veeva.archives import Member

    members = [
        Member(f"{data.record_id(i)}/attachment__c/{f.name}", f.blob, int(f.created.timestamp()))
        for i in range(data.count)
        for f in simulator.data.field_files("product__v", i, "attachment__c")
    ]
    archive = simulator.archive_path(members)
    if spec.get("timing_file"):
        simulator.timing_file = spec["timing_file"]
    server = LoopbackServer(simulator).start()
    section = simulator.connector_config(server.url, document_attachments=False, poll_interval_seconds=0.1, max_concurrent_jobs=1)
    info = {"bytes": archive.stat().st_size, "rows": len(members), "archive": str(archive)}
    return [server], {"veeva_vault": section}, info


def serve_batch(spec: Dict[str, Any], cache: Path) -> tuple:
    from source_vault_exports.vendors.batch.config import NATIVE_ATTRIBUTES

    simulator = sims.batch_simulator(cache, spec["profiles"], spec["part_bytes"])
    parts, rows, size = simulator.prepare_profiles(list(NATIVE_ATTRIBUTES), ["custom_id", "installation_ids"])
    storage = LoopbackServer(simulator.storage).start()
    simulator.set_storage_url(storage.url)
    server = LoopbackServer(simulator).start()
    section = simulator.connector_config(f"{server.url}/{simulator.options.version}", poll_interval_seconds=0.1)
    info = {"bytes": size, "rows": rows, "parts": parts, "attributes": list(NATIVE_ATTRIBUTES), "identifiers": ["custom_id", "installation_ids"]}
    return [server, storage], {"batch": section}, info


def serve_tape(spec: Dict[str, Any], cache: Path) -> tuple:
    from source_vault_exports.simulators.tape import TapeOptions, TapeSimulator, TapeStorageApp

    options = TapeOptions(credits_per_minute=spec["credits"], interval_seconds=spec["interval_seconds"])
    simulator = TapeSimulator(options, {101: spec["records"]})
    storage = LoopbackServer(TapeStorageApp(simulator)).start()
    simulator.set_storage_url(storage.url)
    server = LoopbackServer(simulator).start()
    section = simulator.connector_config(server.url)
    limit = spec["credits"] / options.max_page_cost / spec["interval_seconds"]
    info = {"rows": spec["records"], "requests_per_second_limit": limit, "page_cost": options.max_page_cost}
    return [server, storage], {"tape": section}, info


SERVERS = {"zuora": serve_zuora, "veeva": serve_veeva, "batch": serve_batch, "tape": serve_tape}


def main() -> None:
    spec = json.loads(sys.argv[1])
    cache = Path(spec["cache"])
    cache.mkdir(parents=True, exist_ok=True)
    servers: List[LoopbackServer]
    servers, config, info = SERVERS[spec["vendor"]](spec, cache)
    print(json.dumps({"config": config, "info": info}), flush=True)
    try:
        sys.stdin.read()  # the runner closes our stdin when the case is done
    finally:
        for server in servers:
            server.stop()
        apps = [server.app for server in servers]
        calls = {name: count for app in apps for name, count in app.calls.items()}
        print(json.dumps({"calls": calls}), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
