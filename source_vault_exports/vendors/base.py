"""What a vendor plugs into the source: its spec section, config, check and streams."""

from __future__ import annotations

import logging
from typing import Any, List, Mapping, Protocol

from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream

from source_vault_exports.config import SharedConfig
from source_vault_exports.core.streams import StreamContext


class Vendor(Protocol):
    key: str  # the config section, e.g. "zuora"
    title: str  # how messages name the vendor, e.g. "Zuora"

    def spec_section(self) -> Mapping[str, Any]:
        """The JSON schema of this vendor's config section."""

    def read_config(self, section: Mapping[str, Any], shared: SharedConfig) -> Any:
        """Validate the section; raise `ConfigError` naming the field."""

    def check(self, config: Any, logger: logging.Logger) -> None:
        """Prove the credentials and configured objects work; raise with a clear message if not."""

    def streams(self, config: Any, context: StreamContext) -> List[DefaultStream]:
        """The vendor's streams for this config (only configured objects)."""

    def worker_threads(self, config: Any) -> int:
        """How many partitions of this vendor may usefully be read at once."""
