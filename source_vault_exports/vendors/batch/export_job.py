"""One Batch profile export (ATTRIBUTES or EVENTS) as an `ExportJob` for the shared runner."""

from __future__ import annotations

from typing import Any, BinaryIO, Callable, Dict, Iterator, Mapping, Optional, Sequence

import requests

from source_vault_exports.core.decoders.json_rows import iter_json_records
from source_vault_exports.core.downloads import ResultFile
from source_vault_exports.core.errors import ExportJobFailed, VendorError
from source_vault_exports.core.jobs import JobState, JobStatus
from source_vault_exports.vendors.batch.api import VENDOR, BatchApi

_STATES = {
    "CREATED": JobState.QUEUED,
    "PENDING": JobState.QUEUED,
    "RUNNING": JobState.RUNNING,
    "SUCCESS": JobState.SUCCEEDED,
    "ERROR": JobState.FAILED,
}
# ERROR carries no documented reason field (vendor-apis.md 2.8); these are read when present.
_REASON_FIELDS = ("error_message", "error", "reason", "status_reason")


def job_status(view: Mapping[str, Any]) -> JobStatus:
    vendor_status = str(view.get("status") or "")
    state = _STATES.get(vendor_status.upper())
    if state is None:
        return JobStatus(JobState.FAILED, vendor_status or "(no status)", f"Batch reported status {vendor_status!r}, which this connector does not know", view)
    reason = None
    for name in _REASON_FIELDS:
        value = view.get(name)
        if isinstance(value, Mapping):
            value = value.get("message") or value.get("error_message")
        if value:
            reason = str(value)
            break
    return JobStatus(state, vendor_status, reason, view)


class BatchExportJob:
    vendor = VENDOR

    def __init__(
        self,
        api: BatchApi,
        object_name: str,
        scope: Optional[str],
        body: Mapping[str, Any],
        row_of: Callable[[Mapping[str, Any]], Dict[str, Any]],
    ) -> None:
        self._api = api
        self.object_name = object_name
        self.scope = scope
        self._body = body
        self._row_of = row_of

    def create(self) -> str:
        return self._api.create_export(self._body)

    def poll(self, job_id: str) -> JobStatus:
        return job_status(self._api.view(job_id))

    def result_files(self, job_id: str, status: JobStatus) -> Sequence[ResultFile]:
        files = status.payload.get("files")
        if not isinstance(files, list):
            raise ExportJobFailed(VENDOR, self.object_name, job_id, "the export succeeded but lists no files", scope=self.scope)
        ordered = sorted(files, key=lambda item: int(item.get("part", 0)))
        # Downloads are built from files[].id against the configured host: files[].url names the
        # API version the export was created with (vendor-apis.md 2.4).
        return [
            ResultFile(
                label=f"part {item.get('part')} ({item['id']}) of export {job_id}",
                location=str(item["id"]),
                expected_bytes=int(item["size"]) if item.get("size") is not None else None,
            )
            for item in ordered
        ]

    def open_file(self, file: ResultFile) -> requests.Response:
        return self._api.open_file(file.location)

    def decode(self, file: ResultFile, stream: BinaryIO) -> Iterator[Mapping[str, Any]]:
        row_of = self._row_of
        for line in iter_json_records(stream):
            if not isinstance(line, dict) and not isinstance(line, Mapping):
                raise VendorError(VENDOR, f"{file.label} holds a JSON {type(line).__name__} where a profile or event object was expected")
            yield row_of(line)
