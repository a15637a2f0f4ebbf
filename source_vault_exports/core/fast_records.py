"""The fast record path: rows travel in batches and leave as protocol JSON written with orjson.

The CDK's generic path costs ~15 objects and two thread hand-offs per record: a `Record` per row,
a queue put and get, a cursor that parses every cursor value with dateutil and hashes the slice,
an `AirbyteMessage` built on the main thread, `handle_record_counts`, serpyco, orjson and a print
through a lock. That is 5-8x the cost of reading and decoding the file. Here:

- a partition yields `RecordBatch`es of `BATCH_ROWS` rows instead of one `Record` per row (file
  rows, which carry a file reference, still go one by one), so the queue, the cursor and the main
  thread handle a batch at a time; bound for `FastEntrypoint`, a batch is serialised on the thread
  that read it and crosses to the main thread as one bytes object (`RecordBatch.seal`);
- `BatchingConcurrentSource` hands a batch on as the CDK's `on_record` would hand each record on
  (the stream's RUNNING status before its first record, the record count, the message queue);
- `FastEntrypoint` (the CLI's) writes a batch as RECORD lines built with orjson: the bytes
  `AirbyteMessageSerializer` + `orjson.dumps` would give (the serializer omits null top-level data
  fields, and so does `record_lines`), counted into the state messages' `sourceStats` exactly as
  the CDK counts them;
- any other consumer of `read()` (the CDK's own `AirbyteEntrypoint`, as in-process tests use) gets
  the batches expanded into ordinary `AirbyteMessage`s, so the protocol is unchanged everywhere.

`SOURCE_VAULT_EXPORTS_RECORD_PATH=plain` switches back to the CDK's generic path (one `Record` per
row, the CDK's cursor, the CDK's entrypoint); the fast-path tests prove both write the same
records and state, byte for byte.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import sys
import tempfile
import time
from collections import defaultdict
from queue import Queue
from typing import Any, DefaultDict, Dict, Iterable, Iterator, List, Mapping, Optional, Union

import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk import entrypoint as cdk_entrypoint
from airbyte_cdk.logger import PRINT_BUFFER, is_platform_debug_log_enabled
from airbyte_cdk.models import AirbyteMessage, AirbyteRecordMessage, AirbyteStreamStatus
from airbyte_cdk.models import Type as MessageType
from airbyte_cdk.sources.concurrent_source.concurrent_read_processor import ConcurrentReadProcessor
from airbyte_cdk.sources.concurrent_source.concurrent_source import ConcurrentSource
from airbyte_cdk.sources.concurrent_source.thread_pool_manager import ThreadPoolManager
from airbyte_cdk.sources.connector_state_manager import HashableStreamDescriptor
from airbyte_cdk.sources.message import MessageRepository
from airbyte_cdk.sources.source import Source
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.sources.utils.slice_logger import SliceLogger
from airbyte_cdk.utils.constants import ENV_REQUEST_CACHE_PATH
from airbyte_cdk.utils.stream_status_utils import as_airbyte_message as stream_status_as_airbyte_message

RECORD_PATH_ENV = "SOURCE_VAULT_EXPORTS_RECORD_PATH"
# Rows per queue item. The queue holds `FAST_QUEUE_SIZE` items, so at most ~10,000 rows wait for
# the main thread: the same memory bound as the plain path's 10,000 single records.
BATCH_ROWS = 250
FAST_QUEUE_SIZE = 40


def record_batch_rows() -> int:
    """Rows per batch for this sync, or 0 for the CDK's plain one-record-at-a-time path."""
    return 0 if os.environ.get(RECORD_PATH_ENV, "").strip().lower() == "plain" else BATCH_ROWS


class RecordBatch:
    """Rows of one partition, in order, travelling through the CDK's queue as one item.

    A batch bound for `FastEntrypoint` is `seal`ed on the thread that read it: its lines are
    written there and its rows let go there. Handing row objects to the main thread to serialise
    and free costs more than the serialising itself (measured: 6.0 -> 11 us a row, from cache
    misses on every object and its reference count), so only one bytes object crosses threads.
    """

    __slots__ = ("stream_name", "rows", "stream_slice", "cursor_values", "lines", "count")

    def __init__(
        self, stream_name: str, rows: List[Mapping[str, Any]], stream_slice: StreamSlice, cursor_values: Optional[List[Any]] = None
    ) -> None:
        self.stream_name = stream_name
        self.rows: Optional[List[Mapping[str, Any]]] = rows
        self.stream_slice = stream_slice
        # The rows' cursor values, in order, for the stream's cursor (see `streams.WindowCursor`).
        self.cursor_values = cursor_values
        self.lines: Optional[bytes] = None
        self.count = len(rows)

    def seal(self) -> "RecordBatch":
        """Write the RECORD lines now and drop the rows (see the class docstring)."""
        self.lines = record_lines(self, now_millis())
        self.rows = None
        return self

    def __repr__(self) -> str:
        return f"RecordBatch({self.stream_name}, {self.count} rows)"


