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
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, List, Mapping, MutableMapping, NamedTuple, Optional, Union

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

    def stream_state(self, name: str) -> MutableMapping[str, Any]:
        if name in self.full_refresh_streams:
            return {}
        return dict(self.state_manager.get_stream_state(name, None))


class SlicePartition(Partition):
    """One unit of concurrent work; its records carry the slice so the cursor can close it."""

    def __init__(self, stream_name: str, stream_slice: StreamSlice, rows_for_slice: RowsForSlice) -> None:
        self._stream_name = stream_name
        self._slice = stream_slice
        self._rows_for_slice = rows_for_slice
        self._key = json.dumps(dict(stream_slice), sort_keys=True, default=str)

    def read(self) -> Iterable[Record]:
        stream_slice = self._slice
        name = self._stream_name
        for row in self._rows_for_slice(stream_slice):
            if isinstance(row, FileRow):
                yield Record(data=row.data, stream_name=name, associated_slice=stream_slice, file_reference=row.file_reference)
            else:
                yield Record(data=row, stream_name=name, associated_slice=stream_slice)

    def to_slice(self) -> Optional[Mapping[str, Any]]:
        return self._slice

    def stream_name(self) -> str:
        return self._stream_name

    def __hash__(self) -> int:
        return hash((self._stream_name, self._key))

    def __repr__(self) -> str:
        return f"SlicePartition({self._stream_name}, {self._key})"


class SlicePartitionGenerator(PartitionGenerator):
    def __init__(self, stream_name: str, slices: Callable[[], Iterable[StreamSlice]], rows_for_slice: RowsForSlice) -> None:
        self._stream_name = stream_name
        self._slices = slices
        self._rows_for_slice = rows_for_slice

    def generate(self) -> Iterable[Partition]:
        for stream_slice in self._slices():
            yield SlicePartition(self._stream_name, stream_slice, self._rows_for_slice)


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
    cursor = ConcurrentCursor(
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
        partition_generator=SlicePartitionGenerator(name, cursor.stream_slices, rows_for_window),
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
        partition_generator=SlicePartitionGenerator(name, slices, rows_for_slice),
        name=name,
        json_schema=json_schema,
        primary_key=primary_key,
        cursor_field=None,
        logger=context.logger,
        cursor=FinalStateCursor(name, None, context.message_repository),
        supports_file_transfer=supports_file_transfer,
    )
