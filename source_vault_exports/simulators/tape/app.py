"""A loopback Tape API: user-key auth, apps, cursor-paged and filtered records, a credit limiter.

Behaviour follows vendor-apis.md section 3 and section 5 ("Tape"); what public material leaves open
is a switch on `TapeOptions`. Files are served by `TapeStorageApp` (storage.py) on its own server.
Endpoint names for faults and call counters: `app`, `records_list`, `records_filter`, `record_get`
(and `unknown` for any other path).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from source_vault_exports.simulators.http import SimRequest, SimResponse, SimulatorApp
from source_vault_exports.simulators.tape.dataset import FIELDS, SORTABLE_FIELDS, FieldDef, FileRef, Predicate, RecordState, TapeDataset, Times
from source_vault_exports.simulators.tape.storage import LinkSigner

DEFAULT_APPS = {101: 120, 102: 30}
KEY_PREFIX = "user_key_"  # vendor-apis.md 3.1
DEFAULT_PAGE_SIZE = 50  # 3.2
MAX_PAGE_SIZE = 500  # 3.2
TAPE_TIME = "%Y-%m-%d %H:%M:%S"  # UTC, no `T`, no offset (3.7.6)
_LOWER_BOUNDS = ("on_or_after", "after", "larger", "greater")  # every bound is inclusive (3.2)
_UPPER_BOUNDS = ("on_or_before", "before", "smaller", "less")
Bound = Tuple[str, str, datetime]  # (created_at | last_modified_at, lower | upper, moment)


@dataclass
class TapeOptions:
    api_keys: Tuple[str, ...] = ("user_key_sim0123456789abcdef0123456789abcdef",)
    unreadable_app_ids: Tuple[int, ...] = ()  # exist, but this key may not read them -> 403
    # Drift between doc generations (vendor-apis.md 3.7.2, 3.7.3).
    record_id_key: str = "record_id"  # or "id" (older docs, seed 003)
    field_key: str = "external_id"  # or "slug"
    field_type_case: str = "lower"  # or "upper" (`SINGLE_ATTACHMENT`, seed 003)
    # Pagination (3.3): some endpoints keep a cursor on the last (short) page; its next page is empty.
    last_page_cursor_non_null: bool = True
    cursor_ttl_seconds: Optional[float] = None  # undocumented; None = cursors never expire
    ignore_filters: bool = False  # Tape once ignored metadata filters silently (3.7.8)
    link_ttl_seconds: float = 3600.0  # "after some hours" (3.4, 3.8); tests use seconds
    # Credit limiter (3.5): a bucket per key, refilled every interval.
    credits_per_minute: int = 2000
    interval_seconds: float = 60.0  # tests scale the "minute" down
    request_cost: int = 10
    max_page_cost: int = 20  # limit=500 costs more (3.5; exact cost unconfirmed, 3.8)
    max_file_bytes: int = 20_000
    first_created: datetime = datetime(2024, 1, 1, tzinfo=timezone.utc)
    span: timedelta = timedelta(days=365)  # records' created times spread over this


class TapeError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class CreditLimiter:
    """A credit bucket per API key, refilled at the end of each interval (vendor-apis.md 3.5)."""

    def __init__(self, credits: int, interval_seconds: float) -> None:
        self.credits = credits
        self.interval = interval_seconds
        self.throttled = 0  # 429s answered, for assertions
        self._windows: Dict[str, Tuple[float, int]] = {}  # key -> (window start, credits used)
        self._lock = threading.Lock()

    def charge(self, key: str, cost: int) -> Tuple[bool, int, float]:
        """(allowed, credits remaining, reset epoch); a refused call costs nothing."""
        now = time.time()
        with self._lock:
            start, used = self._windows.get(key, (now, 0))
            if now >= start + self.interval:
                start, used = now, 0
            allowed = used + cost <= self.credits
            if allowed:
                used += cost
            else:
                self.throttled += 1
            self._windows[key] = (start, used)
        return allowed, self.credits - used, start + self.interval


class TapeSimulator(SimulatorApp):
    """Tape's record API over deterministic data: `TapeSimulator(options, apps={app_id: record_count})`."""

    def __init__(self, options: Optional[TapeOptions] = None, apps: Optional[Mapping[int, int]] = None) -> None:
        super().__init__()
        self.options = options or TapeOptions()
        self.data = TapeDataset(apps or DEFAULT_APPS, self.options.first_created, self.options.span, self.options.max_file_bytes)
        self.links = LinkSigner(self.options.link_ttl_seconds)
        self.limiter = CreditLimiter(self.options.credits_per_minute, self.options.interval_seconds)
        self._cursor_secret = b"tape-cursor-sim"
        self.route("GET", r"/v1/app/(?P<app_id>\d+)", "app", self._api(self._app))
        self.route("GET", r"/v1/record/app/(?P<app_id>\d+)", "records_list", self._api(self._list))
        self.route("POST", r"/v1/record/filter/app/(?P<app_id>\d+)", "records_filter", self._api(self._filter))
        self.route("GET", r"/v1/record/(?P<record_id>\d+)", "record_get", self._api(self._record))
        for method in ("GET", "POST", "PUT", "DELETE"):
            # Anything else still gets the envelope and the rate-limit headers.
            self.route(method, r"/.*", "unknown", self._api(self._unknown))

    # -- test controls ----------------------------------------------------------------------
    def set_storage_url(self, url: str) -> None:
        self.links.base_url = url.rstrip("/")

    def expire_links(self) -> None:
        """Every `download_url` issued so far answers 403 from now on; re-reading gives fresh ones."""
        self.links.expire_all()

    def edit_record(self, record_id: int, at: Optional[datetime] = None) -> None:
        """Changes the title (the `name` text field) and sets the internal last-modified time."""
        self.data.edit(record_id, _moment(at))

    def create_records(self, app_id: int, count: int, at: Optional[datetime] = None) -> List[int]:
        return self.data.create(app_id, count, _moment(at).replace(microsecond=0))

    def attach_file(self, record_id: int, field_external_id: str, at: Optional[datetime] = None) -> int:
        """Adds a new file to an attachment field (`contract` or `documents`); counts as an edit."""
        return self.data.attach(record_id, field_external_id, _moment(at))

    def delete_file(self, file_id: int) -> None:
        self.data.delete_file(file_id)

    @property
    def throttled(self) -> int:
        return self.limiter.throttled

    def connector_config(self, api_url: str, **overrides: Any) -> Dict[str, Any]:
        """A `tape` config section for this simulator (readable apps only)."""
        app_ids = [app_id for app_id in self.data.apps if app_id not in self.options.unreadable_app_ids]
        return {"api_url": api_url, "api_key": self.options.api_keys[0], "app_ids": app_ids, **overrides}

    # -- truth for tests --------------------------------------------------------------------
    def records(self, app_id: int) -> List[Dict[str, Any]]:
        """Current payloads in list order (download links freshly signed, so compare without them)."""
        return [self._payload(self.data.state(app_id, index)) for index in range(self.data.count(app_id))]

    def record_times(self, record_id: int) -> Times:
        located = self.data.locate(record_id)
        if located is None:
            raise KeyError(f"no record {record_id}")
        return self.data.times(*located)

    def file_bytes(self, file_id: int) -> bytes:
        info = self.data.file_info(file_id)
        if info is None:
            raise KeyError(f"no file {file_id}")
        return b"".join(self.data.file_chunks(file_id, 0, info.size))

    def downloadable_files(self, app_id: int) -> Dict[int, str]:
        """{file_id: filename} of files the app's records currently list and storage still holds."""
        files: Dict[int, str] = {}
        for index in range(self.data.count(app_id)):
            for values in self.data.state(app_id, index).attachments.values():
                for value in values:
                    if isinstance(value, FileRef) and not self.data.is_deleted(value.file_id):
                        info = self.data.file_info(value.file_id)
                        assert info is not None
                        files[info.id] = info.filename
        return files

    # -- the envelope: credits, auth, errors ------------------------------------------------
    def _api(self, handler: Callable[[SimRequest], Dict[str, Any]]) -> Callable[[SimRequest], SimResponse]:
        def serve(request: SimRequest) -> SimResponse:
            key = _presented_key(request)
            cost = self.options.max_page_cost if request.param("limit") == str(MAX_PAGE_SIZE) else self.options.request_cost
            # Charged before auth (order unconfirmed), per presented key: bad keys never drain the good one.
            allowed, remaining, reset = self.limiter.charge(key or "", cost)
            retry_after = max(0, math.ceil(reset - time.time()))
            reset_text = datetime.fromtimestamp(reset, timezone.utc).strftime(TAPE_TIME)
            headers = {
                "X-RateLimit-Limit": str(self.limiter.credits),
                "X-Retry-Remaining": str(remaining),
                "X-Retry-Cost": str(cost),
                "X-Retry-Reset": reset_text,
                # On every response, not only 429s (3.7.4): a client must honour it only on 429.
                "Retry-After": str(retry_after),
            }
            if not allowed:
                body = _envelope(request, 429, "too_many_requests", "Rate limit exceeded: too many credits used in this interval")
                body.update(
                    retry_after=max(1, retry_after),
                    rate_limit=self.limiter.credits,
                    rate_limit_remaining=remaining,
                    rate_limit_cost=cost,
                    rate_limit_reset=reset_text,
                )
                return SimResponse.json(body, 429, {**headers, "Retry-After": str(max(1, retry_after))})
            try:
                self._authenticate(key)
                return SimResponse.json(handler(request), 200, headers)
            except TapeError as error:
                return SimResponse.json(_envelope(request, error.status, error.code, error.message), error.status, headers)

        return serve

    def _authenticate(self, key: Optional[str]) -> None:
        """vendor-apis.md 3.1: missing -> 401, malformed -> 400 (not 401), unknown -> 401."""
        if key is None:
            raise TapeError(401, "dev_api_authentication", "No API key provided: send 'Authorization: Bearer user_key_...'")
        if not key.startswith(KEY_PREFIX) or len(key) <= len(KEY_PREFIX):
            raise TapeError(400, "validation", f"Invalid API key format: a user API key starts with '{KEY_PREFIX}'")
        if key not in self.options.api_keys:
            raise TapeError(401, "unauthorized", "The API key is not valid")

    def _readable_app(self, app_id: int) -> None:
        if app_id in self.options.unreadable_app_ids:
            raise TapeError(403, "restricted_resource", f"You do not have permission to access app {app_id}")
        if app_id not in self.data.apps:
            raise TapeError(404, "not_found", f"App does not exist({app_id})!")

    # -- routes -----------------------------------------------------------------------------
    def _app(self, request: SimRequest) -> Dict[str, Any]:
        app_id = int(request.path_params["app_id"])
        self._readable_app(app_id)
        fields = [{**self._field_head(app_id, definition), "config": {"label": definition.label, "required": definition.offset == 1}} for definition in FIELDS]
        return {**self._app_summary(app_id), "slug": f"app_{app_id}", "external_id": f"app_{app_id}", "item_name": "Deal", "fields": fields}

    def _record(self, request: SimRequest) -> Dict[str, Any]:
        record_id = int(request.path_params["record_id"])
        located = self.data.locate(record_id)
        if located is None:
            raise TapeError(404, "record_not_exists", f"Record does not exist({record_id})!")  # 3.6 sample
        self._readable_app(located[0])
        return self._payload(self.data.state(*located))

    def _list(self, request: SimRequest) -> Dict[str, Any]:
        app_id = int(request.path_params["app_id"])
        self._readable_app(app_id)
        sort_by = request.param("sort_by")
        if sort_by is not None and sort_by not in SORTABLE_FIELDS:
            raise TapeError(400, "validation_error", f"sort_by must be one of {', '.join(SORTABLE_FIELDS)}")
        sort_desc = (request.param("sort_desc") or "false").lower() == "true"
        return self._page(request, app_id, "list", [], sort_by, sort_desc)

    def _filter(self, request: SimRequest) -> Dict[str, Any]:
        app_id = int(request.path_params["app_id"])
        self._readable_app(app_id)
        try:
            body = request.json() or {}
        except (ValueError, UnicodeDecodeError):
            raise TapeError(400, "invalid_json", "The request body could not be decoded as JSON") from None
        filters = body.get("filters", []) if isinstance(body, dict) else None
        if not isinstance(filters, list):
            raise TapeError(400, "validation_error", "'filters' must be a list")
        return self._page(request, app_id, "filter", [_parse_filter(item) for item in filters], None, False)

    def _unknown(self, request: SimRequest) -> Dict[str, Any]:
        raise TapeError(400, "invalid_request_url", f"The request URL is not valid: {request.method} {request.path}")

    # -- pagination -------------------------------------------------------------------------
    def _page(
        self, request: SimRequest, app_id: int, kind: str, bounds: List[Bound], sort_by: Optional[str], sort_desc: bool
    ) -> Dict[str, Any]:
        limit = _limit(request.param("limit"))
        predicate = _predicate([] if self.options.ignore_filters else bounds)
        # A cursor belongs to one listing: same app, endpoint, filters and sort (3.3).
        query = hashlib.sha256(json.dumps([app_id, kind, [(t, b, m.isoformat()) for t, b, m in bounds], sort_by, sort_desc]).encode()).hexdigest()[:16]
        token = request.param("cursor")
        position, total = 0, None
        if token:
            claims = self._read_cursor(token, query)
            position, total = int(claims["pos"]), int(claims["total"])
        if sort_by is None and not sort_desc:
            # Record id order: scan on from the cursor's position, so a whole listing costs O(n).
            indexes = self.data.scan(app_id, position, predicate, limit)
            next_position = indexes[-1] + 1 if indexes else position
            if total is None:
                total = self.data.count_matching(app_id, predicate)
        else:
            ordered = self._sorted(app_id, predicate, sort_by, sort_desc)
            indexes = ordered[position : position + limit]
            next_position = position + len(indexes)
            total = len(ordered) if total is None else total
        states = [self.data.state(app_id, index) for index in indexes]
        more = len(states) == limit or self.options.last_page_cursor_non_null
        cursor = self._issue_cursor({"app": app_id, "q": query, "pos": next_position, "total": total}) if more else None
        return {"total": total, "cursor": cursor, "records": [self._payload(state) for state in states]}

    def _sorted(self, app_id: int, predicate: Predicate, sort_by: Optional[str], descending: bool) -> List[int]:
        matching = [index for index in range(self.data.count(app_id)) if predicate(self.data.times(app_id, index))]
        if sort_by is None:
            return sorted(matching, reverse=descending)

        def key(index: int) -> Tuple[bool, Any, int]:
            values = {d.external_id: v for d, v in self.data.field_values(self.data.state(app_id, index))}[sort_by]
            value = values[0] if values else None
            if isinstance(value, dict):
                value = value.get("start")
            return (value is None, value if value is not None else 0, index)  # empty values last

        ordered = sorted(matching, key=key)
        return ordered[::-1] if descending else ordered

    def _issue_cursor(self, claims: Dict[str, Any]) -> str:
        """An opaque, JWT-looking token (3.3) with an `exp` claim when cursors expire."""
        now = time.time()
        claims = {**claims, "iat": round(now, 3)}
        if self.options.cursor_ttl_seconds is not None:
            claims["exp"] = round(now + self.options.cursor_ttl_seconds, 3)
        signing_input = _b64(b'{"alg":"HS256","typ":"JWT"}') + "." + _b64(json.dumps(claims, separators=(",", ":")).encode())
        return signing_input + "." + _b64(hmac.new(self._cursor_secret, signing_input.encode(), hashlib.sha256).digest())

    def _read_cursor(self, token: str, query: str) -> Dict[str, Any]:
        invalid = TapeError(400, "validation_error", "Invalid cursor: restart the listing without a cursor")
        try:
            header, payload, signature = token.split(".")
            expected = _b64(hmac.new(self._cursor_secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(expected, signature):
                raise invalid
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise invalid from None
        if claims.get("q") != query:
            raise TapeError(400, "validation_error", "Invalid cursor: it belongs to another listing (app, filters or sort differ)")
        if "exp" in claims and claims["exp"] <= time.time():
            raise TapeError(400, "validation_error", "Cursor expired: restart the listing without a cursor")
        return claims

    # -- rendering --------------------------------------------------------------------------
    def _app_summary(self, app_id: int) -> Dict[str, Any]:
        return {"app_id": app_id, "name": f"Deals {app_id}", "record_name": "Deal", "icon": "briefcase", "workspace_id": 1}

    def _field_head(self, app_id: int, definition: FieldDef) -> Dict[str, Any]:
        field_type = definition.field_type.upper() if self.options.field_type_case == "upper" else definition.field_type
        return {
            "field_id": app_id * 100 + definition.offset,
            self.options.field_key: definition.external_id,  # `external_id`, or `slug` in older docs
            "label": definition.label,
            "type": definition.type,
            "field_type": field_type,
        }

    def _payload(self, state: RecordState) -> Dict[str, Any]:
        """The record as the API returns it; no last-modified time in it (vendor-apis.md 3.7.7)."""
        fields = []
        for definition, values in self.data.field_values(state):
            fields.append({**self._field_head(state.app_id, definition), "values": [{"value": self._value(value)} for value in values]})
        return {
            self.options.record_id_key: state.record_id,
            "app_record_id": state.index + 1,
            "title": state.name,
            "created_on": state.created.strftime(TAPE_TIME),
            "app": self._app_summary(state.app_id),
            "fields": fields,
        }

    def _value(self, value: Any) -> Any:
        if not isinstance(value, FileRef):
            return copy.deepcopy(value)  # callers may mutate payloads; the stored state must not change
        info = self.data.file_info(value.file_id)
        assert info is not None, value
        return {
            "id": info.id,
            "filename": info.filename,
            "size": info.size,
            "mimetype": info.mimetype,
            "download_url": self.links.url(info.id, info.filename),  # freshly signed on every read (3.4)
            "created_on": info.created.strftime(TAPE_TIME),
        }


def _presented_key(request: SimRequest) -> Optional[str]:
    """Bearer, or HTTP Basic with the key as username and an empty password (3.1)."""
    header = (request.header("authorization") or "").strip()
    if not header:
        return None
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credential.strip(), validate=True).decode("utf-8").partition(":")[0] or None
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return credential  # not base64: a malformed key
    if scheme.lower() == "bearer":
        return credential.strip() or None
    return header  # no scheme: treated as a (malformed) key


def _limit(raw: Optional[str]) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise TapeError(400, "validation_error", f"limit must be an integer between 1 and {MAX_PAGE_SIZE}, got {raw!r}")
    return limit


def _parse_filter(item: Any) -> Bound:
    """A metadata filter -> (created_at | last_modified_at, lower | upper, moment) (3.2)."""
    if not isinstance(item, dict) or item.get("type") not in ("created_at", "last_modified_at"):
        raise TapeError(400, "validation_error", "Only metadata filters of type 'created_at' or 'last_modified_at' are simulated")
    match_type = item.get("match_type")
    if match_type not in _LOWER_BOUNDS + _UPPER_BOUNDS:
        raise TapeError(400, "validation_error", f"Unknown match_type {match_type!r}")
    values = item.get("values")
    value = values[0].get("value") if isinstance(values, list) and len(values) == 1 and isinstance(values[0], dict) else None
    # The date sits nested in `value.date`; relative dates are refused (absolute UTC only).
    text = value.get("date") if isinstance(value, dict) else None
    if not isinstance(text, str):
        raise TapeError(400, "validation_error", "A date filter needs values: [{value: {date: '<absolute UTC timestamp>'}}]")
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise TapeError(400, "validation_error", f"Invalid absolute date {text!r}") from None
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return item["type"], "lower" if match_type in _LOWER_BOUNDS else "upper", moment


def _predicate(bounds: List[Bound]) -> Predicate:
    def matches(times: Times) -> bool:
        created, modified = times
        for kind, side, moment in bounds:
            current = created if kind == "created_at" else modified
            if current is None:
                return False  # never edited: no last_modified_at filter matches (3.7.7)
            if (side == "lower" and current < moment) or (side == "upper" and current > moment):
                return False
        return True

    return matches


def _envelope(request: SimRequest, status: int, code: str, message: str) -> Dict[str, Any]:
    return {"status_code": status, "endpoint": request.path, "error_code": code, "error_message": message}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _moment(at: Optional[datetime]) -> datetime:
    """Internal times are aware UTC with millisecond precision, like the filter bounds."""
    moment = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
