"""A loopback Veeva Vault (see `app.py`) over deterministic data (see `dataset.py`)."""

from source_vault_exports.simulators.veeva.app import VaultOptions, VaultSimulator
from source_vault_exports.simulators.veeva.dataset import DEFAULT_ATTACHMENT_FIELDS, DEFAULT_OBJECTS

__all__ = ["DEFAULT_ATTACHMENT_FIELDS", "DEFAULT_OBJECTS", "VaultOptions", "VaultSimulator"]
