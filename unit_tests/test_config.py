"""Config problems name the field and never echo secrets."""

from datetime import datetime, timezone

import pytest

from source_vault_exports.config import SharedConfig, read_shared_config
from source_vault_exports.core.errors import ConfigError
from source_vault_exports.source import configured_vendors
from source_vault_exports.vendors import VENDORS
from source_vault_exports.vendors.zuora.config import EARLIEST_START, read_config

SHARED = SharedConfig(None, "use_records_transfer")
GOOD = {"client_id": "cid", "client_secret": "csecret"}


def problem(section, shared=SHARED):
    with pytest.raises(ConfigError) as raised:
        read_config(section, shared)
    return raised.value.message


@pytest.mark.parametrize(
    "section, message",
    [
        ({**GOOD, "base_url": "http://rest.zuora.com"}, "Config field `zuora.base_url`: must use https:// (http:// is only accepted for loopback hosts)"),
        ({**GOOD, "base_url": "rest.zuora.com"}, "Config field `zuora.base_url`: 'rest.zuora.com' is not an absolute http(s) URL"),
        ({"client_id": "cid"}, "Config field `zuora.client_secret`: is required"),
        ({**GOOD, "window_days": 0}, "Config field `zuora.window_days`: must be a whole number of days from 1 to 3650, not 0"),
        ({**GOOD, "objects": ["Account", "account"]}, "Config field `zuora.objects`: account is listed twice"),
        ({**GOOD, "objects": ["Drop table"]}, "Config field `zuora.objects`: 'Drop table' is not a Zuora object name (letters, digits, underscores)"),
        ({**GOOD, "max_concurrent_exports": 51}, "Config field `zuora.max_concurrent_exports`: must be a whole number from 1 to 50, not 51"),
        ({**GOOD, "poll_interval_seconds": 1}, "Config field `zuora.poll_interval_seconds`: must be between 10 and 60, not 1"),
        ({**GOOD, "tenant_timezone": "Mars/Olympus"}, "Config field `zuora.tenant_timezone`: 'Mars/Olympus' is not an IANA time zone such as America/Los_Angeles"),
        ({**GOOD, "start_date": "2999-01-01T00:00:00Z"}, "Config field `zuora.start_date`: 2999-01-01T00:00:00Z is in the future"),
        ({**GOOD, "start_date": "last tuesday"}, "Config field `zuora.start_date`: 'last tuesday' is not an RFC 3339 timestamp such as 2024-01-01T00:00:00Z"),
    ],
)
def test_bad_values_name_their_field(section, message):
    assert problem(section) == message


def test_loopback_simulators_may_use_http_and_fast_polling():
    config = read_config({**GOOD, "base_url": "http://127.0.0.1:8081", "poll_interval_seconds": 0.05}, SHARED)
    assert config.base_url == "http://127.0.0.1:8081" and config.poll_interval_seconds == 0.05


def test_defaults_follow_the_design():
    config = read_config(GOOD, SHARED)
    assert config.base_url == "https://rest.zuora.com"
    assert config.objects == ["Account", "Subscription", "RatePlan", "Invoice", "InvoiceItem", "Payment", "Contact"]
    assert config.window.days == 30 and config.max_concurrent_exports == 8
    assert config.start_date == EARLIEST_START


def test_start_date_comes_from_the_section_then_the_top_level():
    shared = read_shared_config({"start_date": "2024-02-01T00:00:00Z"})
    assert read_config(GOOD, shared).start_date == datetime(2024, 2, 1, tzinfo=timezone.utc)
    assert read_config({**GOOD, "start_date": "2024-03-01"}, shared).start_date == datetime(2024, 3, 1, tzinfo=timezone.utc)


def test_a_config_without_any_vendor_is_rejected_by_name():
    with pytest.raises(ConfigError) as raised:
        configured_vendors({"start_date": "2024-01-01T00:00:00Z"})
    assert raised.value.message == f"Config field `config`: configure at least one vendor section ({', '.join(v.key for v in VENDORS)})"
    assert "zuora" in raised.value.message


def test_an_unknown_delivery_type_is_rejected():
    with pytest.raises(ConfigError, match="delivery_method.delivery_type"):
        read_shared_config({"delivery_method": {"delivery_type": "carrier_pigeon"}})
