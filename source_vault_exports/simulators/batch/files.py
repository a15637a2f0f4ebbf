"""Export files: part boundaries from one pass over a snapshot, bytes regenerated on every read.

Batch splits an export into JSON files of at most 100 MB (seed 002, vendor-apis.md 2.4). Here a part
is a range of snapshot positions: its size is known from a first pass over record sizes (and, with
gzip, one compression pass), and its bytes are produced again in ~64 KB chunks whenever it is
downloaded, so a 300 MB export costs the memory of one chunk.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from itertools import islice
from typing import Callable, Iterable, Iterator, List, Tuple, Union

import orjson

from source_vault_exports.simulators.batch.dataset import EventSnapshot, ProfileSnapshot

Snapshot = Union[ProfileSnapshot, EventSnapshot]

CHUNK_BYTES = 64 * 1024  # files are generated and sent in chunks of about this size


@dataclass(frozen=True)
class Encoding:
    """How an export's files are written; frozen per export, so later option changes leave it alone."""

    file_format: str  # "ndjson" or "json_array": unconfirmed (2.8)
    gzip: bool
    part_size: int

    @property
    def extension(self) -> str:
        return (".ndjson" if self.file_format == "ndjson" else ".json") + (".gz" if self.gzip else "")

    @property
    def content_type(self) -> str:
        if self.gzip:
            return "application/gzip"  # a .gz object, not Content-Encoding: size is the stored bytes
        return "application/x-ndjson" if self.file_format == "ndjson" else "application/json"


@dataclass
class Part:
    id: str
    number: int
    start: int  # snapshot position of its first record
    count: int
    size: int  # bytes served, after gzip when on


def layout(snapshot: Snapshot, encoding: Encoding, part_id: Callable[[int], str]) -> List[Part]:
    """Parts of at most `part_size` uncompressed bytes; a record is never split, a bigger one goes
    alone. An export without rows has one empty part."""
    bounds: List[Tuple[int, int, int]] = []  # (start position, record count, raw bytes)
    start, count, raw = 0, 0, 0
    for position, record in _records(snapshot, 0):
        if count and _framed_size(encoding.file_format, raw + len(record), count + 1) > encoding.part_size:
            bounds.append((start, count, raw))
            count, raw = 0, 0
        if count == 0:
            start = position
        count += 1
        raw += len(record)
    if count or not bounds:
        bounds.append((start, count, raw))
    parts = []
    for number, (first, records, raw_bytes) in enumerate(bounds, start=1):
        part = Part(part_id(number), number, first, records, _framed_size(encoding.file_format, raw_bytes, records))
        if encoding.gzip:
            part.size = sum(len(chunk) for chunk in part_chunks(snapshot, encoding, part))
        parts.append(part)
    return parts


def part_chunks(snapshot: Snapshot, encoding: Encoding, part: Part) -> Iterator[bytes]:
    """The bytes of one part, regenerated from the snapshot."""
    records = (record for _, record in islice(_records(snapshot, part.start), part.count))
    chunks = _batched(_framed(encoding.file_format, records))
    return _gzipped(chunks) if encoding.gzip else chunks


def _records(snapshot: Snapshot, start: int) -> Iterator[Tuple[int, bytes]]:
    for position, row in snapshot.rows(start):
        yield position, orjson.dumps(row)  # compact UTF-8 JSON, 5x faster than json.dumps


def _framed_size(file_format: str, raw: int, count: int) -> int:
    """Bytes of a part holding `count` records of `raw` bytes in all; mirrors `_framed`."""
    if file_format == "ndjson":
        return raw + count  # one "\n" per record
    return raw + 2 * max(count - 1, 0) + 3  # "[" + records joined by ",\n" + "]\n"


def _framed(file_format: str, records: Iterable[bytes]) -> Iterator[bytes]:
    if file_format == "ndjson":
        for record in records:
            yield record + b"\n"
        return
    yield b"["
    for index, record in enumerate(records):
        yield (b",\n" if index else b"") + record
    yield b"]\n"


def _batched(pieces: Iterable[bytes]) -> Iterator[bytes]:
    buffer: List[bytes] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= CHUNK_BYTES:
            yield b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


def _gzipped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    # Level 1: a gzip part is compressed twice (size pass, then serving); zlib output is deterministic.
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    for chunk in chunks:
        out = compressor.compress(chunk)
        if out:
            yield out
    yield compressor.flush()
