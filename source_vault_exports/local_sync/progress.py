"""What the local sync shows while it runs: per stream, its export jobs, rows, megabytes and rate.

The connector is a subprocess speaking the Airbyte protocol, so everything shown comes from its
messages: RECORDs (rows and bytes), the CDK's STREAM_STATUS traces (waiting, reading, done) and the
connector's INFO log lines about export jobs, written once in `core/jobs.py`:

    Zuora export of InvoiceItem for [2024-01-01, 2024-01-31): created job 8a8a...
    Zuora export of InvoiceItem for [2024-01-01, 2024-01-31): job 8a8a... is Processing (running) after 12 s

On a terminal the table is redrawn in place (rich's Live display); anywhere else (CI logs, a pipe)
one plain line is printed every few seconds. Either way `summary_table` is printed at the end.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Optional

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from source_vault_exports.core.jobs import JobState
from source_vault_exports.vendors.batch.api import VENDOR as BATCH
from source_vault_exports.vendors.veeva.api import VENDOR as VEEVA
from source_vault_exports.vendors.zuora.api import VENDOR as ZUORA
from source_vault_exports.vendors.zuora.describe import stream_name_for

PLAIN_LINE_EVERY_SECONDS = 5.0
LIVE_REFRESHES_PER_SECOND = 4

_CREATED = re.compile(r"^(?P<vendor>.+?) export of (?P<object>.+?)(?: for .*)?: created job (?P<job>\S+)$")
_STATE = re.compile(
    r"^(?P<vendor>.+?) export of (?P<object>.+?)(?: for .*)?: job (?P<job>\S+) is .* "
    r"\((?P<state>" + "|".join(state.value for state in JobState) + r")\) after \d+ s"
)


def stream_of_job(vendor: str, object_name: str) -> Optional[str]:
    """The stream an export job feeds; job lines name the vendor and object, not the stream."""
    if vendor == ZUORA:
        return stream_name_for(object_name)  # one stream per Zuora object
    if vendor == BATCH:
        return "batch_" + object_name.replace(" ", "_")  # "profile events" -> batch_profile_events
    if vendor == VEEVA:
        return "veeva_attachment_field_files"  # Vault's only export jobs; attachments are listed
    return None


@dataclass
class JobCounts:
    pending: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0

    def __bool__(self) -> bool:
        return bool(self.pending or self.running or self.done or self.failed)

    def text(self) -> str:
        if not self:
            return "-"
        counts = f"{self.pending}/{self.running}/{self.done}"
        return counts + (f" ({self.failed} failed)" if self.failed else "")


@dataclass
class StreamProgress:
    name: str
    mode: str
    status: str = "waiting"
    rows: int = 0
    bytes: int = 0
    started_at: Optional[float] = None  # STREAM_STATUS STARTED, else the first row
    finished_at: Optional[float] = None  # STREAM_STATUS COMPLETE or INCOMPLETE
    jobs: Dict[str, JobState] = field(default_factory=dict)

    def job_counts(self) -> JobCounts:
        counts = JobCounts()
        for state in self.jobs.values():
            if state is JobState.QUEUED:
                counts.pending += 1
            elif state is JobState.RUNNING:
                counts.running += 1
            elif state is JobState.SUCCEEDED:
                counts.done += 1
            else:
                counts.failed += 1
        return counts

    def rate(self, now: float) -> float:
        """Rows per second from the stream's start (export jobs included) to its end or now."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else now
        return self.rows / max(end - self.started_at, 1e-3)


_STATUS_NAMES = {"STARTED": "reading", "RUNNING": "reading", "COMPLETE": "done", "INCOMPLETE": "failed"}
_STATUS_STYLES = {"waiting": "dim", "reading": "cyan", "done": "green", "failed": "red"}


