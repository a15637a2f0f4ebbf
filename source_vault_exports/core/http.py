"""One way to talk HTTP to every vendor: the CDK's HttpClient with our error handling and backoff.

A vendor supplies three small things: how to read its error bodies, which header tells how long to
wait when it throttles, and (optionally) how to classify a response the generic rules get wrong.
Retries, backoff, token refresh on 401 and timeouts are the CDK's, configured here once.
"""

from __future__ import annotations

import email.utils
import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.call_rate import APIBudget, LimiterSession
from airbyte_cdk.sources.streams.http import HttpClient
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import (
    ErrorResolution,
    ResponseAction,
)
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from source_vault_exports.core.errors import NotFoundError, VendorError
from source_vault_exports.core.pacing import HeaderPacer

# Enough pooled connections for every worker thread to keep one open to the vendor.
CONNECTION_POOL_SIZE = 64


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one request is retried before the error reaches the user."""

    max_retries: int = 6
    backoff_base_seconds: float = 2.0
    backoff_cap_seconds: float = 60.0
    # A vendor may ask for long waits (Zuora's RateLimit-Reset can be an hour); we wait at most this.
    max_advised_wait_seconds: float = 300.0
    max_time_seconds: float = 900.0
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 120.0

    def for_check(self) -> "RetryPolicy":
        """`check` must answer within about 30 s, even when the host does not answer at all."""
        return replace(
            self,
            max_retries=min(self.max_retries, 2),
            max_time_seconds=min(self.max_time_seconds, 20.0),
            connect_timeout_seconds=min(self.connect_timeout_seconds, 5.0),
            read_timeout_seconds=min(self.read_timeout_seconds, 8.0),
            max_advised_wait_seconds=min(self.max_advised_wait_seconds, 5.0),
        )

    @property
    def timeouts(self) -> Tuple[float, float]:
        return (self.connect_timeout_seconds, self.read_timeout_seconds)


DEFAULT_RETRY_POLICY = RetryPolicy()


def parse_wait_header(value: Optional[str]) -> Optional[float]:
    """Seconds to wait from a Retry-After style header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class AdvisedWaitBackoff(BackoffStrategy):
    """Wait as long as the vendor says (first header present wins), else exponentially."""

    def __init__(self, policy: RetryPolicy, wait_headers: Sequence[str] = ("Retry-After",)) -> None:
        self._policy = policy
        self._wait_headers = tuple(wait_headers)

    def backoff_time(
        self,
        response_or_exception: Optional[Union[requests.Response, requests.RequestException]],
        attempt_count: int,
    ) -> Optional[float]:
        if isinstance(response_or_exception, requests.Response):
            for header in self._wait_headers:
                advised = parse_wait_header(response_or_exception.headers.get(header))
                if advised is not None:
                    # Zero would make the CDK fall back to its own (slower) exponential backoff.
                    return max(0.01, min(advised, self._policy.max_advised_wait_seconds))
        exponential = self._policy.backoff_base_seconds * (2 ** max(0, attempt_count - 1))
        return max(0.01, min(exponential, self._policy.backoff_cap_seconds))


ErrorMessageReader = Callable[[requests.Response], str]
ResponseClassifier = Callable[[requests.Response], Optional[ErrorResolution]]


def response_text_excerpt(response: requests.Response, limit: int = 300) -> str:
    """The start of an error body, for vendors whose error format we could not parse."""
    try:
        text = response.text
    except Exception:  # a broken body must not hide the status code
        return ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_code_and_message(response: requests.Response) -> str:
    """`{"error_code", "error_message"}` envelopes (Batch, Tape) as `code: message`."""
    try:
        body = response.json()
    except ValueError:
        return response_text_excerpt(response) or f"HTTP {response.status_code}"
    if isinstance(body, dict) and (body.get("error_message") or body.get("error_code")):
        return f"{body.get('error_code', 'error')}: {body.get('error_message', '')}".strip(": ")
    return response_text_excerpt(response)


