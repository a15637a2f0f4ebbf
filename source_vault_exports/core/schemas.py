"""The JSON schemas shipped in `schemas/` (installed as `source_vault_exports.schemas`)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Dict, Optional


@lru_cache(maxsize=None)
def _read(stream_name: str) -> Optional[str]:
    resource = resources.files("source_vault_exports.schemas").joinpath(f"{stream_name}.json")
    return resource.read_text(encoding="utf-8") if resource.is_file() else None


def shipped_schema(stream_name: str) -> Optional[Dict[str, Any]]:
    text = _read(stream_name)
    return json.loads(text) if text is not None else None


def load_schema(stream_name: str) -> Dict[str, Any]:
    schema = shipped_schema(stream_name)
    if schema is None:
        raise FileNotFoundError(f"no shipped schema for stream {stream_name}")
    return schema
