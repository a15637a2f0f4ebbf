"""Zuora OAuth client credentials: one token per sync, shared by every window and stream.

The CDK's `Oauth2Authenticator` keeps the token, refreshes it under a lock and is asked by the
HttpClient to refresh once on a 401. We change three things: the grant is client_credentials with
no refresh token; the token request goes through an HttpClient (connect timeouts, bounded retries,
Zuora's error text) instead of a bare `requests` call that can hang; and the token is renewed a few
minutes before it expires, as Zuora asks (vendor-apis.md 4.1), not when it already has.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Mapping, Optional

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http import HttpClient
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.sources.streams.http.requests_native_auth import Oauth2Authenticator
from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets
from airbyte_cdk.utils.datetime_helpers import AirbyteDateTime, ab_datetime_now

from source_vault_exports.core.errors import VendorError

TOKEN_PATH = "/oauth/token"
# Renew this long before expiry (Zuora: ~5 min), but never more than a tenth of a short lifetime.
RENEW_BEFORE_EXPIRY = timedelta(minutes=5)


def classify_token_response(response: requests.Response) -> Optional[ErrorResolution]:
    """A 4xx from the token endpoint means the client id/secret (or the data centre) is wrong."""
    if response.status_code in (400, 401, 403):
        return ErrorResolution(
            ResponseAction.FAIL,
            FailureType.config_error,
            "Zuora rejected the OAuth client credentials "
            f"(HTTP {response.status_code}). Check zuora.client_id and zuora.client_secret, and that "
            "zuora.base_url is the data centre this OAuth client belongs to.",
        )
    return None


class ZuoraTokenAuthenticator(Oauth2Authenticator):
    def __init__(self, base_url: str, client_id: str, client_secret: str, token_client: HttpClient) -> None:
        super().__init__(
            token_refresh_endpoint=f"{base_url}{TOKEN_PATH}",
            client_id=client_id,
            client_secret=client_secret,
            refresh_token="",
            grant_type="client_credentials",
        )
        self._token_client = token_client

    def build_refresh_request_body(self) -> Mapping[str, Any]:
        return {
            "client_id": self.get_client_id(),
            "client_secret": self.get_client_secret(),
            "grant_type": "client_credentials",
        }

    def build_refresh_request_query_params(self) -> None:
        return None

    def _make_handled_request(self) -> Any:
        # Sent as a streamed request so the HttpClient's debug log does not print the body,
        # which holds the new token before it can be registered as a secret below.
        _, response = self._token_client.send_request(
            "POST",
            self.get_token_refresh_endpoint(),
            request_kwargs={"stream": True},
            data=self.build_refresh_request_body(),
        )
        try:
            body = response.json()
        except ValueError:
            raise VendorError("Zuora", f"the token endpoint answered HTTP {response.status_code} with a body that is not JSON") from None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise VendorError("Zuora", "the token endpoint answered without an access_token")
        add_to_secrets(token)
        return body

    def _extract_token_expiry_date(self, response_data: Mapping[str, Any]) -> AirbyteDateTime:
        lifetime = timedelta(seconds=float(response_data.get("expires_in") or 3599))
        margin = min(RENEW_BEFORE_EXPIRY, lifetime / 10)
        return ab_datetime_now() + lifetime - margin
