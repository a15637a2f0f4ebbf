"""Batch export file lines and export requests, shaped into stream rows."""

from __future__ import annotations

import hashlib
from datetime import timezone
from typing import Any, Dict, List, Mapping, Optional

import orjson

from source_vault_exports.core.coercion import format_utc, parse_timestamp


def utc_text(value: Any) -> Optional[str]:
    """Batch dates are UTC RFC 3339 without fractions; records use the connector's one shape."""
    if not isinstance(value, str) or not value.strip():
        return None
    return format_utc(parse_timestamp(value, timezone.utc))


def _identifiers(line: Mapping[str, Any]) -> Mapping[str, Any]:
    # Files nest identifiers, but the shape is undocumented (vendor-apis.md 2.8): accept flat too.
    nested = line.get("identifiers")
    # `dict` first: an isinstance check against typing.Mapping costs a microsecond per row.
    return nested if isinstance(nested, dict) or isinstance(nested, Mapping) else line


def profile_row(line: Mapping[str, Any]) -> Dict[str, Any]:
    identifiers = _identifiers(line)
    custom_id = identifiers.get("custom_id")
    installations: List[str] = sorted(str(i) for i in (identifiers.get("installation_ids") or []))
    if custom_id:
        key = f"custom_id:{custom_id}"
    elif installations:
        key = f"installation:{installations[0]}"
    else:
        key = "sha1:" + hashlib.sha1(orjson.dumps(line, option=orjson.OPT_SORT_KEYS)).hexdigest()
    attributes = line.get("attributes")
    return {
        "profile_key": key,
        "custom_id": custom_id,
        "installation_ids": installations or None,
        "attributes": dict(attributes) if isinstance(attributes, dict) or isinstance(attributes, Mapping) else None,
    }


def event_row(line: Mapping[str, Any]) -> Dict[str, Any]:
    """One event; `event_key` is a hash of the whole line, so the same event re-exported dedupes."""
    identifiers = _identifiers(line)
    row = {key: value for key, value in line.items() if key != "identifiers"}
    row.update(
        event_key=hashlib.sha256(orjson.dumps(line, option=orjson.OPT_SORT_KEYS)).hexdigest()[:40],
        custom_id=identifiers.get("custom_id"),
        installation_id=identifiers.get("installation_id"),
        timestamp=utc_text(line.get("timestamp")),
    )
    return row


def export_request_row(view: Mapping[str, Any]) -> Dict[str, Any]:
    """A view object; `requested_at` (seed 002's doc bug) is read as `request_date` (vendor-apis.md 2.7.2)."""
    row = dict(view)
    requested = row.pop("requested_at", None)
    row["request_date"] = utc_text(row.get("request_date") or requested)
    for name in ("start_date", "completion_date"):
        if name in row:
            row[name] = utc_text(row[name])
    files = row.get("files")
    if isinstance(files, list):
        row["files"] = sorted(files, key=lambda item: item.get("part", 0) if isinstance(item, Mapping) else 0)
    return row