def now_millis() -> int:
    return time.time_ns() // 1_000_000  # as the CDK's stream_data_to_airbyte_message stamps records


def record_message(stream_name: str, data: Mapping[str, Any], emitted_at: int) -> AirbyteMessage:
    return AirbyteMessage(type=MessageType.RECORD, record=AirbyteRecordMessage(stream=stream_name, data=dict(data), emitted_at=emitted_at))


def record_messages(batch: RecordBatch) -> Iterator[AirbyteMessage]:
    """A batch as the ordinary messages the CDK would have built, one per row."""
    if batch.rows is None:
        raise ValueError(f"{batch!r} was sealed for FastEntrypoint; its rows are gone")
    name = batch.stream_name
    for data in batch.rows:
        yield record_message(name, data, now_millis())


def record_lines(batch: RecordBatch, emitted_at: int) -> bytes:
    """A batch as RECORD lines, the exact bytes `AirbyteEntrypoint.airbyte_message_to_string` writes.

    The serializer drops `None` fields at the top level of `data` only (nested nulls stay), and
    the record has no namespace, meta or file reference: `{"type":"RECORD","record":{"stream":..,
    "data":..,"emitted_at":..}}`. A row orjson cannot write (an integer above 64 bits) goes the
    CDK's way, which falls back to `json`.
    """
    head = b'{"type":"RECORD","record":{"stream":' + orjson.dumps(batch.stream_name) + b',"data":'
    tail = b',"emitted_at":' + str(emitted_at).encode("ascii") + b"}}\n"
    rows = batch.rows or ()
    if not rows:
        return b""
    dumps = orjson.dumps
    try:
        bodies = [dumps(data if None not in data.values() else {k: v for k, v in data.items() if v is not None}) for data in rows]
    except TypeError:
        return b"".join(_record_line(batch.stream_name, data, emitted_at, head, tail) for data in rows)
    return head + (tail + head).join(bodies) + tail


def _record_line(stream_name: str, data: Mapping[str, Any], emitted_at: int, head: bytes, tail: bytes) -> bytes:
    """One line of `record_lines`; a row orjson refuses is written by the CDK (which uses json)."""
    try:
        return head + orjson.dumps({k: v for k, v in data.items() if v is not None}) + tail
    except TypeError:
        return AirbyteEntrypoint.airbyte_message_to_string(record_message(stream_name, data, emitted_at)).encode("utf-8") + b"\n"


class BatchingConcurrentSource(ConcurrentSource):
    """The CDK's `ConcurrentSource`, also handing on `RecordBatch` queue items."""

    @classmethod
    def build(
        cls,
        num_workers: int,
        initial_number_of_partitions_to_generate: int,
        logger: logging.Logger,
        slice_logger: SliceLogger,
        message_repository: MessageRepository,
        queue: Queue,
    ) -> "BatchingConcurrentSource":
        # Mirrors `ConcurrentSource.create` (airbyte-cdk 7.39), which always builds the base class.
        threadpool = ThreadPoolManager(concurrent.futures.ThreadPoolExecutor(max_workers=num_workers, thread_name_prefix="workerpool"), logger)
        return cls(
            threadpool=threadpool,
            logger=logger,
            slice_logger=slice_logger,
            queue=queue,
            message_repository=message_repository,
            initial_number_partitions_to_generate=initial_number_of_partitions_to_generate,
        )

    def _handle_item(self, queue_item: Any, concurrent_stream_processor: ConcurrentReadProcessor) -> Iterable[Any]:
        if type(queue_item) is RecordBatch:
            yield from self._on_batch(queue_item, concurrent_stream_processor)
        else:
            yield from super()._handle_item(queue_item, concurrent_stream_processor)

    def _on_batch(self, batch: RecordBatch, processor: ConcurrentReadProcessor) -> Iterable[Any]:
        """What `ConcurrentReadProcessor.on_record` does per record, once per batch."""
        name = batch.stream_name
        counter: Dict[str, int] = processor._record_counter  # noqa: SLF001 - the log's "Read N records"
        if counter[name] == 0:
            self._logger.info(f"Marking stream {name} as RUNNING")
            stream = processor._stream_name_to_instance[name]  # noqa: SLF001
            yield stream_status_as_airbyte_message(stream.as_airbyte_stream(), AirbyteStreamStatus.RUNNING)
        counter[name] += batch.count
        yield batch
        yield from self._message_repository.consume_queue()


