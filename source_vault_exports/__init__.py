"""Airbyte source for the export and attachment APIs of Veeva Vault, Batch.com, Tape and Zuora."""

from source_vault_exports.source import SourceVaultExports

__all__ = ["SourceVaultExports"]
