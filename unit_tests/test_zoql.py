from datetime import datetime, timedelta, timezone

import pytest

from source_vault_exports.vendors.zuora.windows import MIN_SPLIT_WINDOW, split_window
from source_vault_exports.vendors.zuora.zoql import looks_too_large, rejected_field, window_query

UTC = timezone.utc


def test_window_queries_are_half_open_with_explicit_utc_offsets():
    query = window_query("Account", ["Id", "Name"], "UpdatedDate", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 31, 12, tzinfo=timezone(timedelta(hours=-8))))
    assert query == (
        "select Id, Name from Account where UpdatedDate >= '2024-01-01T00:00:00+00:00' "
        "and UpdatedDate < '2024-01-31T20:00:00+00:00'"
    )


@pytest.mark.parametrize(
    "reason, field",
    [
        ("There is no field named LegacyCode__c", "LegacyCode__c"),
        ("INVALID_VALUE: there is no field named 'Account.Foo'", "Foo"),
        ("invalid field name: Bar__c", "Bar__c"),
        ("Column Baz cannot be resolved", "Baz"),
        ("Internal error", None),
        (None, None),
    ],
)
def test_rejected_field_names_are_recognised(reason, field):
    assert rejected_field(reason) == field


@pytest.mark.parametrize(
    "reason, too_large",
    [
        ("Export processing exceeded the maximum processing time and was terminated", True),
        ("Query timed out", True),
        ("too many records", True),
        ("Internal error", False),
        ("", False),
    ],
)
def test_too_large_reasons_are_recognised(reason, too_large):
    assert looks_too_large(reason) is too_large


def test_windows_split_at_whole_seconds_down_to_the_minimum():
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert split_window(start, start + timedelta(days=1, seconds=1)) == (
        (start, start + timedelta(hours=12)),
        (start + timedelta(hours=12), start + timedelta(days=1, seconds=1)),
    )
    assert split_window(start, start + MIN_SPLIT_WINDOW) is None
