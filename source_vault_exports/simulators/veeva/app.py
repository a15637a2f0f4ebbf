"""A loopback Veeva Vault: sessions, VQL, document attachments and attachment-field exports.

Behaviour follows vendor-apis.md section 1 and section 5 ("Veeva Vault"); what public material leaves
open is a switch on `VaultOptions` or a choice named in a comment. Every processed request answers
HTTP 200 with a `responseStatus` envelope (1.7): non-200 answers come only from the `FaultPlan`.
Endpoint names for faults and call counters: `auth`, `keep_alive`, `query`, `query_page`,
`doc_attachments`, `attachment_file`, `export_create`, `job_status`, `export_results`, `export_part`,
`field_file` (and `unknown` for paths Vault does not have).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Deque, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple
from urllib.parse import quote

from source_vault_exports.simulators.http import Body, Handler, SimRequest, SimResponse, SimulatorApp
from source_vault_exports.simulators.veeva.archives import Blob, Member, StreamReader, hostile_members, tar_gz_chunks
from source_vault_exports.simulators.veeva.dataset import (
    DATE_FIELDS,
    Attachment,
    VaultDataset,
    iso,
    mime_type,
    stable_hash,
)
from source_vault_exports.simulators.veeva.vql import Query, VqlError, matches, parse

API = r"/api/(?P<version>v\d+(?:\.\d+)?)"
EXPORT_MAX_RECORDS = 500  # per export-create body (vendor-apis.md 1.2)
FIRST_JOB_ID = 1069401  # seed 000
JOB_WAITING = ("QUEUED", "RUNNING")
JOB_FAILURES = ("ERRORS_ENCOUNTERED", "CANCELLED", "TIMEOUT")
# No public source names the error of an expired `next_page` link (vendor-apis.md 1.3); chosen here.
PAGE_LINK_EXPIRED_TYPE = "INVALID_DATA"


@dataclass
class VaultOptions:
    username: str = "integration.user@sim-quality.veevavault.com"
    password: str = "sim-password"
    user_id: int = 61603
    vault_id: int = 1776
    vault_name: str = "Sim Quality Vault"
    wrong_vault: bool = False  # login succeeds for another Vault (vendor-apis.md 1.1 trap)
    session_idle_seconds: float = 20 * 60.0  # admin-configured in Vault
    session_max_seconds: float = 48 * 3600.0  # hard limit (vendor-apis.md 1.1)
    auth_burst_per_minute: int = 20  # per username (vendor-apis.md 1.6, Veeva's example figure)
    burst_limit: int = 2000  # per Vault per window (1.6, Veeva's example figure)
    burst_window_seconds: float = 300.0
    over_limit_delay_seconds: float = 0.5  # Vault delays, never rejects, past the burst limit
    page_link_ttl_seconds: float = 72 * 3600.0  # from the query or the last page call (1.3)
    shrink_pages: bool = False  # some pages come back smaller than PAGESIZE while more remain (1.3)
    default_page_size: Optional[int] = None  # pages of queries without PAGESIZE (Vault: 1000); tests use a few
    # Export job lifecycle, scaled down from Vault's minutes.
    job_queued_seconds: float = 1.0
    job_running_seconds: float = 2.0
    job_poll_min_seconds: float = 10.0  # faster polls of one job -> API_LIMIT_EXCEEDED (1.4)
    part_size_bytes: int = 1024 ** 3  # Vault splits exports above 1 GB (1.2)
    archive_cache_max_bytes: int = 8 * 1024 ** 2  # archives up to this size are kept, larger ones regenerated
    content_length_max_bytes: int = 1024 ** 2  # larger binaries are sent chunked, without a length (1.5)
    hostile_members: bool = False  # `../`, absolute, symlink and hardlink members in exports
    md5_mismatch_attachment_ids: Set[int] = field(default_factory=set)  # served bytes differ from md5checksum__v
    # versions[].url of document attachments: absolute, another host, an old API version (seed 001).
    attachment_url_host: str = "myvault.veevavault.com"
    attachment_url_version: str = "v15.0"


@dataclass
class Session:
    id: str
    created: float
    last_used: float


@dataclass
class Cursor:
    id: str
    query: Query
    indexes: List[int]
    version: str
    last_used: float


@dataclass
class Job:
    id: int
    object_name: str
    members: List[Member]
    created: float
    created_at: datetime
    fate: Optional[Tuple[str, str]] = None  # forced (status, message)
    last_poll: Optional[float] = None
    size: Optional[int] = None
    cached: Optional[bytes] = None
    parked: Dict[int, StreamReader] = field(default_factory=dict)  # archive readers by position, for parts in order
    lock: threading.Lock = field(default_factory=threading.Lock)


def failure(error_type: str, message: str, **extra: Any) -> SimResponse:
    return SimResponse.json({"responseStatus": "FAILURE", "responseMessage": message, "errors": [{"type": error_type, "message": message}], **extra})


def success(**payload: Any) -> SimResponse:
    return SimResponse.json({"responseStatus": "SUCCESS", **payload})


class VaultSimulator(SimulatorApp):
    """Veeva Vault on 127.0.0.1 over a deterministic `VaultDataset`; see the module docstring."""

    def __init__(
        self,
        options: Optional[VaultOptions] = None,
        documents: int = 40,
        objects: Optional[Mapping[str, int]] = None,
        attachment_fields: Optional[Mapping[str, Sequence[str]]] = None,
        max_attachments_per_document: int = 3,
        max_attachment_versions: int = 3,
        files_per_field: int = 1,
        first_modified: datetime = datetime(2024, 1, 1, tzinfo=timezone.utc),
        span: timedelta = timedelta(days=365),
    ) -> None:
        super().__init__()
        self.options = options or VaultOptions()
        self.data = VaultDataset(
            documents, objects, attachment_fields, max_attachments_per_document, max_attachment_versions, files_per_field, first_modified, span
        )
        self.sessions: Dict[str, Session] = {}
        self.issued_sessions: List[str] = []  # every session ever issued, for leak checks
        self.cursors: Dict[str, Cursor] = {}
        self.jobs: Dict[int, Job] = {}
        self.delayed_calls = 0  # calls slowed down past the burst limit
        self._lock = threading.RLock()
        self._auth_times: Dict[str, Deque[float]] = {}
        self._window_start = time.monotonic()
        self._window_calls = 0
        self._next_job_id = FIRST_JOB_ID
        self._cursor_count = 0
        self._job_fates: Deque[Tuple[str, str]] = deque()
        self._download_failures: Dict[str, Deque[Tuple[str, str]]] = {}
        self.logged_headers = ("authorization", "content-type")
        route = self._route
        route("POST", "/auth", "auth", self._auth, session=False)
        route("POST", "/keep-alive", "keep_alive", lambda request: success())
        route("POST", "/query", "query", self._query)
        route("POST", r"/query/(?P<cursor>[\w-]+)", "query_page", self._query_page)
        documents_path = r"/objects/documents/(?P<doc>\d+)/attachments"
        route("GET", documents_path, "doc_attachments", self._doc_attachments)
        route("GET", documents_path + r"/(?P<att>\d+)/file", "attachment_file", self._attachment_file)
        route("GET", documents_path + r"/(?P<att>\d+)/versions/(?P<n>\d+)/file", "attachment_file", self._attachment_file)
        export_path = r"/vobjects/(?P<object>\w+)/attachment_fields"
        route("POST", export_path + "/actions/export", "export_create", self._export_create)
        route("GET", r"/services/jobs/(?P<job>\d+)", "job_status", self._job_status)
        route("GET", export_path + r"/actions/export/(?P<job>\d+)/results", "export_results", self._export_results)
        route("GET", export_path + r"/files/(?P<part>[^/]+)", "export_part", self._export_part)
        route("GET", r"/vobjects/(?P<object>\w+)/(?P<record>\w+)/attachment_fields/(?P<field>\w+)/file", "field_file", self._field_file)

    def _route(self, method: str, path: str, endpoint: str, handler: Handler, session: bool = True) -> None:
        self.route(method, API + path, endpoint, self._wrap(handler, session))

    # -- test controls ----------------------------------------------------------------------
    def expire_sessions(self) -> None:
        with self._lock:
            self.sessions.clear()

    def fail_next_job(self, status: str = "ERRORS_ENCOUNTERED", message: str = "Job encountered errors") -> None:
        """The next export job ends in `status` (ERRORS_ENCOUNTERED, CANCELLED or TIMEOUT) after running."""
        if status not in JOB_FAILURES:
            raise ValueError(f"status must be one of {', '.join(JOB_FAILURES)}")
        with self._lock:
            self._job_fates.append((status, message))

    def fail_next_download(self, endpoint: str = "attachment_file", times: int = 1, error_type: str = "UNEXPECTED_ERROR", message: str = "An unexpected error occurred") -> None:
        """The next `times` downloads on `endpoint` answer a JSON FAILURE envelope with HTTP 200 (vendor-apis.md 1.8.2)."""
        with self._lock:
            self._download_failures.setdefault(endpoint, deque()).extend([(error_type, message)] * times)

    def add_attachment(self, doc_id: int, filename: Optional[str] = None, size: Optional[int] = None) -> Dict[str, Any]:
        """A new attachment; the document's version_modified_date__v does NOT move (vendor-apis.md 1.8.7)."""
        return self._attachment_json(doc_id, self.data.add_attachment(doc_id, filename, size, datetime.now(timezone.utc)))

    def add_attachment_version(self, doc_id: int, attachment_id: int, size: Optional[int] = None) -> Dict[str, Any]:
        return self._attachment_json(doc_id, self.data.add_attachment_version(doc_id, attachment_id, size, datetime.now(timezone.utc)))

    def add_field_file(self, object_name: str, record_id: str, field_name: str, file_name: Optional[str] = None, size: Optional[int] = None) -> Dict[str, Any]:
        """Uploads a file to a record's Attachment field and bumps the record's modified_date__v to now."""
        index = self.data.record_index(object_name, "id", record_id)
        if index is None or field_name not in self.data.objects[object_name].attachment_fields:
            raise KeyError(f"{object_name} has no record {record_id} with Attachment field {field_name}")
        added = self.data.add_field_file(object_name, index, field_name, file_name, size, datetime.now(timezone.utc))
        return {"record_id": record_id, "field_name": field_name, "file_name": added.name, "size": added.blob.size, "md5": added.blob.md5}

    def connector_config(self, vault_url: str, **overrides: Any) -> Dict[str, Any]:
        """The connector's `veeva_vault` config section for this simulator."""
        return {
            "vault_url": vault_url,
            "api_version": "v25.3",
            "username": self.options.username,
            "password": self.options.password,
            "attachment_field_objects": [
                {"object_name": name, "field_names": list(data.attachment_fields)} for name, data in self.data.objects.items()
            ],
            "document_attachments": True,
            **overrides,
        }

    # -- truth for tests --------------------------------------------------------------------
    def document_attachments(self) -> List[Tuple[int, Dict[str, Any]]]:
        """(document id, attachment exactly as the API lists it) for every attachment."""
        return [(doc_id, self._attachment_json(doc_id, a)) for doc_id in self.data.document_ids() for a in self.data.attachments(doc_id)]

    def field_files(self, object_name: str) -> List[Dict[str, Any]]:
        data = self.data.objects[object_name]
        return [
            {"record_id": data.record_id(i), "field_name": name, "file_name": f.name, "size": f.blob.size, "md5": f.blob.md5}
            for i in range(data.count)
            for name in data.attachment_fields
            for f in self.data.field_files(object_name, i, name)
        ]

    def file_bytes(
        self,
        object_name: Optional[str] = None,
        record_id: Optional[str] = None,
        field_name: Optional[str] = None,
        file_name: Optional[str] = None,
        *,
        doc_id: Optional[int] = None,
        attachment_id: Optional[int] = None,
        version: Optional[int] = None,
    ) -> bytes:
        """True bytes of a field file (object, record, field, name) or of an attachment version (latest if None)."""
        if doc_id is not None:
            attachment = next(a for a in self.data.attachments(doc_id) if a.id == attachment_id)
            chosen = attachment.latest if version is None else attachment.version(version)
            assert chosen is not None, f"attachment {attachment_id} has no version {version}"
            return chosen.blob.read()
        assert object_name and record_id and field_name
        index = self.data.record_index(object_name, "id", record_id)
        assert index is not None, f"{object_name} has no record {record_id}"
        files = self.data.field_files(object_name, index, field_name)
        return next(f for f in files if file_name is None or f.name == file_name).blob.read()

    def records(self, object_name: str) -> List[Dict[str, Any]]:
        source = self.data
        return [_rendered(source.row(object_name, i, source.source_fields(object_name) or ())) for i in range(source.count(object_name))]

    def documents(self) -> List[Dict[str, Any]]:
        fields = self.data.source_fields("documents") or ()
        return [_rendered(self.data.row("documents", i, fields)) for i in range(self.data.documents)]

    # -- envelope, burst limit, sessions ----------------------------------------------------
    def dispatch(self, request: SimRequest) -> Tuple[str, Handler]:
        endpoint, handler = super().dispatch(request)
        if endpoint != "unknown":
            return endpoint, handler
        # Vault answers unknown paths and wrong methods inside its envelope (1.7); the docs' own
        # examples use the wrong method twice (1.8.6), so a connector copying them sees this.
        if any(route.pattern.match(request.path) for route in self.routes):
            problem = failure("METHOD_NOT_SUPPORTED", f"Request method [{request.method}] is not supported for [{request.path}]")
        else:
            problem = failure("MALFORMED_URL", f"The resource [{request.path}] does not exist")
        return "unknown", self._wrap(lambda _: problem, session=False)

    def _wrap(self, handler: Handler, session: bool) -> Handler:
        def serve(request: SimRequest) -> SimResponse:
            headers = self._burst()
            found = self._session(request) if session else None
            if session and found is None:
                response = failure("INVALID_SESSION_ID", "Invalid or expired session ID.")
            else:
                response = handler(request)
                if found is not None:
                    response.body = self._touch_after(found, response.body)
            response.headers.update(headers)
            return response

        return serve

    def _burst(self) -> Dict[str, str]:
        """A fixed window per Vault; past the limit each call is delayed, not rejected (1.6)."""
        options = self.options
        with self._lock:
            now = time.monotonic()
            if now - self._window_start >= options.burst_window_seconds:
                self._window_start, self._window_calls = now, 0
            self._window_calls += 1
            over = self._window_calls > options.burst_limit
            if over:
                self.delayed_calls += 1
            remaining = max(0, options.burst_limit - self._window_calls)
        headers = {"X-VaultAPI-BurstLimit": str(options.burst_limit), "X-VaultAPI-BurstLimitRemaining": str(remaining)}
        if over:
            time.sleep(options.over_limit_delay_seconds)
            headers["X-VaultAPI-ResponseDelay"] = str(int(options.over_limit_delay_seconds * 1000))
        return headers

    def _session(self, request: SimRequest) -> Optional[Session]:
        header = (request.header("authorization") or "").strip()
        session_id = header[7:].strip() if header.lower().startswith("bearer ") else header
        now = time.monotonic()
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None:
                return None
            if now - session.last_used > self.options.session_idle_seconds or now - session.created > self.options.session_max_seconds:
                del self.sessions[session_id]
                return None
            session.last_used = now  # a long download keeps the session busy, not idle
            return session

    def _touch_after(self, session: Session, body: Body) -> Body:
        """The idle timer counts from the END of the last request (1.1): touch when the body is sent."""
        if body is None or isinstance(body, (bytes, bytearray)):
            with self._lock:
                session.last_used = time.monotonic()
            return body

        def streamed(chunks: Iterable[bytes]) -> Iterator[bytes]:
            try:
                yield from chunks
            finally:
                with self._lock:
                    session.last_used = time.monotonic()

        return streamed(body)

    # -- auth -------------------------------------------------------------------------------
    def _auth(self, request: SimRequest) -> SimResponse:
        form = request.form()  # application/x-www-form-urlencoded (multipart is not simulated)
        username, password = form.get("username", ""), form.get("password", "")
        now = time.monotonic()
        with self._lock:
            times = self._auth_times.setdefault(username.lower(), deque())
            while times and now - times[0] > 60:
                times.popleft()
            if len(times) >= self.options.auth_burst_per_minute:
                return failure("API_LIMIT_EXCEEDED", f"Authentication burst limit of {self.options.auth_burst_per_minute} per minute exceeded for user [{username}]")
            times.append(now)
        if not password:
            return failure("NO_PASSWORD_PROVIDED", "No password was provided for the login call.", errorType="AUTHENTICATION_FAILED")
        if username.lower() != self.options.username.lower() or password != self.options.password:
            return failure("USERNAME_OR_PASSWORD_INCORRECT", f"Authentication failed for user: {username}", errorType="AUTHENTICATION_FAILED")
        if self.options.wrong_vault:
            # The user cannot reach the requested DNS, so Vault picks their "most relevant" other Vault.
            vault_id, vault_name, vault_url = self.options.vault_id + 1, "Sim Clinical Vault", "https://sim-clinical.veevavault.com/api"
        else:
            vault_id, vault_name, vault_url = self.options.vault_id, self.options.vault_name, f"http://{request.header('host')}/api"
        session_id = secrets.token_hex(32).upper()
        with self._lock:
            self.sessions[session_id] = Session(session_id, now, now)
            self.issued_sessions.append(session_id)
        return success(
            sessionId=session_id,
            userId=self.options.user_id,
            vaultId=vault_id,
            vaultIds=[{"id": vault_id, "name": vault_name, "url": vault_url}],
        )

    # -- VQL --------------------------------------------------------------------------------
    def _query(self, request: SimRequest) -> SimResponse:
        text = request.form().get("q") or request.param("q")
        if not text:
            return failure("PARAMETER_REQUIRED", "Missing required parameter [q]")
        try:
            query = parse(text, self.data.source_fields, DATE_FIELDS)
        except VqlError as problem:
            return failure(problem.error_type, problem.message)
        indexes = self._select(query)
        now = time.monotonic()
        with self._lock:
            self._cursor_count += 1
            cursor_id = str(uuid.UUID(hashlib.md5(f"cursor-{self._cursor_count}".encode()).hexdigest()))
            for stale in [c for c in self.cursors.values() if now - c.last_used > self.options.page_link_ttl_seconds]:
                del self.cursors[stale.id]
            cursor = self.cursors[cursor_id] = Cursor(cursor_id, query, indexes, request.path_params["version"], now)
        pagesize = self.options.default_page_size if self.options.default_page_size and "pagesize" not in text.lower() else query.pagesize
        return self._page(cursor, query.pageoffset, pagesize)

    def _select(self, query: Query) -> List[int]:
        data, source = self.data, query.source
        indexes = [
            i for i in range(data.count(source)) if all(matches(data.value(source, i, name), op, literal) for name, op, literal in query.conditions)
        ]
        if query.order is not None:
            name, descending = query.order
            indexes.sort(key=lambda i: (data.value(source, i, name), data.value(source, i, "id")), reverse=descending)
        return indexes

    def _query_page(self, request: SimRequest) -> SimResponse:
        cursor_id = request.path_params["cursor"]
        now = time.monotonic()
        with self._lock:
            cursor = self.cursors.get(cursor_id)
            if cursor is None or now - cursor.last_used > self.options.page_link_ttl_seconds:
                self.cursors.pop(cursor_id, None)
                return failure(PAGE_LINK_EXPIRED_TYPE, f"Query results [{cursor_id}] have expired or do not exist; run the query again")
            cursor.last_used = now
        try:
            pagesize = min(int(request.param("pagesize") or cursor.query.pagesize), 1000)
            offset = int(request.param("pageoffset") or 0)
        except ValueError:
            return failure("INVALID_DATA", "pagesize and pageoffset must be numbers")
        return self._page(cursor, offset, max(1, pagesize))

    def _page(self, cursor: Cursor, offset: int, pagesize: int) -> SimResponse:
        total = len(cursor.indexes)
        size = max(0, min(pagesize, total - offset))
        if self.options.shrink_pages and size > 1 and stable_hash(cursor.id, offset) % 2 == 0:
            size = max(1, min(size, pagesize * 2 // 3))  # Vault trims pages of wide rows (1.3)
        query = cursor.query
        rows = [_rendered(self.data.row(query.source, i, query.fields)) for i in cursor.indexes[offset: offset + size]]
        details: Dict[str, Any] = {"pagesize": pagesize, "pageoffset": offset, "size": size, "total": total}
        link = f"/api/{cursor.version}/query/{cursor.id}?pagesize={pagesize}&pageoffset="
        if offset + size < total:
            details["next_page"] = f"{link}{offset + size}"
        if offset > 0:
            details["previous_page"] = f"{link}{max(0, offset - pagesize)}"
        return success(responseDetails=details, data=rows)

    # -- document attachments ---------------------------------------------------------------
    def _attachment_json(self, doc_id: int, attachment: Attachment) -> Dict[str, Any]:
        latest = attachment.latest
        body: Dict[str, Any] = {
            "id": attachment.id,
            "filename__v": attachment.filename,
            "format__v": mime_type(attachment.filename),
            "size__v": latest.blob.size,
            "md5checksum__v": latest.blob.md5,
            "version__v": latest.number,
            "created_by__v": attachment.created_by,
            "created_date__v": iso(latest.created),
        }
        # Optional keys are omitted, never null (seed 001).
        if attachment.external_id is not None:
            body["external_id__v"] = attachment.external_id
        if attachment.description is not None:
            body["description__v"] = attachment.description
        base = f"https://{self.options.attachment_url_host}/api/{self.options.attachment_url_version}"
        body["versions"] = [
            {"version__v": v.number, "url": f"{base}/objects/documents/{doc_id}/attachments/{attachment.id}/versions/{v.number}"}
            for v in attachment.versions
        ]
        return body

    def _doc_attachments(self, request: SimRequest) -> SimResponse:
        doc_id = int(request.path_params["doc"])
        if not self.data.has_document(doc_id):
            return failure("INVALID_DATA", f"Document [{doc_id}] not found")
        return success(data=[self._attachment_json(doc_id, a) for a in self.data.attachments(doc_id)])

    def _attachment_file(self, request: SimRequest) -> SimResponse:
        doc_id, att_id = int(request.path_params["doc"]), int(request.path_params["att"])
        attachment = next((a for a in self.data.attachments(doc_id) if a.id == att_id), None) if self.data.has_document(doc_id) else None
        if attachment is None:
            return failure("INVALID_DATA", f"Attachment [{att_id}] not found on document [{doc_id}]")
        number = request.path_params.get("n")
        version = attachment.latest if number is None else attachment.version(int(number))
        if version is None:
            return failure("INVALID_DATA", f"Version [{number}] of attachment [{att_id}] not found")
        return self._download("attachment_file", version.blob, attachment.filename, corrupt=att_id in self.options.md5_mismatch_attachment_ids)

    def _injected_failure(self, endpoint: str) -> Optional[SimResponse]:
        with self._lock:
            pending = self._download_failures.get(endpoint)
            injected = pending.popleft() if pending else None
        return failure(*injected) if injected is not None else None

    def _download(self, endpoint: str, blob: Blob, file_name: str, corrupt: bool = False, content_type: Optional[str] = None) -> SimResponse:
        injected = self._injected_failure(endpoint)
        if injected is not None:
            return injected
        headers = {"Content-Type": content_type or mime_type(file_name), "Content-Disposition": _disposition(file_name)}
        if blob.size <= self.options.content_length_max_bytes:
            return SimResponse(200, b"".join(blob.chunks(corrupt)), headers)
        return SimResponse(200, blob.chunks(corrupt), headers)  # no length: sent chunked (1.5)

    # -- attachment-field export ------------------------------------------------------------
    def _export_create(self, request: SimRequest) -> SimResponse:
        object_name = request.path_params["object"]
        data = self.data.objects.get(object_name)
        if data is None:
            return failure("INVALID_DATA", f"Object [{object_name}] not found")
        requested = [name.strip() for name in (request.param("field_names") or "").split(",") if name.strip()]
        unknown = [name for name in requested if name not in data.attachment_fields]
        if unknown:
            return failure("INVALID_DATA", f"Invalid Attachment field name(s) [{', '.join(unknown)}] on [{object_name}]")
        fields = requested or list(data.attachment_fields)
        id_param = request.param("idParam") or "id"
        if id_param not in ("id", "external_id__v"):
            return failure("INVALID_DATA", f"idParam [{id_param}] is not a unique field on [{object_name}]")
        entries = _body_records(request)
        if entries is None:
            return failure("INVALID_DATA", "Request body must be a JSON array (or CSV) of records")
        if len(entries) > EXPORT_MAX_RECORDS:
            return failure("INVALID_DATA", f"Request contains {len(entries)} records; the maximum is {EXPORT_MAX_RECORDS}")
        records: List[Dict[str, Any]] = []
        members: List[Member] = []
        included: Set[int] = set()
        for entry in entries:
            value = entry.get(id_param) if isinstance(entry, dict) else None
            index = self.data.record_index(object_name, id_param, value) if value not in (None, "") else None
            if index is None:
                message = f"Missing required field [{id_param}]" if value in (None, "") else f"Record [{value}] not found"
                records.append({"responseStatus": "FAILURE", "errors": [{"type": "INVALID_DATA", "message": message}]})
                continue
            record_id = data.record_id(index)
            files = [(name, f) for name in fields for f in self.data.field_files(object_name, index, name)]
            if not files:
                records.append(
                    {"responseStatus": "WARNING", "warnings": [{"warning_type": "INVALID_DATA", "message": f"No attachment field values found for resource [{record_id}]"}]}
                )
                continue
            records.append({"responseStatus": "SUCCESS", "data": {"id": record_id, "id_param_value": str(value)}})
            if index not in included:
                included.add(index)
                # Layout is unconfirmed (vendor-apis.md 1.9); `{record_id}/{field}/{file}` as the per-record ZIP does.
                members += [Member(f"{record_id}/{name}/{f.name}", f.blob, int(f.created.timestamp())) for name, f in files]
        if not members:
            # Vault skips the job when nothing is to export (1.2, 1.8.4): no job_id at all.
            return success(data={"records": records})
        if self.options.hostile_members:
            first = members[0].name.split("/")
            members = hostile_members(first[0], first[1]) + members
        with self._lock:
            job = Job(self._next_job_id, object_name, members, time.monotonic(), datetime.now(timezone.utc))
            job.fate = self._job_fates.popleft() if self._job_fates else None
            self._next_job_id += 1
            self.jobs[job.id] = job
        return success(data={"records": records, "job_id": job.id})

    def job_state(self, job: Job, now: Optional[float] = None) -> str:
        elapsed = (time.monotonic() if now is None else now) - job.created
        if elapsed < self.options.job_queued_seconds:
            return "QUEUED"
        if elapsed < self.options.job_queued_seconds + self.options.job_running_seconds:
            return "RUNNING"
        return job.fate[0] if job.fate else "SUCCESS"

    def _job_status(self, request: SimRequest) -> SimResponse:
        job_id = int(request.path_params["job"])
        now = time.monotonic()
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return failure("INVALID_DATA", f"Job [{job_id}] not found")
            if job.last_poll is not None and now - job.last_poll < self.options.job_poll_min_seconds:
                # Polls faster than the minimum fail instead of being delayed (1.8.6); a refused poll
                # does not restart the interval.
                return failure("API_LIMIT_EXCEEDED", f"Job status for job [{job_id}] may be requested at most once every {self.options.job_poll_min_seconds:g} seconds")
            job.last_poll = now
        status = self.job_state(job, now)
        version = request.path_params["version"]
        body: Dict[str, Any] = {
            "id": job.id,
            "status": status,
            "method": "POST",
            "links": [{"rel": "self", "href": f"/api/{version}/services/jobs/{job.id}", "method": "GET", "accept": "application/json"}],
            "created_by": self.options.user_id,
            "created_date": iso(job.created_at),
        }
        # Dates not reached yet are omitted, as Vault omits absent values.
        if status != "QUEUED":
            body["run_start_date"] = iso(job.created_at + timedelta(seconds=self.options.job_queued_seconds))
        if status not in JOB_WAITING:
            body["run_end_date"] = iso(job.created_at + timedelta(seconds=self.options.job_queued_seconds + self.options.job_running_seconds))
        message = job.fate[1] if job.fate and status == job.fate[0] else "OK"
        return SimResponse.json({"responseStatus": "SUCCESS", "responseMessage": message, "data": body})

    def _finished_job(self, request: SimRequest, job_id: int) -> Tuple[Optional[Job], Optional[SimResponse]]:
        object_name = request.path_params["object"]
        with self._lock:
            job = self.jobs.get(job_id)
        if job is None or job.object_name != object_name:
            return None, failure("INVALID_DATA", f"Export job [{job_id}] not found for object [{object_name}]")
        status = self.job_state(job)
        if status != "SUCCESS":
            return None, failure("OPERATION_NOT_ALLOWED", f"Export job [{job_id}] has status [{status}]; results exist only after SUCCESS")
        return job, None

    def _archive_name(self, job: Job) -> str:
        return f"{self.options.user_id}-{job.id}-{job.object_name}"

    def _archive_size(self, job: Job) -> int:
        """First deterministic pass: counts the archive, keeping it only when small."""
        with job.lock:
            if job.size is None:
                kept: Optional[List[bytes]] = []
                size = 0
                for chunk in tar_gz_chunks(job.members):
                    size += len(chunk)
                    if kept is not None:
                        kept.append(chunk)
                        if size > self.options.archive_cache_max_bytes:
                            kept = None
                job.size = size
                job.cached = b"".join(kept) if kept is not None else None
            return job.size

    def _parts(self, job: Job) -> List[Tuple[int, int]]:
        """(start, end) byte range of each part; exactly one part up to `part_size_bytes` (1.2)."""
        size, part = self._archive_size(job), self.options.part_size_bytes
        return [(k * part, min(size, (k + 1) * part)) for k in range(max(1, math.ceil(size / part)))]

    def _export_results(self, request: SimRequest) -> SimResponse:
        job, problem = self._finished_job(request, int(request.path_params["job"]))
        if job is None:
            return problem  # type: ignore[return-value]
        name, version = self._archive_name(job), request.path_params["version"]
        details = [
            {
                "name": f"{name}.{k:03d}",
                "filename": f"{name}.tar.gz.{k:03d}",
                "filepart": k,
                "size": end - start,
                "url": f"/api/{version}/vobjects/{job.object_name}/attachment_fields/files/{name}.{k:03d}",  # relative (1.8.5)
            }
            for k, (start, end) in enumerate(self._parts(job), start=1)
        ]
        data = {"name": name, "filename": f"{name}.tar.gz", "size": self._archive_size(job), "fileparts": len(details), "filepart_details": details}
        return success(data=data)

    def _export_part(self, request: SimRequest) -> SimResponse:
        part_name = request.path_params["part"]
        match = re.match(r"^\d+-(?P<job>\d+)-(?P<object>\w+)\.(?P<part>\d{3})$", part_name)
        if match is None or match.group("object") != request.path_params["object"]:
            return failure("INVALID_DATA", f"File [{part_name}] not found")
        job, problem = self._finished_job(request, int(match.group("job")))
        if job is None:
            return problem  # type: ignore[return-value]
        parts = self._parts(job)
        number = int(match.group("part"))
        if not 1 <= number <= len(parts) or part_name != f"{self._archive_name(job)}.{number:03d}":
            return failure("INVALID_DATA", f"File [{part_name}] not found")
        injected = self._injected_failure("export_part")
        if injected is not None:
            return injected
        start, end = parts[number - 1]
        body: Body = job.cached[start:end] if job.cached is not None else self._part_stream(job, start, end)
        headers = {"Content-Type": "application/octet-stream", "Content-Disposition": _disposition(f"{self._archive_name(job)}.tar.gz.{number:03d}")}
        small = end - start <= self.options.content_length_max_bytes
        return SimResponse(200, body, headers, content_length=end - start if small else None)

    def _part_stream(self, job: Job, start: int, end: int) -> Iterator[bytes]:
        """Part bytes cut from a regenerated archive; the reader is parked to serve the next part."""
        with job.lock:
            reader = job.parked.pop(start, None)
        if reader is None:
            reader = StreamReader(tar_gz_chunks(job.members))
        yield from reader.read_range(start, end)
        if reader.position == end and end < (job.size or 0):
            with job.lock:
                job.parked[end] = reader

    def _field_file(self, request: SimRequest) -> SimResponse:
        object_name, record_id, field_name = (request.path_params[key] for key in ("object", "record", "field"))
        data = self.data.objects.get(object_name)
        if data is None or field_name not in data.attachment_fields:
            return failure("INVALID_DATA", f"[{field_name}] is not an Attachment field of [{object_name}]")
        index = self.data.record_index(object_name, "id", record_id)
        if index is None:
            return failure("INVALID_DATA", f"Record [{record_id}] not found")
        files = self.data.field_files(object_name, index, field_name)
        if not files:
            return failure("INVALID_DATA", f"No file in Attachment field [{field_name}] of record [{record_id}]")
        latest = files[-1]  # a Vault Attachment field holds one file; with several, the newest
        return self._download("field_file", latest.blob, latest.name)


def _rendered(row: Dict[str, Any]) -> Dict[str, Any]:
    return {name: iso(value) if isinstance(value, datetime) else value for name, value in row.items()}


def _disposition(file_name: str) -> str:
    """`attachment;filename="..."` (1.5); non-ASCII names add an RFC 6266 `filename*` (HTTP headers are Latin-1)."""
    if file_name.isascii():
        return f'attachment;filename="{file_name}"'
    fallback = file_name.encode("ascii", "replace").decode("ascii").replace("?", "_")
    return f"attachment;filename=\"{fallback}\";filename*=UTF-8''{quote(file_name)}"


def _body_records(request: SimRequest) -> Optional[List[Any]]:
    """Export input: a JSON array, or CSV with a header row (vendor-apis.md 1.2)."""
    if "csv" in (request.header("content-type") or ""):
        return list(csv.DictReader(io.StringIO(request.body.decode("utf-8"))))
    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, list) else None
