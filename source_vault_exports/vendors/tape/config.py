"""The `tape` config section: its spec and its validation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, List, Mapping, Optional

from source_vault_exports.config import SharedConfig, read_base_url, read_start_date, read_string
from source_vault_exports.core.errors import ConfigError

DEFAULT_API_URL = "https://api.tapeapp.com"
# The list endpoints take at most 500 records per page (vendor-apis.md 3.2).
MAX_PAGE_SIZE = 500
DEFAULT_CONCURRENT_APPS = 2


@dataclass(frozen=True)
class TapeConfig:
    api_url: str
    api_key: str
    app_ids: List[int]
    start_date: Optional[datetime]
    page_size: int
    max_concurrent_apps: int
    delivery_type: str


def spec_section() -> Mapping[str, Any]:
    return {
        "title": "Tape",
        "description": "Records and attachment files of Tape apps.",
        "type": "object",
        "required": ["api_key", "app_ids"],
        "properties": {
            "api_url": {"title": "API URL", "type": "string", "default": DEFAULT_API_URL, "order": 0},
            "api_key": {"title": "User API key", "type": "string", "airbyte_secret": True, "order": 1,
                        "description": "A user API key (starts with user_key_), from Tape's developer settings."},
            "app_ids": {"title": "App IDs", "type": "array", "items": {"type": "integer"}, "order": 2},
            "start_date": {"title": "Start date", "type": "string", "format": "date-time", "order": 3,
                           "description": "Overrides the top-level start_date for Tape."},
            "page_size": {"title": "Page size", "type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": MAX_PAGE_SIZE, "order": 4},
        },
    }


def read_config(section: Mapping[str, Any], shared: SharedConfig) -> TapeConfig:
    app_ids = section.get("app_ids")
    if not isinstance(app_ids, list) or not app_ids or not all(isinstance(a, int) and not isinstance(a, bool) and a > 0 for a in app_ids):
        raise ConfigError("tape.app_ids", "must be a non-empty list of app ids (positive whole numbers)")
    page_size = section.get("page_size", MAX_PAGE_SIZE)
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ConfigError("tape.page_size", f"must be a whole number from 1 to {MAX_PAGE_SIZE}, not {page_size!r}")
    return TapeConfig(
        api_url=read_base_url(section, "api_url", "tape.api_url", DEFAULT_API_URL),
        api_key=read_string(section, "api_key", "tape.api_key"),  # type: ignore[arg-type]
        app_ids=list(dict.fromkeys(app_ids)),
        start_date=read_start_date(section.get("start_date"), "tape.start_date") or shared.start_date,
        page_size=page_size,
        max_concurrent_apps=DEFAULT_CONCURRENT_APPS,
        delivery_type=shared.delivery_type,
    )
