"""Batch.com: export requests, and profile attribute and event exports of one project.

Where things live: `config.py` (the `batch` section), `api.py` (REST calls, the download redirect
followed without credentials), `export_job.py` (one export for the shared job runner), `rows.py`
(file lines and requests shaped into rows), `streams.py` (the three streams, event windows and
the lookback clip).
"""

from __future__ import annotations

import logging
from typing import Any, List, Mapping

from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream

from source_vault_exports.config import SharedConfig
from source_vault_exports.core.streams import StreamContext
from source_vault_exports.vendors.batch import config as batch_config
from source_vault_exports.vendors.batch import streams as batch_streams


class BatchVendor:
    key = "batch"
    title = "Batch"

    def spec_section(self) -> Mapping[str, Any]:
        return batch_config.spec_section()

    def read_config(self, section: Mapping[str, Any], shared: SharedConfig) -> batch_config.BatchConfig:
        return batch_config.read_config(section, shared)

    def check(self, config: batch_config.BatchConfig, logger: logging.Logger) -> None:
        batch_streams.check(config, logger)

    def streams(self, config: batch_config.BatchConfig, context: StreamContext) -> List[DefaultStream]:
        return batch_streams.build_streams(config, context)

    def worker_threads(self, config: batch_config.BatchConfig) -> int:
        return config.max_concurrent_exports + 1  # one more for the export request listing


BATCH = BatchVendor()
