"""Zuora end to end: the real entrypoint against the loopback Zuora simulator."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict

import pytest
from airbyte_cdk.models import AirbyteStateMessageSerializer, AirbyteStreamStatus, ConfiguredAirbyteCatalogSerializer, SyncMode
from airbyte_cdk.test import entrypoint_wrapper

from integration_tests.helpers import (
    as_record,
    by_key,
    catalog_for,
    check,
    discover,
    error_messages,
    latest_states,
    log_lines,
    read,
    records_by_stream,
)
from source_vault_exports.source import SourceVaultExports
from source_vault_exports.vendors.zuora.describe import shipped_description

START = "2024-01-01T00:00:00Z"


def zuora_config(sim, url: str, start_date: str = START, **overrides: Any) -> Dict[str, Any]:
    """Three windows from 2024-01-01 to today unless a test asks for more."""
    return {"start_date": start_date, "zuora": sim.connector_config(url, **{"window_days": 400, **overrides})}


def recent_start() -> datetime:
    """Data that ends near today keeps small windows few: the last window always ends now."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=60)


def expected(sim, object_name: str, drop: tuple = ()) -> Dict[str, Dict[str, Any]]:
    rows = [as_record({k: v for k, v in row.items() if k not in drop}) for row in sim.rows(object_name)]
    return {row["Id"]: row for row in rows}


def sleep_into_next_second() -> None:
    """Windows end at whole seconds; a change must fall before the next sync's end to be in it."""
    now = time.time()
    time.sleep(1.05 - (now % 1))


def stream_states(output) -> Dict[str, Dict[str, Any]]:
    return {state.stream.stream_descriptor.name: state.stream.stream_state.__dict__ for state in latest_states(output)}


def test_full_refresh_returns_exactly_the_simulators_rows(start_zuora):
    sim, url = start_zuora({"Account": 40, "Invoice": 30, "Contact": 25})
    output = read(zuora_config(sim, url, window_days=10), SyncMode.full_refresh)

    assert error_messages(output) == []
    got = records_by_stream(output)
    assert set(got) == {"zuora_account", "zuora_invoice", "zuora_contact"}
    for object_name, stream in [("Account", "zuora_account"), ("Invoice", "zuora_invoice"), ("Contact", "zuora_contact")]:
        assert by_key(got[stream]) == expected(sim, object_name)
    # Windows of 10 days over one row per day: rows on window boundaries were read exactly once.
    assert len(got["zuora_account"]) == 40


def test_records_are_typed_from_describe_and_timestamps_are_utc(start_zuora):
    sim, url = start_zuora({"Account": 20})
    account = by_key(records_by_stream(read(zuora_config(sim, url)))["zuora_account"])
    first = account[sim.rows("Account")[0]["Id"]]
    assert isinstance(first["Balance"], float) and isinstance(first["BillCycleDay"], int)
    assert isinstance(first["AutoPay"], bool)
    assert first["UpdatedDate"] == "2024-01-01T00:00:00.000Z"
    # Row 0's CreatedDate is midnight Pacific (2023-12-31), which Zuora writes as a bare date.
    assert first["CreatedDate"] == "2023-12-31T08:00:00.000Z"
    assert first["LastInvoiceDate"] == "2023-01-11"
    assert first["Region__c"] == "EMEA"  # a custom field only describe knows
    assert first["Notes"] == 'Said "hello, 0", then\nleft'


def test_incremental_second_run_returns_exactly_the_updated_and_added_rows(start_zuora):
    sim, url = start_zuora({"Account": 40, "Invoice": 30})
    config = zuora_config(sim, url)
    first = read(config)
    assert len(records_by_stream(first)["zuora_account"]) == 40

    updated = sim.data.update_rows("Account", [3, 17, 39])
    added = sim.data.add_rows("Account", 2)
    updated_invoice = sim.data.update_rows("Invoice", [0])
    sleep_into_next_second()
    second = read(config, state=latest_states(first))

    assert error_messages(second) == []
    got = records_by_stream(second)
    assert by_key(got["zuora_account"]) == {row["Id"]: as_record(row) for row in updated + added}
    assert by_key(got["zuora_invoice"]) == {row["Id"]: as_record(row) for row in updated_invoice}
    account_state = stream_states(second)["zuora_account"]
    assert account_state["state_type"] == "date-range"
    assert [s["start"] for s in account_state["slices"]] == ["2024-01-01T00:00:00.000Z"]


