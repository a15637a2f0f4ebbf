"""The connector's spec: shared fields plus one optional section per vendor."""

from __future__ import annotations

from typing import Any, Dict

from airbyte_cdk.models import ConnectorSpecification

from source_vault_exports.config import FILE_TRANSFER, RECORDS_TRANSFER
from source_vault_exports.vendors import VENDORS

DOCUMENTATION_URL = "https://docs.airbyte.com/integrations/sources/vault-exports"

DELIVERY_METHOD = {
    "title": "Delivery method",
    "description": "Rows describing each file, or those rows plus the file bytes (Airbyte file transfer).",
    "type": "object",
    "display_type": "radio",
    "group": "advanced",
    "default": {"delivery_type": RECORDS_TRANSFER},
    "oneOf": [
        {
            "title": "Replicate records",
            "description": "Send file metadata rows (name, size, checksum, location) only.",
            "type": "object",
            "required": ["delivery_type"],
            "properties": {
                "delivery_type": {"title": "Delivery type", "type": "string", "const": RECORDS_TRANSFER, "enum": [RECORDS_TRANSFER], "default": RECORDS_TRANSFER}
            },
        },
        {
            "title": "Copy raw files",
            "description": "Also deliver the bytes of each attachment through Airbyte's file transfer.",
            "type": "object",
            "required": ["delivery_type"],
            "properties": {
                "delivery_type": {"title": "Delivery type", "type": "string", "const": FILE_TRANSFER, "enum": [FILE_TRANSFER], "default": FILE_TRANSFER}
            },
        },
    ],
}


def connection_specification() -> Dict[str, Any]:
    properties: Dict[str, Any] = {
        "start_date": {
            "title": "Start date",
            "description": "RFC 3339 timestamp; incremental streams of every vendor start here unless a vendor section overrides it.",
            "type": "string",
            "format": "date-time",
            "examples": ["2024-01-01T00:00:00Z"],
            "order": 0,
        },
        "delivery_method": {**DELIVERY_METHOD, "order": 1},
    }
    for order, vendor in enumerate(VENDORS, start=2):
        properties[vendor.key] = {**vendor.spec_section(), "order": order}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Vault Exports Source Spec",
        "description": "Configure one or more vendors; only their streams are discovered.",
        "type": "object",
        "additionalProperties": True,
        "properties": properties,
    }


def connector_specification() -> ConnectorSpecification:
    return ConnectorSpecification(
        documentationUrl=DOCUMENTATION_URL,
        connectionSpecification=connection_specification(),
        supportsIncremental=True,
    )
