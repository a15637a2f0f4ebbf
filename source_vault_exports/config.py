"""Reading the shared parts of the config; each vendor reads its own section on top of these.

Every problem becomes a `ConfigError` naming the field, e.g.
"Config field `zuora.base_url`: must use https:// (http:// is only accepted for loopback hosts)".
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Optional
from urllib.parse import urlparse

import pendulum

from source_vault_exports.core.errors import ConfigError

RECORDS_TRANSFER = "use_records_transfer"
FILE_TRANSFER = "use_file_transfer"


@dataclass(frozen=True)
class SharedConfig:
    start_date: Optional[datetime]
    delivery_type: str


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_base_url(section: Mapping[str, Any], key: str, field: str, default: Optional[str] = None) -> str:
    """A vendor base URL: https, or http only for loopback hosts (the bundled simulators)."""
    value = section.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(field, "is required and must be a URL such as https://rest.zuora.com")
    parsed = urlparse(value.strip())
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise ConfigError(field, f"{value!r} is not an absolute http(s) URL")
    if parsed.scheme == "http" and not is_loopback_host(parsed.hostname):
        raise ConfigError(field, "must use https:// (http:// is only accepted for loopback hosts)")
    if parsed.query or parsed.fragment:
        raise ConfigError(field, "must not carry a query string or fragment")
    return value.strip().rstrip("/")


def read_start_date(value: Any, field: str, now: Optional[datetime] = None) -> Optional[datetime]:
    """An RFC 3339 timestamp (or a date) in the past, as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(field, f"must be an RFC 3339 timestamp such as 2024-01-01T00:00:00Z, not {type(value).__name__}")
    try:
        parsed = pendulum.parse(value.strip(), strict=False)
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        raise ConfigError(field, f"{value!r} is not an RFC 3339 timestamp such as 2024-01-01T00:00:00Z") from None
    if not isinstance(parsed, datetime):
        raise ConfigError(field, f"{value!r} is not a timestamp")
    moment = datetime.fromtimestamp(parsed.timestamp(), tz=timezone.utc)
    if moment > (now or datetime.now(timezone.utc)):
        raise ConfigError(field, f"{value} is in the future")
    return moment


def read_shared_config(config: Mapping[str, Any]) -> SharedConfig:
    delivery = config.get("delivery_method")
    if delivery is None:
        delivery = {"delivery_type": RECORDS_TRANSFER}
    if not isinstance(delivery, Mapping):
        raise ConfigError("delivery_method", "must be an object with a delivery_type")
    delivery_type = delivery.get("delivery_type")
    if delivery_type not in (RECORDS_TRANSFER, FILE_TRANSFER):
        raise ConfigError(
            "delivery_method.delivery_type", f"must be {RECORDS_TRANSFER} or {FILE_TRANSFER}, not {delivery_type!r}"
        )
    return SharedConfig(start_date=read_start_date(config.get("start_date"), "start_date"), delivery_type=delivery_type)


def read_section(config: Mapping[str, Any], key: str) -> Optional[Mapping[str, Any]]:
    section = config.get(key)
    if section is None:
        return None
    if not isinstance(section, Mapping):
        raise ConfigError(key, "must be an object")
    return section


def read_positive_number(
    section: Mapping[str, Any], key: str, field: str, default: float, minimum: float, maximum: Optional[float] = None
) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(field, f"must be a number, not {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum:g} and {maximum:g}" if maximum is not None else f"at least {minimum:g}"
        raise ConfigError(field, f"must be {bound}, not {value!r}")
    return float(value)


def read_string(section: Mapping[str, Any], key: str, field: str, required: bool = True) -> Optional[str]:
    value = section.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ConfigError(field, "is required")
        return None
    if not isinstance(value, str):
        raise ConfigError(field, f"must be a string, not {type(value).__name__}")
    return value.strip()