def test_resuming_from_a_mid_sync_state_loses_and_repeats_nothing_outside_the_windows_in_flight(start_zuora):
    start = recent_start()
    sim, url = start_zuora({"Account": 60}, first_updated=start)
    config = zuora_config(sim, url, start_date=start.isoformat(), window_days=10, max_concurrent_exports=2)
    first = read(config)

    def uncovered(state) -> Dict[str, Dict[str, Any]]:
        """Truth rows whose UpdatedDate lies in no finished window [start, end) of `state`."""
        finished = [
            (datetime.fromisoformat(s["start"].replace("Z", "+00:00")), datetime.fromisoformat(s["end"].replace("Z", "+00:00")))
            for s in state.stream.stream_state.__dict__["slices"]
        ]
        return {
            row["Id"]: as_record(row)
            for row in sim.rows("Account")
            if not any(start <= row["UpdatedDate"] < end for start, end in finished)
        }

    account_states = [m.state for m in first.state_messages if m.state.stream.stream_descriptor.name == "zuora_account"]
    # A checkpoint from the middle of the data: some windows finished, some not.
    resume_from = next(state for state in account_states if len(uncovered(state)) <= 30)
    truth = uncovered(resume_from)
    assert 0 < len(truth) <= 30

    second = read(config, state=[resume_from])
    assert error_messages(second) == []
    assert by_key(records_by_stream(second)["zuora_account"]) == truth


def test_check_with_a_wrong_secret_fails_clearly_without_printing_it(start_zuora):
    sim, url = start_zuora()
    config = zuora_config(sim, url, client_secret="wrong-s3cret-value")
    status = check(config)
    assert status.status.name == "FAILED"
    assert "Zuora rejected the OAuth client credentials (HTTP 401)" in status.message
    assert "zuora.client_secret" in status.message
    assert "wrong-s3cret-value" not in status.message


def test_check_succeeds_and_names_an_unknown_object(start_zuora):
    sim, url = start_zuora()
    assert check(zuora_config(sim, url)).status.name == "SUCCEEDED"
    status = check(zuora_config(sim, url, objects=["Account", "Invoce"]))
    assert status.status.name == "FAILED"
    assert "zuora.objects" in status.message and "Invoce" in status.message


def test_check_against_a_host_that_drops_connections_fails_fast(start_zuora):
    sim, url = start_zuora()
    sim.faults.add("token", "drop", times=100)
    started = time.monotonic()
    status = check(zuora_config(sim, url))
    assert status.status.name == "FAILED"
    assert "Zuora" in status.message
    assert time.monotonic() - started < 30


def test_a_failed_export_fails_its_stream_with_object_window_job_and_reason_while_others_finish(start_zuora):
    sim, url = start_zuora({"Account": 30, "Invoice": 30})
    sim.fail_next_export("Invoice", "Failed", "Query processing failed: internal error 4711")
    config = zuora_config(sim, url, max_concurrent_exports=1)
    output = read(config, expect_failure=True)

    failed = [export for export in sim.exports.values() if export.fate == ("Failed", "Query processing failed: internal error 4711")]
    assert len(failed) == 1
    messages = error_messages(output)
    assert any(
        "Zuora export of Invoice for window [" in message and failed[0].id in message and "Query processing failed: internal error 4711" in message
        for message in messages
    ), messages
    got = records_by_stream(output)
    assert by_key(got["zuora_account"]) == expected(sim, "Account")
    assert output.get_stream_statuses("zuora_account")[-1] == AirbyteStreamStatus.COMPLETE
    assert output.get_stream_statuses("zuora_invoice")[-1] == AirbyteStreamStatus.INCOMPLETE

    # The failed window is not in the state: the next sync reads exactly that window's rows
    # (which window got the failure is a race between threads; it may be an empty one).
    in_failed_window = {row["Id"]: as_record(row) for row in sim.data.rows_of(failed[0].snapshot)}
    assert by_key(got.get("zuora_invoice", [])) == {k: v for k, v in expected(sim, "Invoice").items() if k not in in_failed_window}
    retry = read(config, state=latest_states(output))
    assert error_messages(retry) == []
    assert by_key(records_by_stream(retry).get("zuora_invoice", [])) == in_failed_window


