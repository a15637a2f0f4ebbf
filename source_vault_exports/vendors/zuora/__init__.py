"""Zuora: data source exports (Export ZOQL) of billing objects.

Where things live: `config.py` (the `zuora` config section), `auth.py` (OAuth client credentials),
`api.py` (REST calls and error texts), `describe.py` (field metadata and schemas), `zoql.py`
(queries and failure texts), `export_job.py` (one export for the shared job runner),
`windows.py` (windowing, splitting and re-exporting), `streams.py` (the streams).
"""

from __future__ import annotations

import logging
from typing import Any, List, Mapping

from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream

from source_vault_exports.config import SharedConfig
from source_vault_exports.core.streams import StreamContext
from source_vault_exports.vendors.zuora import config as zuora_config
from source_vault_exports.vendors.zuora import streams as zuora_streams


class ZuoraVendor:
    key = "zuora"
    title = "Zuora"

    def spec_section(self) -> Mapping[str, Any]:
        return zuora_config.spec_section()

    def read_config(self, section: Mapping[str, Any], shared: SharedConfig) -> zuora_config.ZuoraConfig:
        return zuora_config.read_config(section, shared)

    def check(self, config: zuora_config.ZuoraConfig, logger: logging.Logger) -> None:
        zuora_streams.check(config, logger)

    def streams(self, config: zuora_config.ZuoraConfig, context: StreamContext) -> List[DefaultStream]:
        return zuora_streams.build_streams(config, context)

    def worker_threads(self, config: zuora_config.ZuoraConfig) -> int:
        return config.max_concurrent_exports


ZUORA = ZuoraVendor()
