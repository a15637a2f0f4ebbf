"""Veeva Vault end to end: the real entrypoint against the loopback Vault simulator."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

from airbyte_cdk.models import AirbyteStreamStatus

from integration_tests.helpers import check, error_messages, latest_states, log_lines, read, records_by_stream

DOCS = "veeva_document_attachments"
FILES = "veeva_attachment_field_files"


def vault_config(sim, url: str, **overrides: Any) -> Dict[str, Any]:
    return {"veeva_vault": sim.connector_config(url, poll_interval_seconds=0.15, **overrides)}


def expected_attachments(sim, only: List[Tuple[int, int, int]] | None = None) -> Dict[Tuple[int, int], Dict[str, Any]]:
    rows = {}
    for doc_id, attachment in sim.document_attachments():
        if only is not None and (doc_id, attachment["id"], attachment["version__v"]) not in only:
            continue
        rows[(doc_id, attachment["id"])] = {"document_id": doc_id, **attachment}
    return rows


def got_attachments(output) -> Dict[Tuple[int, int], Dict[str, Any]]:
    rows = records_by_stream(output).get(DOCS, [])
    keyed = {(row["document_id"], row["id"]): row for row in rows}
    assert len(keyed) == len(rows), "duplicate attachments"
    return keyed


def expected_files(sim, objects=("product__v", "site__c"), records: set | None = None) -> Dict[tuple, Dict[str, Any]]:
    files = {}
    for object_name in objects:
        for f in sim.field_files(object_name):
            if records is not None and f["record_id"] not in records:
                continue
            files[(object_name, f["record_id"], f["field_name"], f["file_name"])] = {"size": f["size"], "md5": f["md5"]}
    return files


def got_files(output) -> Dict[tuple, Dict[str, Any]]:
    rows = records_by_stream(output).get(FILES, [])
    keyed = {}
    for row in rows:
        key = (row["object_name"], row["record_id"], row["field_name"], row["file_name"])
        assert key not in keyed, f"duplicate file {key}"
        assert row["archive_path"] == f"{row['record_id']}/{row['field_name']}/{row['file_name']}"
        assert row["job_id"] and row["modified_date__v"].endswith("Z")
        keyed[key] = {"size": row["size"], "md5": row["md5"]}
    return keyed


def test_both_streams_return_exactly_the_vaults_attachments_and_files(start_vault):
    sim, url = start_vault(documents=12, part_size_bytes=20_000)
    output = read(vault_config(sim, url))
    assert error_messages(output) == []
    assert got_attachments(output) == expected_attachments(sim)
    assert got_files(output) == expected_files(sim)
    # The archives really were split into several parts and read back as one stream.
    assert sim.calls["export_part"] > sim.calls["export_results"]


def test_a_second_run_returns_exactly_the_new_attachments_versions_and_files(start_vault):
    sim, url = start_vault(documents=8, objects={"product__v": 20})
    config = vault_config(sim, url)
    first = read(config)
    assert error_messages(first) == []
    (doc_id, existing), *_ = sim.document_attachments()
    record = sim.records("product__v")[5]["id"]
    time.sleep(1.1)
    added = sim.add_attachment(doc_id)
    versioned = sim.add_attachment_version(doc_id, existing["id"])
    sim.add_field_file("product__v", record, "label_scan__c")
    second = read(config, state=latest_states(first))

    assert error_messages(second) == []
    assert got_attachments(second) == expected_attachments(
        sim, only=[(doc_id, added["id"], added["version__v"]), (doc_id, versioned["id"], versioned["version__v"])]
    )
    # The changed record, plus the record at the first run's mark (the next query starts at >=).
    changed = {row["record_id"] for row in records_by_stream(second)[FILES]}
    assert record in changed and len(changed) <= 2
    assert got_files(second) == expected_files(sim, ["product__v"], changed)


def test_a_truncated_part_and_a_cut_attachment_are_downloaded_again_never_emitted_half(start_vault, staging_dir: Path):
    sim, url = start_vault(documents=6, objects={"product__v": 25}, part_size_bytes=15_000)
    sim.faults.add("export_part", "reset", skip=1, after_bytes=5_000)
    sim.faults.add("attachment_file", "reset", after_bytes=100)
    config = {"delivery_method": {"delivery_type": "use_file_transfer"}, **vault_config(sim, url)}
    output = read(config)
    assert error_messages(output) == []
    assert got_files(output) == expected_files(sim, ["product__v"])
    assert got_attachments(output).keys() == expected_attachments(sim).keys()
    for message in output.records:
        record, reference = message.record.data, message.record.file_reference
        path = Path(reference.staging_file_url)
        assert staging_dir in path.parents
        if message.record.stream == FILES:
            assert path.read_bytes() == sim.file_bytes("product__v", record["record_id"], record["field_name"], record["file_name"])
        else:
            assert hashlib.md5(path.read_bytes()).hexdigest() == record["md5checksum__v"]
    assert not [p for p in staging_dir.rglob(".partial-*")]


def test_an_attachment_whose_checksum_never_matches_fails_with_its_name_and_leaves_no_file(start_vault, staging_dir: Path):
    sim, url = start_vault(documents=3, objects={"product__v": 5})
    (doc_id, bad), *_ = sim.document_attachments()
    sim.options.md5_mismatch_attachment_ids.add(bad["id"])
    config = {"delivery_method": {"delivery_type": "use_file_transfer"}, **vault_config(sim, url, attachment_field_objects=[])}
    output = read(config, expect_failure=True)
    assert any(f"attachment {bad['id']}" in m and "md5" in m for m in error_messages(output))
    assert not list(staging_dir.rglob(f"{bad['id']}/*/*"))


def test_a_failed_job_fails_the_file_stream_only_naming_object_job_and_message(start_vault):
    sim, url = start_vault(documents=5, objects={"product__v": 10})
    sim.fail_next_job("ERRORS_ENCOUNTERED", "Export failed: storage unavailable")
    output = read(vault_config(sim, url), expect_failure=True)
    job_ids = [str(job) for job in sim.jobs]
    assert any("product__v" in m and job_ids[0] in m and "storage unavailable" in m for m in error_messages(output)), error_messages(output)
    assert output.get_stream_statuses(FILES)[-1] == AirbyteStreamStatus.INCOMPLETE
    assert output.get_stream_statuses(DOCS)[-1] == AirbyteStreamStatus.COMPLETE
    assert got_attachments(output) == expected_attachments(sim)


def test_an_expired_session_is_renewed_and_the_request_repeated(start_vault):
    sim, url = start_vault(documents=10, objects={"product__v": 15}, session_max_seconds=2.5, job_running_seconds=3.0)
    output = read(vault_config(sim, url))
    assert error_messages(output) == []
    assert got_attachments(output) == expected_attachments(sim)
    assert got_files(output) == expected_files(sim, ["product__v"])
    assert sim.calls["auth"] >= 2


def test_hostile_archive_members_are_skipped_with_warnings_and_never_written(start_vault, staging_dir: Path, tmp_path: Path):
    sim, url = start_vault(documents=1, objects={"product__v": 6}, hostile_members=True)
    config = {"delivery_method": {"delivery_type": "use_file_transfer"}, **vault_config(sim, url, document_attachments=False)}
    output = read(config)
    assert error_messages(output) == []
    assert got_files(output) == expected_files(sim, ["product__v"])
    warnings = [line for line in log_lines(output, "WARN") if "skipped archive member" in line]
    assert len(warnings) == 5
    assert all(staging_dir in Path(p).resolve().parents for p in staging_dir.rglob("*"))
    assert not (tmp_path / "etc").exists() and not (staging_dir.parent / "escape.txt").exists()


def test_check_refuses_a_login_that_opened_another_vault(start_vault):
    sim, url = start_vault(wrong_vault=True)
    status = check(vault_config(sim, url))
    assert status.status.name == "FAILED" and "veeva_vault.vault_url" in status.message and "opened vault" in status.message


def test_check_names_bad_credentials_and_unknown_objects_without_secrets(start_vault):
    sim, url = start_vault()
    assert check(vault_config(sim, url)).status.name == "SUCCEEDED"
    bad = check(vault_config(sim, url, password="Wrong-Pass-999"))
    assert bad.status.name == "FAILED" and "veeva_vault.password" in bad.message and "Wrong-Pass-999" not in bad.message
    unknown = check(vault_config(sim, url, attachment_field_objects=[{"object_name": "nonexistent__c"}]))
    assert unknown.status.name == "FAILED" and "nonexistent__c" in unknown.message


def test_records_without_files_are_warnings_and_a_batch_without_files_creates_no_job(start_vault):
    sim, url = start_vault(documents=1, objects={"product__v": 8, "site__c": 5})
    output = read(vault_config(sim, url, document_attachments=False))
    assert error_messages(output) == []
    assert got_files(output) == expected_files(sim)
    assert len(sim.jobs) <= 2


def test_records_can_be_named_by_a_unique_id_param(start_vault):
    sim, url = start_vault(documents=1, objects={"product__v": 12})
    config = vault_config(sim, url, document_attachments=False, attachment_field_objects=[{"object_name": "product__v", "id_param": "external_id__v"}])
    output = read(config)
    assert error_messages(output) == []
    assert got_files(output) == expected_files(sim, ["product__v"])
