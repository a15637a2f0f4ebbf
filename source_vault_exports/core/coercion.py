"""Typing string cells by a JSON schema, compiled once per file instead of per record.

Export files hand us strings. The stream's schema says what each column is; we pick one converter
per column when the header is read, so per-row work is a loop of plain function calls.
Output conventions: numbers are numbers, booleans are booleans, timestamps are UTC RFC 3339 strings
with milliseconds (`2024-03-01T18:11:12.000Z`, the same shape the incremental state uses), dates
stay `YYYY-MM-DD`. An empty cell is null. A column the schema does not know is kept as a string.
"""

from __future__ import annotations

from datetime import date, datetime, timezone, tzinfo
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from source_vault_exports.core.errors import RecordDecodeError

Converter = Callable[[str], Any]


def format_utc(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds: the one timestamp shape in records and state."""
    moment = moment.astimezone(timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def parse_timestamp(value: str, local_zone: tzinfo) -> datetime:
    """An ISO 8601 timestamp or bare date; values without an offset are in `local_zone`."""
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=local_zone)
    return parsed


def _json_types(prop: Mapping[str, Any]) -> Tuple[str, ...]:
    declared = prop.get("type", "string")
    types = (declared,) if isinstance(declared, str) else tuple(declared)
    return tuple(t for t in types if t != "null") or ("string",)


def _to_integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        number = float(text)
        if not number.is_integer():
            raise
        return int(number)


_TRUE = frozenset({"true", "t", "1", "yes", "y"})
_FALSE = frozenset({"false", "f", "0", "no", "n"})


def _to_boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(text)


def _to_date(text: str) -> str:
    stripped = text.strip()
    # Some vendors write a date field as a timestamp at midnight; the date part is the value.
    return date.fromisoformat(stripped[:10]).isoformat()


def converter_for(prop: Mapping[str, Any], local_zone: tzinfo) -> Tuple[Optional[Converter], str]:
    """The converter for one schema property (None = keep the string) and its type's name."""
    types = _json_types(prop)
    if "string" in types:
        fmt = prop.get("format")
        if fmt == "date-time":
            return (lambda text: format_utc(parse_timestamp(text, local_zone))), "date-time"
        if fmt == "date":
            return _to_date, "date"
        return None, "string"
    if "integer" in types:
        return _to_integer, "integer"
    if "number" in types:
        return float, "number"
    if "boolean" in types:
        return _to_boolean, "boolean"
    return None, "string"


def compile_row_builder(
    columns: Sequence[str],
    properties: Mapping[str, Mapping[str, Any]],
    *,
    stream: str,
    location: str,
    local_zone: tzinfo = timezone.utc,
) -> Callable[[List[str]], Dict[str, Any]]:
    """Build `cells -> record` for a file whose header is `columns` (already renamed)."""
    plan: List[Tuple[str, Optional[Converter], str]] = []
    for name in columns:
        prop = properties.get(name)
        converter, type_name = converter_for(prop, local_zone) if prop is not None else (None, "string")
        plan.append((name, converter, type_name))

    def build(cells: List[str]) -> Dict[str, Any]:
        record: Dict[str, Any] = {}
        for (name, converter, type_name), cell in zip(plan, cells):
            if cell == "":
                record[name] = None
            elif converter is None:
                record[name] = cell
            else:
                try:
                    record[name] = converter(cell)
                except (ValueError, OverflowError):
                    raise RecordDecodeError(stream, name, cell, type_name, location) from None
        return record

    return build
