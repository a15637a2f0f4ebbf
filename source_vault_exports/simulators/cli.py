"""`vault-exports-simulator zuora --port 8081 --rows 1000`: serve a simulator until interrupted.

Prints the connector config section that points at it, so it can be pasted into a config file.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import List, Optional

from source_vault_exports.simulators.http import LoopbackServer
from source_vault_exports.simulators.zuora import DEFAULT_OBJECTS, ZuoraSimulator


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="vault-exports-simulator", description=__doc__)
    parser.add_argument("vendor", choices=["zuora"])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--rows", type=int, default=1000, help="rows per object")
    args = parser.parse_args(argv)

    simulator = ZuoraSimulator({name: args.rows for name in DEFAULT_OBJECTS})
    server = LoopbackServer(simulator, args.port).start()
    print(json.dumps({"zuora": simulator.connector_config(server.url)}, indent=2), flush=True)
    print(f"Zuora simulator listening on {server.url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    server.stop()


if __name__ == "__main__":
    main()
