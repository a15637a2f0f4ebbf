"""The local sync's progress display: jobs per stream from the connector's own job log lines."""

from __future__ import annotations

import io
import logging
from typing import List

from rich.console import Console

from source_vault_exports.core.jobs import ExportJobRunner, JobSlots, JobState, JobStatus, PollPolicy
from source_vault_exports.local_sync.progress import SyncProgress, stream_of_job

LOGGER = logging.getLogger("test_sync_progress")
FAST = PollPolicy(min_interval_seconds=0.001, max_interval_seconds=0.001, timeout_seconds=5)


class ScriptedJob:
    """A job whose polls return the given vendor statuses in order."""

    def __init__(self, vendor: str, object_name: str, scope, statuses: List[tuple]) -> None:
        self.vendor, self.object_name, self.scope = vendor, object_name, scope
        self._statuses = list(statuses)

    def create(self) -> str:
        return "export-1"

    def poll(self, job_id: str) -> JobStatus:
        vendor_status, state = self._statuses.pop(0) if len(self._statuses) > 1 else self._statuses[0]
        return JobStatus(state, vendor_status, "out of widgets" if state is JobState.FAILED else None)


def job_log_lines(job: ScriptedJob) -> List[str]:
    """What the connector logs at INFO while the shared runner runs `job`."""
    lines: List[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    try:
        ExportJobRunner(JobSlots(job.vendor, 4, LOGGER), FAST, LOGGER).run_to_completion(job)
    finally:
        LOGGER.removeHandler(handler)
    return lines


def plain_console() -> Console:
    return Console(file=io.StringIO(), force_terminal=False, width=400)


def test_jobs_are_counted_per_stream_from_the_runners_log_lines():
    statuses = [("Pending", JobState.QUEUED), ("Processing", JobState.RUNNING), ("Completed", JobState.SUCCEEDED)]
    job = ScriptedJob("Zuora", "InvoiceItem", "[2024-01-01, 2024-02-01)", statuses)
    lines = job_log_lines(job)
    progress = SyncProgress(plain_console(), {"zuora_invoice_item": "incremental", "zuora_account": "incremental"})
    seen = []
    for line in lines:
        progress.log(line)
        counts = progress.streams["zuora_invoice_item"].job_counts()
        seen.append((counts.pending, counts.running, counts.done, counts.failed))
    assert seen == [(1, 0, 0, 0), (1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0)]
    assert not progress.streams["zuora_account"].jobs


def test_a_failed_job_is_counted_as_failed():
    job = ScriptedJob("Batch", "profile events", "[2024-01-01T00:00:00Z, 2024-01-02T00:00:00Z)", [("RUNNING", JobState.RUNNING), ("ERROR", JobState.FAILED)])
    progress = SyncProgress(plain_console(), {"batch_profile_events": "incremental"})
    for line in job_log_lines(job):
        progress.log(line)
    counts = progress.streams["batch_profile_events"].job_counts()
    assert (counts.pending, counts.running, counts.done, counts.failed) == (0, 0, 0, 1)
    assert counts.text() == "0/0/0 (1 failed)"


def test_each_vendors_jobs_map_to_the_stream_they_feed():
    assert stream_of_job("Zuora", "InvoiceItem") == "zuora_invoice_item"
    assert stream_of_job("Batch", "profile attributes") == "batch_profile_attributes"
    assert stream_of_job("Veeva Vault", "product__v") == "veeva_attachment_field_files"
    assert stream_of_job("Tape", "records") is None


def test_plain_output_prints_a_line_every_few_seconds_with_rows_jobs_and_active_streams():
    now = [0.0]
    console = plain_console()
    progress = SyncProgress(console, {"zuora_account": "incremental", "tape_records": "incremental"}, clock=lambda: now[0])
    with progress:
        progress.stream_status("zuora_account", "STARTED")
        progress.log("Zuora export of Account for [a, b): created job j1")
        progress.log("Zuora export of Account for [a, b): job j1 is Processing (running) after 3 s")
        for _ in range(1000):
            progress.record("zuora_account", 500)
        now[0] = 6.0
        progress.record("zuora_account", 500)
        progress.stream_status("tape_records", "COMPLETE")
    output = console.file.getvalue()
    assert output.count("\n") == 1, output
    assert "1,001 rows, 0.5 MB in 6.0 s" in output
    assert "jobs pending/running/done 0/1/0" in output
    assert "0 of 2 streams done: zuora_account 1,001 rows (jobs 0/1/0)" in output
    assert "\x1b" not in output  # no terminal control codes in a log


def test_on_a_terminal_the_table_is_drawn_live_and_the_summary_counts_table_rows():
    console = Console(file=io.StringIO(), force_terminal=True, width=160)
    progress = SyncProgress(console, {"zuora_account": "incremental"})
    with progress:
        progress.stream_status("zuora_account", "STARTED")
        progress.record("zuora_account", 100)
        progress.stream_status("zuora_account", "COMPLETE")
    console.print(progress.table("Sync finished", {"zuora_account": 1}))
    output = console.file.getvalue()
    assert "jobs pend/run/done" in output and "rows in table" in output
    assert "done" in output
