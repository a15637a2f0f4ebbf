"""Vault's two streams: document attachments and Attachment field files."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import List

from airbyte_cdk.sources.streams.concurrent.cursor import CursorField
from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream

from source_vault_exports.config import FILE_TRANSFER
from source_vault_exports.core import http as core_http
from source_vault_exports.core.cursors import KeyedWatermarkCursor
from source_vault_exports.core.errors import ConfigError, VendorError, reaching
from source_vault_exports.core.files import FileStager
from source_vault_exports.core.jobs import ExportJobRunner, JobSlots, PollPolicy
from source_vault_exports.core.schemas import load_schema
from source_vault_exports.core.streams import SlicePartitionGenerator, StreamContext
from source_vault_exports.vendors.veeva import document_attachments, field_exports
from source_vault_exports.vendors.veeva.api import VENDOR, VaultApi
from source_vault_exports.vendors.veeva.config import VAULT_MAX_POLL_SECONDS, VaultConfig


def build_streams(config: VaultConfig, context: StreamContext) -> List[DefaultStream]:
    logger = context.logger
    api = VaultApi(config, logger)
    stager = FileStager() if config.delivery_type == FILE_TRANSFER else None
    streams: List[DefaultStream] = []
    if config.document_attachments:
        cursor = document_attachments.AttachmentVersionCursor(
            context.stream_state(document_attachments.STREAM), context.message_repository, context.state_manager
        )
        reader = document_attachments.DocumentAttachments(api, cursor, stager, logger)
        cursor.document_ids = reader.document_ids()
        streams.append(
            DefaultStream(
                partition_generator=SlicePartitionGenerator(document_attachments.STREAM, cursor.stream_slices, reader.rows_for_slice),
                name=document_attachments.STREAM,
                json_schema=lambda: load_schema(document_attachments.STREAM),
                primary_key=["document_id", "id"],
                cursor_field=CursorField("version__v"),
                logger=logger,
                cursor=cursor,
                supports_file_transfer=stager is not None,
            )
        )
    if config.attachment_field_objects:
        targets = {target.object_name: target for target in config.attachment_field_objects}
        cursor = KeyedWatermarkCursor(
            field_exports.STREAM,
            list(targets),
            context.stream_state(field_exports.STREAM),
            context.message_repository,
            context.state_manager,
            datetime.now(timezone.utc).replace(microsecond=0),
            config.start_date,
            timedelta(0),
        )
        runner = ExportJobRunner(
            JobSlots(VENDOR, config.max_concurrent_jobs, logger),
            PollPolicy(
                min_interval_seconds=config.poll_interval_seconds,
                max_interval_seconds=min(VAULT_MAX_POLL_SECONDS, 6 * config.poll_interval_seconds),
                timeout_seconds=config.job_timeout_seconds,
            ),
            logger,
            context.cancelled,
        )
        reader = field_exports.AttachmentFieldFiles(api, runner, cursor, targets, stager, logger, config.max_concurrent_jobs)
        streams.append(
            DefaultStream(
                partition_generator=SlicePartitionGenerator(field_exports.STREAM, cursor.stream_slices, reader.rows_for_slice),
                name=field_exports.STREAM,
                json_schema=lambda: load_schema(field_exports.STREAM),
                primary_key=["object_name", "record_id", "field_name", "file_name"],
                cursor_field=CursorField("modified_date__v"),
                logger=logger,
                cursor=cursor,
                supports_file_transfer=stager is not None,
            )
        )
    return streams


def check(config: VaultConfig, logger: logging.Logger) -> None:
    """Log in (and compare the vault), then touch every configured object and the documents."""
    api = VaultApi(config, logger, core_http.DEFAULT_RETRY_POLICY.for_check())
    with reaching(VENDOR, "log in at", config.vault_url, "veeva_vault.vault_url"):
        api.session.session_id()
    probes = [("documents", "veeva_vault.document_attachments")] if config.document_attachments else []
    probes += [(target.object_name, "veeva_vault.attachment_field_objects") for target in config.attachment_field_objects]
    for object_name, field in probes:
        try:
            next(iter(api.query(f"SELECT id FROM {object_name} PAGESIZE 1", f"reading {object_name}")), None)
        except VendorError as problem:
            if "INSUFFICIENT_ACCESS" in problem.message:
                raise ConfigError(field, f"the user may not read {object_name} (missing permission): {problem.message}") from None
            raise ConfigError(field, f"Vault cannot query {object_name} (unknown object?): {problem.message}") from None
