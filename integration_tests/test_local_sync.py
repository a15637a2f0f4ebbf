"""The local DuckDB sync: typed tables, dedupe by key, state beside the file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
from rich.console import Console

from integration_tests.helpers import as_record
from source_vault_exports.local_sync.cli import run_sync

START = "2024-01-01T00:00:00Z"


def test_two_local_syncs_keep_one_current_row_per_key(start_zuora, tmp_path: Path):
    sim, url = start_zuora({"Account": 30, "Invoice": 20})
    config = {"start_date": START, "zuora": sim.connector_config(url, window_days=400)}
    db = str(tmp_path / "local.duckdb")
    console = Console(file=open(tmp_path / "out.txt", "w"), width=200)

    assert run_sync(config, db, full_refresh=False, console=console) == 0
    updated = sim.data.update_rows("Account", [1, 2])
    time.sleep(1.1)  # the next sync's windows end at a later whole second than the update
    assert run_sync(config, db, full_refresh=False, console=console) == 0

    with duckdb.connect(db) as connection:
        assert connection.execute("select count(*) from zuora_account").fetchone()[0] == 30
        assert connection.execute("select count(*) from zuora_invoice").fetchone()[0] == 20
        types = dict(connection.execute("select column_name, data_type from information_schema.columns where table_name = 'zuora_account'").fetchall())
        names = dict(connection.execute("select Id, AccountNumber from zuora_account").fetchall())
    assert types["UpdatedDate"] == "TIMESTAMP WITH TIME ZONE" and types["BillCycleDay"] == "BIGINT"
    assert types["Balance"] == "DOUBLE" and types["AutoPay"] == "BOOLEAN" and types["LastInvoiceDate"] == "DATE"
    for row in updated:
        assert names[row["Id"]] == as_record(row)["AccountNumber"] and names[row["Id"]].endswith("(updated)")
    states = json.loads(Path(f"{db}.state.json").read_text())
    assert set(states) == {"zuora_account", "zuora_invoice"}
    assert states["zuora_account"]["stream"]["stream_state"]["state_type"] == "date-range"
