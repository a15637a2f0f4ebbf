"""Secrets never reach any output, even with debug logging on, and never reach a foreign host."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer

from integration_tests.conftest import simulator_secrets
from integration_tests.helpers import catalog_for, discover


def vendor_config(vendor: str, request) -> tuple:
    if vendor == "zuora":
        sim, url = request.getfixturevalue("start_zuora")({"Account": 10})
        sim.faults.add("export_get", "status", status=401, body={"message": "Authentication error"})
        return sim, {"start_date": "2024-01-01T00:00:00Z", "zuora": sim.connector_config(url, window_days=400)}
    if vendor == "veeva":
        sim, url = request.getfixturevalue("start_vault")(documents=4, objects={"product__v": 6})
        sim.faults.add(
            "doc_attachments", "status", status=200, headers={"Content-Type": "application/json"},
            body={"responseStatus": "FAILURE", "errors": [{"type": "INVALID_SESSION_ID", "message": "expired"}]},
        )
        return sim, {"delivery_method": {"delivery_type": "use_file_transfer"}, "veeva_vault": sim.connector_config(url, poll_interval_seconds=0.15)}
    if vendor == "batch":
        sim, url = request.getfixturevalue("start_batch")(profiles=10, events_per_hour=1)
        return sim, {"batch": sim.connector_config(url, poll_interval_seconds=0.05, attributes=["$email_address"])}
    sim, url = request.getfixturevalue("start_tape")({101: 10})
    return sim, {"delivery_method": {"delivery_type": "use_file_transfer"}, "tape": sim.connector_config(url)}


@pytest.mark.parametrize("vendor", ["zuora", "veeva", "batch", "tape"])
def test_no_secret_is_printed_by_a_debug_read_or_check(vendor: str, request, tmp_path: Path) -> None:
    sim, config = vendor_config(vendor, request)
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(ConfiguredAirbyteCatalogSerializer.dump(catalog_for(discover(config)))))
    env = {"AIRBYTE_STAGING_DIRECTORY": str(tmp_path)}
    printed = ""
    for command in (["check"], ["read", "--catalog", str(tmp_path / "catalog.json")]):
        completed = subprocess.run(
            [sys.executable, "-m", "source_vault_exports.run", *command, "--debug", "--config", str(tmp_path / "config.json")],
            capture_output=True, text=True, timeout=180, env={**__import__("os").environ, **env},
        )
        assert completed.returncode == 0, completed.stdout[-3000:]
        printed += completed.stdout + completed.stderr
    assert '"type":"RECORD"' in printed and "Making outbound API request" in printed  # debug logging was on
    secrets = simulator_secrets(sim)
    assert secrets
    leaked = [secret[:4] for secret in secrets if secret in printed]
    assert not leaked, f"{vendor}: secrets printed: {leaked}"


def test_credentials_go_only_to_the_vendor_host(start_batch, start_tape) -> None:
    """Batch downloads redirect to storage and Tape files live there: no key may follow."""
    from integration_tests.helpers import read

    batch, batch_url = start_batch(profiles=20, part_size_bytes=2_000)
    read({"batch": batch.connector_config(batch_url, poll_interval_seconds=0.05)}, streams=["batch_profile_attributes"])
    tape, tape_url = start_tape({101: 10})
    read({"delivery_method": {"delivery_type": "use_file_transfer"}, "tape": tape.connector_config(tape_url)}, streams=["tape_attachments"])
    for storage in (batch.storage, tape.storage_app):
        seen = storage.requests_to("storage_file")
        assert seen and all(not ({"authorization", "x-batch-project"} & set(headers)) for headers in seen)
