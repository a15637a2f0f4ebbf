"""A cursor with one high-water mark per key (Tape: per app), for the CDK's concurrent streams.

The CDK's `ConcurrentCursor` keeps one date range per stream. Streams whose parts advance
independently (one Tape app may finish while another fails) need a mark per key, so each key
is one partition covering (mark - overlap, sync end], and finishing it moves only that key's mark.
The state is `{"state_type": "per-key-watermark", "watermarks": {"<key>": "<RFC 3339>"}}`; a mark is
the slice's end unless the reader proposed a mark from the vendor's own clock.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, List, Mapping, MutableMapping, Optional

from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.message import MessageRepository
from airbyte_cdk.sources.streams.concurrent.cursor import Cursor
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.types import Record, StreamSlice

from source_vault_exports.core.coercion import format_utc, parse_timestamp

STATE_TYPE = "per-key-watermark"
KEY = "key"
START = "start"
END = "end"


class CheckpointingCursor(Cursor):
    """What every cursor of ours shares: state built from what readers report, not from record
    values, and emitted through the CDK's state manager when a partition closes."""

    def __init__(self, stream_name: str, message_repository: MessageRepository, state_manager: ConnectorStateManager) -> None:
        self._stream_name = stream_name
        self._message_repository = message_repository
        self._state_manager = state_manager

    def observe(self, record: Record) -> None:
        return

    def should_be_synced(self, record: Record) -> bool:
        return True

    def ensure_at_least_one_state_emitted(self) -> None:
        self._emit()

    def _emit(self) -> None:
        self._state_manager.update_state_for_stream(self._stream_name, None, self.state)
        self._message_repository.emit_message(self._state_manager.create_state_message(self._stream_name, None))


class KeyedWatermarkCursor(CheckpointingCursor):
    def __init__(
        self,
        stream_name: str,
        keys: List[str],
        stream_state: Mapping[str, Any],
        message_repository: MessageRepository,
        state_manager: ConnectorStateManager,
        sync_end: datetime,
        start: Optional[datetime],
        overlap: timedelta,
    ) -> None:
        super().__init__(stream_name, message_repository, state_manager)
        self._keys = keys
        self._sync_end = sync_end
        self._start = start
        self._overlap = overlap
        self._lock = threading.Lock()
        saved = stream_state.get("watermarks") if stream_state.get("state_type") == STATE_TYPE else None
        self._watermarks: Dict[str, str] = dict(saved or {})
        self._proposals: Dict[str, str] = {}

    @property
    def state(self) -> MutableMapping[str, Any]:
        with self._lock:
            return {"state_type": STATE_TYPE, "watermarks": dict(sorted(self._watermarks.items()))}

    def watermark(self, key: str) -> Optional[datetime]:
        text = self._watermarks.get(key)
        return parse_timestamp(text, timezone.utc) if text else None

    def stream_slices(self) -> Iterable[StreamSlice]:
        for key in self._keys:
            mark = self.watermark(key)
            lower = (mark - self._overlap) if mark else self._start
            yield StreamSlice(
                partition={KEY: key},
                cursor_slice={START: format_utc(lower) if lower else None, END: format_utc(self._sync_end)},
            )

    def propose(self, key: str, mark: datetime) -> None:
        """A reader's better mark for `key` (e.g. the vendor's own latest modified time seen),
        applied only when the partition closes successfully."""
        with self._lock:
            self._proposals[key] = format_utc(mark)

    def close_partition(self, partition: Partition) -> None:
        stream_slice = partition.to_slice() or {}
        key = stream_slice.get(KEY) if isinstance(stream_slice, Mapping) else None
        end = stream_slice.get(END) if isinstance(stream_slice, Mapping) else None
        if key is None or end is None:
            return
        with self._lock:
            # The mark is the slice's end (the sync's start) unless the reader proposed the vendor's
            # own latest time: Tape records carry no last-modified time to take a maximum of (3.7.7).
            self._watermarks[str(key)] = self._proposals.pop(str(key), str(end))
        self._emit()


def slice_bounds(stream_slice: Mapping[str, Any]) -> tuple[str, Optional[datetime], datetime]:
    """(key, lower bound or None for everything, upper bound) of a keyed slice."""
    lower = stream_slice.get(START)
    return (
        str(stream_slice[KEY]),
        parse_timestamp(lower, timezone.utc) if lower else None,
        parse_timestamp(stream_slice[END], timezone.utc),
    )
