"""Object metadata from Zuora's describe call, turned into stream schemas and export field lists.

Describe (`GET /v1/describe/{Object}`, XML) lists every field with a type and the contexts it can be
used in; only `export` fields go into the ZOQL select. When describe cannot be read for a default
object, the schema shipped in `schemas/` is used instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional
from xml.etree import ElementTree

from source_vault_exports.core.errors import VendorError
from source_vault_exports.core.schemas import shipped_schema

# Zuora field types -> JSON schema (tap-zuora's mapping, with dates kept as dates).
_TYPES: Mapping[str, Mapping[str, Any]] = {
    "integer": {"type": ["null", "integer"]},
    "decimal": {"type": ["null", "number"]},
    "double": {"type": ["null", "number"]},
    "float": {"type": ["null", "number"]},
    "boolean": {"type": ["null", "boolean"]},
    "date": {"type": ["null", "string"], "format": "date"},
    "datetime": {"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_with_timezone"},
}
_STRING = {"type": ["null", "string"]}

# Cursor candidates in order of preference (vendor-apis.md 4.3): objects without UpdatedDate
# are read by CreatedDate, objects with neither as full refresh.
CURSOR_CANDIDATES = ("UpdatedDate", "CreatedDate")


def stream_name_for(object_name: str) -> str:
    """`InvoiceItem` -> `zuora_invoice_item`."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", object_name).lower()
    return f"zuora_{snake}"


@dataclass(frozen=True)
class ObjectDescription:
    object_name: str
    fields: Dict[str, Mapping[str, Any]]  # export field name -> JSON schema property
    source: str  # "describe" or "shipped schema"

    @property
    def cursor_field(self) -> Optional[str]:
        return next((name for name in CURSOR_CANDIDATES if name in self.fields), None)

    def json_schema(self) -> Dict[str, Any]:
        return {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": True,
            "properties": {name: dict(prop) for name, prop in self.fields.items()},
        }


def parse_describe(object_name: str, xml_bytes: bytes) -> ObjectDescription:
    try:
        root = ElementTree.fromstring(xml_bytes)
    except ElementTree.ParseError as exc:
        raise VendorError("Zuora", f"describe of {object_name} is not valid XML: {exc}") from None
    fields: Dict[str, Mapping[str, Any]] = {}
    for element in root.iterfind("./fields/field"):
        name = (element.findtext("name") or "").strip()
        if not name:
            continue
        contexts = {(c.text or "").strip().lower() for c in element.iterfind("./contexts/context")}
        if "export" not in contexts:
            continue
        zuora_type = (element.findtext("type") or "").strip().lower()
        fields[name] = _TYPES.get(zuora_type, _STRING)
    if not fields:
        raise VendorError("Zuora", f"describe of {object_name} lists no field that can be exported")
    return ObjectDescription(object_name, fields, "describe")


def shipped_description(object_name: str) -> Optional[ObjectDescription]:
    schema = shipped_schema(stream_name_for(object_name))
    if schema is None:
        return None
    return ObjectDescription(object_name, dict(schema["properties"]), "shipped schema")


def export_fields(description: ObjectDescription, dropped: List[str]) -> List[str]:
    return [name for name in description.fields if name not in dropped]
