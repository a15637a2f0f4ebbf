"""A loopback Batch.com: project-key auth and profile exports (create, view, list, download).

Behaviour follows vendor-apis.md section 2 and section 5 ("Batch"); what public material leaves open
(2.8) is a switch on `BatchOptions`. The files live on a separate `BatchStorageApp` reached through
307 redirects. Endpoint names for faults and call counters: `export_create`, `export_view`,
`export_list`, `download` on the API, `storage_file` on the storage app.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Deque, Dict, Iterable, List, Optional, Sequence, Tuple

from source_vault_exports.simulators.batch.dataset import ATTRIBUTE_IDENTIFIERS, EVENT_IDENTIFIERS, EVENT_KINDS, BatchDataset, EventSnapshot, ProfileSnapshot, Row, rfc3339
from source_vault_exports.simulators.batch.files import Encoding, Part, Snapshot, layout, part_chunks
from source_vault_exports.simulators.batch.storage import BatchStorageApp
from source_vault_exports.simulators.http import SimRequest, SimResponse, SimulatorApp

LIST_MAX_LIMIT = 100  # exports/list `limit` is 1..100, default 10 (vendor-apis.md 2.2)
LIST_DEFAULT_LIMIT = 10
_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass
class BatchOptions:
    """Switches for what Batch documents loosely (2.8); durations are scaled down for tests."""

    rest_api_key: str = "sim-rest-api-key-0000000000000000"
    project_key: str = "project_0664hxsimulator0000000000"
    version: str = "2.11"  # the OpenAPI default (vendor-apis.md 2.1)
    # files[].url names another API version (seed 002 shows 2.4): connectors must use files[].id.
    files_url_version: str = "2.4"
    # Lifecycle CREATED -> PENDING -> RUNNING -> SUCCESS | ERROR, scaled down to fractions of a second.
    created_seconds: float = 0.05
    pending_seconds: float = 0.05
    running_seconds: float = 0.1
    error_reason_in_view: bool = True  # Batch documents no reason field (2.3); off = bare ERROR
    lookback_days: int = 30  # per event kind and unpublished (2.8); one value for all kinds here
    to_grace_seconds: float = 5.0  # `to` may be this far past now (clock skew)
    list_retention_days: int = 90  # "3 months" (2.2, 2.7.5); older requests leave list and view
    historical_exports: int = 25  # requests already in the project when the simulator starts
    historical_span_days: int = 120  # spread over this many days, so some are past the retention
    part_size_bytes: int = 100 * 1024 * 1024  # "a maximum size of 100MB" per file (seed 002)
    file_format: str = "ndjson"  # or "json_array"; unconfirmed (2.8)
    gzip: bool = False
    link_ttl_seconds: float = 1200.0  # pre-signed links die after 20 minutes (2.2)
    date_field_name: str = "request_date"  # "requested_at" reproduces seed 002's doc bug (2.7.2)
    requests_per_second: Optional[float] = None  # None = unlimited; else 429 + Retry-After (2.5)
    no_files_when_empty: bool = False  # an export of nothing lists no file at all (instead of one empty part)
    storage_secret: str = "sim-storage-signing-secret"

    def __post_init__(self) -> None:
        if self.file_format not in ("ndjson", "json_array"):
            raise ValueError(f"file_format must be ndjson or json_array, not {self.file_format!r}")
        if self.date_field_name not in ("request_date", "requested_at"):
            raise ValueError(f"date_field_name must be request_date or requested_at, not {self.date_field_name!r}")


@dataclass
class Export:
    id: str
    request: Dict[str, Any]  # the create body, echoed by view
    scope: str
    snapshot: Snapshot
    requested_at: datetime
    created: float  # time.monotonic() of the request (in the past for historical ones)
    encoding: Encoding
    error: Optional[str] = None
    parts: Optional[List[Part]] = None
    writing: Optional[threading.Thread] = None  # lays out the files while the export runs
    layout_lock: threading.Lock = field(default_factory=threading.Lock)


class BatchRequestError(Exception):
    pass


class BatchSimulator(SimulatorApp):
    """Batch's export API over `BatchDataset`; `storage` is the separate file host to serve too."""

    def __init__(self, options: Optional[BatchOptions] = None, profiles: int = 200, events_per_hour: int = 12) -> None:
        super().__init__()
        self.options = options or BatchOptions()
        self.data = BatchDataset(profiles, events_per_hour)
        self.storage = BatchStorageApp(self.options.storage_secret, self._resolve_file)
        self.exports: Dict[str, Export] = {}
        self.files: Dict[str, Tuple[Export, Part]] = {}
        self.logged_headers = ("authorization", "x-batch-project")
        self._lock = threading.RLock()
        self._counter = 0
        self._failures: Deque[str] = deque()
        self._request_times: Deque[float] = deque()
        self._maintenance_until = 0.0
        self._api_base = "http://127.0.0.1"
        self.started_at = datetime.now(timezone.utc).replace(microsecond=0)
        self._add_history()
        prefix = f"/{self.options.version}"
        self.route("POST", prefix + r"/profiles/export", "export_create", self._create)
        self.route("GET", prefix + r"/exports/view", "export_view", self._view_handler)
        self.route("GET", prefix + r"/exports/list", "export_list", self._list)
        self.route("GET", prefix + r"/exports/download", "download", self._download)
        for method in ("GET", "POST", "PUT", "DELETE"):
            self.route(method, r"/.*", "unknown", lambda r: _error(404, "ROUTE_NOT_FOUND", f"No route for {r.method} {r.path}"))

    # -- test controls ----------------------------------------------------------------------
    def set_storage_url(self, url: str) -> None:
        self.storage.base_url = url.rstrip("/")

    def fail_next_export(self, reason: str = "An internal error occurred while extracting the data") -> None:
        """The next export created through the API ends in ERROR with this reason."""
        with self._lock:
            self._failures.append(reason)

    def expire_links(self) -> None:
        """Every download link issued so far is expired now (403 at the storage host)."""
        self.storage.expire_links()

    def add_events(self, count: int, at: Optional[datetime] = None) -> List[Row]:
        """Adds `count` events at `at` (default now, whole seconds); returns them with all identifiers."""
        added = self.data.add_events(count, at or datetime.now(timezone.utc))
        return [self.data.event_row(event, EVENT_IDENTIFIERS) for event in added]

    def maintenance(self, seconds: float) -> None:
        """Every API call answers 503 for `seconds` ("services under maintenance", 2.5)."""
        with self._lock:
            self._maintenance_until = time.monotonic() + seconds

    def inject_error(self, endpoint: str, status: int, times: int = 1, skip: int = 0, retry_after: Optional[int] = None) -> None:
        """A FaultPlan `status` fault with Batch's error envelope (2.6) rather than the generic body."""
        codes = {400: "BAD_REQUEST", 401: "AUTHENTICATION_INVALID", 404: "NOT_FOUND", 429: "TOO_MANY_REQUESTS",
                 500: "SERVER_ERROR", 503: "SERVICE_UNAVAILABLE"}
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = {"error_code": codes.get(status, "SERVER_ERROR"), "error_message": f"Injected HTTP {status}"}
        self.faults.add(endpoint, "status", times, skip, status=status, headers=headers, body=body)

    def connector_config(self, api_url: str, **overrides: Any) -> Dict[str, Any]:
        """The connector's `batch` config section for this simulator (api_url = server.url + "/2.11")."""
        return {"api_url": api_url, "rest_api_key": self.options.rest_api_key, "project_key": self.options.project_key, **overrides}

    # -- truth for tests --------------------------------------------------------------------
    def profile_rows(self, attributes: Optional[Sequence[str]] = None, identifiers: Optional[Sequence[str]] = None) -> List[Row]:
        """The rows, in file order, of an ATTRIBUTES export created now with these fields."""
        snapshot = ProfileSnapshot(self.data, self.data.profiles, _tuple(attributes), _tuple(identifiers) or ATTRIBUTE_IDENTIFIERS)
        return [row for _, row in snapshot.rows()]

    def event_rows(self, start: datetime, end: datetime, events: Optional[Sequence[str]] = None, identifiers: Optional[Sequence[str]] = None) -> List[Row]:
        """The rows, in file order, of an EVENTS export of [start, end)."""
        snapshot = self._event_snapshot(start, end, events or EVENT_KINDS, identifiers, None)
        return [row for _, row in snapshot.rows()]

    def export_requests(self) -> List[Dict[str, Any]]:
        """Every view object the list endpoint returns across its pages, in its order."""
        now = time.monotonic()
        return [self._view(export, now) for export in self._listed()]

    # -- guards -----------------------------------------------------------------------------
    def _guard(self, request: SimRequest) -> Optional[SimResponse]:
        now = time.monotonic()
        host = request.header("host")
        with self._lock:
            if host:
                self._api_base = f"http://{host}"
            if now < self._maintenance_until:
                return _error(503, "SERVICE_UNAVAILABLE", "Batch's services are under maintenance. Please try again later", {"Retry-After": "1"})
        if request.header("authorization") != f"Bearer {self.options.rest_api_key}" or request.header("x-batch-project") != self.options.project_key:
            # Both headers are required and must match (2.1).
            return _error(401, "AUTHENTICATION_INVALID", "The REST API key is not valid for this project (Authorization: Bearer <key> and X-Batch-Project are required)")
        limit = self.options.requests_per_second
        if limit is None:
            return None
        with self._lock:
            while self._request_times and now - self._request_times[0] >= 1.0:
                self._request_times.popleft()
            if len(self._request_times) >= limit:
                wait = max(1, math.ceil(1.0 - (now - self._request_times[0])))
                return _error(429, "TOO_MANY_REQUESTS", "Too many requests for this project, slow down", {"Retry-After": str(wait)})
            self._request_times.append(now)
        return None

    # -- create -----------------------------------------------------------------------------
    def _create(self, request: SimRequest) -> SimResponse:
        denied = self._guard(request)
        if denied:
            return denied
        try:
            body = request.json()
        except ValueError:
            return _error(400, "MALFORMED_BODY", "The request body is not valid JSON")
        now = datetime.now(timezone.utc)
        try:
            scope, snapshot = self._parse(body, now)
        except BatchRequestError as problem:
            return _error(400, "INVALID_PARAMETER", str(problem))
        with self._lock:
            self._counter += 1
            export = self._new_export(_id("export", self.options.project_key, self._counter), body, scope, snapshot, now, time.monotonic())
            if self._failures:
                export.error = self._failures.popleft()
            self.exports[export.id] = export
        if export.error is None:
            # Write the files while the export "runs": a huge export stays RUNNING until they exist.
            export.writing = threading.Thread(target=self._layout, args=(export,), name=f"batch-{export.id}", daemon=True)
            export.writing.start()
        return SimResponse.json({"id": export.id}, 202)

    def _new_export(self, export_id: str, body: Dict[str, Any], scope: str, snapshot: Snapshot, at: datetime, created: float) -> Export:
        encoding = Encoding(self.options.file_format, self.options.gzip, self.options.part_size_bytes)
        return Export(export_id, body, scope, snapshot, at.replace(microsecond=0), created, encoding)

    def _parse(self, body: Any, now: datetime) -> Tuple[str, Snapshot]:
        """Validates a create body (vendor-apis.md 2.2) and freezes what the export will contain."""
        if not isinstance(body, dict):
            raise BatchRequestError("The request body must be a JSON object")
        kind = body.get("export_type")
        if kind == "ATTRIBUTES":
            _only_keys(body, ("export_type", "attributes", "identifiers", "filter"), kind)
            attributes = _string_list(body, "attributes")
            identifiers = _string_list(body, "identifiers", ATTRIBUTE_IDENTIFIERS, kind)
            if attributes is None and identifiers is None:
                raise BatchRequestError("An ATTRIBUTES export needs at least one of attributes or identifiers")
            if "filter" in body:
                # Segments are not simulated: refusing beats silently exporting every profile.
                raise BatchRequestError(f"filter: unknown segment {json.dumps(body['filter'])}")
            snapshot = ProfileSnapshot(self.data, self.data.profiles, attributes, identifiers or ATTRIBUTE_IDENTIFIERS)
            return "PROFILE_ATTRIBUTES", snapshot
        if kind == "EVENTS":
            _only_keys(body, ("export_type", "from", "to", "events", "identifiers", "orchestration_ids"), kind)
            start = _timestamp(body, "from", now)
            end = _timestamp(body, "to", now)
            events = _string_list(body, "events", EVENT_KINDS, kind)
            if events is None:
                raise BatchRequestError("events: required, a non-empty list of event kinds")
            identifiers = _string_list(body, "identifiers", EVENT_IDENTIFIERS, kind)
            orchestrations = _string_list(body, "orchestration_ids")
            oldest = now - timedelta(days=self.options.lookback_days)
            if start < oldest:
                raise BatchRequestError(f"from: {body['from']} is older than the {self.options.lookback_days} days lookback period of these events (oldest allowed {rfc3339(oldest)})")
            if start >= end:
                raise BatchRequestError("from must be before to")
            if end > now + timedelta(seconds=self.options.to_grace_seconds):
                raise BatchRequestError(f"to: {body['to']} is in the future")
            return "PROFILE_EVENTS", self._event_snapshot(start, end, events, identifiers, orchestrations)
        raise BatchRequestError("export_type must be ATTRIBUTES or EVENTS")

    def _event_snapshot(self, start: datetime, end: datetime, events: Sequence[str], identifiers: Optional[Sequence[str]], orchestrations: Optional[Sequence[str]]) -> EventSnapshot:
        return EventSnapshot(
            self.data, start, end, frozenset(events), _tuple(identifiers) or EVENT_IDENTIFIERS,
            frozenset(orchestrations) if orchestrations is not None else None, self.data.extra_events(start, end),
        )

    def _add_history(self) -> None:
        """Deterministic past requests spread over `historical_span_days`, some beyond list retention."""
        count, span = self.options.historical_exports, self.options.historical_span_days
        mono = time.monotonic()
        for i in range(count):
            age = timedelta(days=span * (i + 0.5) / count, minutes=i * 37 % 600)
            at = self.started_at - age
            if i % 3 == 0:
                to = at.replace(minute=0, second=0)
                body: Dict[str, Any] = {
                    "export_type": "EVENTS", "from": rfc3339(to - timedelta(days=1)), "to": rfc3339(to),
                    "events": ["email_sent", "email_open", "push_sent"] if i % 2 else list(EVENT_KINDS),
                    "identifiers": list(EVENT_IDENTIFIERS),
                }
            elif i % 3 == 1:
                body = {"export_type": "ATTRIBUTES", "attributes": ["$region", "$phone_number", "$timezone", "$email_marketing", "$sms_marketing", "$language", "$email_address"], "identifiers": ["installation_ids", "custom_id"]}
            else:
                body = {"export_type": "ATTRIBUTES", "attributes": ["$email_address", "plan", "visit_count"], "identifiers": ["custom_id"]}
            scope, snapshot = self._parse(body, at)
            export = self._new_export(_id("export", self.options.project_key, "history", i), body, scope, snapshot, at, mono - age.total_seconds())
            if i % 6 == 4:
                export.error = "An internal error occurred while extracting the data"
            self.exports[export.id] = export

    # -- status and views -------------------------------------------------------------------
    def _status(self, export: Export, now: float) -> str:
        o = self.options
        elapsed = now - export.created
        if elapsed < o.created_seconds:
            return "CREATED"
        if elapsed < o.created_seconds + o.pending_seconds:
            return "PENDING"
        if elapsed < o.created_seconds + o.pending_seconds + o.running_seconds:
            return "RUNNING"
        if export.error is not None:
            return "ERROR"
        if export.parts is None and export.writing is not None and export.writing.is_alive():
            return "RUNNING"
        return "SUCCESS"

    def _view(self, export: Export, now: float) -> Dict[str, Any]:
        o = self.options
        status = self._status(export, now)
        view: Dict[str, Any] = {"id": export.id, o.date_field_name: rfc3339(export.requested_at), "scope": export.scope, "status": status, "request": export.request}
        started = export.requested_at + timedelta(seconds=o.created_seconds + o.pending_seconds)
        if status in ("RUNNING", "SUCCESS", "ERROR"):
            view["start_date"] = rfc3339(started)
        if status in ("SUCCESS", "ERROR"):
            view["completion_date"] = rfc3339(started + timedelta(seconds=o.running_seconds))
        if status == "ERROR" and o.error_reason_in_view:
            view["error_message"] = export.error
        files = []
        if status == "SUCCESS":
            parts = self._layout(export)
            if o.no_files_when_empty and all(part.size == 0 for part in parts):
                parts = []
            for part in parts:
                url = f"{self._api_base}/{o.files_url_version}/exports/download?id={part.id}"
                files.append({"id": part.id, "part": part.number, "size": part.size, "url": url})
        view["files"] = files
        return view

    def _retained(self, export: Export) -> bool:
        return export.requested_at >= datetime.now(timezone.utc) - timedelta(days=self.options.list_retention_days)

    def _listed(self) -> List[Export]:
        """Retained exports, newest first (ties by id): the order list pages walk."""
        with self._lock:
            exports = [export for export in self.exports.values() if self._retained(export)]
        return sorted(exports, key=_list_key, reverse=True)

    def _view_handler(self, request: SimRequest) -> SimResponse:
        denied = self._guard(request)
        if denied:
            return denied
        export_id = request.param("id")
        if not export_id:
            return _error(400, "MISSING_PARAMETER", "id: required")
        with self._lock:
            export = self.exports.get(export_id)
        if export is None or not self._retained(export):
            return _error(404, "NOT_FOUND", f"Export request {export_id} not found")
        return SimResponse.json(self._view(export, time.monotonic()))

    def _list(self, request: SimRequest) -> SimResponse:
        denied = self._guard(request)
        if denied:
            return denied
        raw_limit = request.param("limit", str(LIST_DEFAULT_LIMIT))
        if not (raw_limit or "").isdigit() or not 1 <= int(raw_limit) <= LIST_MAX_LIMIT:
            return _error(400, "INVALID_PARAMETER", f"limit must be an integer between 1 and {LIST_MAX_LIMIT}")
        limit = int(raw_limit)
        exports = self._listed()
        cursor = request.param("from")
        if cursor:
            after = _decode_cursor(cursor)
            if after is None:
                return _error(400, "INVALID_PARAMETER", "from: invalid cursor")
            # Keyset paging: exports created while a client pages sort first and do not shift pages.
            exports = [export for export in exports if _list_key(export) < after]
        page = exports[:limit]
        now = time.monotonic()
        return SimResponse.json({
            "exports": [self._view(export, now) for export in page],
            "count": len(page),
            "has_more": len(exports) > limit,
            # Set even on the last page: a client must stop on has_more (2.2), not on next_from.
            "next_from": _encode_cursor(_list_key(page[-1])) if page else "",
        })

    # -- files ------------------------------------------------------------------------------
    def _layout(self, export: Export) -> List[Part]:
        """The export's parts, laid out once (see `files.layout`) and registered for download."""
        with export.layout_lock:
            if export.parts is None:
                parts = layout(export.snapshot, export.encoding, lambda number: _id("file", export.id, number))
                with self._lock:
                    self.files.update((part.id, (export, part)) for part in parts)
                export.parts = parts
            return export.parts

    def _download(self, request: SimRequest) -> SimResponse:
        denied = self._guard(request)
        if denied:
            return denied
        file_id = request.param("id")
        if not file_id:
            return _error(400, "MISSING_PARAMETER", "id: required")
        with self._lock:
            found = self.files.get(file_id)
        # Files exist for download only once their export shows SUCCESS (vendor-apis.md 2.2).
        if found is None or not self._retained(found[0]) or self._status(found[0], time.monotonic()) != "SUCCESS":
            return _error(404, "NOT_FOUND", f"File {file_id} not found")
        export, _ = found
        if self.storage.base_url is None:
            return _error(500, "SERVER_ERROR", "storage host not configured: call set_storage_url()")
        location = self.storage.sign(f"/batch-exports/{export.id}/{file_id}{export.encoding.extension}", self.options.link_ttl_seconds)
        return SimResponse(307, b"", {"Location": location})

    def _resolve_file(self, file_id: str) -> Optional[Tuple[int, Iterable[bytes], str]]:
        with self._lock:
            found = self.files.get(file_id)
        if found is None:
            return None
        export, part = found
        return part.size, part_chunks(export.snapshot, export.encoding, part), export.encoding.content_type


