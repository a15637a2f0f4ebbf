"""Sync source-vault-exports with PyAirbyte, offline, into PyAirbyte's local DuckDB cache.

PyAirbyte (the `airbyte` package) pins its own duckdb and pandas, so it gets its own virtualenv and
runs this connector as a local executable from the connector's virtualenv:

    python3.11 -m venv .venv-pyairbyte && .venv-pyairbyte/bin/pip install -q airbyte==0.71.3
    .venv-pyairbyte/bin/python docs/examples/pyairbyte_sync.py --config config.json \\
        --executable .venv/bin/source-vault-exports

It checks the config, reads every stream (or `--streams a,b`) into the cache, shows the first rows of
one stream as a pandas DataFrame, and prints, as its last line, a JSON object of rows per stream.
A second run is incremental: PyAirbyte keeps the state in its cache.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

# Before `import airbyte`, which reads it once: no registry look-ups (the connector is local), no telemetry.
os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")

import airbyte as ab  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="connector config JSON")
    parser.add_argument("--executable", default="source-vault-exports", help="the connector's console script (path or name on PATH)")
    parser.add_argument("--cache-dir", default=".cache/pyairbyte", help="where PyAirbyte keeps its DuckDB cache")
    parser.add_argument("--streams", help="comma-separated streams (default: all)")
    args = parser.parse_args()

    source = ab.get_source(
        "source-vault-exports",
        config=json.loads(Path(args.config).read_text()),
        local_executable=args.executable,
    )
    source.check()
    if args.streams:
        source.select_streams(args.streams.split(","))
    else:
        source.select_all_streams()

    cache = ab.new_local_cache("vault_exports", cache_dir=args.cache_dir)
    result = source.read(cache=cache)
    rows = {name: len(dataset) for name, dataset in result.streams.items()}
    if rows:
        name = next(iter(rows))
        print(f"first rows of {name}:")
        print(cache[name].to_pandas().head())
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
