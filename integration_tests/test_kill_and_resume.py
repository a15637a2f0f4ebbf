"""Kill and resume: SIGKILL the real connector process at random points, resume from its last state.

For each vendor, a bounded loop of seeded random kill points (while jobs are polled, mid-download,
mid-archive, between windows): the first run is killed after a random number of output lines, the
second resumes with the last state message of each stream and runs to the end. The union of both
runs must cover the simulator's truth, and the resumed run must not re-emit anything its state says
was finished: duplicates are confined to the windows, batches or apps that were in flight.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer

from integration_tests.helpers import catalog_for, discover
from integration_tests.test_batch_end_to_end import event_identity, expected_profile

KILL_POINTS_PER_VENDOR = 4
SEED = 20261125


def run_connector(folder: Path, state: Optional[List[Dict[str, Any]]], kill_after: Optional[int]) -> Tuple[List[Dict[str, Any]], bool]:
    """Messages read from stdout until the end, or until SIGKILL after `kill_after` lines."""
    args = [sys.executable, "-m", "source_vault_exports.run", "read", "--config", str(folder / "config.json"), "--catalog", str(folder / "catalog.json")]
    if state is not None:
        (folder / "state.json").write_text(json.dumps(state))
        args += ["--state", str(folder / "state.json")]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert process.stdout is not None
    messages: List[Dict[str, Any]] = []
    killed = False
    for number, line in enumerate(process.stdout, start=1):
        if line.startswith("{"):
            messages.append(json.loads(line))
        if kill_after is not None and number >= kill_after:
            os.kill(process.pid, signal.SIGKILL)
            killed = True
            break
    process.stdout.close()
    code = process.wait(timeout=300)
    assert killed or code == 0, f"connector exited {code}"
    return messages, killed


def last_states(messages: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    latest: Dict[str, Dict[str, Any]] = {}
    for message in messages:
        if message["type"] == "STATE":
            latest[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
    return list(latest.values())


def records(messages: List[Dict[str, Any]]) -> List[Tuple[str, Dict[str, Any]]]:
    return [(m["record"]["stream"], m["record"]["data"]) for m in messages if m["type"] == "RECORD"]


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def finished_windows(state: Dict[str, Any]) -> List[Tuple[datetime, datetime]]:
    return [(parse(s["start"]), parse(s["end"])) for s in state.get("slices", [])]


class Vendor:
    """Truth, keys and the 'finished according to the state' rule of one vendor's streams."""

    def __init__(self, config: Dict[str, Any], truth: Callable[[], Dict[str, Set[tuple]]], key: Callable[[str, Dict[str, Any]], tuple],
                 finished: Callable[[str, Dict[str, Any], Dict[str, Any]], bool]) -> None:
        self.config, self.truth, self.key, self.finished = config, truth, key, finished


def zuora(start_zuora) -> Vendor:
    start = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=40)
    sim, url = start_zuora({"Account": 40, "Invoice": 40}, first_updated=start, processing_seconds=0.15)
    config = {"start_date": start.isoformat(), "zuora": sim.connector_config(url, window_days=5, max_concurrent_exports=3)}

    def truth() -> Dict[str, Set[tuple]]:
        return {"zuora_account": {(r["Id"],) for r in sim.rows("Account")}, "zuora_invoice": {(r["Id"],) for r in sim.rows("Invoice")}}

    def finished(stream: str, record: Dict[str, Any], state: Dict[str, Any]) -> bool:
        moment = parse(record["UpdatedDate"])
        return any(a <= moment < b for a, b in finished_windows(state))

    return Vendor(config, truth, lambda stream, r: (r["Id"],), finished)


def vault(start_vault) -> Vendor:
    sim, url = start_vault(documents=30, objects={"product__v": 40, "site__c": 20}, part_size_bytes=10_000)
    config = {"veeva_vault": sim.connector_config(url, poll_interval_seconds=0.15, max_concurrent_jobs=2)}
    modified = {obj: {r["id"]: parse(r["modified_date__v"]) for r in sim.records(obj)} for obj in ("product__v", "site__c")}

    def truth() -> Dict[str, Set[tuple]]:
        return {
            "veeva_document_attachments": {(doc, a["id"]) for doc, a in sim.document_attachments()},
            "veeva_attachment_field_files": {(o, f["record_id"], f["field_name"], f["file_name"]) for o in modified for f in sim.field_files(o)},
        }

    def key(stream: str, r: Dict[str, Any]) -> tuple:
        if stream == "veeva_document_attachments":
            return (r["document_id"], r["id"])
        return (r["object_name"], r["record_id"], r["field_name"], r["file_name"])

    def finished(stream: str, r: Dict[str, Any], state: Dict[str, Any]) -> bool:
        if stream == "veeva_document_attachments":
            marks = state.get("documents", {}).get(str(r["document_id"]), {})
            return str(r["id"]) in marks
        mark = state.get("watermarks", {}).get(r["object_name"])
        return mark is not None and modified[r["object_name"]][r["record_id"]] < parse(mark)

    return Vendor(config, truth, key, finished)