def _id(prefix: str, *parts: Any) -> str:
    """`export_` / `file_` + 32 lowercase alphanumerics, like seed 002's ids."""
    number = int(hashlib.sha256(":".join(str(p) for p in parts).encode("utf-8")).hexdigest(), 16)
    text = []
    for _ in range(32):
        number, digit = divmod(number, 36)
        text.append(_ALNUM[digit])
    return f"{prefix}_{''.join(text)}"


def _list_key(export: Export) -> Tuple[float, str]:
    return (export.requested_at.timestamp(), export.id)


def _encode_cursor(key: Tuple[float, str]) -> str:
    return base64.urlsafe_b64encode(f"{int(key[0])}|{key[1]}".encode()).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> Optional[Tuple[float, str]]:
    try:
        seconds, export_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8").split("|")
        return (float(int(seconds)), export_id)
    except ValueError:
        return None


def _tuple(values: Optional[Sequence[str]]) -> Optional[Tuple[str, ...]]:
    return tuple(values) if values is not None else None


def _only_keys(body: Dict[str, Any], allowed: Sequence[str], kind: str) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BatchRequestError(f"{unknown[0]}: not a field of {kind} exports (allowed: {', '.join(allowed)})")


def _string_list(body: Dict[str, Any], key: str, allowed: Optional[Sequence[str]] = None, kind: str = "") -> Optional[Tuple[str, ...]]:
    if key not in body:
        return None
    values = body[key]
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise BatchRequestError(f"{key}: must be a non-empty list of strings")
    for value in values:
        if allowed is not None and value not in allowed:
            raise BatchRequestError(f"{key}: {value!r} is not allowed for {kind} exports (allowed: {', '.join(allowed)})")
    return tuple(values)


def _timestamp(body: Dict[str, Any], key: str, now: datetime) -> datetime:
    value = body.get(key)
    if key == "to" and value == "now":
        return now
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) and "T" in value else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise BatchRequestError(f"{key}: required, an RFC 3339 date with a time zone" + (' or "now"' if key == "to" else ""))
    return parsed.astimezone(timezone.utc)


def _error(status: int, code: str, message: str, headers: Optional[Dict[str, str]] = None) -> SimResponse:
    """Batch's error envelope (vendor-apis.md 2.6)."""
    return SimResponse.json({"error_code": code, "error_message": message}, status, headers)
