"""The `zuora` config section: its spec and its validation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, List, Mapping, Optional
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from source_vault_exports.config import (
    SharedConfig,
    is_loopback_host,
    read_base_url,
    read_positive_number,
    read_start_date,
    read_string,
)
from source_vault_exports.core.errors import ConfigError

DEFAULT_BASE_URL = "https://rest.zuora.com"
DEFAULT_OBJECTS = ["Account", "Subscription", "RatePlan", "Invoice", "InvoiceItem", "Payment", "Contact"]
DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 3650
# Zuora writes a datetime at exactly midnight Zuora system time as a bare date; Zuora system time is
# US Pacific (vendor-apis.md 4.5), so that is where such a date is placed unless told otherwise.
DEFAULT_TENANT_TIMEZONE = "America/Los_Angeles"
# Zuora has no data older than its own founding; a sync without start_date starts here.
EARLIEST_START = datetime.fromisoformat("2007-01-01T00:00:00+00:00")

ZUORA_MAX_CONCURRENT_EXPORTS = 50  # per tenant, Pending + Processing (seed 004)
DEFAULT_CONCURRENT_EXPORTS = 8
# Zuora asks for polls every 10-60 s (vendor-apis.md 4.4); faster polling only for loopback simulators.
ZUORA_MIN_POLL_SECONDS = 10.0
ZUORA_MAX_POLL_SECONDS = 60.0
# Zuora kills an export after 3 h of processing (seed 004); we wait a little longer than that
# so a kill is reported by Zuora, then split the window.
DEFAULT_EXPORT_TIMEOUT_MINUTES = 190.0

_OBJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ZuoraConfig:
    base_url: str
    client_id: str
    client_secret: str
    entity_id: Optional[str]
    objects: List[str]
    window: timedelta
    start_date: datetime
    tenant_timezone: ZoneInfo
    max_concurrent_exports: int
    poll_interval_seconds: float
    export_timeout_seconds: float
    delivery_type: str


def spec_section() -> Mapping[str, Any]:
    return {
        "title": "Zuora",
        "description": "Export Zuora objects with data source exports (ZOQL), one incremental stream per object.",
        "type": "object",
        "required": ["client_id", "client_secret"],
        "properties": {
            "base_url": {
                "title": "REST base URL",
                "description": "The REST host of your Zuora data centre, e.g. https://rest.zuora.com, "
                "https://rest.eu.zuora.com or https://rest.apisandbox.zuora.com.",
                "type": "string",
                "default": DEFAULT_BASE_URL,
                "examples": [DEFAULT_BASE_URL, "https://rest.eu.zuora.com", "https://rest.apisandbox.zuora.com"],
                "order": 0,
            },
            "client_id": {
                "title": "OAuth client ID",
                "description": "Client ID of an OAuth client created under Settings > Administration > Manage Users.",
                "type": "string",
                "order": 1,
            },
            "client_secret": {
                "title": "OAuth client secret",
                "type": "string",
                "airbyte_secret": True,
                "order": 2,
            },
            "entity_id": {
                "title": "Entity ID",
                "description": "Multi-entity tenants only: the entity to export (sent as Zuora-Entity-Ids).",
                "type": "string",
                "order": 3,
            },
            "objects": {
                "title": "Objects",
                "description": "Zuora objects to export; each becomes a stream named zuora_<object>.",
                "type": "array",
                "items": {"type": "string"},
                "default": DEFAULT_OBJECTS,
                "order": 4,
            },
            "window_days": {
                "title": "Window (days)",
                "description": "Each export covers this many days of UpdatedDate; windows that are too large are split.",
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_WINDOW_DAYS,
                "default": DEFAULT_WINDOW_DAYS,
                "order": 5,
            },
            "start_date": {
                "title": "Start date",
                "description": "Overrides the top-level start_date for Zuora (RFC 3339).",
                "type": "string",
                "format": "date-time",
                "order": 6,
            },
            "tenant_timezone": {
                "title": "Tenant time zone",
                "description": "IANA zone of the tenant's system time, used for datetimes Zuora writes as a bare date.",
                "type": "string",
                "default": DEFAULT_TENANT_TIMEZONE,
                "order": 7,
            },
            "max_concurrent_exports": {
                "title": "Concurrent exports",
                "description": f"Exports running at once (Zuora allows {ZUORA_MAX_CONCURRENT_EXPORTS} per tenant, shared with other tools).",
                "type": "integer",
                "minimum": 1,
                "maximum": ZUORA_MAX_CONCURRENT_EXPORTS,
                "default": DEFAULT_CONCURRENT_EXPORTS,
                "order": 8,
            },
            "poll_interval_seconds": {
                "title": "Poll interval (seconds)",
                "description": f"First wait between status checks of an export; grows to {ZUORA_MAX_POLL_SECONDS:g} s. "
                f"At least {ZUORA_MIN_POLL_SECONDS:g} s (Zuora's guidance).",
                "type": "number",
                "default": ZUORA_MIN_POLL_SECONDS,
                "order": 9,
            },
            "export_timeout_minutes": {
                "title": "Export timeout (minutes)",
                "description": "An export not finished by then is abandoned and its window split in two.",
                "type": "number",
                "default": DEFAULT_EXPORT_TIMEOUT_MINUTES,
                "order": 10,
            },
        },
    }


def _read_objects(section: Mapping[str, Any]) -> List[str]:
    objects = section.get("objects", DEFAULT_OBJECTS)
    if not isinstance(objects, list) or not objects:
        raise ConfigError("zuora.objects", "must be a non-empty list of Zuora object names")
    seen: List[str] = []
    for name in objects:
        if not isinstance(name, str) or not _OBJECT_NAME.match(name.strip()):
            raise ConfigError("zuora.objects", f"{name!r} is not a Zuora object name (letters, digits, underscores)")
        name = name.strip()
        if name.lower() in (existing.lower() for existing in seen):
            raise ConfigError("zuora.objects", f"{name} is listed twice")
        seen.append(name)
    return seen


def read_config(section: Mapping[str, Any], shared: SharedConfig) -> ZuoraConfig:
    base_url = read_base_url(section, "base_url", "zuora.base_url", DEFAULT_BASE_URL)
    client_id = read_string(section, "client_id", "zuora.client_id")
    client_secret = read_string(section, "client_secret", "zuora.client_secret")
    window_days = section.get("window_days", DEFAULT_WINDOW_DAYS)
    if isinstance(window_days, bool) or not isinstance(window_days, int) or not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise ConfigError("zuora.window_days", f"must be a whole number of days from 1 to {MAX_WINDOW_DAYS}, not {window_days!r}")
    zone_name = read_string(section, "tenant_timezone", "zuora.tenant_timezone", required=False) or DEFAULT_TENANT_TIMEZONE
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("zuora.tenant_timezone", f"{zone_name!r} is not an IANA time zone such as America/Los_Angeles") from None
    concurrent = section.get("max_concurrent_exports", DEFAULT_CONCURRENT_EXPORTS)
    if isinstance(concurrent, bool) or not isinstance(concurrent, int) or not 1 <= concurrent <= ZUORA_MAX_CONCURRENT_EXPORTS:
        raise ConfigError(
            "zuora.max_concurrent_exports", f"must be a whole number from 1 to {ZUORA_MAX_CONCURRENT_EXPORTS}, not {concurrent!r}"
        )
    loopback = is_loopback_host(urlparse(base_url).hostname or "")
    poll = read_positive_number(
        section,
        "poll_interval_seconds",
        "zuora.poll_interval_seconds",
        ZUORA_MIN_POLL_SECONDS,
        minimum=0.01 if loopback else ZUORA_MIN_POLL_SECONDS,
        maximum=ZUORA_MAX_POLL_SECONDS,
    )
    timeout_minutes = read_positive_number(
        section, "export_timeout_minutes", "zuora.export_timeout_minutes", DEFAULT_EXPORT_TIMEOUT_MINUTES, minimum=0.001, maximum=7 * 24 * 60.0
    )
    start = read_start_date(section.get("start_date"), "zuora.start_date") or shared.start_date or EARLIEST_START
    return ZuoraConfig(
        base_url=base_url,
        client_id=client_id,  # type: ignore[arg-type]
        client_secret=client_secret,  # type: ignore[arg-type]
        entity_id=read_string(section, "entity_id", "zuora.entity_id", required=False),
        objects=_read_objects(section),
        window=timedelta(days=window_days),
        start_date=start,
        tenant_timezone=zone,
        max_concurrent_exports=concurrent,
        poll_interval_seconds=poll,
        export_timeout_seconds=timeout_minutes * 60.0,
        delivery_type=shared.delivery_type,
    )
