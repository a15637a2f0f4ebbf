"""The export-job lifecycle, written once: create -> poll -> list result files -> stream them.

A vendor describes one job with the `ExportJob` protocol (how to create it, read its status as a
`JobStatus`, list its files, open and decode a file). `ExportJobRunner` does the rest the same way
for every vendor: it holds one of the vendor's job slots while the job is queued or running, polls
with backoff from the vendor's minimum interval, logs on state changes only, stops at a terminal
state, at its deadline or when the sync is cancelled, and streams each file through
`stream_file_items`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, BinaryIO, Callable, Iterator, Mapping, Optional, Protocol, Sequence, Tuple

import requests

from source_vault_exports.core.downloads import ResultFile, stream_file_items
from source_vault_exports.core.errors import ExportJobFailed, ExportJobTimedOut


class JobState(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class JobStatus:
    state: JobState
    vendor_status: str
    reason: Optional[str] = None
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PollPolicy:
    """How often a job is polled and for how long before we give up on it."""

    min_interval_seconds: float
    max_interval_seconds: float
    timeout_seconds: float
    backoff_factor: float = 1.5


class SyncCancelled(Exception):
    """The sync is shutting down; jobs stop polling instead of holding the process open."""


class VendorBusy(Exception):
    """The vendor refuses a new job because its own job limit is reached (e.g. Zuora's 50 exports).

    Not an error: other tools share that limit, so the runner waits and tries again until the
    job's deadline instead of spending the HTTP retry budget in seconds.
    """


class ExportJob(Protocol):
    vendor: str
    object_name: str
    scope: Optional[str]

    def create(self) -> Optional[str]:
        """Start the job; None when the vendor decides there is nothing to export."""

    def poll(self, job_id: str) -> JobStatus: ...

    def result_files(self, job_id: str, status: JobStatus) -> Sequence[ResultFile]: ...

    def open_file(self, file: ResultFile) -> requests.Response: ...

    def decode(self, file: ResultFile, stream: BinaryIO) -> Iterator[Mapping[str, Any]]: ...


class JobSlots:
    """A vendor's limit on jobs queued or running at once (e.g. Zuora: 50 per tenant)."""

    def __init__(self, vendor: str, limit: int, logger: logging.Logger) -> None:
        self.vendor = vendor
        self.limit = limit
        self._semaphore = threading.BoundedSemaphore(limit)
        self._logger = logger
        self._lock = threading.Lock()
        self.in_use = 0
        self.peak = 0

    @contextlib.contextmanager
    def hold(self, job_label: str, cancelled: threading.Event) -> Iterator[None]:
        while not self._semaphore.acquire(timeout=1.0):
            if cancelled.is_set():
                raise SyncCancelled()
        with self._lock:
            self.in_use += 1
            self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            with self._lock:
                self.in_use -= 1
            self._semaphore.release()


def describe_job(job: ExportJob) -> str:
    return f"{job.vendor} export of {job.object_name}" + (f" for {job.scope}" if job.scope else "")


class ExportJobRunner:
    """Runs `ExportJob`s to completion within a vendor's slot limit and poll policy."""

    def __init__(
        self,
        slots: JobSlots,
        policy: PollPolicy,
        logger: logging.Logger,
        cancelled: Optional[threading.Event] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slots = slots
        self.policy = policy
        self._logger = logger
        self.cancelled = cancelled or threading.Event()
        self._clock = clock

    def run(self, job: ExportJob) -> Iterator[Mapping[str, Any]]:
        """Every row of a job's result files; a failed or cancelled job raises `ExportJobFailed`."""
        outcome = self.run_to_completion(job)
        if outcome is None:
            return
        job_id, status = outcome
        if status.state is not JobState.SUCCEEDED:
            raise ExportJobFailed(
                job.vendor,
                job.object_name,
                job_id,
                f"the job ended {status.vendor_status}: {status.reason or 'the vendor gave no reason'}",
                scope=job.scope,
            )
        yield from self.stream_results(job, job_id, status)

    def run_to_completion(self, job: ExportJob) -> Optional[Tuple[str, JobStatus]]:
        """Create the job and poll it to a terminal state; None when no job was needed."""
        with self.slots.hold(describe_job(job), self.cancelled):
            if self._logger.isEnabledFor(logging.DEBUG):
                self._logger.debug(f"{describe_job(job)}: creating a job ({self.slots.in_use} of {self.slots.limit} {self.slots.vendor} job slots in use)")
            job_id = self._create(job)
            if job_id is None:
                self._logger.info(f"{describe_job(job)}: nothing to export, no job created")
                return None
            self._logger.info(f"{describe_job(job)}: created job {job_id}")
            return job_id, self.wait(job, job_id)

    def _create(self, job: ExportJob) -> Optional[str]:
        started = self._clock()
        interval = self.policy.min_interval_seconds
        while True:
            try:
                return job.create()
            except VendorBusy as busy:
                waited = self._clock() - started
                if waited >= self.policy.timeout_seconds:
                    raise ExportJobFailed(
                        job.vendor, job.object_name, None, f"the vendor refused new jobs for {waited:.0f} s: {busy}", scope=job.scope
                    ) from None
                if interval == self.policy.min_interval_seconds:
                    self._logger.info(f"{describe_job(job)}: {job.vendor} has no free job slot ({busy}); waiting")
            if self.cancelled.wait(interval):
                raise SyncCancelled()
            interval = min(interval * self.policy.backoff_factor, self.policy.max_interval_seconds)

    def wait(self, job: ExportJob, job_id: str) -> JobStatus:
        started = self._clock()
        deadline = started + self.policy.timeout_seconds
        interval = self.policy.min_interval_seconds
        last_state: Optional[str] = None
        while True:
            status = job.poll(job_id)
            waited = self._clock() - started
            if status.vendor_status != last_state:
                # One INFO line per state change, never per poll. The vendor's own word comes
                # first (what the operator sees in the vendor's UI), our state in brackets (what
                # the local sync's progress display counts as pending, running or done).
                self._logger.info(
                    f"{describe_job(job)}: job {job_id} is {status.vendor_status} ({status.state.value}) after {waited:.0f} s"
                    + (f": {status.reason}" if status.reason and status.state.is_terminal else "")
                )
                last_state = status.vendor_status
            if status.state.is_terminal:
                return status
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise ExportJobTimedOut(job.vendor, job.object_name, job_id, self._clock() - started, job.scope)
            if self._logger.isEnabledFor(logging.DEBUG):
                self._logger.debug(
                    f"{describe_job(job)}: job {job_id} still {status.vendor_status} after {waited:.0f} s; "
                    f"next poll in {min(interval, remaining):.1f} s, deadline in {remaining:.0f} s"
                )
            if self.cancelled.wait(min(interval, remaining)):
                raise SyncCancelled()
            interval = min(interval * self.policy.backoff_factor, self.policy.max_interval_seconds)

    def stream_results(self, job: ExportJob, job_id: str, status: JobStatus) -> Iterator[Mapping[str, Any]]:
        for result_file in job.result_files(job_id, status):
            yield from stream_file_items(
                result_file,
                job.open_file,
                lambda stream, f=result_file: job.decode(f, stream),
                vendor=job.vendor,
                logger=self._logger,
            )
