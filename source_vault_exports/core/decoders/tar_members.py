"""Reading a tar.gz as a stream of safe member files, one at a time.

Vault delivers attachment exports as one tar.gz (split into byte parts, see `downloads.chain`).
`tarfile` in stream mode (`r|gz`) reads it front to back without seeking, so the archive is never
held whole in memory or on disk. Members that could do harm when written out are skipped with a
reason instead of yielded: absolute paths, `..` components, links, devices and FIFOs, and members
above the size limits (a decompression bomb announces its size in the tar header, so it is caught
before a byte of it is read).
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Optional

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_vault_exports.core.downloads import CorruptFile


@dataclass(frozen=True)
class ArchiveLimits:
    # Vault's largest single file is 4 GB (its upload limit, vendor-apis.md 1.5).
    max_member_bytes: int = 5 * 1024**3
    max_total_bytes: int = 500 * 1024**3
    max_members: int = 5_000_000
    # Attachments (PDFs, images, office files) shrink little under gzip; an archive whose members
    # expand more than this over their compressed bytes is a decompression bomb. The ratio is only
    # judged past `bomb_floor_bytes`, so small, very compressible text files are fine.
    max_expansion_ratio: float = 250.0
    bomb_floor_bytes: int = 256 * 1024**2


class ArchiveBomb(AirbyteTracedException):
    """The archive expands far beyond anything real attachments do: refused, not retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message=message, internal_message=message, failure_type=FailureType.system_error)


class _CountingInput(io.RawIOBase):
    """The compressed bytes read so far."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._source.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.bytes_read += size
        return size


@dataclass
class ArchiveMember:
    path: str  # normalised, relative, '/'-separated
    size: int
    content: BinaryIO  # readable only until the next member is requested


SkipReporter = Callable[[str, str], None]
_DAMAGE = (tarfile.ReadError, tarfile.StreamError, EOFError, zlib.error)


class _MemberContent(io.RawIOBase):
    """A member's bytes; a cut or lying archive surfaces as `CorruptFile` here too, and a member
    that expands like a bomb as `ArchiveBomb`."""

    def __init__(self, content: BinaryIO, path: str, expansion: "_Expansion") -> None:
        self._content = content
        self._path = path
        self._expansion = expansion

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        try:
            data = self._content.read(size)
        except _DAMAGE as exc:
            raise CorruptFile(f"tar.gz archive is damaged or cut inside {self._path}: {exc}") from exc
        self._expansion.add(len(data), self._path)
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Expansion:
    def __init__(self, compressed: _CountingInput, limits: ArchiveLimits) -> None:
        self._compressed = compressed
        self._limits = limits
        self.expanded = 0

    def add(self, size: int, path: str) -> None:
        self.expanded += size
        if self.expanded > self._limits.bomb_floor_bytes:
            ratio = self.expanded / max(1, self._compressed.bytes_read)
            if ratio > self._limits.max_expansion_ratio:
                raise ArchiveBomb(
                    f"the archive expanded {ratio:.0f}x over its compressed size by {path} "
                    f"(more than {self._limits.max_expansion_ratio:.0f}x): refusing it as a decompression bomb"
                )


def unsafe_reason(info: tarfile.TarInfo) -> Optional[str]:
    """Why a member must not be written out, or None when it is a plain, contained file."""
    if info.issym() or info.islnk():
        return f"it is a {'symbolic' if info.issym() else 'hard'} link"
    if info.ischr() or info.isblk() or info.isfifo() or info.isdev():
        return "it is a device or FIFO"
    if not info.isfile():
        return "it is not a regular file"
    name = info.name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "its path is absolute"
    if ".." in name.split("/"):
        return "its path climbs out of the archive (..)"
    return None


def iter_archive_members(
    stream: BinaryIO,
    on_skip: SkipReporter,
    limits: ArchiveLimits = ArchiveLimits(),
) -> Iterator[ArchiveMember]:
    """Yield each safe regular file of a gzipped tar stream; report every skipped member."""
    total = 0
    count = 0
    compressed = _CountingInput(stream)
    expansion = _Expansion(compressed, limits)
    try:
        with tarfile.open(fileobj=io.BufferedReader(compressed), mode="r|gz") as archive:
            for info in archive:
                if info.isdir():
                    continue
                reason = unsafe_reason(info)
                if reason is None and info.size > limits.max_member_bytes:
                    reason = f"it declares {info.size} bytes, above the {limits.max_member_bytes}-byte limit"
                if reason is None and total + info.size > limits.max_total_bytes:
                    reason = f"the archive would exceed {limits.max_total_bytes} bytes in total"
                if reason is None and count >= limits.max_members:
                    reason = f"the archive has more than {limits.max_members} members"
                if reason is not None:
                    on_skip(info.name, reason)
                    continue
                content = archive.extractfile(info)
                if content is None:
                    on_skip(info.name, "it has no readable content")
                    continue
                total += info.size
                count += 1
                path = posixpath.normpath(info.name.replace("\\", "/"))
                yield ArchiveMember(path, info.size, _MemberContent(content, path, expansion))  # type: ignore[arg-type]
    except _DAMAGE as exc:
        raise CorruptFile(f"tar.gz archive is damaged or cut: {exc}") from exc
