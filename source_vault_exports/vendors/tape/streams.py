"""Tape's two streams: records, and the files in their attachment fields; incremental per app.

Each app is one partition covering (last mark - overlap, sync start]. Tape's metadata filters
treat "modified since" and "created since" separately and a never-edited record matches no
last_modified_at filter (vendor-apis.md 3.7.7), so an incremental read lists both and merges them
by record id. The stored mark is the sync's start, not a record value (records carry no
last-modified time); reads overlap by a minute and ids are deduplicated within a sync.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta, timezone
from itertools import chain
from pathlib import PurePosixPath
from typing import Any, Dict, Iterator, List, Mapping, Union

import requests
from airbyte_cdk.sources.streams.concurrent.cursor import CursorField
from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream
from airbyte_cdk.sources.types import StreamSlice

from source_vault_exports.config import FILE_TRANSFER
from source_vault_exports.core import http as core_http
from source_vault_exports.core.cursors import KeyedWatermarkCursor, slice_bounds
from source_vault_exports.core.downloads import fetch_whole_file
from source_vault_exports.core.errors import ConfigError, VendorError, reaching
from source_vault_exports.core.files import FileDigest, FileStager
from source_vault_exports.core.schemas import load_schema
from source_vault_exports.core.streams import FileRow, SlicePartitionGenerator, StreamContext
from source_vault_exports.vendors.tape.api import VENDOR, TapeApi, metadata_filter
from source_vault_exports.vendors.tape.config import TapeConfig
from source_vault_exports.vendors.tape.records import attachment_rows, file_path_parts, find_file, record_id_of, record_row, skipped_summary

RECORDS = "tape_records"
ATTACHMENTS = "tape_attachments"
# Incremental reads start this long before the last mark (vendor-apis.md 3.7.7).
OVERLAP = timedelta(minutes=1)
# An expired download link is refreshed by re-reading its record at most this often.
LINK_REFRESHES = 3


class TapeStreams:
    def __init__(self, config: TapeConfig, context: StreamContext) -> None:
        self.config = config
        self.context = context
        self.logger = context.logger
        self.api = TapeApi(config, self.logger)
        self.sync_end = datetime.now(timezone.utc).replace(microsecond=0)
        self.stager = FileStager() if config.delivery_type == FILE_TRANSFER else None

    def build(self) -> List[DefaultStream]:
        return [
            self._stream(RECORDS, ["id"], "last_modified_at", self._records_in),
            self._stream(ATTACHMENTS, ["record_id", "field_id", "file_id"], "record_last_modified_at", self._attachments_in, files=True),
        ]

    def _stream(self, name: str, primary_key: List[str], cursor_field: str, rows, files: bool = False) -> DefaultStream:
        cursor = KeyedWatermarkCursor(
            name,
            [str(app_id) for app_id in self.config.app_ids],
            self.context.stream_state(name),
            self.context.message_repository,
            self.context.state_manager,
            self.sync_end,
            self.config.start_date,
            OVERLAP,
        )
        return DefaultStream(
            partition_generator=SlicePartitionGenerator(name, cursor.stream_slices, rows),
            name=name,
            json_schema=lambda: load_schema(name),
            primary_key=primary_key,
            cursor_field=CursorField(cursor_field),
            logger=self.logger,
            cursor=cursor,
            supports_file_transfer=files and self.stager is not None,
        )

    # -- listing ------------------------------------------------------------------------------
    def _changed_records(self, stream_slice: StreamSlice) -> Iterator[Mapping[str, Any]]:
        """Records of one app created or modified in the slice, each once."""
        key, lower, upper = slice_bounds(stream_slice)
        app_id = int(key)
        if lower is None:
            listing = self.api.records(app_id)
        else:
            listing = chain(
                self.api.records(app_id, [metadata_filter("last_modified_at", "on_or_after", lower), metadata_filter("last_modified_at", "on_or_before", upper)]),
                self.api.records(app_id, [metadata_filter("created_at", "on_or_after", lower), metadata_filter("created_at", "on_or_before", upper)]),
            )
        seen = set()
        for record in listing:
            record_id = record_id_of(record)
            if record_id in seen:
                continue
            seen.add(record_id)
            yield record
        self.logger.info(f"Tape app {app_id}: {len(seen)} records {'in all' if lower is None else f'changed since {lower.isoformat()}'}")

    def _records_in(self, stream_slice: StreamSlice) -> Iterator[Mapping[str, Any]]:
        app_id = int(slice_bounds(stream_slice)[0])
        for record in self._changed_records(stream_slice):
            yield record_row(app_id, record)

    def _attachments_in(self, stream_slice: StreamSlice) -> Iterator[Union[Mapping[str, Any], FileRow]]:
        app_id = int(slice_bounds(stream_slice)[0])
        skipped: Counter = Counter()
        for record in self._changed_records(stream_slice):
            for row in attachment_rows(app_id, record, skipped):
                if self.stager is None:
                    yield row
                else:
                    yield self._with_file(row)
        for warning in skipped_summary(app_id, skipped):
            self.logger.warning(warning)

    # -- file transfer ------------------------------------------------------------------------
    def _with_file(self, row: Dict[str, Any]) -> Union[Dict[str, Any], FileRow]:
        """Stage the file's bytes; an expired link is refreshed from the record, a deleted file logged."""
        assert self.stager is not None
        url = row["download_url"]
        label = f"file {row['file_id']} ({row['filename']}) of record {row['record_id']}"
        for attempt in range(1, LINK_REFRESHES + 2):
            if not url:
                break
            probe = self.api.open_download(url)
            if probe.status_code == 200:
                digest = self._stage(row, label, probe)
                return FileRow({**row, "md5": digest.md5}, digest.file_reference)  # type: ignore[arg-type]
            probe.close()
            if probe.status_code == 404:
                self.logger.warning(f"Tape: {label} was deleted (HTTP 404); its row is kept without the file")
                return row
            # 403: the signed link expired; re-reading the record gives a fresh one (vendor-apis.md 3.4).
            if attempt > LINK_REFRESHES:
                break
            self.logger.info(f"Tape: the download link of {label} expired; re-reading the record for a fresh one")
            fresh = find_file(self.api.record(row["record_id"]), row["file_id"])
            url = fresh.get("download_url") if fresh else None
        raise VendorError(VENDOR, f"could not download {label}: its download link kept being refused")

    def _stage(self, row: Mapping[str, Any], label: str, first: requests.Response) -> FileDigest:
        assert self.stager is not None
        responses = iter([first])

        def open_response() -> requests.Response:
            response = next(responses, None)
            return response if response is not None else self.api.open_download(row["download_url"])

        expected = row.get("size")
        return fetch_whole_file(
            label,
            open_response,
            lambda stream: self.stager.stage(ATTACHMENTS, PurePosixPath(*file_path_parts(row)), stream),  # type: ignore[union-attr]
            lambda digest: None if expected is None or digest.size == expected else f"{digest.size} bytes, Tape reported {expected}",
            vendor=VENDOR,
            logger=self.logger,
            discard=lambda digest: self.stager.discard(digest.file_reference),  # type: ignore[union-attr]
        )


def build_streams(config: TapeConfig, context: StreamContext) -> List[DefaultStream]:
    return TapeStreams(config, context).build()


def check(config: TapeConfig, logger: logging.Logger) -> None:
    api = TapeApi(config, logger, core_http.DEFAULT_RETRY_POLICY.for_check())
    for app_id in config.app_ids:
        with reaching(VENDOR, "reach", config.api_url, "tape.api_url"):
            response = api.app(app_id)
        if response.status_code == 404:
            raise ConfigError("tape.app_ids", f"Tape has no app {app_id} (HTTP 404)")
        if response.status_code == 403:
            raise ConfigError("tape.app_ids", f"the API key may not read Tape app {app_id} (HTTP 403)")
