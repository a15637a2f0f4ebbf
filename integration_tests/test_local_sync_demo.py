"""The README's main command: `source-vault-exports-local --db FILE` with no config.

It starts the bundled simulators of all four vendors, syncs every stream into DuckDB, prints plain
progress lines (stdout is not a terminal here) and a summary table; a second run is incremental.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import duckdb

STREAMS = [
    "zuora_account", "zuora_subscription", "zuora_rate_plan", "zuora_invoice", "zuora_invoice_item", "zuora_payment",
    "zuora_contact", "veeva_document_attachments", "veeva_attachment_field_files", "batch_export_requests",
    "batch_profile_attributes", "batch_profile_events", "tape_records", "tape_attachments",
]  # fmt: skip


def local_sync(*args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "source-vault-exports-local"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "source_vault_exports.local_sync.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=240)


def summary_rows(stdout: str) -> Dict[str, List[str]]:
    """The summary table's cells per stream: mode, status, jobs, rows, MB, rows/s, rows in table."""
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃]", line)[1:-1]]
        if cells and cells[0] in STREAMS:
            rows[cells[0]] = cells[1:]
    return rows


def table_counts(db: Path) -> Dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as connection:
        return {name: connection.execute(f'select count(*) from "{name}"').fetchone()[0] for name in STREAMS}


def test_the_readme_command_syncs_every_simulated_stream_then_syncs_incrementally(tmp_path: Path):
    db = tmp_path / "vault_exports.duckdb"

    first = local_sync("--db", str(db))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "No --config given: syncing from the bundled vendor simulators" in first.stdout
    assert "\x1b" not in first.stdout  # plain lines, no live redraw, when stdout is not a terminal
    summary = summary_rows(first.stdout)
    assert sorted(summary) == sorted(STREAMS)
    counts = table_counts(db)
    for name, (mode, status, jobs, rows, *_rest, in_table) in summary.items():
        assert status == "done", (name, status)
        assert int(in_table.replace(",", "")) == counts[name] > 0, name
        assert rows.replace(",", "") == str(counts[name]), name  # a first sync reads each row once
        if name.startswith(("zuora_", "batch_profile_")) or name == "veeva_attachment_field_files":
            pending, running, done = (int(part) for part in jobs.split("/"))
            assert (pending, running) == (0, 0) and done > 0, (name, jobs)
        else:
            assert jobs == "-", (name, jobs)  # listed, not exported: no jobs
    assert "jobs pending/running/done 0/0/" in first.stdout and "14 of 14 streams done" in first.stdout
    states = json.loads(Path(f"{db}.state.json").read_text())
    assert set(states) == set(STREAMS)  # the last state of every stream, kept beside the file

    second = local_sync("--db", str(db))
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    again = summary_rows(second.stdout)
    # A new simulator run serves the same data; the state (beside the file) covers it.
    for name in ("zuora_account", "zuora_invoice_item", "tape_records", "veeva_document_attachments"):
        assert again[name][3] == "0", (name, again[name])
    after = table_counts(db)
    for name in STREAMS:
        if name == "batch_profile_events":
            # Batch's events run up to now: the minutes between the two runs may add an event or two.
            assert counts[name] <= after[name] <= counts[name] + 5, (name, counts[name], after[name])
        else:
            assert after[name] == counts[name], name  # upserted by key: nothing duplicated