def batch(start_batch) -> Vendor:
    sim, url = start_batch(profiles=80, events_per_hour=6, part_size_bytes=3_000)
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=24)
    config = {"batch": sim.connector_config(url, poll_interval_seconds=0.05, start_date=start.strftime("%Y-%m-%dT%H:%M:%SZ"), attributes=["$email_address"], event_window_hours=3, max_concurrent_exports=2)}

    def truth() -> Dict[str, Set[tuple]]:
        return {
            "batch_profile_attributes": {(expected_profile(r)["profile_key"],) for r in sim.profile_rows(["$email_address"], ["custom_id", "installation_ids"])},
            # Events up to an hour ago are surely inside both runs' windows.
            "batch_profile_events": {event_identity(r) for r in sim.event_rows(start, datetime.now(timezone.utc) - timedelta(hours=1))},
        }

    def key(stream: str, r: Dict[str, Any]) -> tuple:
        return (r["profile_key"],) if stream == "batch_profile_attributes" else event_identity(r)

    def finished(stream: str, r: Dict[str, Any], state: Dict[str, Any]) -> bool:
        if stream == "batch_profile_attributes":
            return False  # a full refresh stream: its one export is the batch in flight
        moment = parse(r["timestamp"])
        return any(a <= moment < b for a, b in finished_windows(state))

    return Vendor(config, truth, key, finished)


def tape(start_tape) -> Vendor:
    sim, url = start_tape({101: 60, 102: 40, 103: 20})
    config = {"tape": sim.connector_config(url, page_size=10)}

    def truth() -> Dict[str, Set[tuple]]:
        from integration_tests.test_tape_end_to_end import expected_files

        apps = (101, 102, 103)
        return {
            "tape_records": {(r.get("record_id", r.get("id")),) for app in apps for r in sim.records(app)},
            "tape_attachments": {k for app in apps for k in expected_files(sim, app)},
        }

    def key(stream: str, r: Dict[str, Any]) -> tuple:
        return (r["id"],) if stream == "tape_records" else (r["record_id"], r["field_id"], r["file_id"])

    def finished(stream: str, r: Dict[str, Any], state: Dict[str, Any]) -> bool:
        # An app whose mark was saved is done up to it; nothing in it changed since.
        return str(r["app_id"]) in state.get("watermarks", {})

    return Vendor(config, truth, key, finished)


VENDORS = {"zuora": (zuora, "start_zuora"), "veeva": (vault, "start_vault"), "batch": (batch, "start_batch"), "tape": (tape, "start_tape")}


@pytest.mark.parametrize("vendor", list(VENDORS))
def test_killed_syncs_resume_without_losing_rows_and_repeat_only_what_was_in_flight(vendor: str, request, tmp_path: Path) -> None:
    build, fixture = VENDORS[vendor]
    case = build(request.getfixturevalue(fixture))
    (tmp_path / "config.json").write_text(json.dumps(case.config))
    truth = case.truth()
    streams = [stream for stream in discover(case.config) if stream.name in truth]
    (tmp_path / "catalog.json").write_text(json.dumps(ConfiguredAirbyteCatalogSerializer.dump(catalog_for(streams))))
    calibration, _ = run_connector(tmp_path, None, None)
    total_lines = len(calibration)
    assert all(truth.values()), "the truth must not be empty"
    chooser = random.Random(f"{SEED}-{vendor}")
    for point in range(KILL_POINTS_PER_VENDOR):
        kill_after = chooser.randint(2, max(3, total_lines - 2))
        first, killed = run_connector(tmp_path, None, kill_after)
        states = last_states(first)
        second, _ = run_connector(tmp_path, states, None)
        state_by_stream = {s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"] for s in states}

        union: Dict[str, Set[tuple]] = {}
        for stream, data in records(first) + records(second):
            union.setdefault(stream, set()).add(case.key(stream, data))
        for stream, keys in truth.items():
            missing = keys - union.get(stream, set())
            assert not missing, f"kill point {point} (line {kill_after}): {stream} lost {len(missing)} rows"
        resumed_again = [
            (stream, case.key(stream, data))
            for stream, data in records(second)
            if stream in state_by_stream and case.finished(stream, data, state_by_stream[stream])
        ]
        assert not resumed_again, f"kill point {point}: the resumed run re-read finished rows {resumed_again[:3]}"
