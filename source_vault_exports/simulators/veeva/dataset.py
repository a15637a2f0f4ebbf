"""Deterministic Vault data: documents with attachments, object records with Attachment-field files.

Document i and record i of an object are pure functions of their index, so tests know the exact
truth and a hundred thousand records cost nothing until served. Modification dates grow with the
index (`first + i * step`); changes made by test controls live in small overlays. File contents are
`Blob`s (seeded pseudo-random bytes), generated when read.
"""

from __future__ import annotations

import hashlib
import mimetypes
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from source_vault_exports.simulators.veeva.archives import Blob

FIRST_DOCUMENT_ID = 101
FIRST_ATTACHMENT_ID = 5001  # document and attachment ids are small ints in Vault (seed 001: 565, 566)
FIRST_ADDED_ATTACHMENT_ID = 10_000_000
FIRST_RECORD_NUMBER = 201  # seed 000: 00P000000000201, 00P000000000202
USER_IDS = (46916, 46917, 61603)

DEFAULT_OBJECTS: Dict[str, int] = {"product__v": 100, "site__c": 60}
DEFAULT_ATTACHMENT_FIELDS: Dict[str, Tuple[str, ...]] = {
    "product__v": ("attachment__c", "label_scan__c"),
    "site__c": ("attachment__c",),
}

# Names with spaces, parentheses, accents and CJK: the cases that break naive paths and headers.
ATTACHMENT_NAMES = (
    "Site Area Map.png",
    "Site Facilities Contacts.docx",
    "Prüfbericht Übersicht.pdf",
    "東京 サイト一覧.xlsx",
    "notes.txt",
    "scan 2024-01-05 (final).jpg",
)
FIELD_FILE_NAMES = ("Label Scan.pdf", "Zürich Café.png", "東京 レポート.docx", "spec sheet v2.xlsx", "plain.txt", "photo (1).jpg")
_RECORD_NAMES = ("Cholecap", "Nyaxa", "Zürich Site", "東京 Site", "O'Brien Labs", "Plain")

DOCUMENT_FIELDS = (
    "id", "name__v", "document_number__v", "type__v", "status__v", "major_version_number__v",
    "minor_version_number__v", "document_creation_date__v", "version_modified_date__v",
)
RECORD_FIELDS = ("id", "name__v", "external_id__v", "status__v", "created_date__v", "modified_date__v")
DATE_FIELDS = ("document_creation_date__v", "version_modified_date__v", "created_date__v", "modified_date__v")


def stable_hash(*parts: Any) -> int:
    return int(hashlib.md5(":".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:12], 16)


