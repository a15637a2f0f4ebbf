"""Batch's three streams: export requests, profile attributes, profile events."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterator, List, Mapping

from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream
from airbyte_cdk.sources.types import StreamSlice

from source_vault_exports.core import http as core_http
from source_vault_exports.core.coercion import parse_timestamp
from source_vault_exports.core.errors import NotFoundError, VendorError, reaching
from source_vault_exports.core.jobs import ExportJobRunner, JobSlots, PollPolicy
from source_vault_exports.core.schemas import load_schema
from source_vault_exports.core.streams import StreamContext, full_refresh_stream, window_bounds, windowed_incremental_stream
from source_vault_exports.vendors.batch.api import VENDOR, BatchApi
from source_vault_exports.vendors.batch.config import BATCH_MAX_POLL_SECONDS, BatchConfig
from source_vault_exports.vendors.batch.export_job import BatchExportJob
from source_vault_exports.vendors.batch.rows import event_row, export_request_row, profile_row

EXPORT_REQUESTS = "batch_export_requests"
PROFILE_ATTRIBUTES = "batch_profile_attributes"
PROFILE_EVENTS = "batch_profile_events"
# Exports are created a little after the window is computed; keep clear of the lookback edge.
LOOKBACK_MARGIN = timedelta(minutes=10)
# The list reaches back 3-4 months (vendor-apis.md 2.2); a first sync starts there.
LIST_REACH = timedelta(days=125)
# One window covers every request the list can return.
REQUESTS_WINDOW = timedelta(days=3650)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_window(start: datetime, end: datetime) -> str:
    return f"[{_iso(start)}, {_iso(end)})"


class BatchStreams:
    def __init__(self, config: BatchConfig, context: StreamContext) -> None:
        self.config = config
        self.context = context
        self.logger = context.logger
        self.api = BatchApi(config, self.logger)
        self.runner = ExportJobRunner(
            JobSlots(VENDOR, config.max_concurrent_exports, self.logger),
            PollPolicy(
                min_interval_seconds=config.poll_interval_seconds,
                max_interval_seconds=min(BATCH_MAX_POLL_SECONDS, 12 * config.poll_interval_seconds),
                timeout_seconds=config.export_timeout_seconds,
            ),
            self.logger,
            context.cancelled,
        )
        # Windows end at a whole second in the past; `to` is never in the future (issue 7).
        self.sync_end = datetime.now(timezone.utc).replace(microsecond=0)

    def build(self) -> List[DefaultStream]:
        return [self._export_requests(), self._profile_attributes(), self._profile_events()]

    # -- export requests ------------------------------------------------------------------------
    def _export_requests(self) -> DefaultStream:
        return windowed_incremental_stream(
            name=EXPORT_REQUESTS,
            json_schema=lambda: load_schema(EXPORT_REQUESTS),
            primary_key=["id"],
            cursor_field="request_date",
            start=self.config.start_date or (self.sync_end - LIST_REACH),
            window=REQUESTS_WINDOW,
            sync_end=self.sync_end,
            rows_for_window=self._export_requests_in,
            context=self.context,
            # A request keeps changing (status, files) after it is created: re-read the last day.
            lookback=self.config.requests_lookback,
        )

    def _export_requests_in(self, stream_slice: StreamSlice) -> Iterator[Mapping[str, Any]]:
        start, end = window_bounds(stream_slice)
        for listed in self.api.list_exports():
            requested = listed.get("request_date") or listed.get("requested_at")
            if not requested:
                raise VendorError(VENDOR, f"export request {listed.get('id')} has no request_date")
            if not start <= parse_timestamp(requested, timezone.utc) < end:
                continue
            try:
                detail = self.api.view(str(listed["id"]))
            except NotFoundError:
                detail = listed  # gone between the list and the view: the list entry is all there is
            yield export_request_row(detail)

    # -- profile attributes ---------------------------------------------------------------------
    def _profile_attributes(self) -> DefaultStream:
        body = {"export_type": "ATTRIBUTES", "attributes": self.config.attributes, "identifiers": self.config.attribute_identifiers}

        def rows(_slice: StreamSlice) -> Iterator[Mapping[str, Any]]:
            yield from self.runner.run(BatchExportJob(self.api, "profile attributes", None, body, profile_row))

        return full_refresh_stream(
            name=PROFILE_ATTRIBUTES,
            json_schema=lambda: load_schema(PROFILE_ATTRIBUTES),
            primary_key=["profile_key"],
            slices=lambda: [StreamSlice(partition={}, cursor_slice={})],
            rows_for_slice=rows,
            context=self.context,
        )

    # -- profile events -------------------------------------------------------------------------
    def _profile_events(self) -> DefaultStream:
        earliest = self.sync_end - self.config.lookback + LOOKBACK_MARGIN
        start = self.config.start_date or earliest
        if start < earliest:
            self.logger.warning(
                f"Batch: start date {_iso(start)} is older than the {self.config.lookback.days}-day event lookback; "
                f"events are exported from {_iso(earliest)} (Batch refuses older ones)"
            )
            start = earliest
        self._warn_if_state_is_past_the_lookback(earliest)
        return windowed_incremental_stream(
            name=PROFILE_EVENTS,
            json_schema=lambda: load_schema(PROFILE_EVENTS),
            primary_key=["event_key"],
            cursor_field="timestamp",
            start=start,
            window=self.config.event_window,
            sync_end=self.sync_end,
            rows_for_window=self._events_in,
            context=self.context,
        )

    def _events_in(self, stream_slice: StreamSlice) -> Iterator[Mapping[str, Any]]:
        start, end = window_bounds(stream_slice)
        # Explicit timestamps, never "now": a retried window asks for exactly the same events.
        body = {
            "export_type": "EVENTS",
            "from": _iso(start),
            "to": _iso(end),
            "events": self.config.events,
            "identifiers": self.config.event_identifiers,
        }
        rows = 0
        for row in self.runner.run(BatchExportJob(self.api, "profile events", describe_window(start, end), body, event_row)):
            rows += 1
            yield row
        self.logger.info(f"Batch events: window {describe_window(start, end)} done, {rows} events")

    def _warn_if_state_is_past_the_lookback(self, earliest: datetime) -> None:
        state: Dict[str, Any] = self.context.stream_state(PROFILE_EVENTS)
        ends = [parse_timestamp(s["end"], timezone.utc) for s in state.get("slices", []) if s.get("end")]
        if ends and max(ends) < earliest:
            self.logger.warning(
                f"Batch: the last synced event window ended {_iso(max(ends))}, before the {self.config.lookback.days}-day lookback; "
                f"events between then and {_iso(earliest)} can no longer be exported"
            )


def build_streams(config: BatchConfig, context: StreamContext) -> List[DefaultStream]:
    return BatchStreams(config, context).build()


def check(config: BatchConfig, logger: logging.Logger) -> None:
    api = BatchApi(config, logger, core_http.DEFAULT_RETRY_POLICY.for_check())
    with reaching(VENDOR, "list exports at", config.api_url, "batch.api_url"):
        next(iter(api.list_exports(limit=1)), None)