@pytest.mark.parametrize("spelling", ["Canceled", "Cancelled"])
def test_a_cancelled_export_fails_its_stream_in_either_spelling(start_zuora, spelling):
    sim, url = start_zuora({"Account": 20}, cancel_spelling=spelling)
    sim.fail_next_export("Account", "Canceled", "Canceled by an administrator")
    output = read(zuora_config(sim, url), expect_failure=True)
    assert any(f"{spelling}: Canceled by an administrator" in message for message in error_messages(output))


@pytest.mark.parametrize("mode", ["fail", "stall"])
def test_a_window_that_is_too_large_is_split_until_it_fits(start_zuora, mode):
    sim, url = start_zuora({"Account": 40}, too_large_rows=3, too_large_mode=mode)
    config = zuora_config(sim, url, export_timeout_minutes=0.01)
    output = read(config)
    assert error_messages(output) == []
    assert by_key(records_by_stream(output)["zuora_account"]) == expected(sim, "Account")
    assert any("splitting it into" in line for line in log_lines(output, "WARN"))


def test_a_window_that_cannot_be_split_further_fails_with_the_reason(start_zuora):
    sim, url = start_zuora({"Account": 1}, too_large_rows=0)
    output = read(zuora_config(sim, url), expect_failure=True)
    assert any("cannot be split further" in message and "exceeds the maximum size of an export" in message for message in error_messages(output))


@pytest.mark.parametrize("on_create", [False, True])
def test_a_field_that_describe_lists_but_export_rejects_is_dropped_with_one_warning(start_zuora, on_create):
    sim, url = start_zuora({"Account": 30}, unexportable_fields={"Account": {"LegacyCode__c"}}, reject_unknown_fields_on_create=on_create)
    output = read(zuora_config(sim, url))
    assert error_messages(output) == []
    assert by_key(records_by_stream(output)["zuora_account"]) == expected(sim, "Account")
    warnings = [line for line in log_lines(output, "WARN") if "LegacyCode__c" in line]
    assert len(warnings) == 1 and "exporting Account without it" in warnings[0]


def test_a_file_that_is_gone_makes_the_export_be_created_again(start_zuora):
    sim, url = start_zuora({"Account": 20})
    sim.faults.add("files", "status", status=404, body={"success": False, "reasons": [{"code": 50000040, "message": "File not found"}]})
    output = read(zuora_config(sim, url))
    assert by_key(records_by_stream(output)["zuora_account"]) == expected(sim, "Account")
    # Exactly one window was exported twice.
    assert len(sim.exports) == len({export.query for export in sim.exports.values()}) + 1


def test_throttling_and_server_errors_are_retried_to_the_exact_rows(start_zuora):
    sim, url = start_zuora({"Account": 30})
    sim.faults.add("export_create", "status", times=2, status=429, headers={"RateLimit-Reset": "1"}, body={"message": "Too many requests"})
    sim.faults.add("export_get", "status", times=3, status=503, body={"message": "Service unavailable"})
    sim.faults.add("files", "status", times=1, status=502)
    output = read(zuora_config(sim, url))
    assert error_messages(output) == []
    assert by_key(records_by_stream(output)["zuora_account"]) == expected(sim, "Account")


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "reset", "after_bytes": 1500},
        {"kind": "short_length", "missing_bytes": 700},
        {"kind": "drop"},
    ],
)
def test_a_broken_download_is_retried_and_no_row_is_lost_or_repeated(start_zuora, fault):
    sim, url = start_zuora({"Account": 40})
    sim.faults.add("files", times=2, **fault)
    output = read(zuora_config(sim, url))
    assert error_messages(output) == []
    records = records_by_stream(output)["zuora_account"]
    assert len(records) == 40
    assert by_key(records) == expected(sim, "Account")


def test_an_expired_token_is_refreshed_once_and_the_sync_continues(start_zuora):
    sim, url = start_zuora({"Account": 30})
    sim.faults.add("export_get", "status", status=401, body={"message": "Authentication error"})
    output = read(zuora_config(sim, url))
    assert error_messages(output) == []
    assert by_key(records_by_stream(output)["zuora_account"]) == expected(sim, "Account")
    assert sim.calls["token"] == 3  # discover, read, and the one refresh


