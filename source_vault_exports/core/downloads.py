"""Streaming downloads of result files that are either complete or retried, never half-emitted.

A result file is read as a stream of bytes and decoded item by item, so a 2 GB file costs the same
memory as a 2 KB one. A download can break anywhere: a reset connection, a body shorter than its
Content-Length, a server that closes early. Two rules keep every item emitted exactly once:

- the last decoded item is held back until the stream has ended cleanly and checked out complete
  (length, expected row count), because a cut body can end in a partial row that still parses;
- after a break the file is fetched again and the items already emitted are skipped, which is exact
  because a vendor's result file does not change between two downloads.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Optional, Sequence, TypeVar

import requests
import urllib3

from source_vault_exports.core.errors import DownloadFailed, RecordDecodeError

T = TypeVar("T")

READ_CHUNK_BYTES = 1 << 20
DOWNLOAD_ATTEMPTS = 5
RETRY_WAIT_BASE_SECONDS = 2.0
RETRY_WAIT_CAP_SECONDS = 60.0


class IncompleteFile(Exception):
    """The body ended cleanly but is not the whole file."""


class CorruptFile(Exception):
    """The bytes arrived but do not decode: a cut multi-byte character, a ragged CSV row."""


# What a broken transfer looks like from inside a read loop; anything else is a real error.
TRANSIENT_READ_ERRORS = (
    IncompleteFile,
    CorruptFile,
    urllib3.exceptions.HTTPError,
    requests.exceptions.RequestException,
    ConnectionError,
    TimeoutError,
    UnicodeDecodeError,
)


@dataclass(frozen=True)
class ResultFile:
    """One downloadable result of a job."""

    label: str
    location: str
    expected_rows: Optional[int] = None
    expected_bytes: Optional[int] = None
    # Text files whose producer ends every line with a line break: a body that stops elsewhere
    # was cut, even when a wrong Content-Length makes the cut look clean.
    ends_with_line_break: bool = False


class CountingReader(io.RawIOBase):
    """A response body as a raw stream, decompressed per Content-Encoding, counting bytes."""

    def __init__(self, response: requests.Response) -> None:
        self._raw = response.raw
        self.bytes_read = 0
        self.last_byte = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer), decode_content=True)
        size = len(data)
        buffer[:size] = data
        self.bytes_read += size
        if size:
            self.last_byte = data[-1:]
        return size


def _check_complete(response: requests.Response, reader: CountingReader, items: Optional[int], file: ResultFile) -> None:
    declared = response.headers.get("Content-Length")
    if declared is not None and not response.headers.get("Content-Encoding"):
        if reader.bytes_read != int(declared):
            raise IncompleteFile(f"received {reader.bytes_read} of {declared} bytes")
    if file.expected_bytes is not None and not response.headers.get("Content-Encoding"):
        if reader.bytes_read != file.expected_bytes:
            raise IncompleteFile(f"received {reader.bytes_read} bytes, the vendor reported {file.expected_bytes}")
    if items is not None and file.expected_rows is not None and items != file.expected_rows:
        raise IncompleteFile(f"decoded {items} rows, the vendor reported {file.expected_rows}")
    is_text = not response.headers.get("Content-Type", "").startswith("application/zip")
    if file.ends_with_line_break and is_text and reader.last_byte not in (b"", b"\n"):
        raise IncompleteFile("the body stops in the middle of a line")


def human_size(size: float) -> str:
    """Bytes for an operator: `812 B`, `40.2 KB`, `1.3 MB`, `2.0 GB` (decimal units)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size:.0f} B"


def _cut_short(response: requests.Response, reader: CountingReader, file: ResultFile) -> Optional[str]:
    """Read what is left of the body; why it is incomplete, or None when it arrived whole."""
    try:
        while reader.read(READ_CHUNK_BYTES):
            pass
        _check_complete(response, reader, None, file)
    except TRANSIENT_READ_ERRORS as exc:
        return _describe(exc)
    return None


def _retry_wait(attempt: int) -> float:
    return min(RETRY_WAIT_CAP_SECONDS, RETRY_WAIT_BASE_SECONDS * 2 ** (attempt - 1))


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not text.startswith(type(exc).__name__) else text


