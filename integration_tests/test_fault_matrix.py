"""The fault matrix: every vendor, every fault, through the real entrypoint against the simulators.

Each case ends one of two ways. Either the sync completes and every stream holds exactly the
simulator's primary keys, with no duplicate in a full refresh; or retrying cannot help and the
affected stream fails with a message naming the vendor, the object, the job and the reason, while
the other streams complete exactly. Combinations a vendor cannot have (Batch has no sessions to
expire, Tape no jobs) are skipped with the reason.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import pytest
from airbyte_cdk.models import AirbyteStreamStatus, SyncMode

from integration_tests.conftest import FAST_RETRIES
from integration_tests.helpers import error_messages, read
from integration_tests.test_batch_end_to_end import event_identity, expected_profile, window_of
from source_vault_exports.core import http as core_http

FAULTS = [
    "throttled_with_retry_after",
    "throttled_without_retry_after",
    "server_error_burst",
    "reset_mid_body",
    "truncated_body",
    "slow_server",
    "expired_credentials",
    "job_failed",
    "job_cancelled",
    "job_stuck",
    "expired_download_link",
    "same_page_twice",
    "empty_export",
    "export_without_files",
]


@dataclasses.dataclass
class Outcome:
    """What a case must end with: all streams exact, or `failing` streams failed with `words`."""

    failing: Set[str] = dataclasses.field(default_factory=set)
    words: Tuple[str, ...] = ()
    any_one_fails: bool = False  # exactly one stream (whichever got the faulty job) fails


@dataclasses.dataclass
class Case:
    config: Dict[str, Any]
    truth: Callable[[Any], Dict[str, Set[tuple]]]
    keys: Callable[[str, Dict[str, Any]], tuple]
    outcome: Outcome = dataclasses.field(default_factory=Outcome)
    streams: Optional[List[str]] = None


def status_faults(app, endpoint: str, codes=(500, 502, 503, 504), **params: Any) -> None:
    for code in codes:
        app.faults.add(endpoint, "status", status=code, **params)


# -- Zuora ---------------------------------------------------------------------------------------
def zuora_case(fault: str, start_zuora) -> Case:
    # A stuck export stalls its halves too, down to the minimum window: one row keeps that short.
    rows = {"Account": 1} if fault == "job_stuck" else {"Account": 20, "Invoice": 10}
    options: Dict[str, Any] = {}
    overrides: Dict[str, Any] = {}
    if fault == "empty_export":
        rows["Contact"] = 0
    if fault == "export_without_files":
        options["omit_file_id_when_empty"] = True
    sim, url = start_zuora(rows, **options)
    outcome = Outcome()
    if fault == "throttled_with_retry_after":
        sim.faults.add("export_get", "status", times=2, status=429, headers={"Retry-After": "1"}, body={"message": "Too many requests"})
    elif fault == "throttled_without_retry_after":
        sim.faults.add("export_create", "status", times=2, status=429, body={"message": "Too many requests"})
    elif fault == "server_error_burst":
        status_faults(sim, "export_get")
    elif fault == "reset_mid_body":
        sim.faults.add("files", "reset", after_bytes=800)
    elif fault == "truncated_body":
        sim.faults.add("files", "short_length", missing_bytes=300)
    elif fault == "slow_server":
        sim.faults.add("export_get", "slow", seconds=2.5)
    elif fault == "expired_credentials":
        sim.faults.add("export_get", "status", status=401, body={"message": "Authentication error"})
    elif fault == "job_failed":
        sim.fail_next_export("Account", "Failed", "Internal error: disk quota")
        outcome = Outcome({"zuora_account"}, ("Zuora export of Account", "Failed: Internal error: disk quota", "(job "))
    elif fault == "job_cancelled":
        sim.fail_next_export("Account", "Canceled", "Canceled by an administrator")
        outcome = Outcome({"zuora_account"}, ("Zuora export of Account", "Canceled: Canceled by an administrator", "(job "))
    elif fault == "job_stuck":
        sim.options.too_large_rows, sim.options.too_large_mode = 0, "stall"
        overrides["export_timeout_minutes"] = 0.005
        outcome = Outcome({"zuora_account"}, ("Zuora export of Account", "still not finished", "cannot be split further", "(job "))
    elif fault == "expired_download_link":
        sim.faults.add("files", "status", status=404, body={"success": False, "reasons": [{"code": 50000040, "message": "File not found"}]})
    config = {"start_date": "2024-01-01T00:00:00Z", "zuora": sim.connector_config(url, **{"window_days": 400, "objects": list(rows), **overrides})}

    def truth(_output) -> Dict[str, Set[tuple]]:
        from source_vault_exports.vendors.zuora.describe import stream_name_for

        return {stream_name_for(name): {(row["Id"],) for row in sim.rows(name)} for name in rows}

    return Case(config, truth, lambda _stream, record: (record["Id"],), outcome)


# -- Veeva Vault ---------------------------------------------------------------------------------
def vault_case(fault: str, start_vault) -> Case:
    options: Dict[str, Any] = {"part_size_bytes": 12_000}
    overrides: Dict[str, Any] = {"poll_interval_seconds": 0.15}
    if fault == "same_page_twice":
        options["default_page_size"] = 4
    if fault == "job_stuck":
        options["job_running_seconds"] = 120
        overrides["job_timeout_hours"] = 0.0003
    # With no file on any record, Vault creates no job at all for the batch (seed 000).
    files_per_field = 0 if fault == "empty_export" else 1
    sim, url = start_vault(documents=6, objects={"product__v": 14}, files_per_field=files_per_field, **options)
    outcome = Outcome()
    if fault == "throttled_with_retry_after":
        sim.faults.add("query", "status", times=2, status=429, headers={"Retry-After": "1"})
    elif fault == "throttled_without_retry_after":
        sim.faults.add("doc_attachments", "status", times=2, status=429)
    elif fault == "server_error_burst":
        status_faults(sim, "doc_attachments")
    elif fault == "reset_mid_body":
        sim.faults.add("export_part", "reset", after_bytes=3_000)  # mid-archive
    elif fault == "truncated_body":
        sim.faults.add("export_part", "short_length", missing_bytes=500)
    elif fault == "slow_server":
        sim.faults.add("job_status", "slow", seconds=2.5)
    elif fault == "expired_credentials":
        sim.faults.add(
            "doc_attachments", "status", status=200,
            body={"responseStatus": "FAILURE", "errors": [{"type": "INVALID_SESSION_ID", "message": "Invalid or expired session ID."}]},
            headers={"Content-Type": "application/json"},
        )
    elif fault == "job_failed":
        sim.fail_next_job("ERRORS_ENCOUNTERED", "Export failed: storage unavailable")
        outcome = Outcome({"veeva_attachment_field_files"}, ("Veeva Vault export of product__v", "storage unavailable", "(job "))
    elif fault == "job_cancelled":
        sim.fail_next_job("CANCELLED", "Cancelled by a Vault admin")
        outcome = Outcome({"veeva_attachment_field_files"}, ("Veeva Vault export of product__v", "Cancelled by a Vault admin", "(job "))
    elif fault == "job_stuck":
        outcome = Outcome({"veeva_attachment_field_files"}, ("Veeva Vault export of product__v", "still not finished", "(job "))
    elif fault == "same_page_twice":
        sim.faults.add("query_page", "repeat", times=2)
    config = {"veeva_vault": sim.connector_config(url, **{**overrides, "attachment_field_objects": [{"object_name": "product__v"}]})}

    def truth(_output) -> Dict[str, Set[tuple]]:
        return {
            "veeva_document_attachments": {(doc_id, a["id"]) for doc_id, a in sim.document_attachments()},
            "veeva_attachment_field_files": {("product__v", f["record_id"], f["field_name"], f["file_name"]) for f in sim.field_files("product__v")},
        }

    def keys(stream: str, record: Dict[str, Any]) -> tuple:
        if stream == "veeva_document_attachments":
            return (record["document_id"], record["id"])
        return (record["object_name"], record["record_id"], record["field_name"], record["file_name"])

    return Case(config, truth, keys, outcome)


# -- Batch ---------------------------------------------------------------------------------------
def batch_case(fault: str, start_batch) -> Case:
    options: Dict[str, Any] = {"part_size_bytes": 5_000}
    overrides: Dict[str, Any] = {"attributes": ["$email_address", "plan"], "event_window_hours": 12}
    events_per_hour = 2
    streams = ["batch_profile_attributes", "batch_profile_events"]
    if fault in ("empty_export", "export_without_files"):
        events_per_hour = 0
    if fault == "export_without_files":
        options["no_files_when_empty"] = True
    if fault == "same_page_twice":
        options["historical_exports"] = 150
        streams = ["batch_export_requests"]
    if fault == "job_stuck":
        options["running_seconds"] = 120
        overrides["export_timeout_minutes"] = 0.01
    sim, url = start_batch(profiles=40, events_per_hour=events_per_hour, **options)
    outcome = Outcome()
    if fault == "throttled_with_retry_after":
        sim.inject_error("export_view", 429, times=2, retry_after=1)
    elif fault == "throttled_without_retry_after":
        sim.inject_error("export_create", 429, times=2)
    elif fault == "server_error_burst":
        for code in (500, 502, 503, 504):
            sim.inject_error("export_view", code)
    elif fault == "reset_mid_body":
        sim.storage.faults.add("storage_file", "reset", after_bytes=2_000)
    elif fault == "truncated_body":
        sim.storage.faults.add("storage_file", "short_length", missing_bytes=400)
    elif fault == "slow_server":
        sim.faults.add("export_view", "slow", seconds=2.5)
    elif fault == "job_failed":
        sim.fail_next_export("export worker crashed")
        outcome = Outcome(words=("Batch export of profile", "export worker crashed", "(job export_"), any_one_fails=True)
    elif fault == "job_stuck":
        outcome = Outcome(set(streams), ("Batch export of profile", "still not finished", "(job export_"))
    elif fault == "expired_download_link":
        sim.storage.faults.add("storage_file", "status", times=2, status=403, body={"message": "Request has expired"})
    elif fault == "same_page_twice":
        sim.faults.add("export_list", "repeat", skip=1)
    if "batch_profile_events" in streams:
        overrides["start_date"] = (datetime.now(timezone.utc) - timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    config = {"batch": sim.connector_config(url, poll_interval_seconds=0.05, **overrides)}

    def truth(output) -> Dict[str, Set[tuple]]:
        found: Dict[str, Set[tuple]] = {
            "batch_profile_attributes": {(expected_profile(r)["profile_key"],) for r in sim.profile_rows(["$email_address", "plan"], ["custom_id", "installation_ids"])},
            "batch_export_requests": {(view["id"],) for view in sim.export_requests()},
        }
        if "batch_profile_events" in streams and "batch_profile_events" not in outcome.failing:
            try:
                first, last = window_of(output)
                found["batch_profile_events"] = {event_identity(r) for r in sim.event_rows(first, last)}
            except (StopIteration, ValueError):
                found["batch_profile_events"] = set()
        return {name: keys for name, keys in found.items() if name in streams}

    def keys(stream: str, record: Dict[str, Any]) -> tuple:
        if stream == "batch_profile_attributes":
            return (record["profile_key"],)
        if stream == "batch_export_requests":
            return (record["id"],)
        return event_identity(record)

    return Case(config, truth, keys, outcome, streams)


# -- Tape ----------------------------------------------------------------------------------------
def tape_case(fault: str, start_tape) -> Case:
    apps = {101: 30, 102: 0} if fault == "empty_export" else {101: 30}
    sim, url = start_tape(apps)
    overrides: Dict[str, Any] = {"page_size": 7}
    config_extra: Dict[str, Any] = {}
    if fault == "throttled_with_retry_after":
        sim.faults.add("records_list", "status", times=2, status=429, headers={"Retry-After": "1"})
    elif fault == "throttled_without_retry_after":
        sim.faults.add("records_list", "status", times=2, status=429)
    elif fault == "server_error_burst":
        status_faults(sim, "records_list")
    elif fault == "reset_mid_body":
        sim.faults.add("records_list", "reset", skip=1, after_bytes=500)
    elif fault == "truncated_body":
        sim.faults.add("records_list", "short_length", skip=1, missing_bytes=200)
    elif fault == "slow_server":
        sim.faults.add("records_list", "slow", seconds=2.5)
    elif fault == "expired_download_link":
        sim.storage_app.faults.add("storage_file", "status", times=2, status=403, body={"message": "Request has expired"})
        config_extra["delivery_method"] = {"delivery_type": "use_file_transfer"}
    elif fault == "same_page_twice":
        sim.faults.add("records_list", "repeat", skip=1, times=2)
    config = {**config_extra, "tape": sim.connector_config(url, **{**overrides, "app_ids": list(apps)})}

    def truth(_output) -> Dict[str, Set[tuple]]:
        from integration_tests.test_tape_end_to_end import expected_files

        records = {(record.get("record_id", record.get("id")),) for app in apps for record in sim.records(app)}
        files = {key for app in apps for key in expected_files(sim, app)}
        return {"tape_records": records, "tape_attachments": files}

    def keys(stream: str, record: Dict[str, Any]) -> tuple:
        return (record["id"],) if stream == "tape_records" else (record["record_id"], record["field_id"], record["file_id"])

    return Case(config, truth, keys)


NOT_APPLICABLE = {
    ("zuora", "same_page_twice"): "a Zuora export is one file, with no pages",
    ("veeva", "expired_download_link"): "Vault serves export parts by name with the session; there is no link to expire",
    ("veeva", "export_without_files"): "Vault answers an export of records without files by creating no job (covered by empty_export)",
    ("batch", "expired_credentials"): "Batch authenticates with a static REST key; nothing expires",
    ("batch", "job_cancelled"): "Batch exports have no cancelled state (vendor-apis.md 2.3)",
    ("tape", "expired_credentials"): "Tape authenticates with a static user key; nothing expires",
    ("tape", "job_failed"): "Tape has no export jobs",
    ("tape", "job_cancelled"): "Tape has no export jobs",
    ("tape", "job_stuck"): "Tape has no export jobs",
    ("tape", "export_without_files"): "Tape has no export jobs",
}
BUILDERS = {"zuora": (zuora_case, "start_zuora"), "veeva": (vault_case, "start_vault"), "batch": (batch_case, "start_batch"), "tape": (tape_case, "start_tape")}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("vendor", list(BUILDERS))
def test_fault(vendor: str, fault: str, request, monkeypatch: pytest.MonkeyPatch) -> None:
    if (vendor, fault) in NOT_APPLICABLE:
        pytest.skip(NOT_APPLICABLE[(vendor, fault)])
    if fault == "slow_server":
        # A server slower than the read timeout: the request times out and is retried.
        monkeypatch.setattr(core_http, "DEFAULT_RETRY_POLICY", dataclasses.replace(FAST_RETRIES, read_timeout_seconds=1.0))
    build, fixture = BUILDERS[vendor]
    case = build(fault, request.getfixturevalue(fixture))
    output = read(case.config, SyncMode.full_refresh, streams=case.streams, expect_failure=bool(case.outcome.failing or case.outcome.any_one_fails))

    got: Dict[str, List[tuple]] = {}
    for message in output.records:
        got.setdefault(message.record.stream, []).append(case.keys(message.record.stream, message.record.data))
    for stream, keys in got.items():
        duplicates = [key for key, count in Counter(keys).items() if count > 1]
        assert not duplicates, f"{stream} emitted duplicates in a full refresh: {duplicates[:3]}"

    messages = error_messages(output)
    failing = set(case.outcome.failing)
    if case.outcome.any_one_fails:
        failing = {stream for stream in (case.streams or []) if output.get_stream_statuses(stream)[-1:] == [AirbyteStreamStatus.INCOMPLETE]}
        assert len(failing) == 1, (failing, messages)
    for stream in failing:
        assert output.get_stream_statuses(stream)[-1] == AirbyteStreamStatus.INCOMPLETE
        assert any(all(word in message for word in case.outcome.words) for message in messages), messages
    if not failing:
        assert messages == [], messages
    truth = case.truth(output)
    for stream, keys in truth.items():
        if stream in failing:
            continue
        assert set(got.get(stream, [])) == keys, f"{stream}: {len(got.get(stream, []))} keys, truth {len(keys)}"
        assert output.get_stream_statuses(stream)[-1] == AirbyteStreamStatus.COMPLETE