class FastEntrypoint(AirbyteEntrypoint):
    """The CDK's entrypoint; `read` writes record batches as pre-built lines (`write_output`)."""

    def run(self, parsed_args: Any) -> Iterable[Union[str, bytes]]:  # type: ignore[override]
        read_batches = getattr(self.source, "read_batches", None)
        if getattr(parsed_args, "command", None) != "read" or read_batches is None or not record_batch_rows():
            yield from super().run(parsed_args)
            return
        # The read branch of `AirbyteEntrypoint.run` (airbyte-cdk 7.39), around `_read_lines`.
        if getattr(parsed_args, "debug", False) or is_platform_debug_log_enabled():
            self.logger.setLevel(logging.DEBUG)
            cdk_entrypoint.logger.setLevel(logging.DEBUG)
            self.logger.debug("Debug logs enabled")
        else:
            self.logger.setLevel(logging.INFO)
        source_spec = self.source.spec(self.logger)
        try:
            with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as temp_dir:
                os.environ[ENV_REQUEST_CACHE_PATH] = temp_dir
                raw_config = self.source.read_config(parsed_args.config)
                config = self.source.configure(raw_config, temp_dir)
                yield from [self.airbyte_message_to_string(message) for message in self._emit_queued_messages(self.source)]
                catalog = self.source.read_catalog(parsed_args.catalog)
                state = self.source.read_state(parsed_args.state)
                yield from self._read_lines(source_spec, config, catalog, state)
        finally:
            yield from [self.airbyte_message_to_string(message) for message in self._emit_queued_messages(self.source)]

    def _read_lines(self, source_spec: Any, config: Any, catalog: Any, state: Any) -> Iterator[Union[str, bytes]]:
        """`AirbyteEntrypoint.read` and the serialisation in one loop; batches become bytes."""
        self.set_up_secret_filter(config, source_spec.connectionSpecification)
        if self.source.check_config_against_spec:
            self.validate_connection(source_spec, config)
        counts: DefaultDict[HashableStreamDescriptor, float] = defaultdict(float)
        monitor = self._memory_monitor
        descriptors: Dict[str, HashableStreamDescriptor] = {}
        to_string = AirbyteEntrypoint.airbyte_message_to_string
        for item in self.source.read_batches(self.logger, config, catalog, state, sealed=True):  # type: ignore[attr-defined]
            if type(item) is RecordBatch:
                descriptor = descriptors.get(item.stream_name)
                if descriptor is None:
                    descriptor = descriptors[item.stream_name] = HashableStreamDescriptor(name=item.stream_name, namespace=None)
                counts[descriptor] += float(item.count)
                yield item.lines if item.lines is not None else record_lines(item, now_millis())
                _check_memory(monitor, item.count)
            else:
                yield to_string(self.handle_record_counts(item, counts))
                _check_memory(monitor, 1)
        for message in self._emit_queued_messages(self.source):
            yield to_string(self.handle_record_counts(message, counts))


def _check_memory(monitor: Any, messages: int) -> None:
    """The CDK checks memory every N messages; a batch counts as its rows."""
    if messages > 1 and hasattr(monitor, "_message_count"):
        monitor._message_count += messages - 1  # noqa: SLF001
    monitor.check_memory_usage()


def write_output(lines: Iterable[Union[str, bytes]], out: Optional[Any] = None) -> None:
    """Write the entrypoint's output: strings as the CDK's `launch` prints them, bytes as they are.

    Everything goes to standard output's binary buffer. Output others produced meanwhile goes first,
    so lines keep the order in which they were made: `print`s held by the CDK's `PRINT_BUFFER`, and
    log lines the airbyte logger wrote to the text layer of standard output.
    """
    text = sys.__stdout__
    out = out or text.buffer  # type: ignore[union-attr]
    try:
        for line in lines:
            data = line if type(line) is bytes else (line + "\n").encode("utf-8")  # type: ignore[operator]
            with PRINT_BUFFER.lock:
                if PRINT_BUFFER.buffer.tell():
                    PRINT_BUFFER.flush()
                text.flush()  # type: ignore[union-attr]
                out.write(data)
    finally:
        # What was written before a failure (its state messages above all) goes out first.
        with PRINT_BUFFER.lock:
            if PRINT_BUFFER.buffer.tell():
                PRINT_BUFFER.flush()
            text.flush()  # type: ignore[union-attr]
            out.flush()


def launch(source: Source, args: List[str]) -> None:
    """`airbyte_cdk.entrypoint.launch` with `FastEntrypoint` and `write_output` (the CDK's own
    `launch` on the plain record path)."""
    if not record_batch_rows():
        cdk_entrypoint.launch(source, args)
        return
    entrypoint = FastEntrypoint(source)
    parsed_args = entrypoint.parse_args(args)
    with PRINT_BUFFER:
        write_output(entrypoint.run(parsed_args))
