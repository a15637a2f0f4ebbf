"""The fast record path gives what the CDK's generic path gives: the same bytes, the same state.

End-to-end equality per vendor is in `integration_tests/test_fast_path.py`; these pin the pieces.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List

import pytest
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import AirbyteRecordMessageFileReference
from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.message import InMemoryMessageRepository
from airbyte_cdk.sources.streams.concurrent.cursor import ConcurrentCursor, CursorField
from airbyte_cdk.sources.streams.concurrent.state_converters.datetime_stream_state_converter import (
    IsoMillisConcurrentStreamStateConverter,
)
from airbyte_cdk.sources.types import Record, StreamSlice
from airbyte_cdk.sources.utils.record_helper import stream_data_to_airbyte_message

from source_vault_exports.core import coercion
from source_vault_exports.core.coercion import compile_row_builder
from source_vault_exports.core.errors import RecordDecodeError
from source_vault_exports.core.fast_records import RecordBatch, record_lines, record_messages
from source_vault_exports.core.streams import FileRow, SlicePartition, WindowCursor

SLICE = StreamSlice(partition={}, cursor_slice={"start": "2024-01-01T00:00:00.000Z", "end": "2025-01-01T00:00:00.000Z"})

TRICKY_ROWS: List[Dict[str, Any]] = [
    {"Id": "a", "Empty": None, "Amount": 12.5, "Count": 7, "Active": True, "Off": False},
    {"nested": {"inner": None, "list": [None, 1, {"deep": None}]}, "empty_list": [], "empty_object": {}},
    {"text": 'quotes " and \\ backslash, line\nbreak, tab\t, NUL \x00, emoji 🚀, 東京, Zürich'},
    {"floats": [0.1, 1e300, -0.0, 1.5e-10, 123456789.123456789], "int": -(2**63), "big": 2**64 - 1},
    {"nan": float("nan"), "inf": float("inf")},
    {"huge": 2**70, "other": None},  # above 64 bits: orjson refuses, the CDK falls back to json
    {},
    {"only_null": None},
    {"\u00e9t\u00e9": "key with accents", "k\"ey": 1},
]


def cdk_line(stream: str, data: Dict[str, Any], emitted_at: int) -> bytes:
    message = stream_data_to_airbyte_message(stream, data)
    message.record.emitted_at = emitted_at  # type: ignore[union-attr]
    return AirbyteEntrypoint.airbyte_message_to_string(message).encode("utf-8") + b"\n"


@pytest.mark.parametrize("stream", ["zuora_account", "stream \"quoted\" ü"])
def test_record_lines_are_the_bytes_the_cdk_serializer_writes(stream: str) -> None:
    batch = RecordBatch(stream, [dict(row) for row in TRICKY_ROWS], SLICE)
    expected = b"".join(cdk_line(stream, row, 1_717_171_717_171) for row in TRICKY_ROWS)
    assert record_lines(batch, 1_717_171_717_171) == expected


def test_expanded_batches_are_the_messages_the_cdk_builds() -> None:
    batch = RecordBatch("s", [dict(row) for row in TRICKY_ROWS], SLICE)
    for message, row in zip(record_messages(batch), TRICKY_ROWS):
        expected = stream_data_to_airbyte_message("s", row)
        expected.record.emitted_at = message.record.emitted_at  # type: ignore[union-attr]
        assert AirbyteEntrypoint.airbyte_message_to_string(message) == AirbyteEntrypoint.airbyte_message_to_string(expected)


def _cursor(cursor_class: type) -> ConcurrentCursor:
    state_manager = ConnectorStateManager()
    return cursor_class(
        stream_name="s",
        stream_namespace=None,
        stream_state={},
        message_repository=InMemoryMessageRepository(),
        connector_state_manager=state_manager,
        connector_state_converter=IsoMillisConcurrentStreamStateConverter(is_sequential_state=False),
        cursor_field=CursorField("UpdatedDate"),
        slice_boundary_fields=("start", "end"),
        start=datetime(2024, 1, 1, tzinfo=timezone.utc),
        end_provider=lambda: datetime(2025, 1, 1, tzinfo=timezone.utc),
        slice_range=timedelta(days=400),
    )


def _values(seed: int, count: int) -> List[Any]:
    chooser = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    values: List[Any] = []
    for index in range(count):
        moment = start + timedelta(milliseconds=index * 7919 + chooser.randrange(-50_000, 50_000))
        roll = chooser.random()
        if roll < 0.05:
            values.append(None)
        elif roll < 0.08:
            values.append(moment.isoformat())  # another shape: parsed one by one, as the CDK does
        else:
            values.append(coercion.format_utc(moment))
    return values


@pytest.mark.parametrize("seed", range(6))
def test_a_window_cursor_observing_batches_keeps_the_state_the_cdk_cursor_keeps(seed: int) -> None:
    values = _values(seed, 1200)
    if seed % 2:
        values = [value for value in values if value is None or value.endswith("Z")]  # the fast shape only
    plain, fast, sealed = _cursor(ConcurrentCursor), _cursor(WindowCursor), _cursor(WindowCursor)
    slices = list(plain.stream_slices())
    assert slices == list(fast.stream_slices())
    partition_slice = slices[0]
    rows = [{"Id": str(i), "UpdatedDate": value} for i, value in enumerate(values)]
    for row in rows:
        plain.observe(Record(data=row, stream_name="s", associated_slice=partition_slice))
    for start in range(0, len(rows), 250):
        chunk = rows[start : start + 250]
        fast.observe(RecordBatch("s", chunk, partition_slice))
        # A sealed batch has let its rows go: the cursor reads the values the partition kept.
        sealed.observe(RecordBatch("s", chunk, partition_slice, [row["UpdatedDate"] for row in chunk]).seal())
    for cursor in (fast, sealed):
        assert cursor._most_recent_cursor_value_per_partition == plain._most_recent_cursor_value_per_partition
        assert cursor._is_ascending_order == plain._is_ascending_order

    class OnePartition:
        def to_slice(self) -> StreamSlice:
            return partition_slice

        def stream_name(self) -> str:
            return "s"

    for cursor in (plain, fast, sealed):
        cursor.close_partition(OnePartition())  # type: ignore[arg-type]
    assert fast.state == plain.state == sealed.state


PROPERTIES = {
    "Id": {"type": ["null", "string"]},
    "Count": {"type": ["null", "integer"]},
    "Amount": {"type": ["null", "number"]},
    "Active": {"type": ["null", "boolean"]},
    "Day": {"type": ["null", "string"], "format": "date"},
    "At": {"type": ["null", "string"], "format": "date-time"},
}
CELLS = {
    "Id": ["", "a1", "東京", " spaced "],
    "Count": ["", "7", "-3", "3.0", "3.5", "x", " 4 ", "1_000"],
    "Amount": ["", "12.500000000", "1e3", "nan", "12,5", "-0"],
    "Active": ["", "true", "false", "True", " yes ", "0", "maybe"],
    "Day": ["", "2024-02-29", "2024-02-30", "2024-03-01T00:00:00", " 2024-03-02"],
    "At": ["", "2024-03-01T10:11:12.345-08:00", "2024-03-01T10:11:12.345+05:30", "2024-03-01", "2024-07-01T10:00:00Z",
           "2024-03-01T10:61:12.345-08:00", "2024-03-01T10:11:12,345-08:00", "yesterday", "2024-03-01T23:59:59.999-08:00"],
}


def _generic(columns: List[str]):
    """The loop `compile_row_builder` generates its straight-line code from."""
    plan = [(name, *coercion.converter_for(PROPERTIES[name], timezone.utc)) if name in PROPERTIES else (name, None, "string") for name in columns]
    exact_timestamp = lambda text: coercion.format_utc(coercion.parse_timestamp(text, timezone.utc))  # noqa: E731
    plan = [(name, exact_timestamp if type_name == "date-time" else converter, type_name) for name, converter, type_name in plan]

    def build(cells: List[str]) -> Dict[str, Any]:
        record: Dict[str, Any] = {}
        for (name, converter, type_name), cell in zip(plan, cells):
            if cell == "":
                record[name] = None
            elif converter is None:
                record[name] = cell
            else:
                try:
                    record[name] = converter(cell)
                except (ValueError, OverflowError):
                    raise RecordDecodeError("s", name, cell, type_name, "f") from None
        return record

    return build


def _outcome(build, cells: List[str]) -> Any:
    try:
        return ("row", repr(list(build(cells).items())))  # repr: nan == nan
    except RecordDecodeError as problem:
        return ("error", problem.message)


@pytest.mark.parametrize("seed", range(4))
def test_the_compiled_row_builder_gives_exactly_what_the_generic_loop_gives(seed: int) -> None:
    chooser = random.Random(seed)
    columns = list(PROPERTIES) + ["Id", "Unknown"]  # a duplicate column and one the schema lacks
    compiled = compile_row_builder(columns, PROPERTIES, stream="s", location="f")
    generic = _generic(columns)
    for _ in range(3000):
        cells = [chooser.choice(CELLS.get(name, ["", "x"])) for name in columns]
        assert _outcome(compiled, cells) == _outcome(generic, cells), cells
    assert _outcome(compiled, ["only one cell"]) == _outcome(generic, ["only one cell"])


def test_file_rows_stay_in_place_between_batches() -> None:
    reference = AirbyteRecordMessageFileReference(staging_file_url="/staging/a", source_file_relative_path="a", file_size_bytes=1)
    rows: List[Any] = [{"n": i} for i in range(600)]
    rows.insert(300, FileRow({"file": 1}, reference))
    partition = SlicePartition("s", SLICE, lambda _: iter(rows), batch_rows=250)
    flattened: List[Any] = []
    for item in partition.read():
        flattened.extend(item.rows if isinstance(item, RecordBatch) else [item])
    assert [getattr(item, "data", item) for item in flattened] == [row.data if isinstance(row, FileRow) else row for row in rows]
    assert flattened[300].file_reference == reference
    assert [len(item.rows) for item in partition.read() if isinstance(item, RecordBatch)] == [250, 50, 250, 50]


def test_a_sealed_batch_carries_the_lines_its_rows_would_give_and_its_cursor_values() -> None:
    rows = [{"Id": str(i), "At": f"2024-01-01T00:00:{i % 60:02d}.000Z", "Empty": None} for i in range(300)]
    partition = SlicePartition("s", SLICE, lambda _: iter([dict(row) for row in rows]), batch_rows=250, cursor_field="At", seal=True)
    batches = list(partition.read())
    assert [batch.count for batch in batches] == [250, 50] and all(batch.rows is None for batch in batches)
    assert [value for batch in batches for value in batch.cursor_values] == [row["At"] for row in rows]
    emitted_at = int(batches[0].lines.split(b'"emitted_at":')[1].split(b"}")[0])
    expected = record_lines(RecordBatch("s", rows[:250], SLICE), emitted_at)
    assert batches[0].lines == expected


def test_rows_read_before_a_failure_still_go_out_then_the_failure() -> None:
    def rows_then_failure(_: Any):
        yield from ({"n": i} for i in range(300))
        raise RuntimeError("download broke for good")

    partition = SlicePartition("s", SLICE, rows_then_failure, batch_rows=250)
    seen: List[Any] = []
    with pytest.raises(RuntimeError, match="broke for good"):
        for item in partition.read():
            seen.append(item)
    assert [item.count for item in seen] == [250, 50]
