"""Tape: records and attachment files of the configured apps.

Where things live: `config.py` (the `tape` section), `api.py` (REST calls, credit pacing, cursor
pages), `records.py` (payload drift, rows, which attachment values are files), `streams.py`
(per-app incremental reads, file transfer with link refresh).
"""

from __future__ import annotations

import logging
from typing import Any, List, Mapping

from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream

from source_vault_exports.config import SharedConfig
from source_vault_exports.core.streams import StreamContext
from source_vault_exports.vendors.tape import config as tape_config
from source_vault_exports.vendors.tape import streams as tape_streams


class TapeVendor:
    key = "tape"
    title = "Tape"

    def spec_section(self) -> Mapping[str, Any]:
        return tape_config.spec_section()

    def read_config(self, section: Mapping[str, Any], shared: SharedConfig) -> tape_config.TapeConfig:
        return tape_config.read_config(section, shared)

    def check(self, config: tape_config.TapeConfig, logger: logging.Logger) -> None:
        tape_streams.check(config, logger)

    def streams(self, config: tape_config.TapeConfig, context: StreamContext) -> List[DefaultStream]:
        return tape_streams.build_streams(config, context)

    def worker_threads(self, config: tape_config.TapeConfig) -> int:
        # Throughput is bounded by Tape's credit budget, not by threads.
        return config.max_concurrent_apps


TAPE = TapeVendor()