class VendorErrorHandler(ErrorHandler):
    """Maps responses and exceptions to retry / refresh / fail, with the vendor's message in it.

    400 and 404 are handed back to the caller (IGNORE): whether a rejected query is a field to drop
    or a missing resource is fatal, a reason to re-create an export, or "no such object" depends on
    the call, not on the status code. `ApiClient.request` turns them into typed errors.
    """

    def __init__(
        self,
        vendor: str,
        logger: logging.Logger,
        policy: RetryPolicy,
        read_error_message: ErrorMessageReader,
        refresh_on_401: bool = False,
        classify: Optional[ResponseClassifier] = None,
        hand_back_statuses: Tuple[int, ...] = (400, 404),
    ) -> None:
        self._vendor = vendor
        self._logger = logger
        self._policy = policy
        self._read_error_message = read_error_message
        self._refresh_on_401 = refresh_on_401
        self._classify = classify
        self._hand_back_statuses = frozenset(hand_back_statuses)

    @property
    def max_retries(self) -> Optional[int]:
        return self._policy.max_retries

    @property
    def max_time(self) -> Optional[int]:
        return int(self._policy.max_time_seconds)

    def interpret_response(
        self, response_or_exception: Optional[Union[requests.Response, Exception]] = None
    ) -> ErrorResolution:
        if isinstance(response_or_exception, requests.Response):
            return self._interpret_status(response_or_exception)
        if isinstance(response_or_exception, (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
            return ErrorResolution(
                ResponseAction.FAIL,
                FailureType.config_error,
                f"{self._vendor}: the URL is not valid: {response_or_exception}",
            )
        if isinstance(response_or_exception, requests.RequestException):
            return ErrorResolution(
                ResponseAction.RETRY,
                FailureType.transient_error,
                f"{self._vendor}: network problem: {type(response_or_exception).__name__}: {response_or_exception}",
            )
        return ErrorResolution(
            ResponseAction.FAIL,
            FailureType.system_error,
            f"{self._vendor}: unexpected error: {response_or_exception!r}",
        )

    def _interpret_status(self, response: requests.Response) -> ErrorResolution:
        if self._classify is not None:
            decided = self._classify(response)
            if decided is not None:
                return decided
        status = response.status_code
        if response.ok:
            return ErrorResolution(ResponseAction.SUCCESS)
        if status in self._hand_back_statuses:
            return ErrorResolution(
                ResponseAction.IGNORE,
                error_message=f"{self._vendor}: HTTP {status} for {response.request.method} {_path_of(response)}, handed to the caller",
            )
        detail = self._read_error_message(response)
        if status == 401:
            if self._refresh_on_401:
                return ErrorResolution(
                    ResponseAction.REFRESH_TOKEN_THEN_RETRY,
                    FailureType.config_error,
                    f"{self._vendor} rejected the credentials (HTTP 401): {detail}",
                )
            return ErrorResolution(
                ResponseAction.FAIL,
                FailureType.config_error,
                f"{self._vendor} rejected the credentials (HTTP 401): {detail}",
            )
        if status == 403:
            return ErrorResolution(
                ResponseAction.FAIL,
                FailureType.config_error,
                f"{self._vendor} refused access (HTTP 403): {detail}",
            )
        if status == 429:
            return ErrorResolution(
                ResponseAction.RATE_LIMITED,
                FailureType.transient_error,
                f"{self._vendor} is throttling requests (HTTP 429): {detail}",
            )
        if status in (408, 409) or status >= 500:
            return ErrorResolution(
                ResponseAction.RETRY,
                FailureType.transient_error,
                f"{self._vendor} answered HTTP {status}: {detail}",
            )
        return ErrorResolution(
            ResponseAction.FAIL,
            FailureType.system_error,
            f"{self._vendor} answered HTTP {status} to {response.request.method} {_path_of(response)}: {detail}",
        )


def _path_of(response: requests.Response) -> str:
    url = response.request.url or ""
    # Query strings may carry ids and cursors; the path is enough to say which call failed.
    return requests.utils.urlparse(url).path


def build_http_client(
    name: str,
    logger: logging.Logger,
    error_handler: VendorErrorHandler,
    policy: RetryPolicy,
    wait_headers: Sequence[str] = ("Retry-After",),
    authenticator: Optional[AuthBase] = None,
) -> HttpClient:
    session = LimiterSession(api_budget=APIBudget(policies=[]))
    adapter = HTTPAdapter(pool_connections=CONNECTION_POOL_SIZE, pool_maxsize=CONNECTION_POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return HttpClient(
        name=name,
        logger=logger,
        error_handler=error_handler,
        session=session,
        authenticator=authenticator,
        backoff_strategy=AdvisedWaitBackoff(policy, wait_headers),
        request_timeout=policy.timeouts,
        use_cache=False,
    )


class ApiClient:
    """A vendor's base URL plus one HttpClient; 404s become `NotFoundError` unless asked for."""

    def __init__(
        self,
        vendor: str,
        base_url: str,
        http: HttpClient,
        read_error_message: ErrorMessageReader,
        pacer: Optional[HeaderPacer] = None,
    ) -> None:
        self.vendor = vendor
        self.base_url = base_url.rstrip("/")
        self._http = http
        self._read_error_message = read_error_message
        self._pacer = pacer

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Optional[Mapping[str, Any]] = None,
        json: Optional[Any] = None,
        data: Optional[Any] = None,
        headers: Optional[Mapping[str, str]] = None,
        stream: bool = False,
        allow_statuses: Tuple[int, ...] = (),
        allow_redirects: bool = True,
    ) -> requests.Response:
        """Send with the CDK's retries; a handed-back 4xx not in `allow_statuses` raises."""
        if self._pacer is not None:
            self._pacer.before()
        _, response = self._http.send_request(
            method,
            self.url(path_or_url),
            request_kwargs={"stream": stream, "allow_redirects": allow_redirects},
            headers=dict(headers or {}),
            params=dict(params) if params else None,
            json=json,
            data=data,
        )
        if self._pacer is not None:
            self._pacer.after(response)
        if response.status_code >= 400 and response.status_code not in allow_statuses:
            message = self._read_error_message(response)
            response.close()
            where = f"{method} {_path_of(response)}"
            if response.status_code == 404:
                raise NotFoundError(self.vendor, f"{where} was not found: {message}")
            raise VendorError(self.vendor, f"{where} was rejected (HTTP {response.status_code}): {message}", status_code=response.status_code)
        return response

    def request_json(self, method: str, path_or_url: str, *, attempts: int = 3, **kwargs: Any) -> Dict[str, Any]:
        """A call answered with a JSON object. A body that does not parse was most likely cut
        short (a reset, a wrong Content-Length) and is fetched again; calls that create something
        pass `attempts=1` unless the vendor deduplicates them (Zuora's Idempotency-Key)."""
        problem = ""
        for _ in range(max(1, attempts)):
            response = self.request(method, path_or_url, **kwargs)
            try:
                payload = response.json()
            except ValueError:
                problem = f"expected JSON from {_path_of(response)}, got: {response_text_excerpt(response) or 'an empty body'}"
                continue
            if not isinstance(payload, dict):
                raise VendorError(self.vendor, f"expected a JSON object from {_path_of(response)}, got a {type(payload).__name__}")
            return payload
        raise VendorError(self.vendor, problem)

