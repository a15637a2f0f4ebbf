"""The shared poll loop: terminal states, deadlines, cancellation, slots and busy vendors."""

import logging
import threading
import time
from typing import List

import pytest

from source_vault_exports.core.errors import ExportJobFailed, ExportJobTimedOut
from source_vault_exports.core.jobs import ExportJobRunner, JobSlots, JobState, JobStatus, PollPolicy, SyncCancelled, VendorBusy

LOGGER = logging.getLogger("test")
FAST = PollPolicy(min_interval_seconds=0.01, max_interval_seconds=0.02, timeout_seconds=2.0)


class ScriptedJob:
    vendor = "Acme"
    object_name = "Widget"
    scope = "[a, b)"

    def __init__(self, states: List[str], busy: int = 0) -> None:
        self.states = list(states)
        self.busy = busy
        self.polls = 0

    def create(self):
        if self.busy:
            self.busy -= 1
            raise VendorBusy("LIMIT_EXCEEDED: too many jobs")
        return "job-1"

    def poll(self, job_id):
        self.polls += 1
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        mapping = {"q": JobState.QUEUED, "r": JobState.RUNNING, "ok": JobState.SUCCEEDED, "fail": JobState.FAILED, "cancel": JobState.CANCELLED}
        return JobStatus(mapping[state], state, "out of widgets" if state == "fail" else None)

    def result_files(self, job_id, status):
        return []


def runner(policy=FAST, slots=None, cancelled=None):
    return ExportJobRunner(slots or JobSlots("Acme", 2, LOGGER), policy, LOGGER, cancelled)


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_polls_until_a_terminal_state_and_logs_only_state_changes():
    job = ScriptedJob(["q", "q", "r", "r", "r", "ok"])
    handler = ListHandler()
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    try:
        job_id, status = runner().run_to_completion(job)
    finally:
        LOGGER.removeHandler(handler)
    assert (job_id, status.state, job.polls) == ("job-1", JobState.SUCCEEDED, 6)
    assert handler.messages == [
        "Acme export of Widget for [a, b): created job job-1",
        "Acme export of Widget for [a, b): job job-1 is q (queued) after 0 s",
        "Acme export of Widget for [a, b): job job-1 is r (running) after 0 s",
        "Acme export of Widget for [a, b): job job-1 is ok (succeeded) after 0 s",
    ]


def test_a_failed_job_raises_with_vendor_object_job_and_reason():
    with pytest.raises(ExportJobFailed) as failed:
        list(runner().run(ScriptedJob(["r", "fail"])))
    assert failed.value.message == "Acme export of Widget for window [a, b) (job job-1) failed: the job ended fail: out of widgets"


def test_a_job_past_its_deadline_times_out():
    policy = PollPolicy(min_interval_seconds=0.01, max_interval_seconds=0.01, timeout_seconds=0.1)
    with pytest.raises(ExportJobTimedOut) as timed_out:
        runner(policy).run_to_completion(ScriptedJob(["r"]))
    assert timed_out.value.job_id == "job-1"


def test_cancellation_stops_polling_at_once():
    cancelled = threading.Event()
    policy = PollPolicy(min_interval_seconds=30, max_interval_seconds=30, timeout_seconds=600)
    threading.Timer(0.1, cancelled.set).start()
    started = time.monotonic()
    with pytest.raises(SyncCancelled):
        runner(policy, cancelled=cancelled).run_to_completion(ScriptedJob(["r"]))
    assert time.monotonic() - started < 5


def test_a_busy_vendor_is_waited_out_then_the_job_is_created():
    job = ScriptedJob(["ok"], busy=3)
    job_id, status = runner().run_to_completion(job)
    assert (job_id, status.state) == ("job-1", JobState.SUCCEEDED)


def test_a_vendor_busy_past_the_deadline_fails_the_job():
    policy = PollPolicy(min_interval_seconds=0.01, max_interval_seconds=0.01, timeout_seconds=0.05)
    with pytest.raises(ExportJobFailed, match="refused new jobs"):
        runner(policy).run_to_completion(ScriptedJob(["ok"], busy=1000))


def test_slots_bound_the_jobs_in_flight():
    slots = JobSlots("Acme", 2, LOGGER)
    shared = runner(PollPolicy(0.01, 0.01, 5.0), slots)
    threads = [threading.Thread(target=shared.run_to_completion, args=(ScriptedJob(["r"] * 10 + ["ok"]),)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert slots.peak == 2 and slots.in_use == 0
