"""`veeva_document_attachments`: every attachment of every document, incremental by version.

Adding an attachment or a version does not move the document's modification date (vendor-apis.md
1.8.7), so no document-level cursor can find them. Each sync lists every document (VQL, all pages)
and fetches its attachments, concurrently in batches; the state remembers, per document, the
version and checksum of each attachment already delivered, and only attachments that are new or
whose version or checksum changed are emitted. The declared cursor, `version__v`, orders versions
of one attachment for destinations that deduplicate.
"""

from __future__ import annotations

import threading
from pathlib import PurePosixPath
from typing import Any, Dict, Iterable, Iterator, List, Mapping, MutableMapping, Optional, Union

from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.message import MessageRepository
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.types import StreamSlice

from source_vault_exports.core.cursors import CheckpointingCursor
from source_vault_exports.core.downloads import fetch_whole_file
from source_vault_exports.core.files import FileStager
from source_vault_exports.core.streams import FileRow
from source_vault_exports.vendors.veeva.api import VENDOR, VaultApi

STREAM = "veeva_document_attachments"
STATE_TYPE = "attachment-versions"
DOCUMENTS_PER_PARTITION = 25


def version_mark(attachment: Mapping[str, Any]) -> str:
    return f"{attachment.get('version__v')}/{str(attachment.get('md5checksum__v') or '')[:12]}"


class AttachmentVersionCursor(CheckpointingCursor):
    """State: `{"state_type": "attachment-versions", "documents": {doc_id: {attachment_id: mark}}}`."""

    def __init__(self, stream_state: Mapping[str, Any], message_repository: MessageRepository, state_manager: ConnectorStateManager) -> None:
        super().__init__(STREAM, message_repository, state_manager)
        self._lock = threading.Lock()
        saved = stream_state.get("documents") if stream_state.get("state_type") == STATE_TYPE else None
        self._documents: Dict[str, Dict[str, str]] = {str(k): dict(v) for k, v in (saved or {}).items()}
        self._pending: Dict[str, Dict[str, str]] = {}
        self.document_ids: Iterable[Any] = ()

    @property
    def state(self) -> MutableMapping[str, Any]:
        with self._lock:
            return {"state_type": STATE_TYPE, "documents": {k: dict(v) for k, v in self._documents.items()}}

    def delivered(self, doc_id: Any) -> Dict[str, str]:
        with self._lock:
            return dict(self._documents.get(str(doc_id), {}))

    def remember(self, doc_id: Any, marks: Dict[str, str]) -> None:
        with self._lock:
            self._pending[str(doc_id)] = marks

    def stream_slices(self) -> Iterable[StreamSlice]:
        batch: List[str] = []
        for doc_id in self.document_ids:
            batch.append(str(doc_id))
            if len(batch) == DOCUMENTS_PER_PARTITION:
                yield StreamSlice(partition={"documents": batch}, cursor_slice={})
                batch = []
        if batch:
            yield StreamSlice(partition={"documents": batch}, cursor_slice={})

    def close_partition(self, partition: Partition) -> None:
        documents = (partition.to_slice() or {}).get("documents") or []
        with self._lock:
            for doc_id in documents:
                if doc_id in self._pending:
                    self._documents[doc_id] = self._pending.pop(doc_id)
        self._emit()


def attachment_row(doc_id: Any, attachment: Mapping[str, Any]) -> Dict[str, Any]:
    """Every field Vault returns (optional ones only when given), plus the document id."""
    return {"document_id": int(doc_id) if str(doc_id).isdigit() else doc_id, **attachment}


class DocumentAttachments:
    def __init__(self, api: VaultApi, cursor: AttachmentVersionCursor, stager: Optional[FileStager], logger) -> None:
        self._api = api
        self._cursor = cursor
        self._stager = stager
        self._logger = logger

    def document_ids(self) -> Iterator[Any]:
        seen = set()
        for row in self._api.query("SELECT id FROM documents", "listing documents"):
            # A page served twice must not list a document twice.
            if row["id"] not in seen:
                seen.add(row["id"])
                yield row["id"]

    def rows_for_slice(self, stream_slice: StreamSlice) -> Iterator[Union[Mapping[str, Any], FileRow]]:
        for doc_id in stream_slice["documents"]:
            delivered = self._cursor.delivered(doc_id)
            marks: Dict[str, str] = {}
            for attachment in self._api.document_attachments(doc_id):
                key = str(attachment.get("id"))
                marks[key] = version_mark(attachment)
                if delivered.get(key) == marks[key]:
                    continue
                row = attachment_row(doc_id, attachment)
                yield row if self._stager is None else self._with_file(doc_id, row)
            self._cursor.remember(doc_id, marks)

    def _with_file(self, doc_id: Any, row: Dict[str, Any]) -> FileRow:
        """The latest version's bytes, checked against Vault's size and md5 (vendor-apis.md 1.5)."""
        assert self._stager is not None
        stager = self._stager
        label = f"attachment {row['id']} v{row.get('version__v')} of document {doc_id}"
        path = PurePosixPath(str(doc_id), str(row["id"]), f"v{row.get('version__v')}", str(row.get("filename__v") or row["id"]))

        def check(digest) -> Optional[str]:
            if row.get("md5checksum__v") and digest.md5 != row["md5checksum__v"]:
                return f"md5 {digest.md5} is not Vault's {row['md5checksum__v']}"
            if row.get("size__v") is not None and digest.size != row["size__v"]:
                return f"{digest.size} bytes, Vault reported {row['size__v']}"
            return None

        digest = fetch_whole_file(
            label,
            lambda: self._api.open_attachment(doc_id, row["id"]),
            lambda stream: stager.stage(STREAM, path, stream),
            check,
            vendor=VENDOR,
            logger=self._logger,
            discard=lambda d: stager.discard(d.file_reference),
        )
        return FileRow(row, digest.file_reference)  # type: ignore[arg-type]
