"""Zuora's HTTP layer with mocked responses: tokens, retries, error texts, idempotency."""

import dataclasses
import logging
from datetime import timedelta

import pytest
import requests_mock
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_vault_exports.config import SharedConfig
from source_vault_exports.core import http as core_http
from source_vault_exports.core.errors import NotFoundError
from source_vault_exports.core.jobs import VendorBusy
from source_vault_exports.vendors.zuora.api import ExportRejected, ZuoraApi, read_zuora_error
from source_vault_exports.vendors.zuora.config import read_config

BASE = "https://rest.eu.zuora.com"
FAST = dataclasses.replace(core_http.DEFAULT_RETRY_POLICY, backoff_base_seconds=0.01, backoff_cap_seconds=0.01, max_advised_wait_seconds=0.01)


def api(**section):
    config = read_config({"base_url": BASE, "client_id": "cid", "client_secret": "csecret", **section}, SharedConfig(None, "use_records_transfer"))
    return ZuoraApi(config, logging.getLogger("test"), FAST)


def token(mock, expires_in=3599, value="tok-1"):
    return mock.post(f"{BASE}/oauth/token", json={"access_token": value, "token_type": "bearer", "expires_in": expires_in})


def test_the_token_request_is_a_client_credentials_form_without_authorization():
    with requests_mock.Mocker() as mock:
        token_call = token(mock)
        mock.get(f"{BASE}/v1/object/export/e1", json={"Id": "e1", "Status": "Pending"})
        api().get_export("e1")
    sent = token_call.last_request
    assert "Authorization" not in sent.headers
    assert dict(pair.split("=") for pair in sent.text.split("&")) == {"client_id": "cid", "client_secret": "csecret", "grant_type": "client_credentials"}
    assert mock.request_history[1].headers["Authorization"] == "Bearer tok-1"


def test_one_token_serves_many_calls_and_is_renewed_before_it_expires():
    with requests_mock.Mocker() as mock:
        token_call = token(mock, expires_in=3599)
        mock.get(f"{BASE}/v1/object/export/e1", json={"Id": "e1", "Status": "Pending"})
        client = api()
        for _ in range(5):
            client.get_export("e1")
        assert token_call.call_count == 1
        expiry = client.authenticator.get_token_expiry_date()
        # Renewed 5 minutes early: Zuora's guidance for its one-hour tokens.
        from airbyte_cdk.utils.datetime_helpers import ab_datetime_now

        assert timedelta(minutes=54) < expiry - ab_datetime_now() < timedelta(minutes=55)


def test_a_401_refreshes_the_token_once_and_repeats_the_call():
    with requests_mock.Mocker() as mock:
        token_call = mock.post(f"{BASE}/oauth/token", [{"json": {"access_token": "old", "expires_in": 3599}}, {"json": {"access_token": "new", "expires_in": 3599}}])
        mock.get(f"{BASE}/v1/object/export/e1", [{"status_code": 401, "json": {"message": "Authentication error"}}, {"json": {"Id": "e1", "Status": "Completed"}}])
        assert api().get_export("e1")["Status"] == "Completed"
    assert token_call.call_count == 2
    assert mock.request_history[-1].headers["Authorization"] == "Bearer new"


def test_bad_credentials_are_a_config_error_naming_the_fields_not_the_secret():
    with requests_mock.Mocker() as mock:
        mock.post(f"{BASE}/oauth/token", status_code=401, json={"message": "Authentication error"})
        with pytest.raises(AirbyteTracedException) as raised:
            api().fetch_token()
    assert raised.value.failure_type.value == "config_error"
    assert "zuora.client_secret" in raised.value.message and "csecret" not in raised.value.message


def test_a_retried_export_post_keeps_its_idempotency_key_and_the_entity_header():
    with requests_mock.Mocker() as mock:
        token(mock)
        create = mock.post(f"{BASE}/v1/object/export", [{"status_code": 503, "json": {"message": "busy"}}, {"json": {"Success": True, "Id": "exp-9"}}])
        assert api(entity_id="ent-7").create_export("select Id from Account", "n") == "exp-9"
    keys = [request.headers["Idempotency-Key"] for request in create.request_history]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert all(request.headers["Zuora-Entity-Ids"] == "ent-7" for request in create.request_history)
    assert create.request_history[0].json() == {"Format": "csv", "Zip": False, "Name": "n", "Query": "select Id from Account"}


def test_a_rejected_export_carries_zuoras_message():
    with requests_mock.Mocker() as mock:
        token(mock)
        mock.post(f"{BASE}/v1/object/export", status_code=400, json={"Success": False, "Errors": [{"Code": "INVALID_VALUE", "Message": "There is no field named Foo"}]})
        with pytest.raises(ExportRejected) as rejected:
            api().create_export("select Foo from Account", "n")
    assert rejected.value.message == "INVALID_VALUE: There is no field named Foo"


def test_the_concurrent_export_limit_is_reported_as_busy_not_as_an_error():
    with requests_mock.Mocker() as mock:
        token(mock)
        mock.post(f"{BASE}/v1/object/export", status_code=429, json={"Success": False, "Errors": [{"Code": "LIMIT_EXCEEDED", "Message": "The maximum number of concurrent exports (50) has been reached"}]})
        with pytest.raises(VendorBusy):
            api().create_export("select Id from Account", "n")


def test_a_throttled_call_waits_for_rate_limit_reset_and_succeeds():
    with requests_mock.Mocker() as mock:
        token(mock)
        mock.get(f"{BASE}/v1/object/export/e1", [{"status_code": 429, "headers": {"RateLimit-Reset": "0"}, "json": {"message": "Too many"}}, {"json": {"Id": "e1", "Status": "Pending"}}])
        assert api().get_export("e1")["Status"] == "Pending"


def test_a_missing_file_is_not_found():
    with requests_mock.Mocker() as mock:
        token(mock)
        mock.get(f"{BASE}/v1/files/f1", status_code=404, json={"success": False, "reasons": [{"code": 50000040, "message": "File not found"}]})
        with pytest.raises(NotFoundError) as missing:
            api().open_file("f1")
    assert "GET /v1/files/f1 was not found: 50000040: File not found" in missing.value.message


@pytest.mark.parametrize(
    "body, text",
    [
        ({"Success": False, "Errors": [{"Code": "INVALID_VALUE", "Message": "bad"}]}, "INVALID_VALUE: bad"),
        ({"success": False, "reasons": [{"code": 53100320, "message": "nope"}]}, "53100320: nope"),
        ({"message": "Authentication error"}, "Authentication error"),
        ({"error": "invalid_client", "error_description": "unknown client"}, "invalid_client: unknown client"),
    ],
)
def test_all_three_zuora_error_shapes_are_read(body, text):
    with requests_mock.Mocker() as mock:
        mock.get("https://x.test/e", status_code=400, json=body)
        import requests

        assert read_zuora_error(requests.get("https://x.test/e")) == text
