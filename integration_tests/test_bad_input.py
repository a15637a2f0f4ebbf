"""Bad configs get a config error naming the field, through the real entrypoint; never a traceback."""

from __future__ import annotations

import copy
import tempfile
from typing import Any, Dict

import pytest
from airbyte_cdk.sources.utils.schema_helpers import check_config_against_spec_or_exit
from airbyte_cdk.test import entrypoint_wrapper
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration_tests.helpers import check
from source_vault_exports.source import CONFIG_PROBLEM, SourceVaultExports
from source_vault_exports.spec import connector_specification

VALID: Dict[str, Any] = {
    "start_date": "2024-01-01T00:00:00Z",
    "zuora": {"base_url": "https://rest.eu.zuora.com", "client_id": "cid", "client_secret": "zuora-SECRET-1", "objects": ["Account"], "window_days": 30},
    "veeva_vault": {
        "vault_url": "https://myvault.veevavault.com",
        "username": "user@vault",
        "password": "vault-SECRET-2",
        "attachment_field_objects": [{"object_name": "product__v", "field_names": ["attachment__c"]}],
    },
    "batch": {"rest_api_key": "batch-SECRET-3", "project_key": "project_abc", "identifiers": ["custom_id"], "events": ["email_open"]},
    "tape": {"api_key": "user_key_tape-SECRET-4", "app_ids": [101], "page_size": 100},
}
SECRETS = ["zuora-SECRET-1", "vault-SECRET-2", "batch-SECRET-3", "user_key_tape-SECRET-4"]


def with_change(path: str, value: Any) -> Dict[str, Any]:
    config = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    target = config
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return config


DELETE = object()

CASES = [
    ("zuora", "not an object", "zuora", "must be an object"),
    ("zuora.client_id", DELETE, "zuora.client_id", "is required"),
    ("zuora.client_secret", 12345, "zuora.client_secret", "must be a string, not int"),
    ("zuora.base_url", "http://rest.zuora.com", "zuora.base_url", "must use https://"),
    ("zuora.window_days", "abc", "zuora.window_days", "whole number of days"),
    ("zuora.objects", [], "zuora.objects", "non-empty list"),
    ("start_date", "2999-01-01T00:00:00Z", "start_date", "is in the future"),
    ("zuora.start_date", "yesterday-ish", "zuora.start_date", "not an RFC 3339 timestamp"),
    ("veeva_vault.vault_url", "http://myvault.veevavault.com", "veeva_vault.vault_url", "must use https://"),
    ("veeva_vault.vault_url", "https://myvault.veevavault.com/ui/#doc", "veeva_vault.vault_url", "must not carry"),
    ("veeva_vault.password", DELETE, "veeva_vault.password", "give username and password, or a session_id"),
    ("veeva_vault.attachment_field_objects", [{"object_name": "Product Object"}], "veeva_vault.attachment_field_objects[0].object_name", "Vault object name"),
    ("veeva_vault.api_version", "25.3", "veeva_vault.api_version", "not a Vault API version"),
    ("batch.project_key", DELETE, "batch.project_key", "is required"),
    ("batch.identifiers", ["email"], "batch.identifiers", "unknown value(s) email"),
    ("batch.events", ["email_opened"], "batch.events", "unknown value(s) email_opened"),
    ("batch.lookback_days", 0, "batch.lookback_days", "whole number from 1 to 3650"),
    ("tape.app_ids", ["101"], "tape.app_ids", "positive whole numbers"),
    ("tape.page_size", 1000, "tape.page_size", "from 1 to 500"),
    ("tape.api_url", "ftp://api.tapeapp.com", "tape.api_url", "not an absolute http(s) URL"),
    ("delivery_method", {"delivery_type": "fax"}, "delivery_method.delivery_type", "must be use_records_transfer or use_file_transfer"),
]


@pytest.mark.parametrize("path, value, field, problem", CASES, ids=[f"{c[0]}={c[1]!r}"[:60] for c in CASES])
def test_check_and_discover_name_the_field_of_a_bad_value(path, value, field, problem):
    config = with_change(path, value)
    status = check(config)
    assert status.status.name == "FAILED"
    assert status.message.startswith(f"Config field `{field}`: ") and problem in status.message, status.message
    output = entrypoint_wrapper.discover(SourceVaultExports(), config, expected_outcome=entrypoint_wrapper.ExpectedOutcome.EXPECT_EXCEPTION)
    (error,) = output.errors
    assert error.trace.error.message == status.message
    assert error.trace.error.failure_type.value == "config_error"
    everything = "\n".join(str(m) for m in output.get_message_iterator())
    assert not any(secret in everything or secret in status.message for secret in SECRETS if secret not in str(value))


def test_a_config_without_any_vendor_names_the_sections():
    status = check({"start_date": "2024-01-01T00:00:00Z"})
    assert status.status.name == "FAILED" and "configure at least one vendor section" in status.message


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**12) | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=8,
)
FIELDS = [
    "start_date", "delivery_method", "zuora", "zuora.base_url", "zuora.client_id", "zuora.client_secret", "zuora.entity_id",
    "zuora.objects", "zuora.window_days", "zuora.start_date", "zuora.tenant_timezone", "zuora.max_concurrent_exports",
    "zuora.poll_interval_seconds", "zuora.export_timeout_minutes", "veeva_vault", "veeva_vault.vault_url",
    "veeva_vault.api_version", "veeva_vault.username", "veeva_vault.password", "veeva_vault.session_id",
    "veeva_vault.attachment_field_objects", "veeva_vault.document_attachments", "veeva_vault.max_concurrent_jobs",
    "veeva_vault.job_timeout_hours", "batch", "batch.api_url", "batch.rest_api_key", "batch.project_key", "batch.attributes",
    "batch.identifiers", "batch.events", "batch.lookback_days", "batch.event_window_hours", "batch.max_concurrent_exports",
    "tape", "tape.api_url", "tape.api_key", "tape.app_ids", "tape.page_size", "tape.start_date",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(FIELDS), JSON_VALUES), min_size=1, max_size=3))
def test_any_mangled_config_is_either_accepted_consistently_with_the_spec_or_named_precisely(changes):
    config = copy.deepcopy(VALID)
    for path, value in changes:
        *parents, last = path.split(".")
        target = config
        for part in parents:
            target = target.get(part) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target[last] = value
    with tempfile.TemporaryDirectory() as folder:
        configured = SourceVaultExports().configure(config, folder)
    if CONFIG_PROBLEM in configured:
        message = configured[CONFIG_PROBLEM]
        assert message.startswith("Config field `"), message
        assert "Traceback" not in message and 'File "' not in message
        assert not any(secret in message for secret in SECRETS)
    else:
        # What our reading accepts, the spec accepts too: no jsonschema message can surface instead.
        check_config_against_spec_or_exit(configured, connector_specification())
