"""File bytes: hashed while streaming, and staged for Airbyte's file transfer when asked.

With `delivery_method: use_file_transfer` a record carries a `file_reference` to a file the
connector wrote under the CDK's staging directory; the platform moves it to the destination.
Files are written in chunks to a temporary name and renamed only when complete, so a staged file
is never half-written, and every path is rebuilt from sanitised parts under the staging root so
an archive member or a vendor filename can never point outside it.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterable, Optional

from airbyte_cdk.models import AirbyteRecordMessageFileReference
from airbyte_cdk.sources.utils.files_directory import get_files_directory

COPY_CHUNK_BYTES = 1 << 20
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x1f<>:\"|?*\\]")


def chunks_of(content: BinaryIO) -> Iterable[bytes]:
    return iter(lambda: content.read(COPY_CHUNK_BYTES), b"")


@dataclass(frozen=True)
class FileDigest:
    size: int
    md5: str
    file_reference: Optional[AirbyteRecordMessageFileReference] = None


def safe_relative_path(*parts: str) -> PurePosixPath:
    """A relative path from untrusted parts: no empty, `.`, `..` or absolute components."""
    cleaned = []
    for part in parts:
        for piece in str(part).replace("\\", "/").split("/"):
            piece = unicodedata.normalize("NFC", _UNSAFE_CHARACTERS.sub("_", piece)).strip()
            if piece in ("", ".", ".."):
                continue
            cleaned.append(piece[:255])
    if not cleaned:
        raise ValueError(f"no usable path in {parts!r}")
    return PurePosixPath(*cleaned)


def digest_stream(content: BinaryIO) -> FileDigest:
    """Size and MD5 of a stream, read in chunks."""
    md5 = hashlib.md5()
    size = 0
    for chunk in chunks_of(content):
        md5.update(chunk)
        size += len(chunk)
    return FileDigest(size, md5.hexdigest())


class FileStager:
    """Writes files for Airbyte file transfer under `<staging root>/<stream>/<relative path>`."""

    def __init__(self, root: Optional[str] = None) -> None:
        self.root = Path(root or get_files_directory()).resolve()

    def stage(self, stream_name: str, relative: PurePosixPath, content: BinaryIO) -> FileDigest:
        relative_path = safe_relative_path(stream_name, *relative.parts)
        target = (self.root / relative_path).resolve()
        if self.root not in target.parents:
            raise ValueError(f"refusing to write {relative} outside {self.root}")
        target.parent.mkdir(parents=True, exist_ok=True)
        md5 = hashlib.md5()
        size = 0
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
        try:
            with os.fdopen(handle, "wb") as sink:
                for chunk in chunks_of(content):
                    md5.update(chunk)
                    size += len(chunk)
                    sink.write(chunk)
            os.replace(temporary, target)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        reference = AirbyteRecordMessageFileReference(
            staging_file_url=str(target),
            source_file_relative_path=str(relative_path),
            file_size_bytes=size,
        )
        return FileDigest(size, md5.hexdigest(), reference)

    def discard(self, reference: AirbyteRecordMessageFileReference) -> None:
        """Remove a staged file whose content turned out wrong (checksum mismatch)."""
        path = Path(reference.staging_file_url)
        if path.exists() and self.root in path.resolve().parents:
            path.unlink()
