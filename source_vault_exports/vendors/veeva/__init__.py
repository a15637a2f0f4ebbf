"""Veeva Vault: document attachments and Attachment field file exports.

Where things live: `config.py` (the `veeva_vault` section), `api.py` (session auth with the
vault check, the 200-FAILURE envelope, VQL paging, burst pacing), `document_attachments.py`
(attachments by document, incremental by version), `field_exports.py` (export jobs of 500
records, multi-part tar.gz archives read as one stream), `streams.py` (the streams and `check`).
"""

from __future__ import annotations

import logging
from typing import Any, List, Mapping

from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream

from source_vault_exports.config import SharedConfig
from source_vault_exports.core.streams import StreamContext
from source_vault_exports.vendors.veeva import config as vault_config
from source_vault_exports.vendors.veeva import streams as vault_streams


class VaultVendor:
    key = "veeva_vault"
    title = "Veeva Vault"

    def spec_section(self) -> Mapping[str, Any]:
        return vault_config.spec_section()

    def read_config(self, section: Mapping[str, Any], shared: SharedConfig) -> vault_config.VaultConfig:
        return vault_config.read_config(section, shared)

    def check(self, config: vault_config.VaultConfig, logger: logging.Logger) -> None:
        vault_streams.check(config, logger)

    def streams(self, config: vault_config.VaultConfig, context: StreamContext) -> List[DefaultStream]:
        return vault_streams.build_streams(config, context)

    def worker_threads(self, config: vault_config.VaultConfig) -> int:
        # Document batches and one partition per object; jobs of an object run in their own pool.
        return config.max_concurrent_jobs + len(config.attachment_field_objects)


VAULT = VaultVendor()
