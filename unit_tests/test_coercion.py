from datetime import timezone
from zoneinfo import ZoneInfo

import pytest

from source_vault_exports.core.coercion import compile_row_builder, format_utc, parse_timestamp
from source_vault_exports.core.errors import RecordDecodeError

PACIFIC = ZoneInfo("America/Los_Angeles")
PROPERTIES = {
    "Id": {"type": ["null", "string"]},
    "Count": {"type": ["null", "integer"]},
    "Amount": {"type": ["null", "number"]},
    "Active": {"type": ["null", "boolean"]},
    "Day": {"type": ["null", "string"], "format": "date"},
    "At": {"type": ["null", "string"], "format": "date-time"},
}


def build(columns, cells, zone=timezone.utc):
    return compile_row_builder(columns, PROPERTIES, stream="s", location="file 1", local_zone=zone)(cells)


def test_cells_are_typed_by_the_schema_and_empty_cells_are_null():
    record = build(["Id", "Count", "Amount", "Active", "Day", "At"], ["a1", "7", "12.500000000", "true", "2024-02-29", ""])
    assert record == {"Id": "a1", "Count": 7, "Amount": 12.5, "Active": True, "Day": "2024-02-29", "At": None}


def test_timestamps_with_offsets_become_utc_with_milliseconds():
    assert build(["At"], ["2015-01-01T16:00:00.123+01:00"]) == {"At": "2015-01-01T15:00:00.123Z"}
    assert build(["At"], ["2024-07-01T10:00:00Z"]) == {"At": "2024-07-01T10:00:00.000Z"}


def test_a_bare_date_in_a_datetime_column_is_midnight_in_the_tenant_zone():
    # Zuora writes midnight tenant time as a date; Pacific midnight in January is 08:00 UTC.
    assert build(["At"], ["2015-01-01"], PACIFIC) == {"At": "2015-01-01T08:00:00.000Z"}
    assert build(["At"], ["2015-07-01"], PACIFIC) == {"At": "2015-07-01T07:00:00.000Z"}


def test_unknown_columns_are_kept_as_strings():
    assert build(["Id", "Custom__c"], ["x", "42"]) == {"Id": "x", "Custom__c": "42"}


def test_integral_decimals_are_accepted_for_integers():
    assert build(["Count"], ["3.0"]) == {"Count": 3}


@pytest.mark.parametrize("column, value, expected", [("Count", "3.5", "integer"), ("Active", "maybe", "boolean"), ("At", "yesterday", "date-time"), ("Amount", "12,5", "number")])
def test_a_value_that_does_not_match_its_type_is_a_clear_error(column, value, expected):
    with pytest.raises(RecordDecodeError) as raised:
        build([column], [value])
    assert raised.value.message == f"Stream s: column `{column}` holds {value!r}, which is not a valid {expected} (file 1)"


def test_format_and_parse_round_trip():
    moment = parse_timestamp("2024-03-01T10:11:12.345-08:00", timezone.utc)
    assert format_utc(moment) == "2024-03-01T18:11:12.345Z"
