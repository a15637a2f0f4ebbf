"""Streams on the CDK's concurrent framework: one partition per time window or per job.

Incremental streams use the CDK's `ConcurrentCursor`, which cuts [start, end) into windows, records
each finished window in the state and, after a crash, re-reads only the windows that were not
finished. Windows are half-open and share their boundaries, so the cursor is built *without* a
cursor granularity and the state converter's one-millisecond increment only serves to merge
adjacent windows: no gap and no overlap at any seam.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Iterator, List, Mapping, MutableMapping, NamedTuple, Optional, Union

from airbyte_cdk.models import AirbyteRecordMessageFileReference
from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.message import MessageRepository
from airbyte_cdk.sources.streams.concurrent.cursor import ConcurrentCursor, CursorField, FinalStateCursor
from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.streams.concurrent.partitions.partition_generator import PartitionGenerator
from airbyte_cdk.sources.streams.concurrent.state_converters.datetime_stream_state_converter import (
    IsoMillisConcurrentStreamStateConverter,
)
from airbyte_cdk.sources.types import Record, StreamSlice
from airbyte_cdk.utils.datetime_helpers import ab_datetime_parse

from source_vault_exports.core.fast_records import RecordBatch, record_batch_rows

WINDOW_START = "start"
WINDOW_END = "end"

class FileRow(NamedTuple):
    """A row that describes a file whose bytes were staged for Airbyte's file transfer."""

    data: Mapping[str, Any]
    file_reference: AirbyteRecordMessageFileReference


RowsForSlice = Callable[[StreamSlice], Iterable[Union[Mapping[str, Any], FileRow]]]


@dataclass
class StreamContext:
    """What every stream of one sync shares: the state it starts from and where it reports."""

    state_manager: ConnectorStateManager
    message_repository: MessageRepository
    logger: logging.Logger
    # Streams configured for full refresh ignore any incoming state and read everything.
    full_refresh_streams: frozenset = frozenset()
    # Set when the sync stops early, so jobs stop polling instead of keeping the process alive.
    cancelled: threading.Event = field(default_factory=threading.Event)
    # Rows per `RecordBatch` (the fast record path), or 0 for one CDK `Record` per row.
    batch_rows: int = 0
    # Batches are serialised where they are read (`RecordBatch.seal`): set when `FastEntrypoint` reads.
    seal_batches: bool = False

    def stream_state(self, name: str) -> MutableMapping[str, Any]:
        if name in self.full_refresh_streams:
            return {}
        return dict(self.state_manager.get_stream_state(name, None))


class SlicePartition(Partition):
    """One unit of concurrent work; its records carry the slice so the cursor can close it.

    With `batch_rows`, rows travel as `RecordBatch`es (see `fast_records`), carrying the values
    of `cursor_field` for the cursor, and `seal`ed when `seal` says so; a file row, which carries
    a file reference, is still one `Record`, after the rows before it.
    """

    def __init__(
        self,
        stream_name: str,
        stream_slice: StreamSlice,
        rows_for_slice: RowsForSlice,
        batch_rows: int = 0,
        cursor_field: Optional[str] = None,
        seal: bool = False,
    ) -> None:
        self._stream_name = stream_name
        self._slice = stream_slice
        self._rows_for_slice = rows_for_slice
        self._batch_rows = batch_rows
        self._cursor_field = cursor_field
        self._seal = seal
        self._key = json.dumps(dict(stream_slice), sort_keys=True, default=str)

    def read(self) -> Iterable[Union[Record, RecordBatch]]:
        if self._batch_rows:
            yield from self._read_batches()
            return
        stream_slice = self._slice
        name = self._stream_name
        for row in self._rows_for_slice(stream_slice):
            if isinstance(row, FileRow):
                yield Record(data=row.data, stream_name=name, associated_slice=stream_slice, file_reference=row.file_reference)
            else:
                yield Record(data=row, stream_name=name, associated_slice=stream_slice)

    def _read_batches(self) -> Iterator[Union[Record, RecordBatch]]:
        stream_slice = self._slice
        name = self._stream_name
        size = self._batch_rows
        rows: List[Mapping[str, Any]] = []
        try:
            for row in self._rows_for_slice(stream_slice):
                if type(row) is dict:
                    rows.append(row)
                    if len(rows) >= size:
                        yield self._batch(rows)
                        rows = []
                    continue
                if isinstance(row, FileRow):
                    if rows:
                        yield self._batch(rows)
                        rows = []
                    yield Record(data=row.data, stream_name=name, associated_slice=stream_slice, file_reference=row.file_reference)
                else:
                    rows.append(row)
        except Exception:
            # The rows read before a failure go out, as the plain path would have sent them.
            if rows:
                yield self._batch(rows)
            raise
        if rows:
            yield self._batch(rows)

    def _batch(self, rows: List[Mapping[str, Any]]) -> RecordBatch:
        field_key = self._cursor_field
        values = [row.get(field_key) for row in rows] if field_key is not None else None
        batch = RecordBatch(self._stream_name, rows, self._slice, values)
        return batch.seal() if self._seal else batch

    def to_slice(self) -> Optional[Mapping[str, Any]]:
        return self._slice

    def stream_name(self) -> str:
        return self._stream_name

    def __hash__(self) -> int:
        return hash((self._stream_name, self._key))

    def __repr__(self) -> str:
        return f"SlicePartition({self._stream_name}, {self._key})"


