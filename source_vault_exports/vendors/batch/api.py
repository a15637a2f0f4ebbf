"""Batch's REST calls: export create/view/list and downloads that leave credentials behind.

Downloads answer 307 to a pre-signed URL on a storage host (vendor-apis.md 2.2, 2.7.3). The
redirect is followed by hand with a separate client that has no credentials: python-requests
would drop `Authorization` on a host change but keep `X-Batch-Project`.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterator, Mapping, Optional

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.sources.streams.http.requests_native_auth import TokenAuthenticator

from source_vault_exports.core import http as core_http
from source_vault_exports.core.errors import VendorError
from source_vault_exports.core.http import ApiClient, read_code_and_message, RetryPolicy, VendorErrorHandler, build_http_client, response_text_excerpt
from source_vault_exports.core.pagination import RepeatGuard
from source_vault_exports.vendors.batch.config import BatchConfig

VENDOR = "Batch"
LIST_PAGE_LIMIT = 100  # the list endpoint's maximum (vendor-apis.md 2.2)
# A pre-signed link lives 20 minutes; one that has died is fetched anew this many times.
LINK_REFRESHES = 3


class LinkExpired(Exception):
    """The storage host refused a pre-signed link (expired or bad signature)."""


class BatchApi:
    def __init__(self, config: BatchConfig, logger: logging.Logger, policy: Optional[RetryPolicy] = None) -> None:
        policy = policy or core_http.DEFAULT_RETRY_POLICY
        self.config = config
        self._logger = logger
        project = config.project_key

        def classify(response: requests.Response) -> Optional[ErrorResolution]:
            if response.status_code == 401:
                # The message names the project, never the REST key.
                return ErrorResolution(
                    ResponseAction.FAIL,
                    FailureType.config_error,
                    f"Batch rejected the REST API key for project {project} (HTTP 401: {read_code_and_message(response)}). "
                    "Check batch.rest_api_key and batch.project_key.",
                )
            return None

        http = build_http_client(
            "batch",
            logger,
            VendorErrorHandler(VENDOR, logger, policy, read_code_and_message, classify=classify),
            policy,
            authenticator=TokenAuthenticator(config.rest_api_key),
        )
        self._client = ApiClient(VENDOR, config.api_url, http, read_code_and_message)
        self._headers = {"X-Batch-Project": project}
        storage_http = build_http_client(
            "batch_storage",
            logger,
            VendorErrorHandler(f"{VENDOR} file storage", logger, policy, response_text_excerpt, hand_back_statuses=(400, 403, 404)),
            policy,
        )
        self._storage = ApiClient(f"{VENDOR} file storage", "", storage_http, response_text_excerpt)

    def create_export(self, body: Mapping[str, Any]) -> str:
        # No retry on an unreadable answer: Batch has no idempotency key, a retry would start a second export.
        export_id = self._client.request_json("POST", "/profiles/export", json=dict(body), headers=self._headers, attempts=1).get("id")
        if not export_id:
            raise VendorError(VENDOR, "the export request was accepted without an id")
        return str(export_id)

    def view(self, export_id: str) -> Dict[str, Any]:
        return self._client.request_json("GET", "/exports/view", params={"id": export_id}, headers=self._headers)

    def list_exports(self, limit: int = LIST_PAGE_LIMIT) -> Iterator[Dict[str, Any]]:
        """Every export request Batch still lists, following `next_from` until `has_more` is false."""
        cursor: Optional[str] = None
        guard = RepeatGuard(VENDOR, "the export list")
        seen_ids = set()
        while True:
            params: Dict[str, Any] = {"limit": limit}
            if cursor:
                params["from"] = cursor
            page = self._client.request_json("GET", "/exports/list", params=params, headers=self._headers)
            for export in page.get("exports") or []:
                # A page served twice must not list a request twice.
                if export.get("id") not in seen_ids:
                    seen_ids.add(export.get("id"))
                    yield export
            cursor = page.get("next_from")
            if not page.get("has_more") or not cursor:
                return
            guard.see(cursor)

    def open_file(self, file_id: str) -> requests.Response:
        """Stream one export part: a fresh pre-signed link per attempt, credentials never sent along."""
        for attempt in range(1, LINK_REFRESHES + 1):
            location = self._download_location(file_id)
            response = self._storage.request("GET", location, stream=True, allow_statuses=(403,))
            if response.status_code != 403:
                return response
            response.close()
            self._logger.warning(f"Batch: the download link of {file_id} was refused (expired?); fetching a new one ({attempt}/{LINK_REFRESHES})")
        raise VendorError(VENDOR, f"the storage host refused {LINK_REFRESHES} fresh download links for {file_id}")

    def _download_location(self, file_id: str) -> str:
        response = self._client.request(
            "GET", "/exports/download", params={"id": file_id}, headers=self._headers, allow_redirects=False
        )
        location = response.headers.get("Location")
        response.close()
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            raise VendorError(VENDOR, f"download of {file_id} answered HTTP {response.status_code} without a redirect")
        return location
