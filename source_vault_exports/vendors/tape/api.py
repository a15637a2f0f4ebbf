"""Tape's REST calls: apps, records (cursor pages, metadata filters) and file downloads.

Requests are paced from the credit headers Tape sends on every response (vendor-apis.md 3.5), and
`Retry-After` is honoured only on a 429: Tape sends it on successful responses too (3.7.4).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Mapping, Optional

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.sources.streams.http.requests_native_auth import TokenAuthenticator

from source_vault_exports.core import http as core_http
from source_vault_exports.core.errors import VendorError
from source_vault_exports.core.http import ApiClient, read_code_and_message, RetryPolicy, VendorErrorHandler, build_http_client, parse_wait_header, response_text_excerpt
from source_vault_exports.core.pacing import Budget, HeaderPacer
from source_vault_exports.core.pagination import RepeatGuard
from source_vault_exports.vendors.tape.config import TapeConfig

VENDOR = "Tape"
MAX_LISTING_RESTARTS = 3


def _credential_problem(response: requests.Response) -> Optional[ErrorResolution]:
    """A malformed key is a 400 `validation`, a missing or unknown one a 401 (vendor-apis.md 3.1)."""
    if response.status_code == 401 or (response.status_code == 400 and "key" in read_code_and_message(response).lower()):
        return ErrorResolution(
            ResponseAction.FAIL,
            FailureType.config_error,
            f"Tape rejected the API key (HTTP {response.status_code}: {read_code_and_message(response)}). Check tape.api_key.",
        )
    return None


def read_credit_budget(response: requests.Response) -> Optional[Budget]:
    headers = response.headers
    try:
        limit = float(headers["X-RateLimit-Limit"])
        remaining = float(headers["X-Retry-Remaining"])
        cost = float(headers.get("X-Retry-Cost") or 10)
    except (KeyError, ValueError):
        return None
    reset = parse_wait_header(headers.get("Retry-After"))
    if reset is None:
        reset = _seconds_until(headers.get("X-Retry-Reset"))
    return Budget(limit=limit, remaining=remaining, cost=cost, reset_seconds=reset if reset is not None else 60.0)


def _seconds_until(stamp: Optional[str]) -> Optional[float]:
    """`X-Retry-Reset` is `YYYY-MM-DD HH:MM:SS` in UTC."""
    if not stamp:
        return None
    try:
        moment = datetime.strptime(stamp.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())


def tape_date(moment: datetime) -> Dict[str, Any]:
    """Filter values nest the date (vendor-apis.md 3.2): {"value": {"date": "...Z"}}."""
    text = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return {"value": {"date": text}}


def metadata_filter(kind: str, match_type: str, moment: datetime) -> Dict[str, Any]:
    return {"type": kind, "match_type": match_type, "values": [tape_date(moment)]}


class TapeApi:
    def __init__(self, config: TapeConfig, logger: logging.Logger, policy: Optional[RetryPolicy] = None) -> None:
        policy = policy or core_http.DEFAULT_RETRY_POLICY
        self.config = config
        self._logger = logger
        self.pacer = HeaderPacer(read_credit_budget)
        http = build_http_client(
            "tape",
            logger,
            VendorErrorHandler(VENDOR, logger, policy, read_code_and_message, classify=_credential_problem, hand_back_statuses=(400, 403, 404)),
            policy,
            authenticator=TokenAuthenticator(config.api_key),
        )
        self._client = ApiClient(VENDOR, config.api_url, http, read_code_and_message, self.pacer)
        storage_http = build_http_client(
            "tape_storage",
            logger,
            VendorErrorHandler(f"{VENDOR} file storage", logger, policy, response_text_excerpt, hand_back_statuses=(400, 403, 404)),
            policy,
        )
        # No authenticator: the key must never reach the storage host (vendor-apis.md 3.4).
        self._storage = ApiClient(f"{VENDOR} file storage", "", storage_http, response_text_excerpt)

    def app(self, app_id: int) -> requests.Response:
        """The app, with 403/404 handed back so `check` can name the app id."""
        return self._client.request("GET", f"/v1/app/{app_id}", allow_statuses=(403, 404))

    def record(self, record_id: Any) -> Dict[str, Any]:
        return self._client.request_json("GET", f"/v1/record/{record_id}")

    def records(self, app_id: int, filters: Optional[List[Mapping[str, Any]]] = None) -> Iterator[Dict[str, Any]]:
        """Every record of an app (matching `filters`), page by page to the end.

        The end is a page shorter than the limit: the last page may still carry a cursor (3.3).
        """
        limit = self.config.page_size
        cursor: Optional[str] = None
        guard = RepeatGuard(VENDOR, f"app {app_id}'s record list")
        restarts = 0
        while True:
            params: Dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            if filters is None:
                page = self._client.request_json("GET", f"/v1/record/app/{app_id}", params=params, allow_statuses=(400,))
            else:
                page = self._client.request_json(
                    "POST", f"/v1/record/filter/app/{app_id}", params=params, json={"filters": list(filters)}, allow_statuses=(400,)
                )
            if page.get("error_code"):  # Tape's error envelope (vendor-apis.md 3.6)
                problem = f"{page.get('error_code')}: {page.get('error_message')}"
                if cursor is None or restarts >= MAX_LISTING_RESTARTS:
                    raise VendorError(VENDOR, f"app {app_id}: the record list was rejected (HTTP 400): {problem}", status_code=400)
                # A cursor's lifetime is undocumented (3.3): start the listing over; callers dedupe by id.
                restarts += 1
                self._logger.warning(f"Tape app {app_id}: the list cursor was refused ({problem}); listing again from the start")
                cursor, guard = None, RepeatGuard(VENDOR, f"app {app_id}'s record list")
                continue
            records = page.get("records") or []
            yield from records
            cursor = page.get("cursor")
            if len(records) < limit or not cursor:
                return
            guard.see(cursor)

    def open_download(self, url: str) -> requests.Response:
        """A file from its signed `download_url`; 403 (expired link) and 404 (deleted) come back as is."""
        return self._storage.request("GET", url, stream=True, allow_statuses=(403, 404))
