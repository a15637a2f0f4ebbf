"""Benchmark-sized simulators: the package's simulators with their big bodies rendered once to disk.

The simulators generate rows on the fly in Python, which is slower than the connector reads them:
a benchmark served that way would measure the simulator. Here each large body (a Zuora object's
CSV rows, a Vault export archive, a Batch export part) is rendered once into a cache folder and
then served from the file in 1 MiB chunks, so the connector and its floor read the same bytes at
disk speed. The cache survives between runs (its key is everything that shapes the bytes).

Only bench code overrides simulator internals; the simulators' defaults and tests are untouched.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import threading
import time
from array import array
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from source_vault_exports.simulators.batch import BatchSimulator
from source_vault_exports.simulators.batch import app as batch_app
from source_vault_exports.simulators.batch.files import Part, part_chunks
from source_vault_exports.simulators.veeva import VaultSimulator
from source_vault_exports.simulators.veeva import app as veeva_app
from source_vault_exports.simulators.veeva.archives import Blob, tar_gz_chunks
from source_vault_exports.simulators.veeva.dataset import FieldFile, ObjectData, VaultDataset
from source_vault_exports.simulators.zuora import ZuoraSimulator
from source_vault_exports.simulators.zuora.app import Export

CHUNK = 1 << 20

# A ~20-column Zuora object without multi-line cells: Account's fields with `Notes` renamed (the
# simulator writes line breaks into Notes), plus two more. tap-zuora splits its CSV by lines and
# cannot read quoted line breaks, and the peer comparison needs both to read the same file.
BENCH_OBJECT_FIELDS: List[Tuple[str, str]] = [
    ("Id", "text"), ("AccountNumber", "text"), ("Name", "text"), ("Status", "picklist"),
    ("Currency", "picklist"), ("Balance", "decimal"), ("CreditBalance", "decimal"),
    ("BillCycleDay", "integer"), ("AutoPay", "boolean"), ("PaymentTerm", "text"),
    ("LastInvoiceDate", "date"), ("Description", "text"), ("CrmId", "text"), ("Batch", "picklist"),
    ("Region", "picklist"), ("TotalInvoiceBalance", "decimal"),
    ("CreatedById", "text"), ("UpdatedById", "text"), ("CreatedDate", "datetime"), ("UpdatedDate", "datetime"),
]


def _key(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:24]


def _write_atomically(path: Path, chunks: Iterator[bytes]) -> int:
    """Write `chunks` to `path` through a temporary file, so a killed run leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return size


def file_range(path: Path, start: int = 0, end: Optional[int] = None) -> Iterator[bytes]:
    with open(path, "rb") as source:
        source.seek(start)
        left = (end if end is not None else os.path.getsize(path)) - start
        while left > 0:
            chunk = source.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


