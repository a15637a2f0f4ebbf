"""Incremental JSON decoding of export files whose exact encoding is not promised.

Batch documents its parts only as "JSON files" (vendor-apis.md 2.8), so the shape is detected,
not assumed: gzip by its magic bytes, then a JSON array by a leading `[`, otherwise one JSON
object per line. Arrays are read item by item with ijson, lines with orjson: neither holds more
than one record in memory.
"""

from __future__ import annotations

import gzip
import io
from typing import Any, BinaryIO, Iterator

import ijson
import orjson

from source_vault_exports.core.downloads import READ_CHUNK_BYTES, CorruptFile

GZIP_MAGIC = b"\x1f\x8b"
_WHITESPACE = b" \t\r\n\xef\xbb\xbf"  # a UTF-8 byte order mark counts as leading noise


def _peek(stream: io.BufferedReader, size: int) -> bytes:
    return stream.peek(size)[:size]


def _buffered(stream: BinaryIO) -> io.BufferedReader:
    return stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream, READ_CHUNK_BYTES)  # type: ignore[arg-type]


def iter_json_records(stream: BinaryIO) -> Iterator[Any]:
    """Yield every record of a JSON array or JSON-lines file, gzipped or not."""
    buffered = _buffered(stream)
    if _peek(buffered, 2) == GZIP_MAGIC:
        buffered = io.BufferedReader(gzip.GzipFile(fileobj=buffered, mode="rb"), READ_CHUNK_BYTES)  # type: ignore[arg-type]
    try:
        first = _first_significant_byte(buffered)
        if first == b"":
            return
        if first == b"[":
            yield from ijson.items(buffered, "item", use_float=True)
        else:
            yield from _json_lines(buffered)
    except (ijson.JSONError, orjson.JSONDecodeError, EOFError, gzip.BadGzipFile, OSError) as exc:
        if isinstance(exc, ConnectionError):
            raise
        raise CorruptFile(f"JSON could not be parsed: {exc}") from exc


def _first_significant_byte(stream: io.BufferedReader) -> bytes:
    """The first byte that is not whitespace, leaving it unread."""
    while True:
        window = stream.peek(64)
        if not window:
            return b""
        stripped = window.lstrip(_WHITESPACE)
        if stripped:
            stream.read(len(window) - len(stripped))
            return stripped[:1]
        stream.read(len(window))


def _json_lines(stream: io.BufferedReader) -> Iterator[Any]:
    # A body cut mid-line leaves a last line that does not parse: CorruptFile, so it is fetched again.
    loads = orjson.loads
    for number, line in enumerate(stream, start=1):
        try:
            record = loads(line)
        except orjson.JSONDecodeError as exc:
            # Only now look for a blank line (copying every line to strip it costs ~5% of a read).
            if not line.strip():
                continue
            raise CorruptFile(f"line {number} is not a JSON object: {exc}") from exc
        yield record
