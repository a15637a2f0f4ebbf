"""Deterministic Tape data: apps with one fixed set of fields, N records each, generated on demand.

Record i of app A is a pure function of (A, i) until a test changes it, so tests know the exact truth
and a large app costs no memory until it is served. Edits, new records and attached files live in a
small overlay. Times are aware UTC datetimes: `created` in whole seconds (the payload's `created_on`
has none finer), `modified` None for a record never edited since creation (vendor-apis.md 3.7.7).

Attachment values mix what real apps hold (vendor-apis.md 3.2, 3.7.1, seed 003): file objects, user
objects inside attachment fields, malformed values (`{"id": n}` without a filename), empty value
lists, and files deleted from storage although the record still lists them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Set, Tuple

RECORD_ID_STRIDE = 10_000_000  # record_id = app_id * stride + index + 1: unique across apps, decodable
FILE_SLOTS = 10  # a base file id is record_id * 10 + slot: 0 contract, 1-3 documents, 8-9 malformed ids
ATTACHED_FILE_BASE = 10**13  # files attached by tests; above every base file id, below 2**53 (JSON-safe)
_BLOCK = 65_536  # file bytes are generated in blocks of this size, so a range read costs no more

Times = Tuple[datetime, Optional[datetime]]
Predicate = Callable[[Times], bool]


@dataclass(frozen=True)
class FieldDef:
    offset: int  # field_id = app_id * 100 + offset
    external_id: str
    label: str
    type: str  # the kind of data (`text`, `category`, ...)
    field_type: str  # lower case, the current docs' spelling (vendor-apis.md 3.7.2)


FIELDS: Tuple[FieldDef, ...] = (
    FieldDef(1, "name", "Name", "text", "single_text"),
    FieldDef(2, "amount", "Amount", "number", "number"),
    FieldDef(3, "due_date", "Due date", "date", "single_date"),
    FieldDef(4, "status", "Status", "category", "single_category"),
    FieldDef(5, "owner", "Owner", "user", "single_user"),
    FieldDef(6, "contract", "Contract", "file", "single_attachment"),
    FieldDef(7, "documents", "Documents", "file", "multi_attachment"),
)
ATTACHMENT_FIELDS = {f.external_id: f for f in FIELDS if f.field_type.endswith("_attachment")}
SORTABLE_FIELDS = ("name", "amount", "due_date")

_NAMES = ["Acme Corp", "Zürich Café GmbH", "東京商事", "O'Brien & Sons", "Nørd AS", "Plain Co"]
# Users as seed 003 shows them; here they also appear inside attachment fields (vendor-apis.md 3.7.1).
_USERS = [(101, "Dan Jacob"), (102, "Sierra Johns"), (1, "Zoe Maxwell"), (2, "Delaney Beatty")]
_STATUSES = [(1, "Open", "blue"), (2, "In progress", "orange"), (3, "Done", "green")]
# Odd names on purpose: spaces, unicode, parentheses, no extension.
_FILES = [
    ("contract-{n}.pdf", "application/pdf"),
    ("Scan {n}.PDF", "application/pdf"),
    ("Zürich Offerte {n}.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("photo_{n}.jpg", "image/jpeg"),
    ("data {n}.csv", "text/csv"),
    ("résumé (final) {n}.pdf", "application/pdf"),
    ("no_extension_{n}", "application/octet-stream"),
]


@dataclass(frozen=True)
class FileRef:
    """A file value; the app renders it with a freshly signed `download_url`."""

    file_id: int


@dataclass(frozen=True)
class FileInfo:
    id: int
    filename: str
    size: int
    mimetype: str
    created: datetime


@dataclass(frozen=True)
class RecordState:
    app_id: int
    index: int
    created: datetime
    modified: Optional[datetime]
    name: str
    attachments: Mapping[str, Tuple[Any, ...]]  # external_id -> FileRef or plain JSON values
    edits: int = 0

    @property
    def record_id(self) -> int:
        return self.app_id * RECORD_ID_STRIDE + self.index + 1


@dataclass
class AppData:
    app_id: int
    count: int
    step: timedelta
    overlay: Dict[int, RecordState] = field(default_factory=dict)


def user_object(user_index: int) -> Dict[str, Any]:
    user_id, name = _USERS[user_index % len(_USERS)]
    mail = name.split()[0].lower() + "@example.com"
    return {"user_id": user_id, "mail": [mail], "image": None, "name": name, "org_id": 1, "type": "user"}


class TapeDataset:
    def __init__(self, apps: Mapping[int, int], first_created: datetime, span: timedelta, max_file_bytes: int) -> None:
        self._lock = threading.RLock()
        self.first_created = first_created
        self.max_file_bytes = max_file_bytes
        self.apps: Dict[int, AppData] = {}
        for app_id, count in apps.items():
            step = timedelta(seconds=max(1, int(span.total_seconds() // max(count, 1))))
            self.apps[int(app_id)] = AppData(int(app_id), int(count), step)
        self._attached: Dict[int, FileInfo] = {}
        self._deleted: Set[int] = set()

    # -- records ----------------------------------------------------------------------------
    def count(self, app_id: int) -> int:
        with self._lock:
            return self.apps[app_id].count

    def locate(self, record_id: int) -> Optional[Tuple[int, int]]:
        app_id, index = divmod(record_id - 1, RECORD_ID_STRIDE)
        data = self.apps.get(app_id)
        if data is None or not 0 <= index < self.count(app_id):
            return None
        return app_id, index

    def state(self, app_id: int, index: int) -> RecordState:
        data = self.apps[app_id]
        with self._lock:
            if index in data.overlay:
                return data.overlay[index]
        return self._base_state(data, index)

    def times(self, app_id: int, index: int) -> Times:
        """(created, modified) without building the whole record: filters scan only these."""
        data = self.apps[app_id]
        with self._lock:
            overlaid = data.overlay.get(index)
        if overlaid is not None:
            return overlaid.created, overlaid.modified
        return self._base_times(data, index)

    def scan(self, app_id: int, start: int, predicate: Predicate, limit: int) -> List[int]:
        """Indexes from `start` on (record id order) whose times match, at most `limit` of them."""
        found: List[int] = []
        index = start
        while len(found) < limit and index < self.count(app_id):
            if predicate(self.times(app_id, index)):
                found.append(index)
            index += 1
        return found

    def count_matching(self, app_id: int, predicate: Predicate) -> int:
        return sum(1 for index in range(self.count(app_id)) if predicate(self.times(app_id, index)))

    def _base_times(self, data: AppData, index: int) -> Times:
        created = self.first_created + data.step * index
        if index % 3 == 0:
            return created, None  # never edited: matches no last_modified_at filter
        # Edited 1-45 days later, with milliseconds, as filter bounds carry them.
        edited = timedelta(days=1 + (index * 7) % 45, seconds=(index * 37) % 86_400, milliseconds=(index * 13) % 1000)
        return created, created + edited

    def _base_state(self, data: AppData, index: int) -> RecordState:
        created, modified = self._base_times(data, index)
        record_id = data.app_id * RECORD_ID_STRIDE + index + 1
        return RecordState(data.app_id, index, created, modified, f"{_NAMES[index % len(_NAMES)]} {index + 1}", self._base_attachments(record_id, index))

    @staticmethod
    def _base_attachments(record_id: int, i: int) -> Dict[str, Tuple[Any, ...]]:
        if i % 7 == 3:
            contract: Tuple[Any, ...] = ()
        elif i % 11 == 5:
            contract = (user_object(i),)  # a user object in an attachment field (seed 003)
        elif i % 13 == 6:
            contract = ({"id": record_id * FILE_SLOTS + 9},)  # malformed: no filename
        else:
            contract = (FileRef(record_id * FILE_SLOTS),)
        documents: Tuple[Any, ...] = ()
        if i % 5 != 0:
            documents = tuple(FileRef(record_id * FILE_SLOTS + slot) for slot in range(1, i % 3 + 2))
            if i % 9 == 4:
                documents += (user_object(0), user_object(1))  # seed 003's two users in a multi field
            if i % 17 == 8:
                documents += ({"id": record_id * FILE_SLOTS + 8},)
        return {"contract": contract, "documents": documents}

    def field_values(self, state: RecordState) -> List[Tuple[FieldDef, List[Any]]]:
        """Every field's `values[].value` in field order; files stay FileRef for the app to sign."""
        i = state.index
        amount = [] if i % 10 == 9 else [round((i * 7919 % 100_000) / 100, 2)]
        due = date(2024, 1, 1) + timedelta(days=i * 13 % 700)
        start = f"{due.isoformat()} 00:00:00"
        day = due.isoformat()
        due_value = {"start": start, "start_date": day, "start_time": None, "start_utc": start, "start_date_utc": day, "start_time_utc": None}
        status_id, status_text, color = _STATUSES[i % len(_STATUSES)]
        values = {
            "name": [state.name],
            "amount": amount,
            "due_date": [due_value],
            "status": [{"id": status_id, "text": status_text, "color": color}],
            "owner": [user_object(i + 2)],
            **{key: list(value) for key, value in state.attachments.items()},
        }
        return [(definition, values[definition.external_id]) for definition in FIELDS]

    # -- changes between runs ---------------------------------------------------------------
    def edit(self, record_id: int, at: datetime) -> RecordState:
        app_id, index = self._require(record_id)
        with self._lock:
            state = self.state(app_id, index)
            base_name = state.name.split(" (edit ")[0]
            edited = dataclasses.replace(state, name=f"{base_name} (edit {state.edits + 1})", modified=at, edits=state.edits + 1)
            self.apps[app_id].overlay[index] = edited
            return edited

    def create(self, app_id: int, count: int, at: datetime) -> List[int]:
        created: List[int] = []
        with self._lock:
            data = self.apps[app_id]
            for _ in range(count):
                index = data.count
                data.count += 1
                base = self._base_state(data, index)
                # New records are not edited yet: they match created_at filters only (vendor-apis.md 3.7.7).
                data.overlay[index] = dataclasses.replace(base, created=at, modified=None)
                created.append(base.record_id)
        return created

    def attach(self, record_id: int, external_id: str, at: datetime) -> int:
        definition = ATTACHMENT_FIELDS.get(external_id)
        if definition is None:
            raise KeyError(f"{external_id!r} is not an attachment field; known: {', '.join(ATTACHMENT_FIELDS)}")
        app_id, index = self._require(record_id)
        with self._lock:
            file_id = ATTACHED_FILE_BASE + len(self._attached) + 1
            template, mimetype = _FILES[file_id % len(_FILES)]
            self._attached[file_id] = FileInfo(file_id, template.format(n=file_id), self._size(file_id), mimetype, at)
            state = self.state(app_id, index)
            current = state.attachments[external_id]
            # A single_attachment field holds at most one value: the new file replaces it.
            new_values = (FileRef(file_id),) if definition.field_type == "single_attachment" else current + (FileRef(file_id),)
            attachments = {**state.attachments, external_id: new_values}
            self.apps[app_id].overlay[index] = dataclasses.replace(state, attachments=attachments, modified=at, edits=state.edits + 1)
        return file_id

    def delete_file(self, file_id: int) -> None:
        with self._lock:
            self._deleted.add(file_id)

    def _require(self, record_id: int) -> Tuple[int, int]:
        located = self.locate(record_id)
        if located is None:
            raise KeyError(f"no record {record_id}")
        return located

    # -- files ------------------------------------------------------------------------------
    def file_info(self, file_id: int) -> Optional[FileInfo]:
        with self._lock:
            if file_id in self._attached:
                return self._attached[file_id]
        record_id = file_id // FILE_SLOTS
        located = self.locate(record_id)
        if located is None:
            return None
        state = self._base_state(self.apps[located[0]], located[1])
        if not any(value == FileRef(file_id) for values in state.attachments.values() for value in values):
            return None
        template, mimetype = _FILES[file_id % len(_FILES)]
        created = self.times(*located)[0]
        return FileInfo(file_id, template.format(n=record_id % RECORD_ID_STRIDE), self._size(file_id), mimetype, created)

    def is_deleted(self, file_id: int) -> bool:
        with self._lock:
            if file_id in self._deleted:
                return True
        record_id, slot = divmod(file_id, FILE_SLOTS)
        # Some records list a document whose file is gone from storage (its download 404s).
        return file_id < ATTACHED_FILE_BASE and slot == 1 and (record_id % RECORD_ID_STRIDE - 1) % 23 == 11

    def _size(self, file_id: int) -> int:
        if file_id % 31 == 0:
            return 0  # empty files exist too
        return 1 + file_id * 7919 % self.max_file_bytes

    @staticmethod
    def file_chunks(file_id: int, start: int, end: int) -> Iterator[bytes]:
        """Bytes [start, end) of a file: pseudo-random, a pure function of (file id, offset)."""
        position = start
        while position < end:
            block, offset = divmod(position, _BLOCK)
            data = hashlib.shake_128(f"tape-file:{file_id}:{block}".encode("ascii")).digest(_BLOCK)
            piece = data[offset : offset + (end - position)]
            yield piece
            position += len(piece)
