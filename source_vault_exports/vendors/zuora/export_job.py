"""One Zuora data source export as an `ExportJob` for the shared runner."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any, BinaryIO, Iterator, List, Mapping, Optional, Sequence

import requests

from source_vault_exports.core.coercion import compile_row_builder
from source_vault_exports.core.decoders.csv_rows import iter_csv_rows, iter_zipped_csv_rows
from source_vault_exports.core.downloads import ResultFile
from source_vault_exports.core.errors import ExportJobFailed, VendorError
from source_vault_exports.core.jobs import JobState, JobStatus
from source_vault_exports.vendors.zuora.api import VENDOR, ZuoraApi, optional_int

# Zuora documents `Canceled`; tap-zuora checks `Cancelled` (vendor-apis.md 4.8): accept both.
_STATES = {
    "pending": JobState.QUEUED,
    "processing": JobState.RUNNING,
    "completed": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "canceled": JobState.CANCELLED,
    "cancelled": JobState.CANCELLED,
}

_ZIP_MAGIC = b"PK\x03\x04"


def job_status(payload: Mapping[str, Any]) -> JobStatus:
    vendor_status = str(payload.get("Status") or "")
    state = _STATES.get(vendor_status.strip().lower())
    if state is None:
        # Failing fast beats polling until the deadline on a status we cannot interpret.
        return JobStatus(JobState.FAILED, vendor_status or "(no status)", f"Zuora reported status {vendor_status!r}, which this connector does not know", payload)
    return JobStatus(state, vendor_status, payload.get("StatusReason") or None, payload)


def csv_column_name(header: str, object_name: str) -> str:
    """`Account.Name` -> `Name` for the exported object; `BillToContact.City` -> `BillToContactCity`."""
    prefix = f"{object_name}."
    if header.lower().startswith(prefix.lower()):
        return header[len(prefix):]
    return header.replace(".", "")


class ZuoraExportJob:
    vendor = VENDOR

    def __init__(
        self,
        api: ZuoraApi,
        object_name: str,
        stream_name: str,
        query: str,
        scope: Optional[str],
        properties: Mapping[str, Mapping[str, Any]],
        tenant_zone: tzinfo,
    ) -> None:
        self._api = api
        self.object_name = object_name
        self.stream_name = stream_name
        self.query = query
        self.scope = scope
        self._properties = properties
        self._tenant_zone = tenant_zone

    def create(self) -> str:
        return self._api.create_export(self.query, name=f"airbyte {self.stream_name} {self.scope or 'full'}")

    def poll(self, job_id: str) -> JobStatus:
        return job_status(self._api.get_export(job_id))

    def result_files(self, job_id: str, status: JobStatus) -> Sequence[ResultFile]:
        file_id = status.payload.get("FileId")
        try:
            rows = optional_int(status.payload.get("Size"))
        except (TypeError, ValueError):
            raise VendorError(VENDOR, f"export {job_id} reports Size {status.payload.get('Size')!r}, not a row count") from None
        if not file_id:
            if rows == 0:
                return []  # nothing matched the window: no file to read
            raise ExportJobFailed(VENDOR, self.object_name, job_id, f"the export is Completed with Size {rows} but has no FileId", scope=self.scope)
        # Zuora's CSV ends every record with a line break (assumed: vendor-apis.md 4.9 leaves the
        # CSV details open), which exposes a body cut at a wrong Content-Length.
        return [
            ResultFile(
                label=f"file {file_id} of export {job_id} ({self.object_name})",
                location=str(file_id),
                expected_rows=rows,
                ends_with_line_break=True,
            )
        ]

    def open_file(self, file: ResultFile) -> requests.Response:
        return self._api.open_file(file.location)

    def decode(self, file: ResultFile, stream: BinaryIO) -> Iterator[Mapping[str, Any]]:
        def make_row_builder(header: List[str]):
            columns = [csv_column_name(name, self.object_name) for name in header]
            return compile_row_builder(
                columns, self._properties, stream=self.stream_name, location=file.label, local_zone=self._tenant_zone
            )

        # We ask for plain CSV, but a zipped file (Zip=true exports) is recognised by its magic bytes.
        if stream.peek(len(_ZIP_MAGIC))[: len(_ZIP_MAGIC)] == _ZIP_MAGIC:  # type: ignore[attr-defined]
            return iter_zipped_csv_rows(stream, make_row_builder)
        return iter_csv_rows(stream, make_row_builder)