def stream_file_items(
    file: ResultFile,
    open_response: Callable[[ResultFile], requests.Response],
    decode: Callable[[BinaryIO], Iterator[T]],
    *,
    vendor: str,
    logger: logging.Logger,
    attempts: int = DOWNLOAD_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[T]:
    """Yield the decoded items of `file` exactly once each, re-downloading after breaks."""
    emitted = 0
    last_problem = "no attempt made"
    for attempt in range(1, attempts + 1):
        started = time.monotonic()
        response: Optional[requests.Response] = None
        reader: Optional[CountingReader] = None
        seen = 0
        held: list[T] = []
        try:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(f"{vendor}: downloading {file.label} (attempt {attempt} of {attempts})")
            response = open_response(file)
            reader = CountingReader(response)
            try:
                for item in decode(io.BufferedReader(reader, READ_CHUNK_BYTES)):
                    seen += 1
                    if seen <= emitted:
                        continue
                    if held:
                        yield held.pop()
                        emitted += 1
                    held.append(item)
            except RecordDecodeError as bad_value:
                # A body cut inside a value ('2' for a timestamp) looks like a bad value; it is
                # a broken download when the rest of the body shows the cut.
                cut = _cut_short(response, reader, file)
                if cut is None:
                    raise
                raise IncompleteFile(f"{cut} ({bad_value.message})") from None
            _check_complete(response, reader, seen, file)
        except TRANSIENT_READ_ERRORS as exc:
            last_problem = _describe(exc)
            wait = _retry_wait(attempt)
            logger.warning(
                f"{vendor}: download of {file.label} broke after {reader.bytes_read if reader else 0} bytes "
                f"(attempt {attempt} of {attempts}): {last_problem}; "
                + (f"retrying in {wait:.1f} s, skipping the {emitted} rows already emitted" if attempt < attempts else "giving up")
            )
            if attempt < attempts:
                sleep(wait)
            continue
        finally:
            if response is not None:
                response.close()
        assert reader is not None
        if held:
            yield held.pop()
            emitted += 1
        elapsed = max(time.monotonic() - started, 1e-6)
        logger.info(
            f"{vendor}: downloaded {file.label}: {human_size(reader.bytes_read)}, {seen} rows in {elapsed:.1f} s "
            f"({human_size(reader.bytes_read / elapsed)}/s)"
            + (f" after {attempt} attempts" if attempt > 1 else "")
        )
        return
    raise DownloadFailed(vendor, file.label, attempts, last_problem)


class _PartChain(io.RawIOBase):
    """Several byte parts read back to back as one stream (Vault's `.tar.gz.001`, `.002`...)."""

    def __init__(self, parts: Sequence[ResultFile], open_response: Callable[[ResultFile], requests.Response]) -> None:
        self._parts = list(parts)
        self._open = open_response
        self._index = -1
        self._current: Optional[requests.Response] = None
        self._part_bytes = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, decode_content: bool = True) -> bytes:  # type: ignore[override]
        while True:
            if self._current is None:
                if self._index + 1 >= len(self._parts):
                    return b""
                self._index += 1
                self._current = self._open(self._parts[self._index])
                self._part_bytes = 0
            data = self._current.raw.read(size if size and size > 0 else READ_CHUNK_BYTES, decode_content=decode_content)
            if data:
                self._part_bytes += len(data)
                return data
            expected = self._parts[self._index].expected_bytes
            self._current.close()
            self._current = None
            if expected is not None and self._part_bytes != expected:
                raise IncompleteFile(f"{self._parts[self._index].label} has {self._part_bytes} bytes, the vendor reported {expected}")

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
        super().close()


class ChainedBody:
    """Quacks like a streamed `requests.Response` whose body is every part in order."""

    def __init__(self, parts: Sequence[ResultFile], open_response: Callable[[ResultFile], requests.Response]) -> None:
        self.raw = _PartChain(parts, open_response)
        self.headers: dict = {}

    def close(self) -> None:
        self.raw.close()


def fetch_whole_file(
    label: str,
    open_response: Callable[[], requests.Response],
    consume: Callable[[BinaryIO], T],
    check: Callable[[T], Optional[str]],
    *,
    vendor: str,
    logger: logging.Logger,
    attempts: int = DOWNLOAD_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    discard: Callable[[T], None] = lambda _: None,
) -> T:
    """Read one binary file completely with `consume`, retrying breaks and failed `check`s.

    `check` returns a problem (wrong size, wrong checksum) or None; a result that fails it is
    passed to `discard` (e.g. to delete a staged copy) and the file is fetched again.
    """
    last_problem = "no attempt made"
    for attempt in range(1, attempts + 1):
        response: Optional[requests.Response] = None
        try:
            response = open_response()
            result = consume(io.BufferedReader(CountingReader(response), READ_CHUNK_BYTES))  # type: ignore[arg-type]
            problem = check(result)
            if problem is None:
                return result
            discard(result)
            last_problem = problem
        except TRANSIENT_READ_ERRORS as exc:
            last_problem = _describe(exc)
        finally:
            if response is not None:
                response.close()
        wait = _retry_wait(attempt)
        logger.warning(f"{vendor}: {label} came back wrong (attempt {attempt} of {attempts}): {last_problem}")
        if attempt < attempts:
            sleep(wait)
    raise DownloadFailed(vendor, label, attempts, last_problem)
