import json
from importlib import resources

import pytest

from source_vault_exports.core.errors import VendorError
from source_vault_exports.simulators.zuora.dataset import STANDARD_FIELDS
from source_vault_exports.vendors.zuora.describe import parse_describe, shipped_description, stream_name_for

XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<object href="https://rest.zuora.com/v1/describe/Account"><name>Account</name><fields>
<field><name>Id</name><type>text</type><contexts><context>export</context></contexts></field>
<field><name>Balance</name><type>decimal</type><contexts><context>export</context><context>soap</context></contexts></field>
<field><name>SoapOnly</name><type>text</type><contexts><context>soap</context></contexts></field>
<field><name>Weird</name><type>geolocation</type><contexts><context>export</context></contexts></field>
<field><name>UpdatedDate</name><type>datetime</type><contexts><context>export</context></contexts></field>
</fields></object>"""


def test_only_exportable_fields_are_kept_and_unknown_types_are_strings():
    description = parse_describe("Account", XML)
    assert description.fields == {
        "Id": {"type": ["null", "string"]},
        "Balance": {"type": ["null", "number"]},
        "Weird": {"type": ["null", "string"]},
        "UpdatedDate": {"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_with_timezone"},
    }
    assert description.cursor_field == "UpdatedDate"


def test_broken_describe_xml_is_a_clear_error():
    with pytest.raises(VendorError, match="describe of Account is not valid XML"):
        parse_describe("Account", b"<object><fields>")


@pytest.mark.parametrize("name, stream", [("Account", "zuora_account"), ("InvoiceItem", "zuora_invoice_item"), ("RatePlan", "zuora_rate_plan"), ("ProductRatePlanCharge", "zuora_product_rate_plan_charge")])
def test_stream_names_are_snake_case(name, stream):
    assert stream_name_for(name) == stream


@pytest.mark.parametrize("object_name", sorted(STANDARD_FIELDS))
def test_each_default_object_ships_a_schema_with_id_and_updated_date(object_name):
    description = shipped_description(object_name)
    assert description is not None and description.cursor_field == "UpdatedDate"
    assert list(description.fields) == [name for name, _ in STANDARD_FIELDS[object_name]]


def test_shipped_schemas_are_valid_json_schema_files():
    from jsonschema import Draft7Validator

    files = [entry for entry in resources.files("source_vault_exports.schemas").iterdir() if entry.name.endswith(".json")]
    assert len([entry for entry in files if entry.name.startswith("zuora_")]) == 7
    for entry in files:
        Draft7Validator.check_schema(json.loads(entry.read_text()))
