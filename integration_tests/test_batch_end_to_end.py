"""Batch.com end to end: the real entrypoint against the loopback Batch simulator and its file host."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Tuple

import pytest
from airbyte_cdk.models import AirbyteStreamStatus

from integration_tests.helpers import check, error_messages, latest_states, log_lines, read, records_by_stream, utc_millis

EVENTS = "batch_profile_events"
PROFILES = "batch_profile_attributes"
REQUESTS = "batch_export_requests"


def batch_config(sim, url: str, start: datetime | None = None, **overrides: Any) -> Dict[str, Any]:
    section = sim.connector_config(url, poll_interval_seconds=0.05, **overrides)
    if start is not None:
        section["start_date"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"batch": section}


def hours_ago(hours: float) -> datetime:
    return (datetime.now(timezone.utc) - timedelta(hours=hours)).replace(microsecond=0)


def event_identity(row: Dict[str, Any]) -> Tuple:
    identifiers = row.get("identifiers") or {}
    return (
        row.get("custom_id", identifiers.get("custom_id")),
        row.get("installation_id", identifiers.get("installation_id")),
        row["event"],
        row["timestamp"] if row["timestamp"].endswith(".000Z") else utc_millis(datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))),
        row["orchestration_id"],
        row["message_id"],
    )


def window_of(output) -> Tuple[datetime, datetime]:
    state = next(s.stream.stream_state.__dict__ for s in latest_states(output) if s.stream.stream_descriptor.name == EVENTS)
    (only,) = state["slices"]
    parse = lambda text: datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
    return parse(only["start"]), parse(only["end"])


def expected_profile(row: Dict[str, Any]) -> Dict[str, Any]:
    identifiers = row.get("identifiers", {})
    installations = sorted(identifiers.get("installation_ids") or [])
    custom_id = identifiers.get("custom_id")
    record = {"profile_key": f"custom_id:{custom_id}" if custom_id else f"installation:{installations[0]}"}
    if custom_id:
        record["custom_id"] = custom_id
    if installations:
        record["installation_ids"] = installations
    if row.get("attributes") is not None:
        record["attributes"] = row["attributes"]
    return record


def test_profile_attributes_are_one_row_per_profile_across_several_parts(start_batch):
    sim, url = start_batch(profiles=120, part_size_bytes=6_000)
    output = read(batch_config(sim, url), streams=[PROFILES])
    assert error_messages(output) == []
    got = records_by_stream(output)[PROFILES]
    from source_vault_exports.vendors.batch.config import NATIVE_ATTRIBUTES

    truth = [expected_profile(row) for row in sim.profile_rows(NATIVE_ATTRIBUTES, ["custom_id", "installation_ids"])]
    assert sorted(got, key=lambda r: r["profile_key"]) == sorted(truth, key=lambda r: r["profile_key"])
    (export,) = [e for e in sim.export_requests() if e["scope"] == "PROFILE_ATTRIBUTES" and e["status"] == "SUCCESS" and e["id"] in {x["id"] for x in sim.export_requests()}][-1:]
    assert len(export["files"]) > 1


@pytest.mark.parametrize("file_format, zipped", [("ndjson", True), ("json_array", False), ("json_array", True)])
def test_every_json_shape_is_detected(start_batch, file_format, zipped):
    sim, url = start_batch(profiles=40, file_format=file_format, gzip=zipped, part_size_bytes=3_000)
    output = read(batch_config(sim, url, attributes=["$email_address", "plan"]), streams=[PROFILES])
    truth = [expected_profile(row) for row in sim.profile_rows(["$email_address", "plan"], ["custom_id", "installation_ids"])]
    assert sorted(records_by_stream(output)[PROFILES], key=lambda r: r["profile_key"]) == sorted(truth, key=lambda r: r["profile_key"])


def test_events_are_exported_per_window_and_incremental_runs_leave_no_gap_and_no_duplicate(start_batch):
    sim, url = start_batch(events_per_hour=4)
    config = batch_config(sim, url, start=hours_ago(50), event_window_hours=12)
    first = read(config, streams=[EVENTS])
    assert error_messages(first) == []
    start, first_end = window_of(first)
    assert start == hours_ago(50).replace(tzinfo=timezone.utc) or abs((start - hours_ago(50)).total_seconds()) < 60
    first_rows = [event_identity(r) for r in records_by_stream(first)[EVENTS]]
    assert Counter(first_rows) == Counter(event_identity(r) for r in sim.event_rows(start, first_end))

    time.sleep(1.1)
    sim.add_events(5)
    time.sleep(1.1)
    second = read(config, state=latest_states(first), streams=[EVENTS])
    assert error_messages(second) == []
    _, second_end = window_of(second)
    second_rows = [event_identity(r) for r in records_by_stream(second).get(EVENTS, [])]
    assert Counter(second_rows) == Counter(event_identity(r) for r in sim.event_rows(first_end, second_end))
    assert len(second_rows) >= 5
    union = Counter(first_rows) + Counter(second_rows)
    assert union == Counter(event_identity(r) for r in sim.event_rows(start, second_end))
    assert max(union.values()) == 1


def test_a_start_date_older_than_the_lookback_is_clipped_with_a_warning(start_batch):
    sim, url = start_batch(events_per_hour=1, lookback_days=2)
    output = read(batch_config(sim, url, start=hours_ago(24 * 90), lookback_days=2), streams=[EVENTS])
    assert error_messages(output) == []
    assert any("older than the 2-day event lookback" in line for line in log_lines(output, "WARN"))
    start, end = window_of(output)
    assert timedelta(days=2) - timedelta(minutes=11) <= end - start <= timedelta(days=2)
    assert len(records_by_stream(output)[EVENTS]) == len(sim.event_rows(start, end))


def test_credentials_never_reach_the_storage_host_and_expired_links_are_refreshed(start_batch):
    sim, url = start_batch(profiles=60, part_size_bytes=4_000)
    sim.storage.faults.add("storage_file", "status", times=2, status=403, body={"message": "Request has expired"})
    output = read(batch_config(sim, url), streams=[PROFILES])
    assert error_messages(output) == []
    assert len(records_by_stream(output)[PROFILES]) == 60
    seen = sim.storage.requests_to("storage_file")
    assert seen and all("authorization" not in h and "x-batch-project" not in h for h in seen)
    assert sum("was refused (expired?)" in line for line in log_lines(output, "WARN")) == 2


def test_export_requests_are_listed_to_the_end_viewed_and_read_as_request_date(start_batch):
    sim, url = start_batch(date_field_name="requested_at", historical_exports=30)
    output = read(batch_config(sim, url), streams=[REQUESTS])
    assert error_messages(output) == []
    got = {row["id"]: row for row in records_by_stream(output)[REQUESTS]}
    truth = sim.export_requests()
    assert set(got) == {view["id"] for view in truth}
    for view in truth:
        row = got[view["id"]]
        assert row["request_date"] == utc_millis(datetime.fromisoformat(view["requested_at"].replace("Z", "+00:00")))
        assert "requested_at" not in row and row["status"] == view["status"] and row["scope"] == view["scope"]
        assert [f["id"] for f in row.get("files") or []] == [f["id"] for f in sorted(view.get("files") or [], key=lambda f: f["part"])]
    assert sim.calls["export_view"] == len(truth)


def test_an_export_that_ends_in_error_fails_its_stream_with_the_export_id_and_reason(start_batch):
    sim, url = start_batch(profiles=10)
    sim.fail_next_export("segment computation failed")
    output = read(batch_config(sim, url), streams=[PROFILES], expect_failure=True)
    failed = [e["id"] for e in sim.export_requests() if e["status"] == "ERROR" and e.get("error_message") == "segment computation failed"]
    assert len(failed) == 1
    assert any(failed[0] in m and "segment computation failed" in m and "Batch export of profile attributes" in m for m in error_messages(output))
    assert output.get_stream_statuses(PROFILES)[-1] == AirbyteStreamStatus.INCOMPLETE


def test_throttling_and_maintenance_are_retried(start_batch):
    sim, url = start_batch(profiles=30)
    sim.inject_error("export_view", 429, times=2, retry_after=1)
    sim.inject_error("export_create", 503, times=2)
    output = read(batch_config(sim, url), streams=[PROFILES])
    assert error_messages(output) == []
    assert len(records_by_stream(output)[PROFILES]) == 30


def test_check_names_the_project_and_never_the_rest_key(start_batch):
    sim, url = start_batch()
    assert check(batch_config(sim, url)).status.name == "SUCCEEDED"
    status = check(batch_config(sim, url, rest_api_key="wrong-rest-KEY-123"))
    assert status.status.name == "FAILED"
    assert sim.options.project_key in status.message and "batch.rest_api_key" in status.message
    assert "wrong-rest-KEY-123" not in status.message
