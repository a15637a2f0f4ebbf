"""Tape end to end: the real entrypoint against the loopback Tape simulator."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict

from airbyte_cdk.models import SyncMode

from integration_tests.helpers import check, error_messages, latest_states, log_lines, read, records_by_stream

ATTACHMENT_TYPES = {"single_attachment", "multi_attachment"}


def tape_config(sim, url: str, **overrides: Any) -> Dict[str, Any]:
    return {"tape": sim.connector_config(url, **overrides)}


def utc(text: str) -> str:
    moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def without_links(value: Any) -> Any:
    """download_url is signed afresh on every read; compare everything else."""
    if isinstance(value, dict):
        return {k: without_links(v) for k, v in value.items() if k != "download_url"}
    if isinstance(value, list):
        return [without_links(v) for v in value]
    return value


def expected_records(sim, app_id: int, only: set | None = None) -> Dict[int, Dict[str, Any]]:
    rows = {}
    for record in sim.records(app_id):
        record_id = record.get("record_id", record.get("id"))
        if only is not None and record_id not in only:
            continue
        fields = {
            str(f.get("external_id") or f.get("slug")): {
                "field_id": f["field_id"],
                "label": f["label"],
                "type": f.get("type"),
                "field_type": f["field_type"].lower(),
                "values": [v["value"] for v in f["values"]],
            }
            for f in record["fields"]
        }
        rows[record_id] = without_links(
            {
                "app_id": app_id,
                "id": record_id,
                "app_record_id": record["app_record_id"],
                "title": record["title"],
                "created_at": utc(record["created_on"]),
                "last_modified_at": utc(record["created_on"]),
                "fields": fields,
            }
        )
    return rows


def expected_files(sim, app_id: int, only: set | None = None) -> Dict[tuple, Dict[str, Any]]:
    files = {}
    for record in sim.records(app_id):
        record_id = record.get("record_id", record.get("id"))
        if only is not None and record_id not in only:
            continue
        for field in record["fields"]:
            if field["field_type"].lower() not in ATTACHMENT_TYPES:
                continue
            for position, entry in enumerate(field["values"]):
                value = entry["value"]
                if not (isinstance(value, dict) and value.get("id") is not None and value.get("filename")):
                    continue
                files[(record_id, field["field_id"], value["id"])] = {
                    "app_id": app_id,
                    "record_id": record_id,
                    "field_id": field["field_id"],
                    "field_slug": field.get("external_id") or field.get("slug"),
                    "field_type": field["field_type"].lower(),
                    "position": position,
                    "file_id": value["id"],
                    "filename": value["filename"],
                    "size": value["size"],
                    "content_type": value["mimetype"],
                    "record_last_modified_at": utc(record["created_on"]),
                }
    return files


def got_records(output) -> Dict[int, Dict[str, Any]]:
    rows = records_by_stream(output).get("tape_records", [])
    keyed = {row["id"]: without_links(row) for row in rows}
    assert len(keyed) == len(rows), "duplicate records"
    return keyed


def got_files(output) -> Dict[tuple, Dict[str, Any]]:
    rows = records_by_stream(output).get("tape_attachments", [])
    keyed = {(r["record_id"], r["field_id"], r["file_id"]): {k: v for k, v in r.items() if k not in ("download_url", "md5")} for r in rows}
    assert len(keyed) == len(rows), "duplicate files"
    assert all(r.get("download_url", "").startswith("http://127.0.0.1") for r in rows)
    return keyed


def test_full_refresh_returns_exact_records_and_files_and_counts_values_that_are_not_files(start_tape):
    sim, url = start_tape({101: 40, 102: 12})
    output = read(tape_config(sim, url), SyncMode.full_refresh)
    assert error_messages(output) == []
    assert got_records(output) == {**expected_records(sim, 101), **expected_records(sim, 102)}
    assert got_files(output) == {**expected_files(sim, 101), **expected_files(sim, 102)}
    warnings = [line for line in log_lines(output, "WARN") if "that are not files" in line]
    # One warning per app and attachment field, saying how many values were skipped.
    assert warnings and all("skipped" in line and "attachment field" in line for line in warnings)
    skipped_total = sum(int(line.split("skipped ")[1].split(" ")[0]) for line in warnings)
    truth_skipped = sum(
        1
        for app in (101, 102)
        for record in sim.records(app)
        for field in record["fields"]
        if field["field_type"].lower() in ATTACHMENT_TYPES
        for entry in field["values"]
        if not (isinstance(entry["value"], dict) and entry["value"].get("id") is not None and entry["value"].get("filename"))
    )
    assert skipped_total == truth_skipped > 0


def test_incremental_second_run_returns_exactly_the_edited_created_and_attached_records(start_tape):
    sim, url = start_tape({101: 30, 102: 10})
    config = tape_config(sim, url)
    first = read(config)
    assert len(got_records(first)) == 40

    time.sleep(1.1)  # changes fall after the first sync's end, which is a whole second
    edited = 101 * 10_000_000 + 3
    sim.edit_record(edited)
    created = sim.create_records(102, 2)
    attached_to = 101 * 10_000_000 + 8
    sim.attach_file(attached_to, "documents")
    time.sleep(1.1)
    second = read(config, state=latest_states(first))

    assert error_messages(second) == []
    changed = {edited, attached_to, *created}
    expected = {**expected_records(sim, 101, changed), **expected_records(sim, 102, changed)}
    assert set(got_records(second)) == changed
    assert got_records(second) == expected
    assert got_files(second) == {**expected_files(sim, 101, changed), **expected_files(sim, 102, changed)}
    state = {s.stream.stream_descriptor.name: s.stream.stream_state.__dict__ for s in latest_states(second)}
    assert set(state["tape_records"]["watermarks"]) == {"101", "102"}


def test_throttling_is_survived_with_the_same_rows_by_pacing_on_the_credit_headers(start_tape):
    sim, url = start_tape({101: 60}, credits_per_minute=120, interval_seconds=2.0)
    output = read(tape_config(sim, url, page_size=10))
    assert error_messages(output) == []
    assert got_records(output) == expected_records(sim, 101)
    # Paced from X-Retry-Remaining: at most a few refusals, not a 429 loop.
    assert sim.throttled <= 3


def test_check_names_a_malformed_key_without_printing_it(start_tape):
    sim, url = start_tape()
    status = check(tape_config(sim, url, api_key="not-a-user-key-SECRET"))
    assert status.status.name == "FAILED"
    assert "tape.api_key" in status.message and "not-a-user-key-SECRET" not in status.message


def test_check_names_an_unknown_or_unreadable_app(start_tape):
    sim, url = start_tape({101: 5}, unreadable_app_ids=(103,))
    assert check(tape_config(sim, url)).status.name == "SUCCEEDED"
    unknown = check(tape_config(sim, url, app_ids=[101, 999]))
    assert unknown.status.name == "FAILED" and "999" in unknown.message and "tape.app_ids" in unknown.message
    unreadable = check(tape_config(sim, url, app_ids=[103]))
    assert unreadable.status.name == "FAILED" and "103" in unreadable.message


def test_key_and_casing_drift_are_read_the_same(start_tape):
    sim, url = start_tape({101: 20}, record_id_key="id", field_key="slug", field_type_case="upper")
    output = read(tape_config(sim, url))
    assert got_records(output) == expected_records(sim, 101)
    assert got_files(output) == expected_files(sim, 101)


def test_file_transfer_delivers_exact_bytes_refreshing_expired_links_and_keeps_deleted_files_rows(start_tape, staging_dir: Path):
    sim, url = start_tape({101: 25})
    # The first two downloads meet an expired link: each is refreshed by re-reading its record.
    sim.storage_app.faults.add("storage_file", "status", times=2, status=403, body={"message": "Request has expired"})
    sim.delete_file(next(iter(expected_files(sim, 101)))[2])
    deleted = {key[2] for key in expected_files(sim, 101)} - set(sim.downloadable_files(101))
    assert deleted
    config = {"delivery_method": {"delivery_type": "use_file_transfer"}, **tape_config(sim, url)}
    output = read(config, streams=["tape_attachments"])
    assert error_messages(output) == []
    messages = [m.record for m in output.records]
    assert {(r.data["record_id"], r.data["field_id"], r.data["file_id"]) for r in messages} == set(expected_files(sim, 101))
    for record in messages:
        if record.data["file_id"] in deleted:
            assert record.file_reference is None
            continue
        path = Path(record.file_reference.staging_file_url)
        assert staging_dir in path.parents
        assert path.read_bytes() == sim.file_bytes(record.data["file_id"])
        assert record.file_reference.file_size_bytes == record.data["size"]
    assert sum("expired; re-reading the record" in line for line in log_lines(output, "INFO")) == 2
    # The user key never reaches the storage host.
    storage_requests = sim.storage_app.requests_to("storage_file")
    assert storage_requests and all("authorization" not in headers for headers in storage_requests)
    assert sim.calls["record_get"] == 2
    warnings = log_lines(output, "WARN")
    for file_id in deleted:
        assert any(f"file {file_id} " in line and "was deleted" in line for line in warnings)