def test_a_short_lived_token_is_renewed_before_it_expires(start_zuora):
    sim, url = start_zuora({"Account": 40}, token_ttl_seconds=1, processing_seconds=0.5)
    output = read(zuora_config(sim, url, window_days=100, max_concurrent_exports=1))
    assert error_messages(output) == []
    assert by_key(records_by_stream(output)["zuora_account"]) == expected(sim, "Account")
    assert sim.calls["token"] > 3


def test_exports_run_concurrently_within_the_configured_bound(start_zuora):
    sim, url = start_zuora({"Account": 60, "Invoice": 60}, processing_seconds=0.4)
    output = read(zuora_config(sim, url, window_days=200, max_concurrent_exports=3))
    assert error_messages(output) == []
    assert 2 <= sim.peak_active_exports <= 3


def test_the_tenant_export_limit_is_waited_out(start_zuora):
    sim, url = start_zuora({"Account": 40}, max_concurrent_exports=1, processing_seconds=0.2)
    output = read(zuora_config(sim, url, max_concurrent_exports=4))
    assert error_messages(output) == []
    assert by_key(records_by_stream(output)["zuora_account"]) == expected(sim, "Account")
    assert sim.peak_active_exports == 1


def test_the_entity_header_is_sent_on_every_api_call(start_zuora):
    sim, url = start_zuora({"Account": 10}, entity_ids=("entity-eu",))
    output = read(zuora_config(sim, url, entity_id="entity-eu"))
    assert error_messages(output) == []
    assert len(records_by_stream(output)["zuora_account"]) == 10
    for endpoint in ("describe", "export_create", "export_get", "files"):
        headers = sim.requests_to(endpoint)
        assert headers and all(h.get("zuora-entity-ids") == "entity-eu" for h in headers)


def test_every_export_is_created_with_an_idempotency_key(start_zuora):
    sim, url = start_zuora({"Account": 10})
    read(zuora_config(sim, url))
    keys = [headers.get("idempotency-key") for headers in sim.requests_to("export_create")]
    assert keys and all(keys) and len(set(keys)) == len(keys)


def test_nul_bytes_in_cells_are_dropped(start_zuora):
    sim, url = start_zuora({"Account": 30}, nul_bytes=True)
    output = read(zuora_config(sim, url))
    assert by_key(records_by_stream(output)["zuora_account"]) == expected(sim, "Account")


def test_zipped_files_are_decoded(start_zuora):
    sim, url = start_zuora({"Account": 30}, always_zip=True)
    output = read(zuora_config(sim, url))
    assert by_key(records_by_stream(output)["zuora_account"]) == expected(sim, "Account")


def test_unqualified_csv_headers_are_read_too(start_zuora):
    sim, url = start_zuora({"Account": 15}, qualified_headers=False)
    output = read(zuora_config(sim, url))
    assert by_key(records_by_stream(output)["zuora_account"]) == expected(sim, "Account")


def test_when_describe_fails_the_shipped_schema_is_used(start_zuora):
    sim, url = start_zuora({"Account": 20})
    sim.faults.add("describe", "status", times=1000, status=400, body={"message": "describe is not available"})
    config = zuora_config(sim, url)
    (stream,) = discover(config)
    assert stream.json_schema["properties"] == shipped_description("Account").fields
    output = read(config)
    assert by_key(records_by_stream(output)["zuora_account"]) == expected(sim, "Account", drop=("Region__c",))
    assert any("using the shipped schema" in line for line in log_lines(output, "WARN"))


def test_objects_without_updated_date_use_created_date_or_full_refresh(start_zuora):
    extra = {
        "UsageLog": [("Id", "text"), ("Quantity", "decimal"), ("CreatedDate", "datetime")],
        "CodeTable": [("Id", "text"), ("Label", "text")],
    }
    sim, url = start_zuora({"UsageLog": 12, "CodeTable": 5}, extra_objects=extra)
    config = zuora_config(sim, url)
    streams = {stream.name: stream for stream in discover(config)}
    assert streams["zuora_usage_log"].default_cursor_field == ["CreatedDate"]
    assert streams["zuora_code_table"].supported_sync_modes == [SyncMode.full_refresh]
    output = read(config)
    got = records_by_stream(output)
    assert by_key(got["zuora_usage_log"]) == expected(sim, "UsageLog")
    assert by_key(got["zuora_code_table"]) == expected(sim, "CodeTable")


