"""A loopback Zuora (see `app.py`) over deterministic data (see `dataset.py`)."""

from source_vault_exports.simulators.zuora.app import DEFAULT_OBJECTS, ZuoraOptions, ZuoraSimulator

__all__ = ["DEFAULT_OBJECTS", "ZuoraOptions", "ZuoraSimulator"]
