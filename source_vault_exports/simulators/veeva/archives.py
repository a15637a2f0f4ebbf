"""Deterministic, streamed tar.gz archives and byte blobs for the Vault simulator.

Vault's attachment-field export is ONE tar.gz split into byte parts (vendor-apis.md 1.5). The
simulator must serve archives of any size without holding them, so an archive is a generator over
its members: the same members always give the same bytes, which lets a part be served by
regenerating the stream and slicing it, and the total size be known from a counting first pass.
`tarfile.TarFile.addfile` copies a member in one call, so headers are written here with
`TarInfo.tobuf` and contents are fed chunk by chunk.
"""

from __future__ import annotations

import hashlib
import random
import tarfile
import threading
import zlib
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

BLOCK = 512
RECORD = 20 * BLOCK  # tar pads the archive to whole records, as GNU tar and Python's tarfile do
_PATTERN_BYTES = 64 * 1024  # longer than deflate's 32 KiB window, so blob contents do not compress
_OUT_CHUNK = 64 * 1024

_md5_cache: Dict[Tuple[str, int], str] = {}
_md5_lock = threading.Lock()


@dataclass(frozen=True)
class Blob:
    """File contents as a pure function of (seed, size): pseudo-random bytes, never stored."""

    seed: str
    size: int

    def chunks(self, corrupt: bool = False) -> Iterator[bytes]:
        """The bytes in chunks; `corrupt` flips the first byte (same size, another md5)."""
        pattern = random.Random(self.seed).randbytes(min(self.size, _PATTERN_BYTES))
        sent = 0
        while sent < self.size:
            chunk = pattern[: self.size - sent]
            if corrupt and sent == 0 and chunk:
                chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
            yield chunk
            sent += len(chunk)

    def read(self) -> bytes:
        return b"".join(self.chunks())

    @property
    def md5(self) -> str:
        key = (self.seed, self.size)
        with _md5_lock:
            cached = _md5_cache.get(key)
        if cached is None:
            digest = hashlib.md5()
            for chunk in self.chunks():
                digest.update(chunk)
            cached = digest.hexdigest()
            with _md5_lock:
                _md5_cache[key] = cached
        return cached


@dataclass(frozen=True)
class Member:
    """One tar member: a regular file fed from `blob`, or a link (`kind` SYMTYPE / LNKTYPE)."""

    name: str
    blob: Optional[Blob] = None
    mtime: int = 0
    kind: bytes = tarfile.REGTYPE
    linkname: str = ""


def tar_gz_chunks(members: Iterable[Member]) -> Iterator[bytes]:
    """A deterministic tar.gz of `members`, in chunks of about 64 KiB (gzip mtime 0, no file name)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip container, header mtime 0
    pending: List[bytes] = []
    pending_size = 0
    written = 0  # uncompressed tar bytes, for the final record padding

    def feed(data: bytes) -> Iterator[bytes]:
        nonlocal pending_size, written
        written += len(data)
        out = compressor.compress(data)
        if out:
            pending.append(out)
            pending_size += len(out)
        if pending_size >= _OUT_CHUNK:
            yield b"".join(pending)
            pending.clear()
            pending_size = 0

    for member in members:
        info = tarfile.TarInfo(member.name)
        info.type = member.kind
        info.linkname = member.linkname
        info.size = member.blob.size if member.blob is not None and member.kind == tarfile.REGTYPE else 0
        info.mtime = member.mtime
        info.mode = 0o644
        info.uname = info.gname = ""
        # PAX carries non-ASCII and long names (record ids + field + file names can exceed 100 bytes).
        yield from feed(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        if info.size:
            assert member.blob is not None
            for chunk in member.blob.chunks():
                yield from feed(chunk)
            yield from feed(b"\0" * (-info.size % BLOCK))
    yield from feed(b"\0" * (2 * BLOCK))
    yield from feed(b"\0" * (-written % RECORD))
    pending.append(compressor.flush())
    yield b"".join(pending)


def stream_size(chunks: Callable[[], Iterator[bytes]]) -> int:
    """Length of a stream, counted in one pass without keeping it."""
    return sum(len(chunk) for chunk in chunks())


class StreamReader:
    """A position in a chunk stream, for cutting parts out of a regenerated archive.

    Reading [start, end) skips to `start` and stops at `end`, keeping the rest of the last chunk, so a
    reader parked at the end of part k serves part k+1 without regenerating parts 1..k.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""
        self.position = 0  # bytes of the stream consumed so far

    def read_range(self, start: int, end: int) -> Iterator[bytes]:
        assert self.position <= start, "a stream cannot be rewound"
        while self.position < end:
            chunk, self._pending = self._pending or next(self._chunks, b""), b""
            if not chunk:
                return
            if self.position + len(chunk) <= start:
                self.position += len(chunk)
                continue
            low, high = max(0, start - self.position), min(len(chunk), end - self.position)
            yield chunk[low:high]
            self._pending = chunk[high:]
            self.position += high


def hostile_members(record_id: str, field_name: str) -> List[Member]:
    """Members a careless extractor would write outside its folder (fault mode `hostile_members`)."""
    payload = Blob("hostile", 64)
    return [
        Member("../escaped.txt", payload),
        Member(f"{record_id}/{field_name}/../../../escaped-too.txt", payload),
        Member("/tmp/absolute-path.txt", payload),
        Member(f"{record_id}/{field_name}/passwd-link", kind=tarfile.SYMTYPE, linkname="/etc/passwd"),
        Member(f"{record_id}/{field_name}/hard-link", kind=tarfile.LNKTYPE, linkname="../../outside.txt"),
    ]
