"""Tape records and the files in their attachment fields, shaped into stream rows.

Tape's payloads drift between versions (vendor-apis.md 3.7): `record_id` or `id`, `external_id`
or `slug`, `single_attachment` or `SINGLE_ATTACHMENT`; all are accepted. Attachment fields can
hold values that are not files at all (seed 003 shows user objects): only a value with an `id`
and a `filename` is a file, the rest are counted per field so one warning can say how many.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from source_vault_exports.core.coercion import format_utc

ATTACHMENT_FIELD_TYPES = {"single_attachment", "multi_attachment"}
# Names a last-modified time might carry; Tape documents none (vendor-apis.md 3.7.7).
_MODIFIED_KEYS = ("last_modified_on", "last_modified_at", "modified_on", "updated_on")


def tape_time(value: Any) -> Optional[str]:
    """`YYYY-MM-DD HH:MM:SS` (UTC, no T, no offset) as RFC 3339."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("T", " ").rstrip("Z")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return format_utc(moment)


def record_id_of(record: Mapping[str, Any]) -> Any:
    return record.get("record_id", record.get("id"))


def field_slug(field: Mapping[str, Any]) -> str:
    return str(field.get("external_id") or field.get("slug") or field.get("field_id"))


def field_type_of(field: Mapping[str, Any]) -> str:
    return str(field.get("field_type") or "").lower()


def _values(field: Mapping[str, Any]) -> List[Any]:
    return [entry.get("value") if isinstance(entry, Mapping) and "value" in entry else entry for entry in field.get("values") or []]


def record_row(app_id: int, record: Mapping[str, Any]) -> Dict[str, Any]:
    created = tape_time(record.get("created_on") or record.get("created_at"))
    modified = next((tape_time(record[key]) for key in _MODIFIED_KEYS if record.get(key)), None)
    fields = {}
    for field in record.get("fields") or []:
        fields[field_slug(field)] = {
            "field_id": field.get("field_id"),
            "label": field.get("label"),
            "type": field.get("type"),
            "field_type": field_type_of(field),
            "values": _values(field),
        }
    return {
        "app_id": app_id,
        "id": record_id_of(record),
        "app_record_id": record.get("app_record_id"),
        "title": record.get("title"),
        "created_at": created,
        "last_modified_at": modified or created,
        "fields": fields,
    }


def is_file(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("id") is not None and bool(value.get("filename"))


def attachment_rows(app_id: int, record: Mapping[str, Any], skipped: Counter) -> Iterator[Dict[str, Any]]:
    """One row per file in an attachment field; non-file values are counted in `skipped`."""
    record_id = record_id_of(record)
    base = record_row(app_id, record)
    for field in record.get("fields") or []:
        kind = field_type_of(field)
        if kind not in ATTACHMENT_FIELD_TYPES:
            continue
        slug = field_slug(field)
        for position, value in enumerate(_values(field)):
            if not is_file(value):
                skipped[(slug, field.get("field_id"))] += 1
                continue
            yield {
                "app_id": app_id,
                "record_id": record_id,
                "field_id": field.get("field_id"),
                "field_slug": slug,
                "field_type": kind,
                "position": position,
                "file_id": value["id"],
                "filename": value["filename"],
                "size": value.get("size"),
                "content_type": value.get("mimetype") or value.get("content_type"),
                "download_url": value.get("download_url"),
                "record_last_modified_at": base["last_modified_at"],
            }


def skipped_summary(app_id: int, skipped: Counter) -> List[str]:
    return [
        f"Tape app {app_id}: skipped {count} value(s) of attachment field {slug} (field {field_id}) that are not files "
        "(no id and filename, e.g. user objects)"
        for (slug, field_id), count in sorted(skipped.items(), key=lambda item: str(item[0]))
    ]


def find_file(record: Mapping[str, Any], file_id: Any) -> Optional[Mapping[str, Any]]:
    for field in record.get("fields") or []:
        for value in _values(field):
            if is_file(value) and value["id"] == file_id:
                return value
    return None


def file_path_parts(row: Mapping[str, Any]) -> Tuple[str, ...]:
    return (str(row["app_id"]), str(row["record_id"]), str(row["field_slug"]), f"{row['file_id']}-{row['filename']}")
