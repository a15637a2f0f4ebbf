"""`veeva_attachment_field_files`: Attachment field files of object records, via export jobs.

For each configured object: record ids by VQL (incremental on modified_date__v) -> batches of at
most 500 -> one export job per batch (several in flight) -> export results -> every byte part of
the one tar.gz, read back to back as a single stream -> tar members read one at a time -> one row
per file, its md5 computed while streaming. Members are laid out `{record_id}/{field}/{file}`
(vendor-apis.md 1.9 leaves this unconfirmed): a member that does not fit is skipped and counted.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any, BinaryIO, Deque, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import requests
from airbyte_cdk.sources.types import StreamSlice

from source_vault_exports.core.coercion import format_utc, parse_timestamp
from source_vault_exports.core.cursors import KeyedWatermarkCursor, slice_bounds
from source_vault_exports.core.decoders.tar_members import iter_archive_members
from source_vault_exports.core.downloads import ChainedBody, CorruptFile, ResultFile
from source_vault_exports.core.errors import ExportJobFailed, VendorError
from source_vault_exports.core.files import FileStager, digest_stream
from source_vault_exports.core.jobs import ExportJobRunner, JobState, JobStatus
from source_vault_exports.core.streams import FileRow
from source_vault_exports.vendors.veeva.api import VENDOR, VaultApi
from source_vault_exports.vendors.veeva.config import AttachmentFieldObject

STREAM = "veeva_attachment_field_files"
# Vault takes at most 500 records per export request (seed 000).
MAX_RECORDS_PER_JOB = 500

_QUEUED = {"SCHEDULED", "QUEUED", "QUEUEING"}


def job_status(body: Mapping[str, Any]) -> JobStatus:
    """Every status other than queued, running and SUCCESS is a failure (vendor-apis.md 1.4)."""
    data = body.get("data") or {}
    vendor_status = str(data.get("status") or "")
    upper = vendor_status.upper()
    if upper in _QUEUED:
        state = JobState.QUEUED
    elif upper == "RUNNING":
        state = JobState.RUNNING
    elif upper == "SUCCESS":
        state = JobState.SUCCEEDED
    elif upper == "CANCELLED":
        state = JobState.CANCELLED
    else:
        state = JobState.FAILED
    reason = body.get("responseMessage") or data.get("message") or (None if state is JobState.SUCCEEDED else f"Vault ended the job {vendor_status}")
    return JobStatus(state, vendor_status, reason, data)


class FieldExportJob:
    """One export job for up to 500 records of one object."""

    vendor = VENDOR

    def __init__(
        self,
        api: VaultApi,
        target: AttachmentFieldObject,
        batch: Sequence[Tuple[str, Optional[str], str]],
        batch_label: str,
        stager: Optional[FileStager],
        logger: logging.Logger,
    ) -> None:
        self._api = api
        self._target = target
        self.object_name = target.object_name
        self.scope = batch_label
        self._batch = batch
        # The export names records by id (or by id_param value); either leads to the modified date.
        self._modified = {key: format_utc(parse_timestamp(modified, timezone.utc)) for record_id, alternate, modified in batch for key in (record_id, alternate) if key}
        self._stager = stager
        self._logger = logger
        self._parts: List[ResultFile] = []
        self.job_id: Optional[str] = None
        self.skipped: List[Tuple[str, str]] = []

    def create(self) -> Optional[str]:
        if self._target.id_param:
            body = [{self._target.id_param: alternate} for _, alternate, _ in self._batch]
        else:
            body = [{"id": record_id} for record_id, _, _ in self._batch]
        response = self._api.create_field_export(self.object_name, body, self._target.field_names, self._target.id_param)
        data = response.get("data") or {}
        warnings = [r for r in data.get("records") or [] if isinstance(r, Mapping) and r.get("responseStatus") == "WARNING"]
        if warnings:
            # Records without files answer WARNING INVALID_DATA: normal, counted, not an error (seed 000).
            sample = "; ".join(str(w.get("message")) for r in warnings[:2] for w in r.get("warnings") or [])
            self._logger.info(f"Veeva Vault {self.object_name} {self.scope}: {len(warnings)} of {len(self._batch)} records had warnings ({sample})")
        job_id = data.get("job_id")
        self.job_id = str(job_id) if job_id is not None else None
        return self.job_id

    def poll(self, job_id: str) -> JobStatus:
        return job_status(self._api.job(job_id))

    def result_files(self, job_id: str, status: JobStatus) -> Sequence[ResultFile]:
        results = self._api.export_results(self.object_name, job_id).get("data") or {}
        details = sorted(results.get("filepart_details") or [], key=lambda part: int(part.get("filepart", 0)))
        if not details:
            if not results.get("size"):
                return []  # an export of nothing
            raise ExportJobFailed(VENDOR, self.object_name, job_id, f"the job succeeded with {results.get('size')} bytes but lists no file parts", scope=self.scope)
        # Part URLs are relative and are rebuilt from the part name against the configured host (1.8.5).
        self._parts = [
            ResultFile(label=f"part {part.get('filepart')} ({part['name']}) of job {job_id}", location=str(part["name"]), expected_bytes=part.get("size"))
            for part in details
        ]
        return [ResultFile(label=f"export archive of job {job_id} ({len(details)} part(s))", location=str(job_id))]

    def open_file(self, file: ResultFile) -> requests.Response:
        return ChainedBody(self._parts, lambda part: self._api.open_export_part(self.object_name, part.location))  # type: ignore[return-value]

    def decode(self, file: ResultFile, stream: BinaryIO) -> Iterator[Union[Mapping[str, Any], FileRow]]:
        skipped: List[Tuple[str, str]] = []
        for member in iter_archive_members(stream, lambda name, reason: skipped.append((name, reason))):
            parts = member.path.split("/")
            if len(parts) < 3:
                skipped.append((member.path, "its path is not record/field/file"))
                continue
            record_id, field_name, file_name = parts[0], parts[1], "/".join(parts[2:])
            row = {
                "object_name": self.object_name,
                "record_id": record_id,
                "field_name": field_name,
                "file_name": file_name,
                "archive_path": member.path,
                "job_id": self.job_id,
                "modified_date__v": self._modified.get(record_id),
            }
            if self._stager is None:
                digest = digest_stream(member.content)
            else:
                digest = self._stager.stage(STREAM, PurePosixPath(self.object_name, record_id, field_name, file_name), member.content)
            if digest.size != member.size:
                raise CorruptFile(f"{member.path} has {digest.size} bytes, its tar header says {member.size}")
            row.update(size=digest.size, md5=digest.md5)
            yield row if digest.file_reference is None else FileRow(row, digest.file_reference)
        # A retried download reads the members again; report the final attempt's skips only.
        self.skipped = skipped


class AttachmentFieldFiles:
    def __init__(
        self,
        api: VaultApi,
        runner: ExportJobRunner,
        cursor: KeyedWatermarkCursor,
        targets: Mapping[str, AttachmentFieldObject],
        stager: Optional[FileStager],
        logger: logging.Logger,
        jobs_in_flight: int,
    ) -> None:
        self._api = api
        self._runner = runner
        self._cursor = cursor
        self._targets = targets
        self._stager = stager
        self._logger = logger
        self._jobs_in_flight = jobs_in_flight

    def rows_for_slice(self, stream_slice: StreamSlice) -> Iterator[Union[Mapping[str, Any], FileRow]]:
        object_name, lower, _upper = slice_bounds(stream_slice)
        target = self._targets[object_name]
        newest: Optional[datetime] = None
        files = 0
        pool = ThreadPoolExecutor(max_workers=self._jobs_in_flight, thread_name_prefix=f"vault-{object_name}")
        try:
            in_flight: Deque[Tuple[FieldExportJob, Future]] = deque()
            for number, batch in enumerate(self._batches(target, lower), start=1):
                modified = max(parse_timestamp(m, timezone.utc) for _, _, m in batch)
                newest = modified if newest is None or modified > newest else newest
                job = FieldExportJob(self._api, target, batch, f"batch {number} ({len(batch)} records)", self._stager, self._logger)
                in_flight.append((job, pool.submit(self._runner.run_to_completion, job)))
                # Jobs run ahead; results are read in batch order, so rows come out in a stable order.
                if len(in_flight) >= self._jobs_in_flight:
                    files += yield from self._drain(in_flight.popleft())
            while in_flight:
                files += yield from self._drain(in_flight.popleft())
        finally:
            # On failure, batches not yet started are dropped rather than waited for.
            pool.shutdown(wait=False, cancel_futures=True)
        self._logger.info(f"Veeva Vault {object_name}: {files} Attachment field files")
        if newest is not None:
            # The mark is Vault's own modified_date__v, not our clock (the next query uses >=).
            self._cursor.propose(object_name, newest)

    def _batches(self, target: AttachmentFieldObject, lower: Optional[datetime]) -> Iterator[List[Tuple[str, Optional[str], str]]]:
        columns = "id, modified_date__v" + (f", {target.id_param}" if target.id_param else "")
        where = f" WHERE modified_date__v >= '{lower.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.000Z')}'" if lower else ""
        vql = f"SELECT {columns} FROM {target.object_name}{where} ORDER BY modified_date__v ASC"
        batch: List[Tuple[str, Optional[str], str]] = []
        seen = set()
        for row in self._api.query(vql, f"listing {target.object_name} records"):
            if not row.get("id") or not row.get("modified_date__v"):
                raise VendorError(VENDOR, f"listing {target.object_name} records: Vault returned a row without id or modified_date__v: {row}")
            if row["id"] in seen:
                continue  # a page served twice
            seen.add(row["id"])
            batch.append((str(row["id"]), row.get(target.id_param) if target.id_param else None, str(row["modified_date__v"])))
            if len(batch) == MAX_RECORDS_PER_JOB:
                yield batch
                batch = []
        if batch:
            yield batch

    def _drain(self, entry: Tuple[FieldExportJob, "Future"]) -> Iterator[Union[Mapping[str, Any], FileRow]]:
        job, future = entry
        outcome = future.result()
        if outcome is None:
            return 0
        job_id, status = outcome
        if status.state is not JobState.SUCCEEDED:
            raise ExportJobFailed(VENDOR, job.object_name, job_id, f"{status.vendor_status}: {status.reason}", scope=job.scope)
        count = 0
        for row in self._runner.stream_results(job, job_id, status):
            count += 1
            yield row
        for name, reason in job.skipped:
            self._logger.warning(f"Veeva Vault {job.object_name} job {job_id}: skipped archive member {name!r}: {reason}")
        return count