# -- Zuora ---------------------------------------------------------------------------------------
class CachedZuoraSimulator(ZuoraSimulator):
    """Serves every export whose snapshot is one contiguous index range from a rendered CSV file.

    An object's rows are rendered once per field list, with the byte offset of every row kept, so
    any window (ours: one window; tap-zuora: 30-day windows) is a byte range of the same file.
    """

    def __init__(self, *args: Any, cache_dir: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache_dir = cache_dir
        self._rendered: Dict[Tuple[str, Tuple[str, ...]], Tuple[Path, array, bytes]] = {}
        self._render_lock = threading.Lock()

    def prepare(self, object_name: str, fields: Optional[Sequence[str]] = None) -> Tuple[Path, int]:
        """Render (or find) the object's CSV; returns the file and its size in bytes."""
        path, _, header = self._rendering(object_name, tuple(fields or [name for name, _ in self.data.objects[object_name].fields]))
        return path, os.path.getsize(path) + len(header)

    def _rendering(self, object_name: str, fields: Tuple[str, ...]) -> Tuple[Path, array, bytes]:
        with self._render_lock:
            found = self._rendered.get((object_name, fields))
            if found is not None:
                return found
            data = self.data.objects[object_name]
            o = self.options
            key = _key("zuora-v1", object_name, fields, data.fields, data.rows, data.first_updated, data.step, o.qualified_headers, o.nul_bytes, o.tenant_timezone)
            path = self.cache_dir / f"zuora-{object_name}-{data.rows}-{key}.csv"
            offsets_path = path.with_suffix(".offsets")
            if not (path.exists() and offsets_path.exists()):
                offsets = array("q")
                _write_atomically(path, self._render_rows(object_name, fields, offsets))
                _write_atomically(offsets_path, iter([offsets.tobytes()]))
            offsets = array("q")
            offsets.frombytes(offsets_path.read_bytes())
            prefix = f"{object_name}." if o.qualified_headers else ""
            header = (",".join(prefix + name for name in fields) + "\n").encode("utf-8")
            self._rendered[(object_name, fields)] = (path, offsets, header)
            return path, offsets, header

    def _render_rows(self, object_name: str, fields: Tuple[str, ...], offsets: array) -> Iterator[bytes]:
        import csv

        data = self.data.objects[object_name]
        types = data.field_types
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        position = 0
        pending: List[bytes] = []
        pending_size = 0
        for index in range(data.rows):
            row = self.data.base_row(data, index)
            writer.writerow([self._cell(row.get(name), types[name], index + 1) for name in fields])
            line = buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            offsets.append(position)
            position += len(line)
            pending.append(line)
            pending_size += len(line)
            if pending_size >= CHUNK:
                yield b"".join(pending)
                pending, pending_size = [], 0
        offsets.append(position)
        yield b"".join(pending)

    def _parse_query(self, query: str) -> Any:
        # tap-zuora's discovery probes each object with `select * from X limit 1`; the simulator's
        # ZOQL has no LIMIT. The probe's export is created and never downloaded.
        return super()._parse_query(re.sub(r"\s+limit\s+\d+\s*$", "", query, flags=re.IGNORECASE))

    def _describe(self, request: Any) -> Any:
        # The simulator's soap-only field has no <required> element; tap-zuora's describe parser
        # needs one (Zuora's own describe has it on every field), ours does not care.
        response = super()._describe(request)
        if isinstance(response.body, bytes):
            response.body = response.body.replace(b"<label>SoapOnly</label><type>", b"<label>SoapOnly</label><required>false</required><type>")
        return response

    def _csv_chunks(self, export: Export) -> Iterator[bytes]:
        snapshot = export.snapshot
        assert snapshot is not None
        data = self.data.objects[export.object_name]
        if len(snapshot.index_ranges) != 1 or snapshot.extra_rows or snapshot.excluded or data.overlay:
            yield from super()._csv_chunks(export)
            return
        lo, hi = snapshot.index_ranges[0]
        path, offsets, header = self._rendering(export.object_name, tuple(export.fields))
        yield header
        if hi > lo:
            yield from file_range(path, offsets[lo], offsets[hi])


def zuora_simulator(cache_dir: Path, rows: int, objects: Sequence[str], first_updated: Optional[datetime] = None, **options: Any) -> CachedZuoraSimulator:
    from source_vault_exports.simulators.zuora import ZuoraOptions

    extra = {name: BENCH_OBJECT_FIELDS for name in objects}
    return CachedZuoraSimulator(
        {name: rows for name in objects},
        ZuoraOptions(**options),
        first_updated or datetime(2024, 1, 1, tzinfo=timezone.utc),
        timedelta(days=365),
        extra,
        cache_dir=cache_dir,
    )


# -- Veeva Vault ---------------------------------------------------------------------------------
class _BigFieldFiles(VaultDataset):
    """Every record of every object holds exactly one file of `file_bytes` in each Attachment field."""

    file_bytes = 1 << 20

    def _base_field_files(self, data: ObjectData, i: int, field_name: str) -> List[FieldFile]:
        record_id = data.record_id(i)
        modified = data.first_modified + data.step * i
        blob = Blob(f"bench:{data.name}:{record_id}:{field_name}", self.file_bytes)
        return [FieldFile(f"scan {i:05d}.pdf", blob, modified - timedelta(minutes=5))]


class CachedVaultSimulator(VaultSimulator):
    """Export archives are rendered once to disk (their bytes are a pure function of the members)."""

    def __init__(self, *args: Any, cache_dir: Path, file_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache_dir = cache_dir
        big = _BigFieldFiles.__new__(_BigFieldFiles)
        big.__dict__.update(self.data.__dict__)
        big.file_bytes = file_bytes
        self.data = big
        self._archives: Dict[int, Path] = {}

    def archive_path(self, members: Sequence[Any]) -> Path:
        key = _key("veeva-v1", [(m.name, m.blob.seed if m.blob else None, m.blob.size if m.blob else 0, m.mtime, m.kind, m.linkname) for m in members])
        path = self.cache_dir / f"veeva-{len(members)}-{key}.tar.gz"
        if not path.exists():
            _write_atomically(path, tar_gz_chunks(members))
        return path

    def _archive_size(self, job: veeva_app.Job) -> int:
        with job.lock:
            if job.size is None:
                path = self.archive_path(job.members)
                self._archives[job.id] = path
                job.size = os.path.getsize(path)
            return job.size

    timing_file: Optional[str] = None  # where each part's [first request, last byte) is appended

    def _part_stream(self, job: veeva_app.Job, start: int, end: int) -> Iterator[bytes]:
        self._archive_size(job)
        began = time.time()
        yield from file_range(self._archives[job.id], start, end)
        if self.timing_file:
            # The last chunk has been handed to the socket: the client has all but a socket buffer.
            with open(self.timing_file, "a") as timings:
                timings.write(json.dumps([began, time.time(), end - start]) + "\n")


def veeva_simulator(cache_dir: Path, records: int, file_bytes: int, part_bytes: int) -> CachedVaultSimulator:
    from source_vault_exports.simulators.veeva import VaultOptions

    options = VaultOptions(job_queued_seconds=0.05, job_running_seconds=0.1, job_poll_min_seconds=0.0, part_size_bytes=part_bytes)
    return CachedVaultSimulator(
        options,
        documents=1,
        objects={"product__v": records},
        attachment_fields={"product__v": ("attachment__c",)},
        cache_dir=cache_dir,
        file_bytes=file_bytes,
    )


# -- Batch ---------------------------------------------------------------------------------------
class CachedBatchSimulator(BatchSimulator):
    """Export parts are laid out and rendered once to disk; the layout is kept beside them."""

    def __init__(self, *args: Any, cache_dir: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache_dir = cache_dir

    def _layout(self, export: batch_app.Export) -> List[Part]:
        with export.layout_lock:
            if export.parts is None:
                parts = self._cached_layout(export)
                with self._lock:
                    self.files.update((part.id, (export, part)) for part in parts)
                export.parts = parts
            return export.parts

    def _cache_stem(self, export: batch_app.Export) -> str:
        snapshot = export.snapshot
        attributes = getattr(snapshot, "attributes", None)
        shape = (type(snapshot).__name__, getattr(snapshot, "profiles", None), tuple(attributes) if attributes is not None else None, tuple(snapshot.identifiers),
                 getattr(snapshot, "start", None), getattr(snapshot, "end", None), self.data.events_per_hour, export.encoding)
        return f"batch-{_key('batch-v1', shape)}"

    def _cached_layout(self, export: batch_app.Export) -> List[Part]:
        import json

        stem = self._cache_stem(export)
        index = self.cache_dir / f"{stem}.json"
        if not index.exists():
            parts = batch_app.layout(export.snapshot, export.encoding, lambda number: f"file_{number}")
            for part in parts:
                _write_atomically(self.cache_dir / f"{stem}.{part.number}", part_chunks(export.snapshot, export.encoding, part))
            _write_atomically(index, iter([json.dumps([[p.number, p.start, p.count, p.size] for p in parts]).encode()]))
        laid = json.loads(index.read_text())
        return [Part(batch_app._id("file", export.id, number), number, start, count, size) for number, start, count, size in laid]

    def _resolve_file(self, file_id: str) -> Optional[Tuple[int, Iterator[bytes], str]]:
        with self._lock:
            found = self.files.get(file_id)
        if found is None:
            return None
        export, part = found
        path = self.cache_dir / f"{self._cache_stem(export)}.{part.number}"
        return part.size, file_range(path), export.encoding.content_type

    def prepare_profiles(self, attributes: Sequence[str], identifiers: Sequence[str]) -> Tuple[int, int, int]:
        """Render the ATTRIBUTES export the connector will ask for; returns (parts, rows, bytes)."""
        from source_vault_exports.simulators.batch.dataset import ProfileSnapshot

        snapshot = ProfileSnapshot(self.data, self.data.profiles, list(attributes), list(identifiers))
        encoding = batch_app.Encoding(self.options.file_format, self.options.gzip, self.options.part_size_bytes)
        export = batch_app.Export("prepare", {}, "profiles", snapshot, datetime.now(timezone.utc), 0.0, encoding)
        parts = self._cached_layout(export)
        return len(parts), sum(p.count for p in parts), sum(p.size for p in parts)


def batch_simulator(cache_dir: Path, profiles: int, part_bytes: int) -> CachedBatchSimulator:
    from source_vault_exports.simulators.batch import BatchOptions

    options = BatchOptions(part_size_bytes=part_bytes, historical_exports=0)
    return CachedBatchSimulator(options, profiles=profiles, events_per_hour=1, cache_dir=cache_dir)