class SyncProgress:
    """Collects the connector's messages per stream and shows them (live on a terminal)."""

    def __init__(self, console: Console, modes: Dict[str, str], clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.streams: Dict[str, StreamProgress] = {name: StreamProgress(name, mode) for name, mode in modes.items()}
        self._clock = clock
        self.started = clock()
        self._last_line = self.started
        self._live: Optional[Live] = None
        # The live display is redrawn by rich's refresh thread; counts change under this lock.
        self._lock = threading.Lock()

    # -- what the connector says --------------------------------------------------------------
    def record(self, stream: str, size: int) -> None:
        now = self._clock()
        with self._lock:
            progress = self._stream(stream)
            progress.rows += 1
            progress.bytes += size
            if progress.started_at is None:
                progress.started_at = now
            if progress.status == "waiting":
                progress.status = "reading"
        self._tick(now)

    def stream_status(self, stream: str, status: str) -> None:
        """The CDK's STREAM_STATUS trace: STARTED, RUNNING, COMPLETE or INCOMPLETE."""
        now = self._clock()
        with self._lock:
            progress = self._stream(stream)
            name = _STATUS_NAMES.get(status)
            if name:
                progress.status = name
            if status == "STARTED" and progress.started_at is None:
                progress.started_at = now
            if status in ("COMPLETE", "INCOMPLETE"):
                progress.finished_at = now
        self._tick(now)

    def log(self, message: str) -> None:
        """Count export jobs from the connector's job lines; other lines are ignored."""
        created = _CREATED.match(message)
        if created:
            stream = stream_of_job(created["vendor"], created["object"])
            if stream in self.streams:
                with self._lock:
                    self.streams[stream].jobs.setdefault(created["job"], JobState.QUEUED)
            return
        changed = _STATE.match(message)
        if changed:
            stream = stream_of_job(changed["vendor"], changed["object"])
            if stream in self.streams:
                with self._lock:
                    self.streams[stream].jobs[changed["job"]] = JobState(changed["state"])
            self._tick(self._clock())

    def print(self, text: str) -> None:
        """A message for the user, above the live table when there is one."""
        self.console.print(text, highlight=False, soft_wrap=not self.console.is_terminal)

    # -- showing it ---------------------------------------------------------------------------
    def __enter__(self) -> "SyncProgress":
        if self.console.is_terminal:
            self._live = Live(
                console=self.console, get_renderable=self._live_view, refresh_per_second=LIVE_REFRESHES_PER_SECOND, transient=True
            )
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _tick(self, now: float) -> None:
        # A live display redraws itself (LIVE_REFRESHES_PER_SECOND); plain output gets a line now and then.
        if self._live is None and now - self._last_line >= PLAIN_LINE_EVERY_SECONDS:
            self._last_line = now
            self.print(self.plain_line(now))

    def totals(self, now: Optional[float] = None) -> str:
        """`16,142 rows, 9.8 MB in 12.0 s (1,345 rows/s); jobs pending/running/done 0/0/45; 14 of 14 streams done`"""
        now = self._clock() if now is None else now
        elapsed = max(now - self.started, 1e-3)
        rows = sum(stream.rows for stream in self.streams.values())
        size = sum(stream.bytes for stream in self.streams.values())
        jobs = self._total_jobs(self.streams.values())
        done = sum(stream.status == "done" for stream in self.streams.values())
        text = f"{rows:,} rows, {size / 1e6:.1f} MB in {elapsed:.1f} s ({rows / elapsed:,.0f} rows/s)"
        if jobs:
            text += f"; jobs pending/running/done {jobs.text()}"
        return text + f"; {done} of {len(self.streams)} streams done"

    def plain_line(self, now: Optional[float] = None) -> str:
        """The totals, then each stream still at work: its rows and its jobs."""
        now = self._clock() if now is None else now
        active = [
            stream for stream in self.streams.values()
            if stream.status == "reading" or any(state in (JobState.QUEUED, JobState.RUNNING) for state in stream.jobs.values())
        ]
        line = self.totals(now)
        if active:
            line += ": " + ", ".join(
                f"{stream.name} {stream.rows:,} rows" + (f" (jobs {stream.job_counts().text()})" if stream.jobs else "") for stream in active
            )
        return line

    def table(self, title: str, store_counts: Optional[Dict[str, int]] = None) -> Table:
        """Per stream: status, jobs, rows, MB, rate (and rows in the table at the end)."""
        now = self._clock()
        table = Table(title=title, title_justify="left")
        columns = ["stream", "mode", "status", "jobs pend/run/done", "rows", "MB", "rows/s"]
        if store_counts is not None:
            columns.append("rows in table")
        for column in columns:
            table.add_column(column, justify="left" if column in ("stream", "mode", "status") else "right", no_wrap=column == "stream")
        for stream in self.streams.values():
            cells = [
                stream.name,
                stream.mode,
                Text(stream.status, style=_STATUS_STYLES.get(stream.status, "")),
                stream.job_counts().text(),
                f"{stream.rows:,}",
                f"{stream.bytes / 1e6:.2f}",
                f"{stream.rate(now):,.0f}",
            ]
            if store_counts is not None:
                cells.append(f"{store_counts.get(stream.name, 0):,}")
            table.add_row(*cells)
        return table

    def _live_view(self) -> Group:
        with self._lock:
            return Group(self.table(f"Syncing {len(self.streams)} streams"), Text(self.totals(), style="bold"))

    def _stream(self, name: str) -> StreamProgress:
        if name not in self.streams:
            self.streams[name] = StreamProgress(name, "?")
        return self.streams[name]

    @staticmethod
    def _total_jobs(streams: Iterable[StreamProgress]) -> JobCounts:
        total = JobCounts()
        for stream in streams:
            counts = stream.job_counts()
            total.pending += counts.pending
            total.running += counts.running
            total.done += counts.done
            total.failed += counts.failed
        return total
