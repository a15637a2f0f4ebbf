"""Run singer's tap-zuora (REST export mode) against the loopback Zuora simulator.

Executed by the python of tap-zuora's own virtualenv (see `bench/requirements-tap-zuora.txt`):
`python bench/tap_zuora_run.py '<json: base_url, client_id, client_secret, objects, start_date, poll>'`.
The tap knows only Zuora's real hosts, so its host table points at the simulator, and its fixed
60 s poll sleep is set to the connector's poll interval so both wait the same for the same job.
Nothing else is changed: discovery, query windows (30 days), CSV parsing, `singer.transform`
and output are the tap's own. Its RECORD lines go to standard output like any Singer tap.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    settings = json.loads(sys.argv[1])
    import singer
    from singer import metadata
    from tap_zuora import client as tap_client
    from tap_zuora import sync as tap_sync
    from tap_zuora import do_sync, validate_state
    from tap_zuora.discover import discover_stream

    base = settings["base_url"].rstrip("/") + "/"
    for key in list(tap_client.URLS):
        tap_client.URLS[key] = [base]
    tap_sync.DEFAULT_POLL_INTERVAL = settings["poll"]

    config = {
        "start_date": settings["start_date"],
        "api_type": "REST",
        "auth_type": "OAUTH",
        "username": settings["client_id"],
        "password": settings["client_secret"],
    }
    client = tap_client.Client.from_config(config)
    streams = []
    for name in settings["objects"]:
        stream = discover_stream(client, name)
        if stream is None:
            raise SystemExit(f"tap-zuora could not discover {name}")
        mdata = metadata.to_map(stream["metadata"])
        mdata = metadata.write(mdata, (), "selected", True)
        for field in stream["schema"]["properties"]:
            mdata = metadata.write(mdata, ("properties", field), "selected", True)
        stream["metadata"] = metadata.to_list(mdata)
        streams.append(stream)
    catalog = singer.Catalog.from_dict({"streams": streams})
    state = validate_state(config, catalog, {})
    do_sync(client, catalog, state)


if __name__ == "__main__":
    main()
