"""Export ZOQL: the queries we send and the failure texts we recognise.

Literals always carry an explicit UTC offset: Zuora reads an offset-less literal in the tenant's
time zone (vendor-apis.md 4.3), which would shift every window by hours.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Iterable, Optional


def zoql_timestamp(moment: datetime) -> str:
    """`2024-01-01T00:00:00+00:00`: whole seconds, explicit offset, the form Zuora documents."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def window_query(object_name: str, fields: Iterable[str], cursor_field: str, start: datetime, end: datetime) -> str:
    """Half-open [start, end): adjacent windows neither overlap nor leave a gap."""
    return (
        f"select {', '.join(fields)} from {object_name} "
        f"where {cursor_field} >= '{zoql_timestamp(start)}' and {cursor_field} < '{zoql_timestamp(end)}'"
    )


def full_query(object_name: str, fields: Iterable[str]) -> str:
    return f"select {', '.join(fields)} from {object_name}"


# How Zuora (and other tools' bug reports) phrase "this field cannot be exported".
_REJECTED_FIELD_PATTERNS = (
    re.compile(r"there is no field named\s+['\"`]?([A-Za-z0-9_.]+)", re.IGNORECASE),
    re.compile(r"invalid field(?: name)?\s*[:=]?\s*['\"`]?([A-Za-z0-9_.]+)", re.IGNORECASE),
    re.compile(r"field\s+['\"`]?([A-Za-z0-9_.]+)['\"`]?\s+(?:is not|cannot be)\s+(?:exportable|exported|queryable|selected|found)", re.IGNORECASE),
    re.compile(r"column\s+['\"`]?([A-Za-z0-9_.]+)['\"`]?\s+cannot be resolved", re.IGNORECASE),
)


def rejected_field(reason: Optional[str]) -> Optional[str]:
    """The field name in a 'there is no field named X' style message, if any."""
    if not reason:
        return None
    for pattern in _REJECTED_FIELD_PATTERNS:
        match = pattern.search(reason)
        if match:
            return match.group(1).split(".")[-1]
    return None


# A window that held too much: Zuora's 3 h kill or a size limit. Splitting the window helps.
_TOO_LARGE = re.compile(
    r"time(?:d)?[\s_-]?out|timeout|exceed|too (?:large|many|big)|maximum (?:processing|size|number)|terminated|killed",
    re.IGNORECASE,
)


def looks_too_large(reason: Optional[str]) -> bool:
    return bool(reason and _TOO_LARGE.search(reason))
