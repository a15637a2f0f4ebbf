"""Zuora's windowing: one export per [start, end) window of UpdatedDate, and what to do when it fails.

- A window whose export times out, or fails with a too-large / killed reason, is split in half and
  each half exported in turn, down to `MIN_SPLIT_WINDOW`.
- A field describe lists but the export rejects ("There is no field named X") is dropped for the
  rest of the sync with one warning, and the export is created again.
- A result file that is gone (404, Zuora keeps files 7 days) means the export is created again.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Any, Deque, Iterator, List, Mapping, Optional, Tuple

from airbyte_cdk.sources.types import StreamSlice

from source_vault_exports.core.errors import ExportJobFailed, ExportJobTimedOut, NotFoundError
from source_vault_exports.core.jobs import ExportJobRunner, JobState
from source_vault_exports.core.streams import window_bounds
from source_vault_exports.vendors.zuora.api import VENDOR, ExportRejected, ZuoraApi
from source_vault_exports.vendors.zuora.describe import ObjectDescription, export_fields
from source_vault_exports.vendors.zuora.export_job import ZuoraExportJob
from source_vault_exports.vendors.zuora.zoql import full_query, looks_too_large, rejected_field, window_query

MIN_SPLIT_WINDOW = timedelta(hours=1)
# Creating an export again (dropped field, purged file) more often than this means something else is wrong.
MAX_EXPORTS_PER_WINDOW = 5


class WindowTooLarge(Exception):
    def __init__(self, job_id: str, reason: str) -> None:
        super().__init__(reason)
        self.job_id = job_id
        self.reason = reason


def describe_window(start: datetime, end: datetime) -> str:
    return f"[{start.isoformat()}, {end.isoformat()})"


def split_window(start: datetime, end: datetime) -> Optional[Tuple[Tuple[datetime, datetime], Tuple[datetime, datetime]]]:
    if end - start <= MIN_SPLIT_WINDOW:
        return None
    middle = (start + (end - start) / 2).replace(microsecond=0)
    if not start < middle < end:
        return None
    return (start, middle), (middle, end)


class ZuoraObjectExporter:
    """Reads one Zuora object's rows, window by window; shared by all windows of its stream."""

    def __init__(
        self,
        api: ZuoraApi,
        runner: ExportJobRunner,
        description: ObjectDescription,
        stream_name: str,
        logger: logging.Logger,
    ) -> None:
        self._api = api
        self._runner = runner
        self._description = description
        self._stream_name = stream_name
        self._logger = logger
        self._dropped: List[str] = []
        self._lock = threading.Lock()

    @property
    def object_name(self) -> str:
        return self._description.object_name

    def rows_for_window(self, stream_slice: StreamSlice) -> Iterator[Mapping[str, Any]]:
        start, end = window_bounds(stream_slice)
        pending: Deque[Tuple[datetime, datetime]] = deque([(start, end)])
        rows = 0
        while pending:
            window_start, window_end = pending.popleft()
            try:
                for row in self._export_window(window_start, window_end):
                    rows += 1
                    yield row
            except WindowTooLarge as too_large:
                halves = split_window(window_start, window_end)
                scope = describe_window(window_start, window_end)
                if halves is None:
                    raise ExportJobFailed(
                        VENDOR,
                        self.object_name,
                        too_large.job_id,
                        f"{too_large.reason}; the window is already at the {MIN_SPLIT_WINDOW} minimum and cannot be split further",
                        scope=scope,
                    ) from None
                self._logger.warning(
                    f"Zuora export of {self.object_name} for {scope} did not finish ({too_large.reason}); "
                    f"splitting it into {describe_window(*halves[0])} and {describe_window(*halves[1])}"
                )
                pending.extendleft(reversed(halves))
        self._logger.info(f"Zuora {self.object_name}: window {describe_window(start, end)} done, {rows} rows")

    def rows_for_full_export(self, stream_slice: StreamSlice) -> Iterator[Mapping[str, Any]]:
        for _ in range(MAX_EXPORTS_PER_WINDOW):
            query = full_query(self.object_name, self._fields())
            outcome = yield from self._run_export(query, scope=None)
            if outcome == "done":
                return
        raise ExportJobFailed(VENDOR, self.object_name, None, f"gave up after {MAX_EXPORTS_PER_WINDOW} exports")

    def _export_window(self, start: datetime, end: datetime) -> Iterator[Mapping[str, Any]]:
        cursor = self._description.cursor_field
        assert cursor is not None, "windowed exports need a cursor field"
        scope = describe_window(start, end)
        for _ in range(MAX_EXPORTS_PER_WINDOW):
            query = window_query(self.object_name, self._fields(), cursor, start, end)
            outcome = yield from self._run_export(query, scope)
            if outcome == "done":
                return
        raise ExportJobFailed(VENDOR, self.object_name, None, f"gave up after {MAX_EXPORTS_PER_WINDOW} exports", scope=scope)

    def _run_export(self, query: str, scope: Optional[str]) -> Iterator[Mapping[str, Any]]:
        """Run one export to its rows; returns "done", or "again" when it must be created anew."""
        job = ZuoraExportJob(
            self._api,
            self.object_name,
            self._stream_name,
            query,
            scope,
            self._description.fields,
            self._api.config.tenant_timezone,
        )
        try:
            outcome = self._runner.run_to_completion(job)
        except ExportRejected as rejected:
            if self._drop_rejected_field(rejected.message):
                return "again"
            raise ExportJobFailed(VENDOR, self.object_name, None, f"Zuora rejected the export: {rejected.message}", scope=scope) from None
        except ExportJobTimedOut as timed_out:
            raise WindowTooLarge(timed_out.job_id or "?", timed_out.reason) from None
        assert outcome is not None, "Zuora always creates an export"
        job_id, status = outcome
        if status.state is not JobState.SUCCEEDED:
            reason = status.reason or "Zuora gave no StatusReason"
            if status.state is JobState.FAILED and self._drop_rejected_field(reason):
                return "again"
            if status.state is JobState.FAILED and looks_too_large(reason):
                raise WindowTooLarge(job_id, f"{status.vendor_status}: {reason}")
            raise ExportJobFailed(VENDOR, self.object_name, job_id, f"{status.vendor_status}: {reason}", scope=scope)
        try:
            yield from self._runner.stream_results(job, job_id, status)
        except NotFoundError as gone:
            self._logger.warning(
                f"Zuora export {job_id} of {self.object_name}: its file is gone ({gone.message}); creating the export again"
            )
            return "again"
        return "done"

    def _fields(self) -> List[str]:
        with self._lock:
            return export_fields(self._description, self._dropped)

    def _drop_rejected_field(self, reason: str) -> bool:
        field = rejected_field(reason)
        if field is None:
            return False
        protected = {"Id", self._description.cursor_field}
        with self._lock:
            if field in self._dropped:
                # Another window dropped it while this export ran.
                return True
            if field in protected or field not in self._description.fields:
                return False
            self._dropped.append(field)
        self._logger.warning(
            f"Zuora lists field {self.object_name}.{field} in describe but the export rejects it ({reason}); "
            f"exporting {self.object_name} without it for the rest of this sync"
        )
        return True