def iso(moment: datetime) -> str:
    """Vault timestamps: UTC, milliseconds, `Z` (seed 001: 2015-01-14T00:35:01.775Z)."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def whole_millis(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def mime_type(file_name: str) -> str:
    return mimetypes.guess_type(file_name)[0] or "application/octet-stream"


@dataclass(frozen=True)
class AttachmentVersion:
    number: int
    blob: Blob
    created: datetime


@dataclass
class Attachment:
    id: int
    filename: str
    created_by: int
    external_id: Optional[str]
    description: Optional[str]
    versions: List[AttachmentVersion]

    @property
    def latest(self) -> AttachmentVersion:
        return self.versions[-1]

    def version(self, number: int) -> Optional[AttachmentVersion]:
        return next((v for v in self.versions if v.number == number), None)


@dataclass(frozen=True)
class FieldFile:
    name: str
    blob: Blob
    created: datetime


@dataclass
class ObjectData:
    name: str
    count: int
    prefix: str
    attachment_fields: Tuple[str, ...]
    first_modified: datetime
    step: timedelta
    modified: Dict[int, datetime] = field(default_factory=dict)  # overlay: index -> modified_date__v
    files: Dict[Tuple[int, str], List[FieldFile]] = field(default_factory=dict)  # overlay: (index, field)

    def record_id(self, index: int) -> str:
        return f"{self.prefix}{FIRST_RECORD_NUMBER + index:012d}"

    def external_id(self, index: int) -> str:
        return f"{self.name.split('__')[0].upper()}-{FIRST_RECORD_NUMBER + index}"


class VaultDataset:
    def __init__(
        self,
        documents: int = 40,
        objects: Optional[Mapping[str, int]] = None,
        attachment_fields: Optional[Mapping[str, Sequence[str]]] = None,
        max_attachments_per_document: int = 3,
        max_attachment_versions: int = 3,
        files_per_field: int = 1,
        first_modified: datetime = datetime(2024, 1, 1, tzinfo=timezone.utc),
        span: timedelta = timedelta(days=365),
    ) -> None:
        self._lock = threading.RLock()
        self.documents = documents
        self.first_modified = first_modified
        self.document_step = _millis_step(span, documents)
        self.max_attachments = max_attachments_per_document
        self.max_versions = max(1, max_attachment_versions)
        self.files_per_field = max(1, files_per_field)
        self._attachments: Dict[int, List[Attachment]] = {}  # overlay: document id -> attachments
        self._next_attachment_id = FIRST_ADDED_ATTACHMENT_ID
        self._revision = 0
        fields = {**DEFAULT_ATTACHMENT_FIELDS, **(attachment_fields or {})}
        self.objects: Dict[str, ObjectData] = {}
        for name, count in (objects if objects is not None else DEFAULT_OBJECTS).items():
            prefix = "00P" if name == "product__v" else "V" + hashlib.md5(name.encode()).hexdigest()[:2].upper()
            self.objects[name] = ObjectData(
                name, count, prefix, tuple(fields.get(name, ("attachment__c",))), first_modified, _millis_step(span, count)
            )

    # -- generic access, used by VQL -----------------------------------------------------------
    def source_fields(self, source: str) -> Optional[Tuple[str, ...]]:
        if source == "documents":
            return DOCUMENT_FIELDS
        return RECORD_FIELDS if source in self.objects else None

    def count(self, source: str) -> int:
        return self.documents if source == "documents" else self.objects[source].count

    def value(self, source: str, index: int, name: str) -> Any:
        if source == "documents":
            return self._document_value(index, name)
        return self._record_value(self.objects[source], index, name)

    def _document_value(self, i: int, name: str) -> Any:
        modified = self.first_modified + self.document_step * i
        if name == "id":
            return FIRST_DOCUMENT_ID + i
        if name == "version_modified_date__v":
            return modified
        if name == "document_creation_date__v":
            return modified - timedelta(days=i % 30, minutes=i % 60)
        if name == "name__v":
            return f"{_RECORD_NAMES[i % len(_RECORD_NAMES)]} SOP {i}"
        if name == "document_number__v":
            return f"VV-QDOC-{FIRST_DOCUMENT_ID + i:05d}"
        if name == "type__v":
            return ("Standard Operating Procedure", "Form", "Site Document")[i % 3]
        if name == "status__v":
            return ("Draft", "Approved", "Effective")[i % 3]
        if name == "major_version_number__v":
            return i % 4
        if name == "minor_version_number__v":
            return (i * 7) % 3
        raise KeyError(name)

    def _record_value(self, data: ObjectData, i: int, name: str) -> Any:
        if name == "id":
            return data.record_id(i)
        if name == "modified_date__v":
            with self._lock:
                overlay = data.modified.get(i)
            return overlay or data.first_modified + data.step * i
        if name == "created_date__v":
            return data.first_modified + data.step * i - timedelta(days=i % 40)
        if name == "name__v":
            return f"{_RECORD_NAMES[i % len(_RECORD_NAMES)]} {FIRST_RECORD_NUMBER + i}"
        if name == "external_id__v":
            return data.external_id(i)
        if name == "status__v":
            return "active__v" if i % 9 else "inactive__v"
        raise KeyError(name)

    def row(self, source: str, index: int, fields: Sequence[str]) -> Dict[str, Any]:
        return {name: self.value(source, index, name) for name in fields}

    # -- documents and attachments ---------------------------------------------------------
    def document_ids(self) -> List[int]:
        return [FIRST_DOCUMENT_ID + i for i in range(self.documents)]

    def has_document(self, doc_id: int) -> bool:
        return 0 <= doc_id - FIRST_DOCUMENT_ID < self.documents

    def attachments(self, doc_id: int) -> List[Attachment]:
        with self._lock:
            if doc_id in self._attachments:
                return [replace(a, versions=list(a.versions)) for a in self._attachments[doc_id]]
        return self._base_attachments(doc_id)

    def _base_attachments(self, doc_id: int) -> List[Attachment]:
        i = doc_id - FIRST_DOCUMENT_ID
        created = self._document_value(i, "document_creation_date__v")
        result = []
        for j in range(stable_hash("attachments", doc_id) % (self.max_attachments + 1)):
            att_id = FIRST_ATTACHMENT_ID + i * self.max_attachments + j
            versions = []
            for number in range(1, 1 + stable_hash("versions", att_id) % self.max_versions + 1):
                moment = created + timedelta(hours=3 * number + j, milliseconds=stable_hash("ms", att_id, number) % 1000)
                blob = Blob(f"attachment:{doc_id}:{att_id}:{number}", 200 + stable_hash("size", att_id, number) % 6000)
                versions.append(AttachmentVersion(number, blob, moment))
            result.append(
                Attachment(
                    id=att_id,
                    filename=ATTACHMENT_NAMES[stable_hash("name", att_id) % len(ATTACHMENT_NAMES)],
                    created_by=USER_IDS[att_id % len(USER_IDS)],
                    # Optional keys are omitted from the API when absent (seed 001): half have them.
                    external_id=f"ATT-EXT-{att_id}" if att_id % 2 == 0 else None,
                    description="Uploaded by site staff" if stable_hash("description", att_id) % 3 == 0 else None,
                    versions=versions,
                )
            )
        return result

    def add_attachment(self, doc_id: int, filename: Optional[str], size: Optional[int], now: datetime) -> Attachment:
        with self._lock:
            attachments = self._attachments.setdefault(doc_id, self._base_attachments(doc_id))
            att_id = self._next_attachment_id
            self._next_attachment_id += 1
            blob = Blob(f"attachment:{doc_id}:{att_id}:1", size if size is not None else 1000 + att_id % 5000)
            attachment = Attachment(
                att_id, filename or ATTACHMENT_NAMES[att_id % len(ATTACHMENT_NAMES)], USER_IDS[0], None, None,
                [AttachmentVersion(1, blob, whole_millis(now))],
            )
            attachments.append(attachment)
            return replace(attachment, versions=list(attachment.versions))

    def add_attachment_version(self, doc_id: int, att_id: int, size: Optional[int], now: datetime) -> Attachment:
        with self._lock:
            attachments = self._attachments.setdefault(doc_id, self._base_attachments(doc_id))
            attachment = next(a for a in attachments if a.id == att_id)
            number = attachment.latest.number + 1
            self._revision += 1
            blob = Blob(f"attachment:{doc_id}:{att_id}:{number}:r{self._revision}", size if size is not None else attachment.latest.blob.size + 17)
            attachment.versions.append(AttachmentVersion(number, blob, whole_millis(now)))
            return replace(attachment, versions=list(attachment.versions))

    # -- object records and Attachment-field files ----------------------------------------
    def record_index(self, object_name: str, id_field: str, value: Any) -> Optional[int]:
        """Index of the record whose `id_field` (id or external_id__v) equals `value`, if any."""
        data = self.objects[object_name]
        text = str(value)
        if id_field == "id":
            digits = text[len(data.prefix):] if text.startswith(data.prefix) and len(text) == 15 else ""
        else:
            stem, _, digits = text.rpartition("-")
            if stem != data.external_id(0).rpartition("-")[0]:
                digits = ""
        if not digits.isdigit():
            return None
        index = int(digits) - FIRST_RECORD_NUMBER
        return index if 0 <= index < data.count else None

    def field_files(self, object_name: str, index: int, field_name: str) -> List[FieldFile]:
        data = self.objects[object_name]
        with self._lock:
            if (index, field_name) in data.files:
                return list(data.files[(index, field_name)])
        return self._base_field_files(data, index, field_name)

    def _base_field_files(self, data: ObjectData, i: int, field_name: str) -> List[FieldFile]:
        record_id = data.record_id(i)
        seed = stable_hash("files", data.name, record_id, field_name)
        modified = data.first_modified + data.step * i
        files = []
        for k in range(seed % (self.files_per_field + 1)):
            name = FIELD_FILE_NAMES[(seed // 7 + k) % len(FIELD_FILE_NAMES)]
            blob = Blob(f"field:{data.name}:{record_id}:{field_name}:{name}", 100 + stable_hash("size", seed, k) % 3000)
            files.append(FieldFile(name, blob, modified - timedelta(minutes=5 + k)))
        return files

    def add_field_file(self, object_name: str, index: int, field_name: str, file_name: Optional[str], size: Optional[int], now: datetime) -> FieldFile:
        data = self.objects[object_name]
        moment = whole_millis(now)
        with self._lock:
            self._revision += 1
            name = file_name or FIELD_FILE_NAMES[self._revision % len(FIELD_FILE_NAMES)]
            record_id = data.record_id(index)
            blob = Blob(f"field:{object_name}:{record_id}:{field_name}:{name}:r{self._revision}", size if size is not None else 500 + self._revision % 2500)
            new = FieldFile(name, blob, moment)
            files = [f for f in self.field_files(object_name, index, field_name) if f.name != name] + [new]
            # A field holds at most `files_per_field` files (one in Vault): adding past that replaces the oldest.
            data.files[(index, field_name)] = files[-self.files_per_field:]
            data.modified[index] = moment
            return new


def _millis_step(span: timedelta, count: int) -> timedelta:
    """Whole milliseconds keep dates exact in ISO strings and `>=` comparisons."""
    return timedelta(milliseconds=max(1, int((span / max(count, 1)).total_seconds() * 1000)))
