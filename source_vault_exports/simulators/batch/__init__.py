"""A loopback Batch.com export API (see `app.py`), its file host (`storage.py`) and data (`dataset.py`)."""

from source_vault_exports.simulators.batch.app import BatchOptions, BatchSimulator
from source_vault_exports.simulators.batch.storage import BatchStorageApp

__all__ = ["BatchOptions", "BatchSimulator", "BatchStorageApp"]
