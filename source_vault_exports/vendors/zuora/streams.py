"""The `zuora_<object>` streams: one per configured object, incremental on UpdatedDate windows."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Dict, List

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_vault_exports.core.errors import ConfigError, NotFoundError, reaching
from source_vault_exports.core import http as core_http
from source_vault_exports.core.jobs import ExportJobRunner, JobSlots, PollPolicy
from source_vault_exports.core.streams import StreamContext, full_refresh_stream, windowed_incremental_stream
from source_vault_exports.vendors.zuora.api import VENDOR, ZuoraApi
from source_vault_exports.vendors.zuora.config import ZUORA_MAX_POLL_SECONDS, ZuoraConfig
from source_vault_exports.vendors.zuora.describe import (
    ObjectDescription,
    parse_describe,
    shipped_description,
    stream_name_for,
)
from source_vault_exports.vendors.zuora.windows import ZuoraObjectExporter

PRIMARY_KEY = ["Id"]
DESCRIBE_THREADS = 8


def describe_object(api: ZuoraApi, object_name: str, logger: logging.Logger) -> ObjectDescription:
    """Describe, or the shipped schema when describe fails for a reason other than credentials."""
    try:
        return parse_describe(object_name, api.describe(object_name))
    except NotFoundError:
        raise ConfigError("zuora.objects", f"Zuora has no object named {object_name} (describe answered 404)") from None
    except AirbyteTracedException as problem:
        if problem.failure_type == FailureType.config_error:
            raise
        fallback = shipped_description(object_name)
        if fallback is None:
            raise
        logger.warning(f"Zuora: describe of {object_name} failed ({problem.message}); using the shipped schema")
        return fallback


def describe_objects(api: ZuoraApi, objects: List[str], logger: logging.Logger) -> Dict[str, ObjectDescription]:
    with ThreadPoolExecutor(max_workers=min(DESCRIBE_THREADS, len(objects)), thread_name_prefix="zuora-describe") as pool:
        described = list(pool.map(lambda name: describe_object(api, name, logger), objects))
    return {description.object_name: description for description in described}


def poll_policy(config: ZuoraConfig) -> PollPolicy:
    return PollPolicy(
        min_interval_seconds=config.poll_interval_seconds,
        max_interval_seconds=min(ZUORA_MAX_POLL_SECONDS, 6 * config.poll_interval_seconds),
        timeout_seconds=config.export_timeout_seconds,
    )


def build_streams(config: ZuoraConfig, context: StreamContext) -> List[DefaultStream]:
    logger = context.logger
    api = ZuoraApi(config, logger)
    descriptions = describe_objects(api, config.objects, logger)
    runner = ExportJobRunner(
        JobSlots(VENDOR, config.max_concurrent_exports, logger), poll_policy(config), logger, context.cancelled
    )
    # One end for every window of this sync, in whole seconds like the ZOQL literals.
    sync_end = datetime.now(timezone.utc).replace(microsecond=0)
    streams: List[DefaultStream] = []
    for object_name in config.objects:
        description = descriptions[object_name]
        name = stream_name_for(object_name)
        exporter = ZuoraObjectExporter(api, runner, description, name, logger)
        if description.cursor_field:
            streams.append(
                windowed_incremental_stream(
                    name=name,
                    json_schema=description.json_schema,
                    primary_key=PRIMARY_KEY,
                    cursor_field=description.cursor_field,
                    start=config.start_date,
                    window=config.window,
                    sync_end=sync_end,
                    rows_for_window=exporter.rows_for_window,
                    context=context,
                )
            )
        else:
            streams.append(
                full_refresh_stream(
                    name=name,
                    json_schema=description.json_schema,
                    primary_key=PRIMARY_KEY,
                    slices=lambda: [StreamSlice(partition={}, cursor_slice={})],
                    rows_for_slice=exporter.rows_for_full_export,
                    context=context,
                )
            )
    return streams


def check(config: ZuoraConfig, logger: logging.Logger) -> None:
    api = ZuoraApi(config, logger, core_http.DEFAULT_RETRY_POLICY.for_check())
    with reaching(VENDOR, "get a token from", config.base_url, "zuora.base_url"):
        api.fetch_token()
    describe_objects(api, config.objects, logger)