class SlicePartitionGenerator(PartitionGenerator):
    """Partitions of one stream, one per slice.

    `batch_rows` None means this process's record path (`fast_records.record_batch_rows`): the
    cursor of a stream read in batches must accept a `RecordBatch` in `observe` (no-op cursors
    do; `WindowCursor` needs `cursor_field`). `seal` serialises batches where they are read.
    """

    def __init__(
        self,
        stream_name: str,
        slices: Callable[[], Iterable[StreamSlice]],
        rows_for_slice: RowsForSlice,
        batch_rows: Optional[int] = None,
        cursor_field: Optional[str] = None,
        seal: bool = False,
    ) -> None:
        self._stream_name = stream_name
        self._slices = slices
        self._rows_for_slice = rows_for_slice
        self._batch_rows = record_batch_rows() if batch_rows is None else batch_rows
        self._cursor_field = cursor_field
        self._seal = seal

    def generate(self) -> Iterable[Partition]:
        for stream_slice in self._slices():
            yield SlicePartition(self._stream_name, stream_slice, self._rows_for_slice, self._batch_rows, self._cursor_field, self._seal)


# The one shape `format_utc` writes, one per line; for these strings text order is time order.
_UTC_MILLIS_LINES = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z(?:\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)*")


class WindowCursor(ConcurrentCursor):
    """The CDK's `ConcurrentCursor`, observing a `RecordBatch` at once.

    Per record the CDK parses the cursor value (dateutil) and hashes the record's slice (json and
    sha256): more than the rest of the record's work together. A batch is one slice, hashed once;
    when every cursor value has the connector's own timestamp shape (checked by one regex over the
    batch), text order is time order, so the largest is found by `max` and the order by `sorted`,
    and only two values are parsed, by the CDK's own converter. A batch with a missing value or
    another shape takes the CDK's per-record path. The state is the CDK's, value for value.
    """

    def observe(self, record: Any) -> None:
        if type(record) is not RecordBatch:
            super().observe(record)
            return
        field_key = self.cursor_field.cursor_field_key
        values = record.cursor_values
        if values is None:
            if record.rows is None:
                raise ValueError(f"{record!r} carries neither rows nor cursor values for {self._stream_name}")
            values = [row.get(field_key) for row in record.rows]
        if not values:
            return
        try:
            text = "\n".join(values)
        except TypeError:  # None (a record without a cursor value) or not a string
            self._observe_one_by_one(record, values)
            return
        if _UTC_MILLIS_LINES.fullmatch(text) is None:
            self._observe_one_by_one(record, values)
            return
        # All values in the one shape, where text order is time order: C-speed max and order check.
        largest = max(values)
        ascending = values == sorted(values)
        key = record.stream_slice
        converter = self._connector_state_converter
        most_recent = self._most_recent_cursor_value_per_partition.get(key)
        if most_recent is not None and most_recent > converter.parse_value(values[0]):
            ascending = False
        parsed = converter.parse_value(largest)
        if most_recent is None or most_recent < parsed:
            self._most_recent_cursor_value_per_partition[key] = parsed
        if not ascending:
            self._is_ascending_order = False

    def _observe_one_by_one(self, batch: RecordBatch, values: List[Any]) -> None:
        key = self.cursor_field.cursor_field_key
        for value in values:
            super().observe(Record(data={key: value}, stream_name=batch.stream_name, associated_slice=batch.stream_slice))


def window_bounds(stream_slice: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """The [start, end) of a window slice as aware datetimes."""
    return ab_datetime_parse(stream_slice[WINDOW_START]), ab_datetime_parse(stream_slice[WINDOW_END])


def windowed_incremental_stream(
    *,
    name: str,
    json_schema: Callable[[], Mapping[str, Any]],
    primary_key: List[str],
    cursor_field: str,
    start: datetime,
    window: timedelta,
    sync_end: datetime,
    rows_for_window: RowsForSlice,
    context: StreamContext,
    supports_file_transfer: bool = False,
    lookback: Optional[timedelta] = None,
) -> DefaultStream:
    """An incremental stream read as concurrent [start, end) windows of at most `window`.

    `lookback` re-reads that much before the saved state, for sources whose rows change after
    their cursor value was first seen (Batch export requests change status).
    """
    cursor_class = WindowCursor if context.batch_rows else ConcurrentCursor
    cursor = cursor_class(
        stream_name=name,
        stream_namespace=None,
        stream_state=context.stream_state(name),
        message_repository=context.message_repository,
        connector_state_manager=context.state_manager,
        connector_state_converter=IsoMillisConcurrentStreamStateConverter(is_sequential_state=False),
        cursor_field=CursorField(cursor_field),
        slice_boundary_fields=(WINDOW_START, WINDOW_END),
        start=start,
        end_provider=lambda: sync_end,
        slice_range=window,
        lookback_window=lookback,
    )
    return DefaultStream(
        partition_generator=SlicePartitionGenerator(
            name, cursor.stream_slices, rows_for_window, context.batch_rows, cursor_field=cursor_field, seal=context.seal_batches
        ),
        name=name,
        json_schema=json_schema,
        primary_key=primary_key,
        cursor_field=CursorField(cursor_field),
        logger=context.logger,
        cursor=cursor,
        supports_file_transfer=supports_file_transfer,
    )


def full_refresh_stream(
    *,
    name: str,
    json_schema: Callable[[], Mapping[str, Any]],
    primary_key: List[str],
    slices: Callable[[], Iterable[StreamSlice]],
    rows_for_slice: RowsForSlice,
    context: StreamContext,
    supports_file_transfer: bool = False,
) -> DefaultStream:
    return DefaultStream(
        partition_generator=SlicePartitionGenerator(name, slices, rows_for_slice, context.batch_rows, seal=context.seal_batches),
        name=name,
        json_schema=json_schema,
        primary_key=primary_key,
        cursor_field=None,
        logger=context.logger,
        cursor=FinalStateCursor(name, None, context.message_repository),
        supports_file_transfer=supports_file_transfer,
    )
