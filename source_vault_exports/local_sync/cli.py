"""`source-vault-exports-local`: sync every configured stream into an embedded DuckDB file.

    source-vault-exports-local --db vault_exports.duckdb [--config config.json] [--full-refresh]

Without --config it starts the bundled vendor simulators and syncs from them, so the whole path
(connector, jobs, downloads, state, DuckDB) can be seen working without any credentials.
The connector runs as a subprocess through its real entrypoint (`source-vault-exports read`);
state is kept beside the database (`<db>.state.json`), so a second run is incremental.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import orjson
from rich.console import Console

from source_vault_exports.local_sync.demo import demo_sources
from source_vault_exports.local_sync.duckdb_store import DuckDBStore
from source_vault_exports.local_sync.progress import SyncProgress


def connector_command(*args: str) -> List[str]:
    return [sys.executable, "-m", "source_vault_exports.run", *args]


def discover(config_path: str) -> List[Dict[str, Any]]:
    completed = subprocess.run(connector_command("discover", "--config", config_path), capture_output=True, text=True)
    for line in completed.stdout.splitlines():
        message = _parse(line)
        if message and message.get("type") == "CATALOG":
            return message["catalog"]["streams"]
    errors = [m["trace"]["error"]["message"] for m in map(_parse, completed.stdout.splitlines()) if m and m.get("type") == "TRACE" and m["trace"].get("error")]
    raise SystemExit("discover failed: " + ("; ".join(errors) or completed.stderr[-2000:]))


def configured_catalog(streams: List[Dict[str, Any]], full_refresh: bool) -> Dict[str, Any]:
    configured = []
    for stream in streams:
        incremental = "incremental" in stream.get("supported_sync_modes", []) and not full_refresh
        configured.append(
            {
                "stream": stream,
                "sync_mode": "incremental" if incremental else "full_refresh",
                "destination_sync_mode": "append_dedup" if incremental else "overwrite",
                "cursor_field": stream.get("default_cursor_field", []) if incremental else [],
                "primary_key": stream.get("source_defined_primary_key", []),
            }
        )
    return {"streams": configured}


def _parse(line: str) -> Optional[Dict[str, Any]]:
    if not line.startswith("{"):
        return None
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def run_sync(config: Dict[str, Any], db_path: str, full_refresh: bool, console: Console) -> int:
    state_path = Path(f"{db_path}.state.json")
    store = DuckDBStore(db_path)
    sync_started = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory() as workdir:
        config_path = os.path.join(workdir, "config.json")
        Path(config_path).write_text(json.dumps(config))
        streams = discover(config_path)
        catalog = configured_catalog(streams, full_refresh)
        Path(workdir, "catalog.json").write_text(json.dumps(catalog))
        args = ["read", "--config", config_path, "--catalog", os.path.join(workdir, "catalog.json")]
        states: Dict[str, Any] = {}
        if state_path.exists() and not full_refresh:
            states = json.loads(state_path.read_text())
            Path(workdir, "state.json").write_text(json.dumps(list(states.values())))
            args += ["--state", os.path.join(workdir, "state.json")]
        for configured in catalog["streams"]:
            stream = configured["stream"]
            cursor = configured["cursor_field"][0] if configured["cursor_field"] else None
            keys = [path[0] for path in configured["primary_key"]]
            store.prepare(stream["name"], stream["json_schema"], keys, cursor)

        errors: List[str] = []
        modes = {configured["stream"]["name"]: configured["sync_mode"] for configured in catalog["streams"]}
        console.print(f"Syncing {len(streams)} streams into {db_path} ...", highlight=False)
        with SyncProgress(console, modes) as progress:
            process = subprocess.Popen(connector_command(*args), stdout=subprocess.PIPE, text=True, bufsize=1 << 20)
            assert process.stdout is not None
            for line in process.stdout:
                message = _parse(line)
                if message is None:
                    continue
                kind = message.get("type")
                if kind == "RECORD":
                    record = message["record"]
                    progress.record(record["stream"], len(line))
                    store.add(record["stream"], record["data"], record["emitted_at"])
                elif kind == "STATE":
                    state = message["state"]
                    name = state["stream"]["stream_descriptor"]["name"]
                    store.flush(name)
                    states[name] = state
                    _write_atomically(state_path, states)
                elif kind == "TRACE":
                    trace = message["trace"]
                    if trace.get("error"):
                        errors.append(trace["error"]["message"])
                    elif trace.get("stream_status"):
                        status = trace["stream_status"]
                        progress.stream_status(status["stream_descriptor"]["name"], status["status"])
                elif kind == "LOG":
                    level, text = message["log"]["level"], message["log"]["message"]
                    if level in ("WARN", "ERROR", "FATAL"):
                        progress.print(f"{level}: {text}")
                    else:
                        progress.log(text)
            returncode = process.wait()
        for configured in catalog["streams"]:
            name = configured["stream"]["name"]
            store.flush(name)
            if configured["sync_mode"] == "full_refresh" and returncode == 0 and not errors:
                store.remove_rows_not_seen_since(name, sync_started)
        _summary(console, store, progress)
        store.close()
    for error in dict.fromkeys(errors):
        console.print(f"[red]error:[/red] {error}")
    return 0 if returncode == 0 and not errors else 1


def _write_atomically(path: Path, states: Dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(states, indent=1))
    os.replace(temporary, path)


def _summary(console: Console, store: DuckDBStore, progress: SyncProgress) -> None:
    elapsed = time.monotonic() - progress.started
    counts = {name: store.count(name) for name in progress.streams if store.has(name)}
    console.print(progress.table(f"Sync finished in {elapsed:.1f} s", counts))
    console.print(progress.totals(), highlight=False, soft_wrap=True)


@contextlib.contextmanager
def _config_source(config_path: Optional[str], console: Console) -> Iterator[Dict[str, Any]]:
    if config_path:
        yield json.loads(Path(config_path).read_text())
        return
    console.print("No --config given: syncing from the bundled vendor simulators on 127.0.0.1.", highlight=False)
    with demo_sources() as config:
        yield config


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="source-vault-exports-local", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="vault_exports.duckdb", help="DuckDB file to write (default: vault_exports.duckdb)")
    parser.add_argument("--config", help="connector config JSON; without it the bundled simulators are used")
    parser.add_argument("--full-refresh", action="store_true", help="ignore the saved state and read everything")
    args = parser.parse_args(argv)
    console = Console()
    if not console.is_terminal:
        # Plain lines in a log or a pipe: wide enough that the summary table keeps full stream names.
        console = Console(width=max(console.width, 160))
    with _config_source(args.config, console) as config:
        code = run_sync(config, args.db, args.full_refresh, console)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
