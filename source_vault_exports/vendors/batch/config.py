"""The `batch` config section: its spec and its validation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, List, Mapping, Optional
from urllib.parse import urlparse

from source_vault_exports.config import SharedConfig, is_loopback_host, read_base_url, read_positive_number, read_start_date, read_string
from source_vault_exports.core.errors import ConfigError

DEFAULT_API_URL = "https://api.batch.com/2.11"

# The 19 native attributes of seed 002 that a profile export can name.
NATIVE_ATTRIBUTES = [
    "$city", "$creation_date", "$email_address", "$email_marketing", "$email_open_tracking_consent",
    "$install_date", "$language", "$last_activity", "$last_email_marketing_click", "$last_email_marketing_open",
    "$last_email_transactional_click", "$last_email_transactional_open", "$last_visit_date", "$phone_number",
    "$push_subscriptions", "$region", "$sms_marketing", "$timezone", "$topic_preferences",
]
# ATTRIBUTES and EVENTS exports spell the installation identifier differently (vendor-apis.md 2.7.1).
ATTRIBUTE_IDENTIFIERS = ["custom_id", "installation_ids"]
EVENT_IDENTIFIERS = ["custom_id", "installation_id"]
EVENT_KINDS = [
    "email_bounced", "email_click", "email_delivered", "email_open", "email_sent", "email_spam_complaint",
    "email_unsubscribed", "sms_sent", "sms_bounced", "sms_delivered", "sms_unsubscribed", "push_sent",
    "push_bounced", "push_open",
]
# Events older than the lookback cannot be exported; Batch documents one per event kind but not
# the values (vendor-apis.md 2.8), so it is a setting with a conservative default.
DEFAULT_LOOKBACK_DAYS = 30
DEFAULT_EVENT_WINDOW_HOURS = 24
DEFAULT_CONCURRENT_EXPORTS = 4
# vendor-apis.md 2.3: poll the view with backoff, 5 s growing to 60 s.
BATCH_MIN_POLL_SECONDS = 5.0
BATCH_MAX_POLL_SECONDS = 60.0
DEFAULT_EXPORT_TIMEOUT_MINUTES = 360.0
DEFAULT_REQUESTS_LOOKBACK_HOURS = 24


@dataclass(frozen=True)
class BatchConfig:
    api_url: str
    rest_api_key: str
    project_key: str
    attributes: List[str]
    identifiers: List[str]
    events: List[str]
    start_date: Optional[datetime]
    lookback: timedelta
    event_window: timedelta
    max_concurrent_exports: int
    poll_interval_seconds: float
    export_timeout_seconds: float
    requests_lookback: timedelta

    @property
    def attribute_identifiers(self) -> List[str]:
        return [("installation_ids" if name.startswith("installation") else name) for name in self.identifiers]

    @property
    def event_identifiers(self) -> List[str]:
        return [("installation_id" if name.startswith("installation") else name) for name in self.identifiers]


def spec_section() -> Mapping[str, Any]:
    return {
        "title": "Batch.com",
        "description": "Export requests, profile attributes and profile events of one Batch project.",
        "type": "object",
        "required": ["rest_api_key", "project_key"],
        "properties": {
            "api_url": {"title": "API URL", "type": "string", "default": DEFAULT_API_URL, "order": 0,
                        "description": "Batch REST API base URL including its version."},
            "rest_api_key": {"title": "REST API key", "type": "string", "airbyte_secret": True, "order": 1},
            "project_key": {"title": "Project key", "type": "string", "order": 2, "examples": ["project_0664hx..."]},
            "attributes": {"title": "Attributes", "type": "array", "items": {"type": "string"}, "order": 3,
                           "description": "Profile attributes to export ($-prefixed are native). Default: every native attribute."},
            "identifiers": {"title": "Identifiers", "type": "array", "items": {"type": "string", "enum": ["custom_id", "installation_ids"]},
                            "default": ["custom_id", "installation_ids"], "order": 4},
            "events": {"title": "Events", "type": "array", "items": {"type": "string", "enum": EVENT_KINDS}, "order": 5,
                       "description": "Event kinds to export. Default: all."},
            "start_date": {"title": "Start date", "type": "string", "format": "date-time", "order": 6,
                           "description": "Overrides the top-level start_date for Batch events; clipped to the lookback."},
            "lookback_days": {"title": "Event lookback (days)", "type": "integer", "minimum": 1, "maximum": 3650, "default": DEFAULT_LOOKBACK_DAYS, "order": 7},
            "event_window_hours": {"title": "Event window (hours)", "type": "integer", "minimum": 1, "maximum": 24 * 366, "default": DEFAULT_EVENT_WINDOW_HOURS, "order": 8},
            "max_concurrent_exports": {"title": "Concurrent exports", "type": "integer", "minimum": 1, "maximum": 20,
                                       "default": DEFAULT_CONCURRENT_EXPORTS, "order": 9},
            "poll_interval_seconds": {"title": "Poll interval (seconds)", "type": "number", "default": BATCH_MIN_POLL_SECONDS, "order": 10},
            "export_timeout_minutes": {"title": "Export timeout (minutes)", "type": "number", "default": DEFAULT_EXPORT_TIMEOUT_MINUTES, "order": 11},
        },
    }


def _read_list(section: Mapping[str, Any], key: str, allowed: Optional[List[str]], default: List[str]) -> List[str]:
    value = section.get(key)
    if value is None:
        return list(default)
    if not isinstance(value, list) or not value or not all(isinstance(item, str) and item.strip() for item in value):
        raise ConfigError(f"batch.{key}", "must be a non-empty list of names")
    if allowed is not None:
        unknown = [item for item in value if item not in allowed]
        if unknown:
            raise ConfigError(f"batch.{key}", f"unknown value(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    return list(dict.fromkeys(item.strip() for item in value))


def _read_whole(section: Mapping[str, Any], key: str, default: int, minimum: int, maximum: Optional[int] = None) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None and value > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigError(f"batch.{key}", f"must be a whole number {bound}, not {value!r}")
    return value


def read_config(section: Mapping[str, Any], shared: SharedConfig) -> BatchConfig:
    api_url = read_base_url(section, "api_url", "batch.api_url", DEFAULT_API_URL)
    loopback = is_loopback_host(urlparse(api_url).hostname or "")
    identifiers = _read_list(section, "identifiers", ["custom_id", "installation_ids", "installation_id"], ["custom_id", "installation_ids"])
    return BatchConfig(
        api_url=api_url,
        rest_api_key=read_string(section, "rest_api_key", "batch.rest_api_key"),  # type: ignore[arg-type]
        project_key=read_string(section, "project_key", "batch.project_key"),  # type: ignore[arg-type]
        attributes=_read_list(section, "attributes", None, NATIVE_ATTRIBUTES),
        identifiers=identifiers,
        events=_read_list(section, "events", EVENT_KINDS, EVENT_KINDS),
        start_date=read_start_date(section.get("start_date"), "batch.start_date") or shared.start_date,
        lookback=timedelta(days=_read_whole(section, "lookback_days", DEFAULT_LOOKBACK_DAYS, 1, 3650)),
        event_window=timedelta(hours=_read_whole(section, "event_window_hours", DEFAULT_EVENT_WINDOW_HOURS, 1, 24 * 366)),
        max_concurrent_exports=_read_whole(section, "max_concurrent_exports", DEFAULT_CONCURRENT_EXPORTS, 1, 20),
        poll_interval_seconds=read_positive_number(
            section, "poll_interval_seconds", "batch.poll_interval_seconds", BATCH_MIN_POLL_SECONDS,
            minimum=0.01 if loopback else BATCH_MIN_POLL_SECONDS, maximum=BATCH_MAX_POLL_SECONDS,
        ),
        export_timeout_seconds=60.0 * read_positive_number(
            section, "export_timeout_minutes", "batch.export_timeout_minutes", DEFAULT_EXPORT_TIMEOUT_MINUTES, minimum=0.001, maximum=7 * 24 * 60.0
        ),
        requests_lookback=timedelta(hours=DEFAULT_REQUESTS_LOOKBACK_HOURS),
    )


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
