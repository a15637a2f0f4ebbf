"""`vault-exports-simulator {zuora,veeva,batch,tape} --port 8081`: serve a simulator until stopped.

Prints the connector config section that points at it, ready to paste into a config file.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any, Dict, List, Optional, Tuple

from source_vault_exports.simulators.http import LoopbackServer


def start_simulator(vendor: str, port: int = 0, size: int = 1000) -> Tuple[List[LoopbackServer], str, Dict[str, Any]]:
    """Start one vendor's simulator (and its file host); return servers, config key and section."""
    if vendor == "zuora":
        from source_vault_exports.simulators.zuora import DEFAULT_OBJECTS, ZuoraSimulator

        zuora = ZuoraSimulator({name: size for name in DEFAULT_OBJECTS})
        server = LoopbackServer(zuora, port).start()
        return [server], "zuora", zuora.connector_config(server.url)
    if vendor == "veeva":
        from source_vault_exports.simulators.veeva import VaultOptions, VaultSimulator

        vault = VaultSimulator(VaultOptions(job_queued_seconds=0.5, job_running_seconds=1.0, job_poll_min_seconds=1.0), documents=max(1, size // 20), objects={"product__v": size, "site__c": max(1, size // 2)})
        server = LoopbackServer(vault, port).start()
        return [server], "veeva_vault", vault.connector_config(server.url, poll_interval_seconds=1.0)
    if vendor == "batch":
        from source_vault_exports.simulators.batch import BatchSimulator

        batch = BatchSimulator(profiles=size, events_per_hour=12)
        storage = LoopbackServer(batch.storage).start()
        batch.set_storage_url(storage.url)
        server = LoopbackServer(batch, port).start()
        return [server, storage], "batch", batch.connector_config(f"{server.url}/{batch.options.version}", poll_interval_seconds=0.5)
    if vendor == "tape":
        from source_vault_exports.simulators.tape import TapeSimulator, TapeStorageApp

        tape = TapeSimulator(apps={101: size, 102: max(1, size // 4)})
        storage = LoopbackServer(TapeStorageApp(tape)).start()
        tape.set_storage_url(storage.url)
        server = LoopbackServer(tape, port).start()
        return [server, storage], "tape", tape.connector_config(server.url)
    raise ValueError(f"unknown vendor {vendor}")


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="vault-exports-simulator", description=__doc__)
    parser.add_argument("vendor", choices=["zuora", "veeva", "batch", "tape"])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--size", type=int, default=1000, help="rows, records or profiles per object")
    args = parser.parse_args(argv)

    servers, key, section = start_simulator(args.vendor, args.port, args.size)
    print(json.dumps({key: section}, indent=2), flush=True)
    print(f"{args.vendor} simulator listening on {servers[0].url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    for server in servers:
        server.stop()


if __name__ == "__main__":
    main()
