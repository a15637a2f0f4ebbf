"""The `veeva_vault` config section: its spec and its validation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, List, Mapping, Optional
from urllib.parse import urlparse

from source_vault_exports.config import SharedConfig, is_loopback_host, read_base_url, read_positive_number, read_start_date, read_string
from source_vault_exports.core.errors import ConfigError

DEFAULT_API_VERSION = "v25.3"
# Job status may be polled at most once per 10 s per job (vendor-apis.md 1.4); back off to ~60 s.
VAULT_MIN_POLL_SECONDS = 10.0
VAULT_MAX_POLL_SECONDS = 60.0
# Vault kills an export job after 23 h of running (seed 000); we wait a little longer.
DEFAULT_JOB_TIMEOUT_HOURS = 23.5
DEFAULT_CONCURRENT_JOBS = 4
MAX_CONCURRENT_JOBS = 10
_NAME = re.compile(r"^[a-z][a-z0-9_]*__[a-z0-9]+$|^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class AttachmentFieldObject:
    object_name: str
    field_names: Optional[List[str]]
    id_param: Optional[str]


@dataclass(frozen=True)
class VaultConfig:
    vault_url: str
    api_version: str
    username: Optional[str]
    password: Optional[str]
    session_id: Optional[str]
    attachment_field_objects: List[AttachmentFieldObject]
    document_attachments: bool
    start_date: Optional[datetime]
    max_concurrent_jobs: int
    poll_interval_seconds: float
    job_timeout_seconds: float
    delivery_type: str

    @property
    def host(self) -> str:
        return (urlparse(self.vault_url).hostname or "").lower()

    def api_path(self, path: str) -> str:
        return f"/api/{self.api_version}/{path.lstrip('/')}"


def spec_section() -> Mapping[str, Any]:
    return {
        "title": "Veeva Vault",
        "description": "Document attachments and Attachment field files of a Vault.",
        "type": "object",
        "required": ["vault_url"],
        "properties": {
            "vault_url": {"title": "Vault URL", "type": "string", "examples": ["https://myvault.veevavault.com"], "order": 0},
            "api_version": {"title": "API version", "type": "string", "default": DEFAULT_API_VERSION, "pattern": r"^v\d+\.\d+$", "order": 1},
            "username": {"title": "Username", "type": "string", "order": 2},
            "password": {"title": "Password", "type": "string", "airbyte_secret": True, "order": 3},
            "session_id": {"title": "Session ID", "type": "string", "airbyte_secret": True, "order": 4,
                           "description": "Instead of username and password: an existing session (it cannot be renewed when it expires)."},
            "attachment_field_objects": {
                "title": "Objects with Attachment fields",
                "type": "array",
                "order": 5,
                "items": {
                    "type": "object",
                    "required": ["object_name"],
                    "properties": {
                        "object_name": {"type": "string", "examples": ["product__v"]},
                        "field_names": {"type": "array", "items": {"type": "string"}},
                        "id_param": {"type": "string", "examples": ["external_id__v"]},
                    },
                },
            },
            "document_attachments": {"title": "Document attachments", "type": "boolean", "default": True, "order": 6},
            "start_date": {"title": "Start date", "type": "string", "format": "date-time", "order": 7,
                           "description": "Overrides the top-level start_date for object records' modified_date__v."},
            "max_concurrent_jobs": {"title": "Concurrent export jobs", "type": "integer", "minimum": 1, "maximum": MAX_CONCURRENT_JOBS,
                                    "default": DEFAULT_CONCURRENT_JOBS, "order": 8},
            "poll_interval_seconds": {"title": "Poll interval (seconds)", "type": "number", "default": VAULT_MIN_POLL_SECONDS, "order": 9},
            "job_timeout_hours": {"title": "Job timeout (hours)", "type": "number", "default": DEFAULT_JOB_TIMEOUT_HOURS, "order": 10},
        },
    }


def _read_objects(section: Mapping[str, Any]) -> List[AttachmentFieldObject]:
    raw = section.get("attachment_field_objects")
    raw = [] if raw is None else raw
    if not isinstance(raw, list):
        raise ConfigError("veeva_vault.attachment_field_objects", "must be a list of {object_name, field_names, id_param}")
    objects = []
    for position, item in enumerate(raw):
        field = f"veeva_vault.attachment_field_objects[{position}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("object_name"), str) or not _NAME.match(item["object_name"]):
            raise ConfigError(f"{field}.object_name", "must be a Vault object name such as product__v")
        names = item.get("field_names")
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) and _NAME.match(n) for n in names)):
            raise ConfigError(f"{field}.field_names", "must be a list of Attachment field names such as attachment__c")
        id_param = item.get("id_param")
        if id_param is not None and (not isinstance(id_param, str) or not _NAME.match(id_param)):
            raise ConfigError(f"{field}.id_param", "must be a unique field name such as external_id__v")
        objects.append(AttachmentFieldObject(item["object_name"], list(names) if names else None, id_param))
    return objects


def read_config(section: Mapping[str, Any], shared: SharedConfig) -> VaultConfig:
    vault_url = read_base_url(section, "vault_url", "veeva_vault.vault_url")
    parsed = urlparse(vault_url)
    if parsed.path not in ("", "/"):
        raise ConfigError("veeva_vault.vault_url", "must be the Vault's address only, such as https://myvault.veevavault.com")
    loopback = is_loopback_host(parsed.hostname or "")
    api_version = read_string(section, "api_version", "veeva_vault.api_version", required=False) or DEFAULT_API_VERSION
    if not re.match(r"^v\d+\.\d+$", api_version):
        raise ConfigError("veeva_vault.api_version", f"{api_version!r} is not a Vault API version such as v25.3")
    username = read_string(section, "username", "veeva_vault.username", required=False)
    password = read_string(section, "password", "veeva_vault.password", required=False)
    session_id = read_string(section, "session_id", "veeva_vault.session_id", required=False)
    if not session_id and not (username and password):
        raise ConfigError("veeva_vault.password", "give username and password, or a session_id")
    objects = _read_objects(section)
    document_attachments = section.get("document_attachments", True)
    if not isinstance(document_attachments, bool):
        raise ConfigError("veeva_vault.document_attachments", "must be true or false")
    if not objects and not document_attachments:
        raise ConfigError("veeva_vault.attachment_field_objects", "configure at least one object, or enable document_attachments")
    jobs = section.get("max_concurrent_jobs", DEFAULT_CONCURRENT_JOBS)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_CONCURRENT_JOBS:
        raise ConfigError("veeva_vault.max_concurrent_jobs", f"must be a whole number from 1 to {MAX_CONCURRENT_JOBS}, not {jobs!r}")
    return VaultConfig(
        vault_url=vault_url,
        api_version=api_version,
        username=username,
        password=password,
        session_id=session_id,
        attachment_field_objects=objects,
        document_attachments=document_attachments,
        start_date=read_start_date(section.get("start_date"), "veeva_vault.start_date") or shared.start_date,
        max_concurrent_jobs=jobs,
        poll_interval_seconds=read_positive_number(
            section, "poll_interval_seconds", "veeva_vault.poll_interval_seconds", VAULT_MIN_POLL_SECONDS,
            minimum=0.01 if loopback else VAULT_MIN_POLL_SECONDS, maximum=VAULT_MAX_POLL_SECONDS,
        ),
        job_timeout_seconds=3600.0 * read_positive_number(section, "job_timeout_hours", "veeva_vault.job_timeout_hours", DEFAULT_JOB_TIMEOUT_HOURS, minimum=0.0001, maximum=72.0),
        delivery_type=shared.delivery_type,
    )
