"""The Airbyte source: spec, check, discover and read over every configured vendor.

Reading runs on the CDK's concurrent framework: every stream is a `DefaultStream` whose partitions
(time windows, jobs) are read by a shared thread pool; records and state go through one queue to
the main thread, so a state message always follows the records it covers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from queue import Queue
from typing import Any, Iterator, List, Mapping, Optional, Tuple, Union

from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    ConnectorSpecification,
    FailureType,
    Status,
    SyncMode,
)
from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.message import InMemoryMessageRepository, MessageRepository
from airbyte_cdk.sources.message.concurrent_repository import ConcurrentMessageRepository
from airbyte_cdk.sources.source import Source
from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream
from airbyte_cdk.sources.utils.slice_logger import DebugSliceLogger
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_vault_exports.config import read_section, read_shared_config
from source_vault_exports.core.errors import ConfigError
from source_vault_exports.core.fast_records import FAST_QUEUE_SIZE, BatchingConcurrentSource, RecordBatch, record_batch_rows, record_messages
from source_vault_exports.core.streams import StreamContext
from source_vault_exports.spec import connector_specification
from source_vault_exports.vendors import VENDORS
from source_vault_exports.vendors.base import Vendor

# Records waiting for the main thread; bounds memory when the destination is slower than the vendor.
# (The fast record path queues batches: `fast_records.FAST_QUEUE_SIZE` of them, as many rows.)
QUEUE_SIZE = 10_000
# Threads that only list partitions (windows, jobs); the rest read them.
PARTITION_GENERATOR_THREADS = 2


@dataclass(frozen=True)
class ConfiguredVendor:
    vendor: Vendor
    config: Any


# `configure` replaces a config our own reading rejects with {CONFIG_PROBLEM: message}; see there.
CONFIG_PROBLEM = "__config_problem"


def configured_vendors(config: Mapping[str, Any]) -> List[ConfiguredVendor]:
    if not isinstance(config, Mapping):
        raise ConfigError("config", "must be a JSON object")
    if CONFIG_PROBLEM in config:
        raise AirbyteTracedException(message=str(config[CONFIG_PROBLEM]), failure_type=FailureType.config_error)
    shared = read_shared_config(config)
    found = []
    for vendor in VENDORS:
        section = read_section(config, vendor.key)
        if section is not None:
            found.append(ConfiguredVendor(vendor, vendor.read_config(section, shared)))
    if not found:
        keys = ", ".join(vendor.key for vendor in VENDORS)
        raise ConfigError("config", f"configure at least one vendor section ({keys})")
    return found


class SourceVaultExports(Source):
    def __init__(self) -> None:
        self._message_repository: MessageRepository = InMemoryMessageRepository()

    @property
    def message_repository(self) -> MessageRepository:
        return self._message_repository

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return connector_specification()

    def configure(self, config: Mapping[str, Any], temp_dir: str) -> Mapping[str, Any]:
        """Read the config with our own rules before the CDK checks it against the spec.

        The CDK's jsonschema check reports "'abc' is not of type 'integer'" without saying which
        field, and may quote the value. Our reading names the field (`zuora.window_days`) and never
        quotes a secret. A config we reject is replaced by one carrying only our message, which
        passes the spec check and is reported by check (as a FAILED status) and discover/read.
        """
        try:
            configured_vendors(config)
        except AirbyteTracedException as problem:
            return {CONFIG_PROBLEM: problem.message}
        # A null or empty optional value means "not set" to us; the spec's types would refuse it.
        return super().configure(_without_unset(config), temp_dir)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        try:
            vendors = configured_vendors(config)
        except AirbyteTracedException as problem:
            return AirbyteConnectionStatus(status=Status.FAILED, message=problem.message)
        failures = []
        for configured in vendors:
            try:
                configured.vendor.check(configured.config, logger)
                logger.info(f"{configured.vendor.title}: connection and configured objects are fine")
            except AirbyteTracedException as problem:
                failures.append(_prefixed(configured.vendor.title, problem.message or problem.internal_message or "failed"))
            except Exception as problem:  # a check must report, never crash
                logger.exception(f"{configured.vendor.title}: check failed unexpectedly")
                failures.append(f"{configured.vendor.title}: unexpected {type(problem).__name__}: {problem}")
        if failures:
            return AirbyteConnectionStatus(status=Status.FAILED, message=" | ".join(failures))
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        context = StreamContext(ConnectorStateManager(), self._message_repository, logger)
        streams, _ = self._streams(config, context)
        return AirbyteCatalog(streams=[stream.as_airbyte_stream() for stream in streams])

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: Optional[List[AirbyteStateMessage]] = None,
    ) -> Iterator[AirbyteMessage]:
        for item in self.read_batches(logger, config, catalog, state, sealed=False):
            if type(item) is RecordBatch:
                yield from record_messages(item)
            else:
                yield item

    def read_batches(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: Optional[List[AirbyteStateMessage]] = None,
        sealed: bool = True,
    ) -> Iterator[Union[AirbyteMessage, RecordBatch]]:
        """`read`, with rows still in `RecordBatch`es (the fast record path; see `fast_records`).

        `FastEntrypoint` writes batches as lines (`sealed`: serialised where they are read); `read`
        expands unsealed batches into messages for every other caller.
        """
        batch_rows = record_batch_rows()
        queue: Queue = Queue(maxsize=FAST_QUEUE_SIZE if batch_rows else QUEUE_SIZE)
        repository = ConcurrentMessageRepository(queue, self._message_repository)
        full_refresh = frozenset(
            configured.stream.name for configured in catalog.streams if configured.sync_mode == SyncMode.full_refresh
        )
        context = StreamContext(ConnectorStateManager(state), repository, logger, full_refresh, batch_rows=batch_rows, seal_batches=sealed)
        streams, worker_threads = self._streams(config, context)
        by_name = {stream.name: stream for stream in streams}
        selected: List[DefaultStream] = []
        for configured in catalog.streams:
            stream = by_name.get(configured.stream.name)
            if stream is None:
                raise AirbyteTracedException(
                    message=f"Stream {configured.stream.name} is in the catalog but not available with this config "
                    "(is its vendor section or object configured?)",
                    failure_type=FailureType.config_error,
                )
            selected.append(stream)
        if not selected:
            return
        generators = min(PARTITION_GENERATOR_THREADS, len(selected))
        concurrent_source = BatchingConcurrentSource.build(
            num_workers=worker_threads + generators,
            initial_number_of_partitions_to_generate=generators,
            logger=logger,
            slice_logger=DebugSliceLogger(),
            message_repository=repository,
            queue=queue,
        )
        try:
            yield from concurrent_source.read(selected)
        finally:
            context.cancelled.set()

    def _streams(self, config: Mapping[str, Any], context: StreamContext) -> Tuple[List[DefaultStream], int]:
        streams: List[DefaultStream] = []
        worker_threads = 0
        for configured in configured_vendors(config):
            streams.extend(configured.vendor.streams(configured.config, context))
            worker_threads += configured.vendor.worker_threads(configured.config)
        return streams, max(worker_threads, 1)


def _without_unset(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _without_unset(item) for key, item in value.items() if item is not None and item != ""}
    if isinstance(value, list):
        return [_without_unset(item) for item in value]
    return value


def _prefixed(title: str, message: str) -> str:
    return message if message.startswith(f"{title}:") or message.startswith(title) else f"{title}: {message}"