def test_discover_lists_one_stream_per_configured_object_with_id_key_and_cursor(start_zuora):
    sim, url = start_zuora({"Account": 5, "InvoiceItem": 5})
    streams = {stream.name: stream for stream in discover(zuora_config(sim, url))}
    assert set(streams) == {"zuora_account", "zuora_invoice_item"}
    for stream in streams.values():
        assert stream.source_defined_primary_key == [["Id"]]
        assert stream.default_cursor_field == ["UpdatedDate"]
        assert stream.supported_sync_modes == [SyncMode.full_refresh, SyncMode.incremental]
    assert streams["zuora_account"].json_schema["properties"]["Region__c"] == {"type": ["null", "string"]}


def test_the_console_script_reads_through_the_real_entrypoint(start_zuora, tmp_path: Path):
    sim, url = start_zuora({"Account": 12})
    config = zuora_config(sim, url)
    (tmp_path / "config.json").write_text(json.dumps(config))
    catalog = ConfiguredAirbyteCatalogSerializer.dump(catalog_for(discover(config)))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    completed = subprocess.run(
        [sys.executable, "-m", "source_vault_exports.run", "read", "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    messages = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    records = [m["record"]["data"] for m in messages if m["type"] == "RECORD"]
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert by_key(records) == expected(sim, "Account")
    assert any(m["type"] == "STATE" for m in messages)


def test_secrets_and_tokens_never_appear_in_any_output_even_with_debug_logging(start_zuora, tmp_path: Path):
    sim, url = start_zuora({"Account": 10})
    sim.faults.add("export_get", "status", status=401, body={"message": "Authentication error"})
    config = zuora_config(sim, url)
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(ConfiguredAirbyteCatalogSerializer.dump(catalog_for(discover(config)))))
    completed = subprocess.run(
        [sys.executable, "-m", "source_vault_exports.run", "read", "--debug", "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    everything = completed.stdout + completed.stderr
    assert completed.returncode == 0
    assert everything.count('"type":"RECORD"') == 10 and len(sim.tokens) >= 2
    assert "Making outbound API request" in everything  # debug logging really was on
    for secret in [sim.options.client_secret, *sim.tokens]:
        assert secret not in everything
    bad = check(zuora_config(sim, url, client_secret="another-s3cret"))
    assert "another-s3cret" not in str(bad)


def test_the_shipped_sample_config_catalog_and_state_drive_a_read(start_zuora):
    sim, url = start_zuora({name: 200 for name in ("Account", "Subscription", "RatePlan", "Invoice", "InvoiceItem", "Payment", "Contact")})
    folder = Path(__file__).parent
    config = json.loads((folder / "sample_config.json").read_text())
    config["zuora"]["base_url"] = url
    catalog = ConfiguredAirbyteCatalogSerializer.load(json.loads((folder / "configured_catalog.json").read_text()))
    state = [AirbyteStateMessageSerializer.load(s) for s in json.loads((folder / "sample_state.json").read_text())]
    output = entrypoint_wrapper.read(SourceVaultExports(), config, catalog, state=state)
    assert error_messages(output) == []
    got = records_by_stream(output)
    assert len(got) == 7
    # The sample state says Account is done up to 2024-06-01: only later rows are read again.
    assert by_key(got["zuora_account"]) == {k: v for k, v in expected(sim, "Account").items() if v["UpdatedDate"] >= "2024-06-01"}
    assert by_key(got["zuora_invoice"]) == expected(sim, "Invoice")


def test_check_against_a_host_that_never_answers_fails_within_half_a_minute(start_zuora):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts connections, never answers
    try:
        sim, _ = start_zuora()
        config = zuora_config(sim, f"http://127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()
        status = check(config)
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert status.status.name == "FAILED" and "Zuora" in status.message
    assert elapsed < 35
