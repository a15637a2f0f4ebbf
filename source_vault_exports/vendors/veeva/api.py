"""Vault's REST calls: session auth, the 200-with-FAILURE envelope, VQL pages, jobs and files.

Vault answers HTTP 200 to processed requests, errors included (vendor-apis.md 1.7), so every
JSON response's `responseStatus` is read by the error handler: INVALID_SESSION_ID makes the CDK
log in again once and repeat the request, API_LIMIT_EXCEEDED backs off, the rest becomes an error
naming Vault's error type and message.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence
from urllib.parse import urlparse

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets

from source_vault_exports.core import http as core_http
from source_vault_exports.core.errors import ConfigError, VendorError
from source_vault_exports.core.http import ApiClient, RetryPolicy, VendorErrorHandler, build_http_client, response_text_excerpt
from source_vault_exports.core.pacing import Budget, HeaderPacer
from source_vault_exports.core.pagination import RepeatGuard
from source_vault_exports.vendors.veeva.config import VaultConfig

VENDOR = "Veeva Vault"
# Vault's burst window is a fixed 5 minutes with no reset header (vendor-apis.md 1.6).
BURST_WINDOW_SECONDS = 300.0
# Slow down below this share of the burst budget (vendor-apis.md 1.6: ~10 %).
BURST_RELAXED_SHARE = 0.1
_RETRY_TYPES = {"RACE_CONDITION", "UNEXPECTED_ERROR", "CONFIGURATION_MODE_ENABLED"}
_CREDENTIAL_TYPES = {"USERNAME_OR_PASSWORD_INCORRECT", "NO_PASSWORD_PROVIDED", "INACTIVE_USER", "USER_LOCKED_OUT", "PASSWORD_CHANGE_REQUIRED"}


def envelope(response: requests.Response) -> Optional[Mapping[str, Any]]:
    """The JSON body of a Vault response, or None for binary content."""
    if "json" not in response.headers.get("Content-Type", "").lower():
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, Mapping) else None


def error_types(body: Mapping[str, Any]) -> List[str]:
    return [str(e.get("type")) for e in body.get("errors") or [] if isinstance(e, Mapping)]


def error_text(body: Mapping[str, Any]) -> str:
    errors = [f"{e.get('type')}: {e.get('message')}" for e in body.get("errors") or [] if isinstance(e, Mapping)]
    return "; ".join(errors) or str(body.get("responseMessage") or body.get("errorType") or "no message")


def read_vault_error(response: requests.Response) -> str:
    body = envelope(response)
    return error_text(body) if body is not None else (response_text_excerpt(response) or f"HTTP {response.status_code}")


def classify(response: requests.Response) -> Optional[ErrorResolution]:
    """Decide on the body, not the status code (vendor-apis.md 1.8.1)."""
    if response.status_code != 200:
        return None
    body = envelope(response)
    if body is None or body.get("responseStatus") not in ("FAILURE", "EXCEPTION"):
        return None
    types = set(error_types(body))
    if "INVALID_SESSION_ID" in types:
        return ErrorResolution(ResponseAction.REFRESH_TOKEN_THEN_RETRY, FailureType.config_error, f"Veeva Vault session is no longer valid: {error_text(body)}")
    if "API_LIMIT_EXCEEDED" in types:
        return ErrorResolution(ResponseAction.RATE_LIMITED, FailureType.transient_error, f"Veeva Vault API limit exceeded: {error_text(body)}")
    if types & _RETRY_TYPES:
        return ErrorResolution(ResponseAction.RETRY, FailureType.transient_error, f"Veeva Vault asked to retry: {error_text(body)}")
    # Everything else goes back to the caller, which knows which object or job it concerns.
    return ErrorResolution(ResponseAction.IGNORE, error_message=f"Veeva Vault: {error_text(body)}")


def read_burst_budget(response: requests.Response) -> Optional[Budget]:
    try:
        limit = float(response.headers["X-VaultAPI-BurstLimit"])
        remaining = float(response.headers["X-VaultAPI-BurstLimitRemaining"])
    except (KeyError, ValueError):
        return None
    return Budget(limit=limit, remaining=remaining, cost=1.0, reset_seconds=BURST_WINDOW_SECONDS)


class VaultSession(requests.auth.AuthBase):
    """One Vault session per sync, renewed by logging in again when Vault reports it invalid.

    `refresh_and_set_access_token` is what the CDK's HttpClient calls on REFRESH_TOKEN_THEN_RETRY.
    """

    def __init__(self, config: VaultConfig, login_client: ApiClient) -> None:
        self._config = config
        self._login_client = login_client
        self._lock = threading.Lock()
        self._session_id: Optional[str] = config.session_id
        if self._session_id:
            add_to_secrets(self._session_id)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.session_id()
        return request

    def session_id(self) -> str:
        with self._lock:
            if self._session_id is None:
                self._session_id = self._login()
            return self._session_id

    def get_auth_header(self) -> Mapping[str, str]:
        """The header requests are sent with now; lets the HttpClient skip a second login when
        another thread already renewed the session (Vault limits logins per minute, 1.6)."""
        with self._lock:
            return {"Authorization": self._session_id or ""}

    def refresh_and_set_access_token(self) -> None:
        with self._lock:
            if not (self._config.username and self._config.password):
                raise ConfigError("veeva_vault.session_id", "the session expired and cannot be renewed without username and password")
            self._session_id = self._login()

    def _login(self) -> str:
        # Streamed, so the HttpClient's debug log does not print the body with the new session id.
        response = self._login_client.request(
            "POST",
            self._config.api_path("auth"),
            data={"username": self._config.username, "password": self._config.password},
            stream=True,
        )
        body = envelope(response) or {}
        if body.get("responseStatus") != "SUCCESS" or not body.get("sessionId"):
            types = set(error_types(body))
            if types & _CREDENTIAL_TYPES or body.get("errorType") == "AUTHENTICATION_FAILED":
                raise ConfigError("veeva_vault.password", f"Vault refused the login of {self._config.username}: {error_text(body)}")
            raise VendorError(VENDOR, f"login failed: {error_text(body)}", FailureType.config_error)
        session = str(body["sessionId"])
        add_to_secrets(session)
        self._verify_vault(body)
        return session

    def _verify_vault(self, body: Mapping[str, Any]) -> None:
        """A login can open another Vault the user belongs to (vendor-apis.md 1.1): refuse that."""
        vault_id = body.get("vaultId")
        urls = {
            (urlparse(str(v.get("url"))).hostname or "").lower(): v
            for v in body.get("vaultIds") or []
            if isinstance(v, Mapping) and v.get("url")
        }
        opened = next((host for host, v in urls.items() if v.get("id") == vault_id), None)
        if opened is not None and opened != self._config.host:
            raise ConfigError(
                "veeva_vault.vault_url",
                f"the login opened vault {opened} (id {vault_id}), not {self._config.host}; "
                f"the user may not be allowed into {self._config.host}",
            )


class VaultApi:
    def __init__(self, config: VaultConfig, logger: logging.Logger, policy: Optional[RetryPolicy] = None) -> None:
        policy = policy or core_http.DEFAULT_RETRY_POLICY
        self.config = config
        self._logger = logger
        self.pacer = HeaderPacer(read_burst_budget, relaxed_share=BURST_RELAXED_SHARE)
        login_http = build_http_client(
            "veeva_auth", logger, VendorErrorHandler(VENDOR, logger, policy, read_vault_error, classify=classify), policy
        )
        self.session = VaultSession(config, ApiClient(VENDOR, config.vault_url, login_http, read_vault_error, self.pacer))
        http = build_http_client(
            "veeva",
            logger,
            VendorErrorHandler(VENDOR, logger, policy, read_vault_error, classify=classify),
            policy,
            authenticator=self.session,
        )
        self._client = ApiClient(VENDOR, config.vault_url, http, read_vault_error, self.pacer)

    # -- envelope ---------------------------------------------------------------------------------
    def call(self, method: str, path: str, what: str, attempts: int = 3, **kwargs: Any) -> Dict[str, Any]:
        """A JSON call whose FAILURE envelope becomes an error naming `what` and Vault's words.

        A body that does not parse was most likely cut short and is fetched again; calls that
        start something (export jobs) pass `attempts=1` so a retry cannot start a second job.
        """
        body: Optional[Mapping[str, Any]] = None
        for _ in range(max(1, attempts)):
            response = self._client.request(method, path, **kwargs)
            body = envelope(response)
            if body is not None:
                break
        if body is None:
            raise VendorError(VENDOR, f"{what}: expected JSON, got {response.headers.get('Content-Type')}: {response_text_excerpt(response)}")
        if body.get("responseStatus") in ("FAILURE", "EXCEPTION"):
            types = set(error_types(body))
            failure = FailureType.config_error if types & {"INSUFFICIENT_ACCESS", "MALFORMED_URL", "INVALID_DATA"} else FailureType.system_error
            raise VendorError(VENDOR, f"{what} failed: {error_text(body)}", failure)
        return dict(body)

    def query(self, vql: str, what: str) -> Iterator[Dict[str, Any]]:
        """Every row of a VQL query, following next_page to the end (never inferring the end
        from a short page: Vault shrinks pages of wide rows, vendor-apis.md 1.3)."""
        body = self.call("POST", self.config.api_path("query"), what, data={"q": vql})
        guard = RepeatGuard(VENDOR, what)
        while True:
            yield from body.get("data") or []
            next_page = (body.get("responseDetails") or {}).get("next_page")
            if not next_page:
                return
            guard.see(next_page)
            body = self.call("POST", next_page, what)

    # -- endpoints ----------------------------------------------------------------------------------
    def document_attachments(self, doc_id: Any) -> List[Dict[str, Any]]:
        body = self.call("GET", self.config.api_path(f"objects/documents/{doc_id}/attachments"), f"attachments of document {doc_id}")
        return list(body.get("data") or [])

    def open_attachment(self, doc_id: Any, attachment_id: Any) -> requests.Response:
        return self._binary(self.config.api_path(f"objects/documents/{doc_id}/attachments/{attachment_id}/file"), f"attachment {attachment_id} of document {doc_id}")

    def create_field_export(self, object_name: str, body: Sequence[Mapping[str, Any]], field_names: Optional[List[str]], id_param: Optional[str]) -> Dict[str, Any]:
        params: Dict[str, str] = {}
        if field_names:
            params["field_names"] = ",".join(field_names)
        if id_param:
            params["idParam"] = id_param
        return self.call(
            "POST",
            self.config.api_path(f"vobjects/{object_name}/attachment_fields/actions/export"),
            f"export of {object_name} Attachment field files",
            attempts=1,
            params=params,
            json=list(body),
        )

    def job(self, job_id: str) -> Dict[str, Any]:
        return self.call("GET", self.config.api_path(f"services/jobs/{job_id}"), f"status of job {job_id}")

    def export_results(self, object_name: str, job_id: str) -> Dict[str, Any]:
        # The doc's sample uses POST; the endpoint is GET (vendor-apis.md 1.2).
        return self.call("GET", self.config.api_path(f"vobjects/{object_name}/attachment_fields/actions/export/{job_id}/results"), f"results of job {job_id}")

    def open_export_part(self, object_name: str, part_name: str) -> requests.Response:
        return self._binary(self.config.api_path(f"vobjects/{object_name}/attachment_fields/files/{part_name}"), f"export part {part_name}")

    def _binary(self, path: str, what: str) -> requests.Response:
        """Binary downloads that fail answer with a JSON envelope instead of bytes (1.8.2)."""
        response = self._client.request("GET", path, stream=True)
        if "json" in response.headers.get("Content-Type", "").lower():
            body = envelope(response) or {}
            response.close()
            raise VendorError(VENDOR, f"{what}: Vault sent a {body.get('responseStatus', 'JSON')} envelope instead of the file: {error_text(body)}")
        return response
