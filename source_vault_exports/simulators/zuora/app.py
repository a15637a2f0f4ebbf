"""A loopback Zuora: OAuth tokens, describe, data source exports and their CSV files.

Behaviour follows vendor-apis.md section 4 and section 5 ("Zuora"); what public material leaves open
is a switch on `ZuoraOptions`. Endpoint names for faults and call counters: `token`, `describe`,
`export_create`, `export_get`, `files`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import threading
import time
import zipfile
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, time as clock_time, timedelta, timezone
from typing import Any, Deque, Dict, Iterator, List, Mapping, Optional, Set, Tuple
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from source_vault_exports.simulators.http import SimRequest, SimResponse, SimulatorApp
from source_vault_exports.simulators.zuora.dataset import Row, Snapshot, ZuoraDataset

DEFAULT_OBJECTS = ("Account", "Subscription", "RatePlan", "Invoice", "InvoiceItem", "Payment", "Contact")


@dataclass
class ZuoraOptions:
    client_id: str = "sim-client-id-0000000000000000000000"
    client_secret: str = "sim-client-secret"
    token_ttl_seconds: int = 3599
    token_requests_per_minute: int = 100  # per IP (vendor-apis.md 4.1)
    tenant_timezone: str = "America/Los_Angeles"
    # Export lifecycle, scaled down from Zuora's minutes to fractions of a second.
    pending_seconds: float = 0.05
    processing_seconds: float = 0.1
    processing_seconds_per_1000_rows: float = 0.0
    max_processing_seconds: float = 3 * 3600.0  # Zuora kills exports after 3 h
    max_concurrent_exports: int = 50
    # A window holding more rows than this fails ("fail") or never finishes ("stall").
    too_large_rows: Optional[int] = None
    too_large_mode: str = "fail"
    cancel_spelling: str = "Canceled"  # or "Cancelled"
    qualified_headers: bool = True  # `Account.Name` rather than `Name`
    nul_bytes: bool = False  # write NUL bytes into some text cells
    reject_unknown_fields_on_create: bool = False  # 400 at create instead of a Failed export
    always_zip: bool = False  # serve files zipped even when the export did not ask for Zip
    omit_file_id_when_empty: bool = False  # a Completed export of zero rows carries no FileId
    # Fields describe lists but exports reject (a known Zuora quirk).
    unexportable_fields: Dict[str, Set[str]] = field(default_factory=dict)
    requests_per_minute: Optional[int] = None  # API rate limit; None = unlimited
    send_retry_after: bool = True  # 429s carry Retry-After (Zuora documents only RateLimit-Reset)
    # Files at or below this many rows are sent with a Content-Length, larger ones chunked.
    content_length_max_rows: int = 50_000
    entity_ids: Tuple[str, ...] = ()


@dataclass
class Export:
    id: str
    object_name: str
    fields: List[str]
    query: str
    name: str
    zip: bool
    snapshot: Optional[Snapshot]
    created: float
    created_at: datetime
    fate: Optional[Tuple[str, str]] = None  # forced (Status, StatusReason)
    stall: bool = False
    file_id: Optional[str] = None


_SELECT = re.compile(r"^\s*select\s+(?P<fields>.+?)\s+from\s+(?P<object>\w+)(?:\s+where\s+(?P<where>.+?))?\s*$", re.IGNORECASE | re.DOTALL)
_CONDITION = re.compile(r"^\s*(?P<field>\w+)\s*(?P<op>>=|<=|>|<|=)\s*'(?P<value>[^']*)'\s*$")


class ZuoraQueryError(Exception):
    pass


class ZuoraSimulator(SimulatorApp):
    def __init__(
        self,
        rows_per_object: Optional[Mapping[str, int]] = None,
        options: Optional[ZuoraOptions] = None,
        first_updated: datetime = datetime(2024, 1, 1, tzinfo=timezone.utc),
        span: timedelta = timedelta(days=365),
        extra_objects: Optional[Mapping[str, List[Tuple[str, str]]]] = None,
    ) -> None:
        super().__init__()
        self.options = options or ZuoraOptions()
        self.zone = ZoneInfo(self.options.tenant_timezone)
        rows = dict(rows_per_object or {name: 100 for name in DEFAULT_OBJECTS})
        self.data = ZuoraDataset(rows, self.zone, first_updated, span, extra_objects)
        self.exports: Dict[str, Export] = {}
        self.files: Dict[str, Export] = {}
        self.purged_files: Set[str] = set()
        self.tokens: Dict[str, float] = {}
        self.peak_active_exports = 0
        self._idempotency: Dict[str, str] = {}
        self._forced_fates: Dict[str, Deque[Tuple[str, str]]] = {}
        self._token_times: Deque[float] = deque()
        self._request_times: Deque[float] = deque()
        self._lock = threading.RLock()
        self._counter = 0
        self.route("POST", r"/oauth/token", "token", self._token)
        self.route("GET", r"/v1/describe/(?P<object>\w+)", "describe", self._describe)
        self.route("POST", r"/v1/object/export", "export_create", self._create_export)
        self.route("GET", r"/v1/object/export/(?P<id>\w+)", "export_get", self._get_export)
        self.route("GET", r"/v1/files/(?P<id>\w+)", "files", self._file)

    # -- test controls ----------------------------------------------------------------------
    def fail_next_export(self, object_name: str, status: str = "Failed", reason: str = "Internal error") -> None:
        """The next export of `object_name` ends with this status and StatusReason."""
        with self._lock:
            self._forced_fates.setdefault(object_name, deque()).append((status, reason))

    def expire_tokens(self) -> None:
        with self._lock:
            for token in self.tokens:
                self.tokens[token] = 0.0

    def purge_file(self, file_id: str) -> None:
        with self._lock:
            self.purged_files.add(file_id)

    def active_exports(self) -> int:
        now = time.monotonic()
        with self._lock:
            return sum(1 for export in self.exports.values() if self._status(export, now)[0] in ("Pending", "Processing"))

    def connector_config(self, base_url: str, **overrides: Any) -> Dict[str, Any]:
        """A `zuora` config section for this simulator, polling fast (loopback hosts may)."""
        return {
            "base_url": base_url,
            "client_id": self.options.client_id,
            "client_secret": self.options.client_secret,
            "objects": list(self.data.objects),
            "window_days": 120,
            "poll_interval_seconds": 0.05,
            "tenant_timezone": self.options.tenant_timezone,
            **overrides,
        }

    # -- auth -------------------------------------------------------------------------------
    def _token(self, request: SimRequest) -> SimResponse:
        now = time.monotonic()
        with self._lock:
            while self._token_times and now - self._token_times[0] > 60:
                self._token_times.popleft()
            if len(self._token_times) >= self.options.token_requests_per_minute:
                return SimResponse.json({"message": "Too many requests"}, 429, self._rate_headers(60 - (now - self._token_times[0])))
            self._token_times.append(now)
        form = request.form()
        if request.header("authorization"):
            return SimResponse.json({"message": "Authorization header is not allowed for the token request"}, 400)
        if form.get("grant_type") != "client_credentials":
            return SimResponse.json({"error": "unsupported_grant_type", "error_description": "grant_type must be client_credentials"}, 400)
        if form.get("client_id") != self.options.client_id or form.get("client_secret") != self.options.client_secret:
            return SimResponse.json({"message": "Authentication error"}, 401)
        token = hashlib.sha256(f"{now}-{len(self.tokens)}".encode()).hexdigest()
        with self._lock:
            self.tokens[token] = now + self.options.token_ttl_seconds
        return SimResponse.json(
            {"access_token": token, "token_type": "bearer", "expires_in": self.options.token_ttl_seconds, "scope": "entity.1 platform.write", "jti": token[:16]}
        )

    def _authorize(self, request: SimRequest) -> Optional[SimResponse]:
        header = request.header("authorization") or ""
        token = header[7:] if header.lower().startswith("bearer ") else ""
        with self._lock:
            expires = self.tokens.get(token)
        if expires is None or expires <= time.monotonic():
            return SimResponse.json({"message": "Authentication error"}, 401)
        if self.options.entity_ids and request.header("zuora-entity-ids") not in self.options.entity_ids:
            return SimResponse.json({"success": False, "reasons": [{"code": 50000020, "message": "Invalid entity in Zuora-Entity-Ids"}]}, 400)
        return self._rate_limit()

    def _rate_limit(self) -> Optional[SimResponse]:
        limit = self.options.requests_per_minute
        if limit is None:
            return None
        now = time.monotonic()
        with self._lock:
            while self._request_times and now - self._request_times[0] > 60:
                self._request_times.popleft()
            if len(self._request_times) >= limit:
                return SimResponse.json({"message": "Too many requests"}, 429, self._rate_headers(60 - (now - self._request_times[0])))
            self._request_times.append(now)
        return None

    def _rate_headers(self, reset_seconds: float) -> Dict[str, str]:
        headers = {"RateLimit-Limit": "50000, 50000;w=60", "RateLimit-Remaining": "0", "RateLimit-Reset": str(max(1, int(reset_seconds)))}
        if self.options.send_retry_after:
            headers["Retry-After"] = str(max(1, int(reset_seconds)))
        return headers

    # -- describe ---------------------------------------------------------------------------
    def _describe(self, request: SimRequest) -> SimResponse:
        denied = self._authorize(request)
        if denied:
            return denied
        name = request.path_params["object"]
        data = self.data.objects.get(name)
        if data is None:
            return SimResponse.json({"success": False, "reasons": [{"code": 50000040, "message": f"Object {name} is not found"}]}, 404)
        unexportable = self.options.unexportable_fields.get(name, set())
        parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<object href="/v1/describe/{name}">', f"<name>{name}</name><label>{name}</label><fields>"]
        for field_name, kind in data.fields + [(f, "text") for f in sorted(unexportable)]:
            parts.append(
                f"<field><name>{escape(field_name)}</name><label>{escape(field_name)}</label><selectable>true</selectable>"
                f"<filterable>true</filterable><custom>{str(field_name.endswith('__c')).lower()}</custom>"
                f"<required>{str(field_name == 'Id').lower()}</required><type>{kind}</type>"
                "<contexts><context>export</context><context>soap</context></contexts></field>"
            )
        parts.append('<field><name>SoapOnly</name><label>SoapOnly</label><type>text</type><contexts><context>soap</context></contexts></field>')
        parts.append("</fields><related-objects/></object>")
        return SimResponse(200, "".join(parts).encode("utf-8"), {"Content-Type": "text/xml; charset=utf-8"})

    # -- exports ----------------------------------------------------------------------------
    def _create_export(self, request: SimRequest) -> SimResponse:
        denied = self._authorize(request)
        if denied:
            return denied
        body = request.json() or {}
        key = request.header("idempotency-key")
        with self._lock:
            if key and key in self._idempotency:
                return SimResponse.json({"Success": True, "Id": self._idempotency[key]})
            if self._active_locked(time.monotonic()) >= self.options.max_concurrent_exports:
                return SimResponse.json(
                    {"Success": False, "Errors": [{"Code": "LIMIT_EXCEEDED", "Message": f"The maximum number of concurrent exports ({self.options.max_concurrent_exports}) has been reached"}]},
                    429,
                    self._rate_headers(1),
                )
        if str(body.get("Format", "")).lower() != "csv":
            return _crud_error("INVALID_VALUE", "Format must be csv in this simulator")
        try:
            object_name, fields, conditions = self._parse_query(str(body.get("Query", "")))
        except ZuoraQueryError as problem:
            return _crud_error("INVALID_VALUE", str(problem))
        data = self.data.objects[object_name]
        known = set(data.field_types)
        unknown = [name for name in fields if name not in known]
        if unknown and self.options.reject_unknown_fields_on_create:
            return _crud_error("INVALID_VALUE", f"There is no field named {unknown[0]}")
        now = time.monotonic()
        with self._lock:
            self._counter += 1
            export_id = hashlib.md5(f"export-{self._counter}-{now}".encode()).hexdigest()
            export = Export(
                id=export_id,
                object_name=object_name,
                fields=fields,
                query=str(body["Query"]),
                name=str(body.get("Name", "")),
                zip=bool(body.get("Zip", False)),
                snapshot=None if unknown else self.data.snapshot(object_name, conditions),
                created=now,
                created_at=datetime.now(timezone.utc),
            )
            if unknown:
                export.fate = ("Failed", f"There is no field named {unknown[0]}")
            elif self._forced_fates.get(object_name):
                export.fate = self._forced_fates[object_name].popleft()
            elif self.options.too_large_rows is not None and export.snapshot is not None and export.snapshot.count() > self.options.too_large_rows:
                if self.options.too_large_mode == "stall":
                    export.stall = True
                else:
                    export.fate = ("Failed", f"Export failed: the query matched more than {self.options.too_large_rows} records, which exceeds the maximum size of an export")
            self.exports[export_id] = export
            if key:
                self._idempotency[key] = export_id
            self.peak_active_exports = max(self.peak_active_exports, self._active_locked(now))
        return SimResponse.json({"Success": True, "Id": export_id})

    def _parse_query(self, query: str) -> Tuple[str, List[str], List[Tuple[str, str, datetime]]]:
        match = _SELECT.match(query)
        if not match:
            raise ZuoraQueryError("There is a syntax error in the query")
        object_name = match.group("object")
        data = self.data.objects.get(object_name)
        if data is None:
            raise ZuoraQueryError(f"noSuchDataSource: {object_name}")
        raw_fields = [name.strip() for name in match.group("fields").split(",")]
        if raw_fields == ["*"]:
            fields = [name for name, _ in data.fields]
        else:
            fields = raw_fields
        conditions = []
        where = match.group("where")
        if where:
            for part in re.split(r"\s+and\s+", where, flags=re.IGNORECASE):
                condition = _CONDITION.match(part)
                if not condition:
                    raise ZuoraQueryError(f"There is a syntax error near {part.strip()!r}")
                conditions.append((condition.group("field"), condition.group("op"), self._literal(condition.group("value"))))
        return object_name, fields, conditions

    def _literal(self, text: str) -> datetime:
        """Export ZOQL literals: offset-less values are read in the tenant's zone (vendor-apis.md 4.3)."""
        value = text.strip()
        if value.endswith(("Z", "z")):
            value = value[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ZuoraQueryError(f"Invalid date literal '{text}'") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=self.zone)
        return parsed.astimezone(timezone.utc)

    def _active_locked(self, now: float) -> int:
        return sum(1 for export in self.exports.values() if self._status(export, now)[0] in ("Pending", "Processing"))

    def _status(self, export: Export, now: float) -> Tuple[str, Optional[str]]:
        options = self.options
        elapsed = now - export.created
        if elapsed < options.pending_seconds:
            return "Pending", None
        processing = elapsed - options.pending_seconds
        if processing >= options.max_processing_seconds:
            return "Failed", "Export processing exceeded the maximum processing time and was terminated"
        rows = export.snapshot.count() if export.snapshot is not None else 0
        needed = options.processing_seconds + rows / 1000 * options.processing_seconds_per_1000_rows
        if export.stall or processing < needed:
            return "Processing", None
        if export.fate is not None:
            status, reason = export.fate
            if status.lower() in ("canceled", "cancelled"):
                status = options.cancel_spelling
            return status, reason
        return "Completed", None

    def _get_export(self, request: SimRequest) -> SimResponse:
        denied = self._authorize(request)
        if denied:
            return denied
        with self._lock:
            export = self.exports.get(request.path_params["id"])
            if export is None:
                return SimResponse.json({"done": True, "records": [], "size": 0}, 404)
            status, reason = self._status(export, time.monotonic())
            empty = export.snapshot is not None and export.snapshot.count() == 0
            if status == "Completed" and export.file_id is None and not (empty and self.options.omit_file_id_when_empty):
                export.file_id = hashlib.md5(f"file-{export.id}".encode()).hexdigest()
                self.files[export.file_id] = export
        offset_date = self._tenant_time(export.created_at)
        return SimResponse.json(
            {
                "Id": export.id,
                "Name": export.name,
                "Query": export.query,
                "Format": "csv",
                "Zip": export.zip,
                "Encrypted": False,
                "Status": status,
                "StatusReason": reason,
                "FileId": export.file_id if status == "Completed" else None,
                "Size": export.snapshot.count() if status == "Completed" and export.snapshot else None,
                "CreatedDate": offset_date,
                "CreatedById": "2c93808457d787030157e031d86c4c57",
                "UpdatedDate": offset_date,
                "UpdatedById": "2c93808457d787030157e031d86c4c57",
            }
        )

    # -- files ------------------------------------------------------------------------------
    def _file(self, request: SimRequest) -> SimResponse:
        denied = self._authorize(request)
        if denied:
            return denied
        file_id = request.path_params["id"]
        with self._lock:
            export = self.files.get(file_id)
            purged = file_id in self.purged_files
        if export is None or purged:
            return SimResponse.json({"success": False, "reasons": [{"code": 50000040, "message": "File not found"}]}, 404)
        assert export.snapshot is not None
        if export.zip or self.options.always_zip:
            payload = io.BytesIO()
            with zipfile.ZipFile(payload, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(f"{export.object_name}.csv", b"".join(self._csv_chunks(export)))
            return SimResponse(200, payload.getvalue(), {"Content-Type": "application/zip"})
        headers = {"Content-Type": "text/csv;charset=UTF-8", "Content-Disposition": f'attachment; filename="{export.object_name}.csv"'}
        if export.snapshot.count() <= self.options.content_length_max_rows:
            return SimResponse(200, b"".join(self._csv_chunks(export)), headers)
        return SimResponse(200, self._csv_chunks(export), headers)

    def _csv_chunks(self, export: Export) -> Iterator[bytes]:
        assert export.snapshot is not None
        types = self.data.objects[export.object_name].field_types
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        prefix = f"{export.object_name}." if self.options.qualified_headers else ""
        writer.writerow([prefix + name for name in export.fields])
        for count, row in enumerate(self.data.rows_of(export.snapshot), start=1):
            writer.writerow([self._cell(row.get(name), types[name], count) for name in export.fields])
            if count % 2000 == 0:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode("utf-8")

    def _cell(self, value: Any, kind: str, row_number: int) -> str:
        if value is None:
            return ""
        if kind == "datetime":
            return self._tenant_time(value)
        if kind == "date":
            return value.isoformat()
        if kind == "boolean":
            return "true" if value else "false"
        if kind == "decimal":
            return f"{value:.9f}"
        text = str(value)
        if self.options.nul_bytes and kind == "text" and text and row_number % 13 == 0:
            text = text[:1] + "\x00" + text[1:]
        return text

    def _tenant_time(self, moment: datetime) -> str:
        """Tenant offset, milliseconds; exactly midnight becomes a bare date (vendor-apis.md 4.5)."""
        local = moment.astimezone(self.zone)
        if local.time() == clock_time(0):
            return local.date().isoformat()
        return local.isoformat(timespec="milliseconds")

    # -- truth for tests --------------------------------------------------------------------
    def rows(self, object_name: str) -> List[Row]:
        return self.data.all_rows(object_name)


def _crud_error(code: str, message: str, status: int = 400) -> SimResponse:
    return SimResponse.json({"Success": False, "Errors": [{"Code": code, "Message": message}]}, status)
