"""Incremental CSV decoding: bytes in, one list of cells per row out, never the whole file."""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
import zipfile
from typing import BinaryIO, Callable, Iterator, List, Mapping, Any

from source_vault_exports.core.downloads import READ_CHUNK_BYTES, CorruptFile

RowBuilder = Callable[[List[str]], Mapping[str, Any]]
TEXT_CHUNK_CHARS = 1 << 16


class NulStrippingReader(io.RawIOBase):
    """Drops NUL bytes, which some exports (Zuora) write into cells and warehouses reject."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while True:
            data = self._source.read(len(buffer))
            if not data:
                return 0
            if b"\x00" in data:
                data = data.replace(b"\x00", b"")
                if not data:
                    # A chunk of only NULs must not look like the end of the file.
                    continue
            size = len(data)
            buffer[:size] = data
            return size


def iter_csv_rows(
    stream: BinaryIO,
    make_row_builder: Callable[[List[str]], RowBuilder],
    *,
    strip_nul: bool = True,
    encoding: str = "utf-8",
) -> Iterator[Mapping[str, Any]]:
    """Yield one built row per CSV record; the header row makes the row builder.

    Blank lines are skipped. A record whose cell count differs from the header means the file is
    damaged (a cut or a server fault): it raises `CorruptFile` so the download is retried rather
    than a shifted row being emitted.
    """
    source: BinaryIO = stream
    if strip_nul:
        source = io.BufferedReader(NulStrippingReader(stream), READ_CHUNK_BYTES)  # type: ignore[assignment]
    text = io.TextIOWrapper(source, encoding=encoding, newline="")
    # Decode 64 KiB at a time rather than 8 KiB: ~8% less time per row for the same bytes.
    text._CHUNK_SIZE = TEXT_CHUNK_CHARS  # type: ignore[attr-defined]
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        build = make_row_builder(header)
        width = len(header)
        for cells in reader:
            if not cells:
                continue
            if len(cells) != width:
                raise CorruptFile(
                    f"CSV record {reader.line_num} has {len(cells)} cells, the header has {width}"
                )
            yield build(cells)
    except csv.Error as exc:
        raise CorruptFile(f"CSV could not be parsed near line {reader.line_num}: {exc}") from exc


def iter_zipped_csv_rows(
    stream: BinaryIO,
    make_row_builder: Callable[[List[str]], RowBuilder],
    *,
    strip_nul: bool = True,
) -> Iterator[Mapping[str, Any]]:
    """A zip keeps its index at the end, so it is spooled to disk (not memory) and read from there."""
    with tempfile.TemporaryFile() as spool:
        shutil.copyfileobj(stream, spool, READ_CHUNK_BYTES)
        spool.seek(0)
        try:
            archive = zipfile.ZipFile(spool)
        except zipfile.BadZipFile as exc:
            raise CorruptFile(f"zip archive is damaged: {exc}") from exc
        with archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) != 1:
                raise CorruptFile(f"expected one CSV file in the zip archive, found {len(members)}")
            with archive.open(members[0]) as member:
                yield from iter_csv_rows(member, make_row_builder, strip_nul=strip_nul)  # type: ignore[arg-type]
