"""Zuora's REST calls used by the connector: token, describe, export create/retrieve, file download."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any, Dict, Mapping, Optional

import requests
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction

from source_vault_exports.core.jobs import VendorBusy
from source_vault_exports.core import http as core_http
from source_vault_exports.core.http import (
    ApiClient,
    RetryPolicy,
    VendorErrorHandler,
    build_http_client,
    response_text_excerpt,
)
from source_vault_exports.vendors.zuora.auth import ZuoraTokenAuthenticator, classify_token_response
from source_vault_exports.vendors.zuora.config import ZuoraConfig

VENDOR = "Zuora"
EXPORT_PATH = "/v1/object/export"
# Zuora sends RateLimit-Reset (seconds) on 429 and may omit Retry-After (vendor-apis.md 4.6).
WAIT_HEADERS = ("Retry-After", "RateLimit-Reset")


def zuora_error_text(body: Any) -> str:
    """Zuora's own words from any of its error shapes (vendor-apis.md 4.7); "" when none."""
    parts = []
    if isinstance(body, dict):
        for error in body.get("Errors") or []:
            if isinstance(error, dict):
                parts.append(f"{error.get('Code', 'ERROR')}: {error.get('Message', '')}".strip())
        for reason in body.get("reasons") or []:
            if isinstance(reason, dict):
                parts.append(f"{reason.get('code', '')}: {reason.get('message', '')}".strip(": "))
        if body.get("message"):
            parts.append(str(body["message"]))
        if body.get("error"):
            parts.append(f"{body['error']}: {body.get('error_description', '')}".strip(": "))
    return "; ".join(parts)


def read_zuora_error(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response_text_excerpt(response) or f"HTTP {response.status_code} with an empty body"
    return zuora_error_text(body) or response_text_excerpt(response)


# Zuora rejects creates past 50 Pending + Processing exports per tenant; the wording is not
# documented (vendor-apis.md 4.9), so both the code and the phrase are recognised.
_EXPORT_LIMIT = re.compile(r"LIMIT_EXCEEDED|concurrent export", re.IGNORECASE)


def is_export_limit(message: str) -> bool:
    return bool(_EXPORT_LIMIT.search(message))


def classify_export_limit(response: requests.Response) -> Optional[ErrorResolution]:
    """A 429 to an export create that names the export limit goes back to the job runner to wait."""
    if response.status_code == 429 and response.request.method == "POST" and response.request.path_url.startswith(EXPORT_PATH):
        if is_export_limit(read_zuora_error(response)):
            return ErrorResolution(ResponseAction.IGNORE, error_message="Zuora's concurrent export limit is reached")
    return None


class ExportRejected(Exception):
    """Zuora refused to create an export (HTTP 400): a bad query, an unknown object or field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ZuoraApi:
    """One authenticated Zuora client for a sync; safe to share between worker threads."""

    def __init__(self, config: ZuoraConfig, logger: logging.Logger, policy: Optional[RetryPolicy] = None) -> None:
        self.config = config
        policy = policy or core_http.DEFAULT_RETRY_POLICY
        token_client = build_http_client(
            "zuora_oauth",
            logger,
            VendorErrorHandler(VENDOR, logger, policy, read_zuora_error, classify=classify_token_response, hand_back_statuses=()),
            policy,
            WAIT_HEADERS,
        )
        self.authenticator = ZuoraTokenAuthenticator(config.base_url, config.client_id, config.client_secret, token_client)
        http = build_http_client(
            "zuora",
            logger,
            VendorErrorHandler(VENDOR, logger, policy, read_zuora_error, refresh_on_401=True, classify=classify_export_limit),
            policy,
            WAIT_HEADERS,
            authenticator=self.authenticator,
        )
        self._client = ApiClient(VENDOR, config.base_url, http, read_zuora_error)
        self._headers: Dict[str, str] = {"Zuora-Entity-Ids": config.entity_id} if config.entity_id else {}

    def fetch_token(self) -> None:
        """Get a token now, so a credential problem surfaces before anything else."""
        self.authenticator.refresh_and_set_access_token()

    def describe(self, object_name: str) -> bytes:
        response = self._client.request("GET", f"/v1/describe/{object_name}", headers=self._headers)
        return response.content

    def create_export(self, query: str, name: str) -> str:
        """POST an export; the Idempotency-Key makes the CDK's retries of this POST safe."""
        headers = {**self._headers, "Idempotency-Key": uuid.uuid4().hex}
        body = {"Format": "csv", "Zip": False, "Name": name[:255], "Query": query}
        # A retry of this POST is safe: it carries the same Idempotency-Key.
        payload = self._client.request_json("POST", EXPORT_PATH, json=body, headers=headers, allow_statuses=(400, 429))
        if not payload.get("Success", True) or not payload.get("Id"):
            message = zuora_error_text(payload) or "Zuora did not return an export id"
            if is_export_limit(message):
                raise VendorBusy(message)
            raise ExportRejected(message)
        return str(payload["Id"])

    def get_export(self, export_id: str) -> Mapping[str, Any]:
        return self._client.request_json("GET", f"{EXPORT_PATH}/{export_id}", headers=self._headers)

    def open_file(self, file_id: str) -> requests.Response:
        return self._client.request("GET", f"/v1/files/{file_id}", headers=self._headers, stream=True)


def optional_int(value: Any) -> Optional[int]:
    if value is None or value == "":
        return None
    return int(value)
